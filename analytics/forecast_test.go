package analytics

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/portguard/portguard/targeting"
)

// weekly is the known day-of-week pattern of the synthetic series, Monday first.
var weekly = [7]float64{25, 15, 10, 5, 0, -30, -45}

func TestFitWeeklyRecoversANoiselessSeriesExactly(t *testing.T) {
	truth := func(t int) float64 { return 100 + 0.5*float64(t) + weekly[t%7] }
	y := make([]float64, 56)
	for i := range y {
		y[i] = truth(i)
	}
	mean, lo, hi, err := fitWeekly(y, 14, 0.9)
	if err != nil {
		t.Fatal(err)
	}
	for h := range 14 {
		if w := truth(56 + h); math.Abs(mean[h]-w) > 1e-6 || math.Abs(hi[h]-lo[h]) > 1e-4 {
			t.Fatalf("day %d: %v [%v, %v], want exactly %v", h, mean[h], lo[h], hi[h], w)
		}
	}
	if _, _, _, err := fitWeekly(y[:8], 14, 0.9); err == nil {
		t.Fatal("8 days fitted 8 parameters without complaint")
	}
}

// TestForecastRecoversTheWeeklyPatternOfAPort loads eight weeks of decisions at one port whose
// daily count follows a known weekly pattern plus noise, a fifth of them inspected, and checks
// the next two weeks' forecast against the pattern.
func TestForecastRecoversTheWeeklyPatternOfAPort(t *testing.T) {
	s, _ := mustStore(t)
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(8, 9))
	var ds []targeting.Decision
	n := 0
	for d := range 56 {
		count := int(80 + weekly[d%7] + rng.NormFloat64()*3)
		for i := range count {
			n++
			ch, sel := targeting.Green, targeting.NotSelected
			if i%5 == 0 {
				ch, sel = targeting.Red, targeting.SelectedByModel
			}
			dec := testDecision(fmt.Sprintf("5501%014d", n), 1, ch, sel, day0.AddDate(0, 0, d).Add(time.Duration(i)*time.Minute))
			dec.Port = "5501"
			ds = append(ds, dec)
		}
		// Another port's traffic must not leak into this one's forecast.
		other := testDecision(fmt.Sprintf("5502%014d", d), 1, targeting.Green, targeting.NotSelected, day0.AddDate(0, 0, d))
		other.Port = "5502"
		ds = append(ds, other)
	}
	if err := s.InsertDecisions(ctx, ds); err != nil {
		t.Fatal(err)
	}
	at := day0.AddDate(0, 0, 56).Add(9 * time.Hour) // a Monday morning
	fc, err := s.Forecast(ctx, ForecastOptions{Port: "5501", At: at, History: 56})
	if err != nil {
		t.Fatal(err)
	}
	if len(fc) != 14 || !fc[0].Day.Equal(day0.AddDate(0, 0, 56)) {
		t.Fatalf("forecast of %d days from %v", len(fc), fc[0].Day)
	}
	covered := 0
	for h, p := range fc {
		want := 80 + weekly[h%7]
		if math.Abs(p.Declarations-want) > 5 {
			t.Errorf("%s: %.1f declarations, want %.0f ± 5", p.Day.Format("Mon 01-02"), p.Declarations, want)
		}
		if math.Abs(p.Inspections-want/5) > 3 {
			t.Errorf("%s: %.1f inspections, want %.0f ± 3", p.Day.Format("Mon 01-02"), p.Inspections, want/5)
		}
		if p.DeclarationsLo <= want && want <= p.DeclarationsHi {
			covered++
		}
		if !(p.DeclarationsLo < p.Declarations && p.Declarations < p.DeclarationsHi && p.InspectionsLo <= p.Inspections && p.Inspections <= p.InspectionsHi) {
			t.Errorf("%s: interval %+v does not bracket the forecast", p.Day.Format("Mon 01-02"), p)
		}
	}
	if covered < 12 {
		t.Errorf("90%% intervals covered the pattern on %d of 14 days", covered)
	}
	if fc[6].Declarations >= fc[0].Declarations-50 {
		t.Errorf("Sunday %.0f should be far below Monday %.0f", fc[6].Declarations, fc[0].Declarations)
	}
	if _, err := s.Forecast(ctx, ForecastOptions{Port: "9999", At: at}); !errors.Is(err, ErrNotFound) {
		t.Errorf("a port without history: err = %v, want ErrNotFound", err)
	}
	if _, err := s.Forecast(ctx, ForecastOptions{Port: "5501", At: at, Days: 400}); !errors.Is(err, ErrInvalid) {
		t.Errorf("400 days: err = %v, want ErrInvalid", err)
	}
}
