package targeting

import (
	"context"
	"testing"
	"time"

	"github.com/portguard/portguard/ingest"
)

// TestTheScenarioSuiteHoldsInProcess runs every JSON scenario through the engine directly; the
// integrator runs the same files through the HTTP API and Kafka with RunScenario.
func TestTheScenarioSuiteHoldsInProcess(t *testing.T) {
	suite, err := LoadScenarios("testdata/scenarios")
	if err != nil {
		t.Fatal(err)
	}
	if len(suite) < 6 {
		t.Fatalf("%d scenarios", len(suite))
	}
	for _, s := range suite {
		t.Run(s.Name, func(t *testing.T) {
			e := mustEngine(t, func(c *Config) { _ = s.Config.Apply(c) })
			now := time.Date(2025, 3, 1, 8, 0, 0, 0, time.UTC)
			e.book.now = func() time.Time { return now }
			if err := prepareScenario(e, s, now); err != nil {
				t.Fatal(err)
			}
			err := RunScenario(s, func(d *ingest.Declaration) (Decision, error) { return e.Decide(d, now), nil },
				func(o Outcome) error { e.Learn(o); return nil })
			if err != nil {
				t.Errorf("%s: %v", s.Description, err)
			}
		})
	}
}

func TestAScenarioWithAnUnmetExpectationFails(t *testing.T) {
	suite, err := LoadScenarios("testdata/scenarios")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range suite {
		if s.Name != "rule-fires" {
			continue
		}
		// Without its rule in place, the rule scenario must report the rule that did not fire.
		e := mustEngine(t, func(c *Config) { _ = s.Config.Apply(c) })
		now := time.Date(2025, 3, 1, 8, 0, 0, 0, time.UTC)
		err := RunScenario(s, func(d *ingest.Declaration) (Decision, error) { return e.Decide(d, now), nil },
			func(o Outcome) error { e.Learn(o); return nil })
		if err == nil {
			t.Fatal("the rule scenario passed without its rule")
		}
		t.Log(err)
		return
	}
	t.Fatal("no rule-fires scenario")
}

// prepareScenario puts the scenario's rules in place as the console would: four-eyes approval,
// or a supervisor's emergency activation.
func prepareScenario(e *Engine, s Scenario, now time.Time) error {
	ctx := context.Background()
	for _, sr := range s.Rules {
		r, err := sr.At(now)
		if err != nil {
			return err
		}
		if _, err := e.book.Create(ctx, analystA, r); err != nil {
			return err
		}
		if sr.Emergency {
			if _, err := e.book.ActivateEmergency(ctx, supervisor, r.ID); err != nil {
				return err
			}
			continue
		}
		if _, err := e.book.Submit(ctx, analystA, r.ID); err != nil {
			return err
		}
		if _, err := e.book.Approve(ctx, analystB, r.ID); err != nil {
			return err
		}
	}
	return nil
}
