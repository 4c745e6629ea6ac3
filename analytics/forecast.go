package analytics

import (
	"context"
	"fmt"
	"math"
	"time"

	"gonum.org/v1/gonum/mat"
	"gonum.org/v1/gonum/stat/distuv"
)

// ForecastOptions ask for a capacity forecast. Zero values take the defaults shown.
type ForecastOptions struct {
	Port string // "" = all ports together
	Days int    // days to forecast, from the day of At on; default 14, at most 92
	// History is how many complete days before At the model is fitted on; default 182, at
	// least 28 (four weeks, so that every weekday is seen several times).
	History int
	At      time.Time // default now; days are cut in the configured time zone
	Level   float64   // prediction interval coverage; default 0.9
}

// ForecastPoint is one forecast day: expected declarations and inspections (RED or YELLOW) with
// their prediction intervals, for staffing.
type ForecastPoint struct {
	Day            time.Time `json:"day"`
	Declarations   float64   `json:"declarations"`
	DeclarationsLo float64   `json:"declarations_lo"`
	DeclarationsHi float64   `json:"declarations_hi"`
	Inspections    float64   `json:"inspections"`
	InspectionsLo  float64   `json:"inspections_lo"`
	InspectionsHi  float64   `json:"inspections_hi"`
}

// Forecast predicts declarations and inspections per day for a port from its daily history with
// a linear trend and day-of-week effects, fitted by least squares; the intervals are the
// regression's prediction intervals (Student's t), so they widen with the noise of the history
// and with the distance from it. Counts below zero are cut to zero.
func (s *Store) Forecast(ctx context.Context, o ForecastOptions) ([]ForecastPoint, error) {
	if o.Days == 0 {
		o.Days = 14
	}
	if o.History == 0 {
		o.History = 182
	}
	if o.At.IsZero() {
		o.At = time.Now()
	}
	if o.Level == 0 {
		o.Level = 0.9
	}
	if o.Days < 0 || o.Days > 92 || o.History < 28 || o.History > 3*366 || o.Level <= 0 || o.Level >= 1 {
		return nil, fmt.Errorf("analytics: forecast: %w: need 1–92 days, 28–1098 days of history and 0 < level < 1", ErrInvalid)
	}
	if err := s.fresh(ctx); err != nil {
		return nil, fmt.Errorf("analytics: forecast: %w", err)
	}
	a := o.At.In(s.loc)
	today := time.Date(a.Year(), a.Month(), a.Day(), 0, 0, 0, 0, s.loc)
	first := today.AddDate(0, 0, -o.History)
	where, args := s.cubeWhere(first, today)
	if o.Port != "" {
		where += " AND port = ?"
		args = append(args, o.Port)
	}
	decl := make([]float64, o.History)
	insp := make([]float64, o.History)
	start := -1 // index of the first day with any declaration: a port opened later is not "zero before"
	err := s.do(ctx, "forecast", func(ctx context.Context) error {
		rows, err := s.conn.Query(s.limits(ctx), "SELECT toString(day), sum(declarations), sum(inspected) FROM daily_cube WHERE "+
			where+" GROUP BY day ORDER BY day", args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var d string
			var n, i uint64
			if err := rows.Scan(&d, &n, &i); err != nil {
				return err
			}
			t, _ := time.ParseInLocation(dateLayout, d, s.loc)
			k := int(math.Round(t.Sub(first).Hours() / 24))
			if k < 0 || k >= o.History {
				continue
			}
			decl[k], insp[k] = float64(n), float64(i)
			if start < 0 && n > 0 {
				start = k
			}
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("analytics: forecast: %w", err)
	}
	if start < 0 || o.History-start < 28 {
		return nil, fmt.Errorf("analytics: forecast: %w: fewer than 28 days of history", ErrNotFound)
	}
	dm, dlo, dhi, err := fitWeekly(decl[start:], o.Days, o.Level)
	if err != nil {
		return nil, fmt.Errorf("analytics: forecast declarations: %w", err)
	}
	im, ilo, ihi, err := fitWeekly(insp[start:], o.Days, o.Level)
	if err != nil {
		return nil, fmt.Errorf("analytics: forecast inspections: %w", err)
	}
	out := make([]ForecastPoint, o.Days)
	for h := range out {
		out[h] = ForecastPoint{Day: today.AddDate(0, 0, h),
			Declarations: dm[h], DeclarationsLo: dlo[h], DeclarationsHi: dhi[h],
			Inspections: im[h], InspectionsLo: ilo[h], InspectionsHi: ihi[h]}
	}
	return out, nil
}

// fitWeekly fits y_t = a + b·t + Σ c_d·[t mod 7 = d] (d = 1 … 6: the weekdays relative to the
// series' first day) by least squares and predicts the horizon days after the series with level
// prediction intervals, cut at zero.
func fitWeekly(y []float64, horizon int, level float64) (mean, lo, hi []float64, err error) {
	const p = 8 // intercept, trend, six weekday dummies
	n := len(y)
	if n <= p+1 {
		return nil, nil, nil, fmt.Errorf("%d days are too few to fit %d parameters", n, p)
	}
	row := func(t int) []float64 {
		x := make([]float64, p)
		x[0], x[1] = 1, float64(t)
		if d := t % 7; d > 0 {
			x[1+d] = 1
		}
		return x
	}
	X := mat.NewDense(n, p, nil)
	for t := range n {
		X.SetRow(t, row(t))
	}
	Y := mat.NewVecDense(n, y)
	var beta mat.VecDense
	if err := beta.SolveVec(X, Y); err != nil {
		return nil, nil, nil, fmt.Errorf("least squares: %w", err)
	}
	var fitted mat.VecDense
	fitted.MulVec(X, &beta)
	rss := 0.0
	for t := range n {
		r := y[t] - fitted.AtVec(t)
		rss += r * r
	}
	df := float64(n - p)
	sigma2 := rss / df
	var xtx, inv mat.Dense
	xtx.Mul(X.T(), X)
	if err := inv.Inverse(&xtx); err != nil {
		return nil, nil, nil, fmt.Errorf("singular design: %w", err)
	}
	tq := distuv.StudentsT{Mu: 0, Sigma: 1, Nu: df}.Quantile((1 + level) / 2)
	mean, lo, hi = make([]float64, horizon), make([]float64, horizon), make([]float64, horizon)
	for h := range horizon {
		x0 := mat.NewVecDense(p, row(n+h))
		var tmp mat.VecDense
		tmp.MulVec(&inv, x0)
		v := sigma2 * (1 + mat.Dot(x0, &tmp))
		m := mat.Dot(x0, &beta)
		half := tq * math.Sqrt(math.Max(v, 0))
		mean[h], lo[h], hi[h] = math.Max(0, m), math.Max(0, m-half), math.Max(0, m+half)
	}
	return mean, lo, hi, nil
}
