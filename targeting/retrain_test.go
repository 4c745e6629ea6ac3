package targeting

import (
	"context"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/portguard/portguard/ingest/synth"
)

// memoryHistory is labelled history held in memory: what analytics serves from ClickHouse.
type memoryHistory []Labelled

func (h memoryHistory) Labelled(ctx context.Context, since time.Time, fn func(Labelled) error) error {
	for _, l := range h {
		if l.At.Before(since) {
			continue
		}
		if err := fn(l); err != nil {
			return err
		}
	}
	return nil
}

// lifecycleWorld is a generated stream split in a fully labelled past and a present in which
// only inspected consignments get their labels back.
type lifecycleWorld struct {
	past    []synth.Sample
	present []synth.Sample
	now     time.Time
}

func newLifecycleWorld(tb testing.TB) lifecycleWorld {
	tb.Helper()
	cfg := synth.DefaultConfig()
	cfg.Seed, cfg.Days, cfg.PerDay, cfg.Enterprises = 21, 100, 150, 1500
	g := synth.New(cfg)
	var w lifecycleWorld
	split := cfg.Start.Add(60 * 24 * time.Hour)
	for {
		s := g.Next()
		if s.Decl.DeclaredAt.After(cfg.Start.Add(100 * 24 * time.Hour)) {
			break
		}
		if s.Decl.DeclaredAt.Before(split) {
			w.past = append(w.past, s)
		} else {
			w.present = append(w.present, s)
		}
	}
	w.now = split
	return w
}

func labelled(s synth.Sample, hit bool) Labelled {
	return Labelled{Decl: s.Decl, Hit: hit, Revenue: s.Truth.Revenue, Propensity: 1, At: s.Decl.DeclaredAt}
}

func TestAChallengerIsScoredInShadowAndPromotedOnlyWhenItsWeightedPrecisionBeatsTheChampion(t *testing.T) {
	w := newLifecycleWorld(t)
	// A useless model: trained to find the dearest consignments, which are no more often
	// non-compliant than the others.
	values := make([]float64, len(w.past))
	for i, s := range w.past {
		values[i] = totalValue(s)
	}
	median := slices.Clone(values)
	slices.Sort(median)
	truth := make(memoryHistory, len(w.past))
	dear := make(memoryHistory, len(w.past))
	for i, s := range w.past {
		truth[i], dear[i] = labelled(s, s.Truth.Hit), labelled(s, values[i] > median[len(median)*9/10])
	}
	for _, tc := range []struct {
		name             string
		champion, source memoryHistory
		promoted         bool
	}{
		{"a challenger trained on the findings replaces a champion that looks for dear consignments", dear, truth, true},
		{"a challenger that looks for dear consignments is rejected and the champion stays", truth, dear, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			e := mustEngine(t, func(c *Config) { c.RetrainGrowth = 0 })
			now := w.now
			s, err := NewService(e, ServiceDeps{Publish: func(context.Context, []Decision) error { return nil },
				Labelled: tc.source, MinShadowLabels: 400, Now: func() time.Time { return now }})
			if err != nil {
				t.Fatal(err)
			}
			// The past is known: profiles learn it, and the champion is trained on it.
			for _, smp := range w.past {
				d, _ := s.Decide(ctx, smp.Decl)
				s.Feedback(feedback(t, d, smp.Truth.Hit))
			}
			c, err := e.Train(ctx, tc.champion)
			if err != nil {
				t.Fatal(err)
			}
			e.Install(c)
			champion := e.ModelVersion()

			rep, err := s.Retrain(ctx)
			if err != nil || rep.Action != RetrainShadowed || s.Health().ShadowModel == "" {
				t.Fatalf("retrain: %+v %v, health %+v", rep, err, s.Health())
			}
			challenger := s.Health().ShadowModel
			if again, _ := s.Retrain(ctx); again.Action != RetrainWaiting {
				t.Errorf("a second retrain while the challenger is in shadow did %q", again.Action)
			}

			// The present: decided by the champion, labels only for what it sent to RED.
			var shadowed, inspected int
			for _, smp := range w.present {
				now = smp.Decl.DeclaredAt
				d, err := s.Decide(ctx, smp.Decl)
				if err != nil {
					t.Fatal(err)
				}
				if d.Shadow != nil {
					shadowed++
					if d.ModelVersion != champion || d.Shadow.ModelVersion != challenger {
						t.Fatalf("decided by %s with %s in shadow", d.ModelVersion, d.Shadow.ModelVersion)
					}
				}
				if d.Channel == Red {
					inspected++
					s.Feedback(feedback(t, d, smp.Truth.Hit))
				}
			}
			tally := s.ShadowTally()
			t.Logf("%d decisions (%d shadowed), %d inspected; champion %s, challenger %s, now %s in use, %s in shadow; tally %+v",
				len(w.present), shadowed, inspected, champion, challenger, e.ModelVersion(), e.ShadowVersion(), tally)
			if shadowed == 0 {
				t.Fatal("no decision carried the challenger's shadow score")
			}
			if e.ShadowVersion() != "" {
				t.Fatalf("the challenger is still in shadow after %d inspections", inspected)
			}
			if tally.Labels != 400 || (tally.Verdict == "promoted") != (tally.ChallengerPrecision > tally.ChampionPrecision) {
				t.Errorf("judged %q on %d labels: challenger %.3f, champion %.3f", tally.Verdict, tally.Labels, tally.ChallengerPrecision, tally.ChampionPrecision)
			}
			if got := e.ModelVersion() == challenger; got != tc.promoted {
				t.Errorf("in use: %s (champion %s, challenger %s), want promoted=%v", e.ModelVersion(), champion, challenger, tc.promoted)
			}
			if d := e.Decide(w.present[len(w.present)-1].Decl, now); d.Shadow != nil {
				t.Errorf("decisions after judgement still carry a shadow: %+v", d.Shadow)
			}
		})
	}
}

func TestTheFirstRetrainInstallsAModelAtOnceAndLaterOnesWaitForNewLabels(t *testing.T) {
	w := newLifecycleWorld(t)
	hist := make(memoryHistory, len(w.past))
	for i, s := range w.past {
		hist[i] = labelled(s, s.Truth.Hit)
	}
	e := mustEngine(t, nil)
	s, err := NewService(e, ServiceDeps{Publish: func(context.Context, []Decision) error { return nil },
		Labelled: hist, Now: func() time.Time { return w.now }})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := s.Retrain(context.Background())
	if err != nil || rep.Action != RetrainInstalled || e.ModelVersion() == priorVersion || rep.Labels != len(hist) {
		t.Fatalf("first retrain: %+v %v, model %s", rep, err, e.ModelVersion())
	}
	if rep, err := s.Retrain(context.Background()); err != nil || rep.Action != RetrainSkipped {
		t.Errorf("retrain without new labels: %+v %v", rep, err)
	}
}

func TestTheRevenueObjectiveRanksByRevenueLearntFromLabels(t *testing.T) {
	// Two chapters with the same hit rate and values; hits in one recover ten times the
	// revenue. Ranked by expected revenue, the first must come out on top.
	var ex []Labelled
	at := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := 0; i < 400; i++ {
		d := testDecl(i, "IMP"+string(rune('A'+i%20)))
		d.Items = d.Items[:1]
		rich := i%2 == 0
		if !rich {
			d.Items[0].HSCode = "8471300000"
		}
		hit := i%5 == 0 || i%5 == 1
		rev := 0.0
		if hit {
			rev = 200
			if rich {
				rev = 2000
			}
		}
		ex = append(ex, Labelled{Decl: d, Hit: hit, Revenue: rev, Propensity: 1, At: at.Add(time.Duration(i) * time.Minute)})
	}
	e := mustEngine(t, func(c *Config) { c.Objective = ObjectiveRevenue; c.SeverityWeights = map[string]float64{} })
	if err := e.Fit(context.Background(), ex); err != nil {
		t.Fatal(err)
	}
	rich, poor := testDecl(10_001, "IMPA"), testDecl(10_002, "IMPA")
	rich.Items, poor.Items = rich.Items[:1], poor.Items[:1]
	poor.Items[0].HSCode = "8471300000"
	dr, dp := e.Decide(rich, at.Add(time.Hour)), e.Decide(poor, at.Add(time.Hour))
	t.Logf("rich: p %.3f score %.1f; poor: p %.3f score %.1f", dr.Probability, dr.Score, dp.Probability, dp.Score)
	if !(dr.Score > 3*dp.Score) {
		t.Errorf("expected revenue %.1f (chapter 03) vs %.1f (chapter 84): the learnt revenue rates should separate them", dr.Score, dp.Score)
	}
}

func totalValue(s synth.Sample) float64 {
	var v float64
	for _, it := range s.Decl.Items {
		v += it.ValueBase
	}
	return v
}

func feedback(tb testing.TB, d Decision, hit bool) []byte {
	tb.Helper()
	b, err := json.Marshal(map[string]any{"label": Outcome{DeclarationNo: d.DeclarationNo, Version: d.Version, Hit: hit,
		Propensity: d.Propensity, Features: d.Features, ResultVersion: 1, DecidedAt: d.DecidedAt, ModelVersion: d.ModelVersion}})
	if err != nil {
		tb.Fatal(err)
	}
	return b
}
