package main

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/portguard/portguard/clearance"
	"github.com/portguard/portguard/ingest"
	"github.com/portguard/portguard/ingest/synth"
)

// truthBook remembers the hidden ground truth of synthetic declarations for the simulated officer.
type truthBook struct {
	mu sync.Mutex
	m  map[string]synth.Truth
}

func newTruthBook() *truthBook { return &truthBook{m: map[string]synth.Truth{}} }

func (t *truthBook) put(number string, tr synth.Truth) {
	t.mu.Lock()
	t.m[number] = tr
	t.mu.Unlock()
}

func (t *truthBook) get(number string) (synth.Truth, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	tr, ok := t.m[number]
	return tr, ok
}

// feed produces synthetic declarations (and their manifests) to Kafka at rate per second, as an
// electronic port would.
func feed(ctx context.Context, p *ingest.Producer, topics ingest.Topics, rate float64, seed int64, truth *truthBook, log *slog.Logger) error {
	cfg := synth.DefaultConfig()
	cfg.Seed = seed
	cfg.Start = time.Now().UTC()
	g := synth.New(cfg)
	tick := time.NewTicker(time.Duration(float64(time.Second) / rate))
	defer tick.Stop()
	for n := 0; ; n++ {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		s := g.Next()
		s.Decl.DeclaredAt = time.Now().UTC()
		truth.put(s.Decl.Number, s.Truth)
		msgs := []ingest.Message{{Topic: topics.Declarations, Key: s.Decl.Number, Value: g.JSON(s)}}
		if s.Manifest != nil {
			msgs = append(msgs, ingest.Message{Topic: topics.Manifests, Key: s.Manifest.BillOfLading, Value: s.Manifest})
		}
		if err := p.Publish(ctx, msgs...); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			log.Warn("feed: publish failed; will go on", "err", err)
		}
		if n%100 == 0 && n > 0 {
			log.Info("feed: synthetic declarations sent", "count", n)
		}
	}
}

// simulateOfficer inspects open tasks after delay and records the hidden truth as the result.
func simulateOfficer(ctx context.Context, a *app, truth *truthBook, delay time.Duration, log *slog.Logger) error {
	officer := clearance.Actor{User: "sim-officer", Roles: []string{clearance.RoleOfficer, clearance.RoleSupervisor}}
	t := time.NewTicker(500 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		tasks, err := a.clearance.Tasks(ctx, clearance.TaskFilter{})
		if err != nil {
			continue
		}
		for _, task := range tasks {
			if task.State.Final() || task.State == clearance.TaskAwaitingLab || time.Since(task.CreatedAt) < delay {
				continue
			}
			tr, ok := truth.get(task.DeclarationNo)
			if !ok {
				continue // not ours (posted through the API by someone else)
			}
			in := clearance.ResultInput{TaskID: task.ID, ExpectedVersion: task.Version, Outcome: clearance.Conforming,
				Disposition: "RELEASE"}
			if tr.Hit {
				in.Outcome = clearance.NonConforming
				in.Disposition = "TREAT_RELEASE"
				in.Adjustment = tr.Revenue
				for _, code := range tr.Findings {
					in.Findings = append(in.Findings, clearance.Finding{Code: code, Severity: max(1, tr.Severity)})
				}
			}
			if _, err := a.clearance.RecordResult(ctx, officer, in); err != nil {
				log.Debug("simulated officer: result not recorded", "task", task.ID, "err", err)
			}
		}
	}
}
