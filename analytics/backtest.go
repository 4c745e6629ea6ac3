package analytics

import (
	"context"
	"time"

	"github.com/portguard/portguard/targeting"
	"github.com/portguard/portguard/targeting/evaluate"
)

// BacktestInputs implements evaluate.BacktestHistory: the declarations of Declarations, each as a
// backtest needs it. A declaration counts as inspected when it was sent to RED or YELLOW then.
func (s *Store) BacktestInputs(ctx context.Context, from, to time.Time, each func(evaluate.BacktestInput) error) error {
	return s.Declarations(ctx, from, to, func(p Past) error {
		return each(evaluate.BacktestInput{Decl: p.Decl, Inspected: p.Channel == targeting.Red || p.Channel == targeting.Yellow,
			Random: p.Random, HasResult: p.HasResult, Hit: p.Hit})
	})
}
