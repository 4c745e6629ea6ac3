package targeting

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/portguard/portguard/ingest"
	"github.com/portguard/portguard/ingest/kafkatest"
)

// auditLog keeps what the service audits, as clearance's chain would receive it.
type auditLog struct {
	mu sync.Mutex
	es []AuditEntry
}

func (a *auditLog) Append(_ context.Context, e AuditEntry) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.es = append(a.es, e)
	return nil
}

func (a *auditLog) actions(subject string) []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []string
	for _, e := range a.es {
		if e.Subject == subject {
			out = append(out, e.Action)
		}
	}
	return out
}

// manifestRule sends every consignment whose manifest disagrees with it by more than 10 % to
// physical inspection.
func manifestRule(t *testing.T, b *RuleBook) {
	t.Helper()
	ctx := context.Background()
	dev := 0.1
	r, err := b.Create(ctx, analystA, Rule{Title: "舱单重量不符", ReasonZH: "申报毛重与舱单不符", ReasonEN: "declared weight differs from the manifest",
		When: Expr{Field: "weight_deviation", Op: OpAbove, Min: &dev}, Action: ActionPhysical, Percent: 100,
		ValidFrom: time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err = b.Submit(ctx, analystA, r.ID); err == nil {
		_, err = b.Approve(ctx, analystB, r.ID)
	}
	if err != nil {
		t.Fatal(err)
	}
}

// greenAwaiting finds a test declaration with a bill of lading that s decides GREEN.
func greenAwaiting(t *testing.T, s *Service) (*ingest.Declaration, Decision) {
	t.Helper()
	for i := 1; i < 200; i++ {
		d := testDecl(i, "IMP0000009")
		d.BillOfLading = "COSU6123456789"
		dec, err := s.Decide(context.Background(), d)
		if err != nil {
			t.Fatal(err)
		}
		if dec.Channel == Green {
			return d, dec
		}
	}
	t.Fatal("no GREEN decision among 200 declarations")
	return nil, Decision{}
}

func TestAManifestArrivingAfterGreenRevisesTheDecision(t *testing.T) {
	b := kafkatest.Start(t, 1)
	now := time.Date(2026, 5, 4, 9, 0, 0, 400e6, time.UTC)
	audit := &auditLog{}
	s, err := NewService(mustEngine(t, nil), ServiceDeps{Publish: kafkaPublish(t, b), Audit: audit,
		ManifestWindow: time.Hour, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	manifestRule(t, s.Rules())
	ctx := context.Background()
	d, first := greenAwaiting(t, s)
	if !first.AwaitingManifest || first.Revision != 0 || !hasReason(first, ReasonAwaitingManifest) {
		t.Fatalf("GREEN without its manifest: %+v, want awaiting_manifest with its reason", first)
	}

	// The manifest shows 40 % more weight and a container nobody declared.
	late := *d
	late.Check = ingest.CrossCheck{Joined: true, WeightDeviation: 0.4, UndeclaredContainers: 1}
	if err := s.Retarget(ctx, &late); err != nil {
		t.Fatal(err)
	}
	rev, ok := s.Decision(d.Number, d.Version)
	if !ok || rev.Channel != Red || rev.Revision != 1 || rev.RevisedFrom != Green || rev.AwaitingManifest || !hasReason(rev, ReasonManifestRevised) {
		t.Fatalf("decision after the manifest: %+v", rev)
	}
	// The clock did not move, yet the revision is decided in a later second: stores keeping
	// the latest decided_at (ClickHouse DateTime) keep the revision.
	if rev.DecidedAt.Unix() <= first.DecidedAt.Unix() {
		t.Errorf("revision decided at %v, not in a second after %v", rev.DecidedAt, first.DecidedAt)
	}
	// Redelivered manifests and the declaration itself change nothing more.
	if err := s.Retarget(ctx, &late); err != nil {
		t.Fatal(err)
	}
	if again, _ := s.Decide(ctx, d); again.Revision != 1 || again.Channel != Red {
		t.Errorf("the declaration again: %+v, want the revision", again)
	}

	var onTopic []Decision
	for _, m := range b.Consume(t, b.Topics.Decisions, 3, 2*time.Second) {
		var x Decision
		if err := json.Unmarshal(m.Value, &x); err != nil {
			t.Fatal(err)
		}
		if x.ID() == d.ID() {
			onTopic = append(onTopic, x)
		}
	}
	if len(onTopic) != 2 || onTopic[0].Revision != 0 || onTopic[1].Revision != 1 || onTopic[1].Channel != Red {
		t.Fatalf("decisions of %s on the topic: %+v, want the original then one revision", d.ID(), onTopic)
	}
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if got := audit.actions(d.ID()); len(got) != 2 || got[0] != "decision" || got[1] != AuditDecisionRevised {
		t.Errorf("audited %v, want decision then %s", got, AuditDecisionRevised)
	}
	audit.mu.Lock()
	detail, _ := json.Marshal(audit.es[len(audit.es)-1].Detail)
	audit.mu.Unlock()
	var ra struct{ From, To Channel }
	if json.Unmarshal(detail, &ra); ra.From != Green || ra.To != Red {
		t.Errorf("revision audit detail %s, want from GREEN to RED", detail)
	}
}

func TestOnlyAGreenStillAwaitingItsManifestIsRevised(t *testing.T) {
	b := kafkatest.Start(t, 1)
	now := time.Date(2026, 5, 4, 9, 0, 0, 0, time.UTC)
	s, err := NewService(mustEngine(t, nil), ServiceDeps{Publish: kafkaPublish(t, b), ManifestWindow: time.Hour,
		Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	manifestRule(t, s.Rules())
	ctx := context.Background()
	risky := ingest.CrossCheck{Joined: true, WeightDeviation: 0.4}

	// Past the window clearance has released it: never re-targeted.
	d, _ := greenAwaiting(t, s)
	now = now.Add(time.Hour + time.Second)
	late := *d
	late.Check = risky
	s.Retarget(ctx, &late)
	if got, _ := s.Decision(d.Number, d.Version); got.Revision != 0 || got.Channel != Green {
		t.Errorf("revised after the window: %+v", got)
	}
	// A newer version was decided meanwhile: the old one is not revised.
	d2, _ := greenAwaiting(t, s)
	amended := *d2
	amended.Version = 2
	if _, err := s.Decide(ctx, &amended); err != nil {
		t.Fatal(err)
	}
	late = *d2
	late.Check = risky
	s.Retarget(ctx, &late)
	if got, _ := s.Decision(d2.Number, 1); got.Revision != 0 {
		t.Errorf("an older version was revised: %+v", got)
	}
	// Without a manifest window nothing awaits and nothing is revised.
	s0, err := NewService(mustEngine(t, nil), ServiceDeps{Publish: kafkaPublish(t, b), Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s0.Close)
	manifestRule(t, s0.Rules())
	d3, first := greenAwaiting(t, s0)
	late = *d3
	late.Check = risky
	s0.Retarget(ctx, &late)
	if got, _ := s0.Decision(d3.Number, 1); first.AwaitingManifest || got.Revision != 0 {
		t.Errorf("without a window: first %+v, after the manifest %+v", first, got)
	}
}

func hasReason(d Decision, code string) bool {
	for _, r := range d.Reasons {
		if r.Code == code {
			return true
		}
	}
	return false
}

func TestTheDeclarationComingAgainWithItsManifestRevisesAnAwaitingGreen(t *testing.T) {
	b := kafkatest.Start(t, 1)
	now := time.Date(2026, 5, 4, 9, 0, 0, 0, time.UTC)
	s, err := NewService(mustEngine(t, nil), ServiceDeps{Publish: kafkaPublish(t, b), ManifestWindow: time.Hour,
		Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	manifestRule(t, s.Rules())
	d, _ := greenAwaiting(t, s)
	// The stream hands the same version on again, joined (a retried batch): it is revised, once.
	joined := *d
	joined.Check = ingest.CrossCheck{Joined: true, WeightDeviation: 0.3}
	for range 2 {
		if err := s.Accept(context.Background(), []*ingest.Declaration{&joined}); err != nil {
			t.Fatal(err)
		}
	}
	got, _ := s.Decision(d.Number, d.Version)
	if got.Revision != 1 || got.Channel != Red || got.RevisedFrom != Green {
		t.Fatalf("decision after the joined declaration: %+v", got)
	}
	revs := map[int]int{}
	for _, m := range b.Consume(t, b.Topics.Decisions, 4, 2*time.Second) {
		var x Decision
		if json.Unmarshal(m.Value, &x) == nil && x.ID() == d.ID() {
			revs[x.Revision]++
		}
	}
	// Accept republishes what it hands on (a redelivered batch must reach the topic): the
	// revision twice, which consumers take as one.
	if revs[0] != 1 || revs[1] != 2 || len(revs) != 2 {
		t.Errorf("revisions of %s on the topic: %v", d.ID(), revs)
	}
}

func TestAfterARestartTheManifestStillRevisesTheGreenClearanceHolds(t *testing.T) {
	b := kafkatest.Start(t, 1)
	now := time.Date(2026, 5, 4, 9, 0, 0, 0, time.UTC)
	deps := ServiceDeps{Publish: kafkaPublish(t, b), ManifestWindow: time.Hour, Now: func() time.Time { return now }}
	before, err := NewService(mustEngine(t, nil), deps)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(before.Close)
	d, _ := greenAwaiting(t, before)
	// A new process (empty cache) hears of the manifest.
	after, err := NewService(mustEngine(t, nil), deps)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(after.Close)
	manifestRule(t, after.Rules())
	late := *d
	late.Check = ingest.CrossCheck{Joined: true, WeightDeviation: 0.5}
	if err := after.Retarget(context.Background(), &late); err != nil {
		t.Fatal(err)
	}
	got, ok := after.Decision(d.Number, d.Version)
	if !ok || got.Revision != 1 || got.RevisedFrom != Green || got.Channel != Red {
		t.Fatalf("revision after a restart: %+v (%v)", got, ok)
	}
}
