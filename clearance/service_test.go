package clearance_test

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/portguard/portguard/clearance"
	"github.com/portguard/portguard/ingest"
	"github.com/portguard/portguard/ingest/kafkatest"
	"github.com/portguard/portguard/targeting"
)

func TestGreenDecisionsAreReleasedExactlyOncePerDeclarationVersion(t *testing.T) {
	r := newRig(t, nil)
	ctx := context.Background()
	now := r.clock.Now()
	g1, g2 := decision(declNo(1), 1, targeting.Green, now), decision(declNo(2), 1, targeting.Green, now)

	r.decide(g1, g1, g2) // a duplicate inside one batch
	r.decide(g1, g2)     // redelivered batch

	// The same decisions through the Kafka handler, with a malformed message among them.
	raw, _ := json.Marshal(g1)
	h := r.svc.DecisionsHandler()
	batch := []kafka.Message{
		{Topic: r.b.Topics.Decisions, Value: raw, Key: []byte(g1.DeclarationNo)},
		{Topic: r.b.Topics.Decisions, Value: []byte(`{"schema":"portguard.decision/v1","declaration_no":`), Offset: 7},
		{Topic: r.b.Topics.Decisions, Value: []byte(`{"schema":"portguard.decision/v9"}`), Offset: 8},
	}
	if err := h(ctx, batch); err != nil {
		t.Fatalf("handler: %v", err)
	}

	if got := r.metric("portguard_clearance_malformed_messages_total", nil); got != 2 {
		t.Fatalf("malformed messages counted %v, want 2", got)
	}
	if got := r.metric("portguard_clearance_decisions_total", map[string]string{"result": "duplicate"}); got != 4 {
		t.Fatalf("duplicate decisions counted %v, want 4", got)
	}

	// A restarted service remembers what it released (from the audit trail).
	r.svc = r.start()
	r.decide(g1)
	// A newer version is a new consignment version: it gets its own receipt.
	r.decide(decision(declNo(1), 2, targeting.Green, now))

	rels := decode[clearance.Release](t, r.messages(r.b.Topics.Releases, 3))
	if len(rels) != 3 {
		t.Fatalf("%d receipts, want 3 (declaration 1 v1 and v2, declaration 2 v1): %+v", len(rels), rels)
	}
	seen := map[string]int{}
	for _, rel := range rels {
		seen[ingest.DeclarationID(rel.DeclarationNo, rel.DeclVersion)]++
		if rel.Schema != clearance.SchemaReleaseV1 || rel.Disposition != clearance.DispRelease || rel.Channel != targeting.Green || rel.ReleasedBy != "system" {
			t.Errorf("receipt %+v", rel)
		}
	}
	for id, n := range seen {
		if n != 1 {
			t.Errorf("declaration %s released %d times", id, n)
		}
	}
	dead := decode[ingest.DeadLetter](t, r.messages(r.b.Topics.DeadLetters, 2))
	if len(dead) != 2 || dead[0].Reason == "" || dead[0].SourceTopic != r.b.Topics.Decisions || dead[0].Offset != 7 {
		t.Fatalf("dead letters: %+v", dead)
	}
}

func TestRedDecisionBecomesATaskDrawnAmongEligibleOfficers(t *testing.T) {
	r := newRig(t, nil)
	d := decision(declNo(10), 1, targeting.Red, r.clock.Now())
	r.decide(d, d)
	tk := r.task(d.ID())
	if tk.State != clearance.TaskAssigned || tk.Version != 1 || tk.Channel != targeting.Red || tk.Action != targeting.ActionPhysical {
		t.Fatalf("task %+v", tk)
	}
	if tk.Qualification != clearance.QualAnimal {
		t.Fatalf("qualification %q, want %q for HS 0303", tk.Qualification, clearance.QualAnimal)
	}
	if !tk.DueAt.Equal(r.clock.Now().Add(4 * time.Hour)) {
		t.Fatalf("due %v", tk.DueAt)
	}
	dr := tk.Draw
	if dr == nil {
		t.Fatal("no draw recorded")
	}
	if want := []string{"officer1", "officer2", "officer3"}; !reflect.DeepEqual(dr.Candidates, want) {
		t.Fatalf("candidates %v, want %v", dr.Candidates, want)
	}
	wantExcluded := map[string]string{"conflicted": "conflict_of_interest", "resting": "off_duty",
		"elsewhere": "not_at_port", "machinist": "not_qualified"}
	if !reflect.DeepEqual(dr.Excluded, wantExcluded) {
		t.Fatalf("excluded %v, want %v", dr.Excluded, wantExcluded)
	}
	chosen, seed := clearance.DrawOfficer([]byte(r.cfg.DrawKey), tk.ID, 1, dr.Candidates)
	if chosen != tk.Officer || dr.Chosen != tk.Officer || strconv.FormatUint(seed, 16) != dr.Seed {
		t.Fatalf("draw not reproducible: recomputed %s/%x, recorded %+v", chosen, seed, dr)
	}
	trail, err := r.svc.Trail(context.Background(), d.DeclarationNo)
	if err != nil {
		t.Fatal(err)
	}
	if got := actions(trail); !reflect.DeepEqual(got, []string{clearance.AuditTaskCreate, clearance.AuditTaskAssign}) {
		t.Fatalf("trail %v", got)
	}
}

func TestDrawsBalanceWorkload(t *testing.T) {
	r := newRig(t, func(c *clearance.Config) { c.WorkloadSlack = 0 })
	var ds []targeting.Decision
	for i := 0; i < 30; i++ {
		ds = append(ds, decision(declNo(100+i), 1, targeting.Red, r.clock.Now()))
	}
	r.decide(ds[:10]...)
	r.decide(ds[10:]...)
	load := map[string]int{}
	ts, err := r.svc.Tasks(context.Background(), clearance.TaskFilter{Port: port})
	if err != nil {
		t.Fatal(err)
	}
	for _, tk := range ts {
		load[tk.Officer]++
	}
	if want := map[string]int{"officer1": 10, "officer2": 10, "officer3": 10}; !reflect.DeepEqual(load, want) {
		t.Fatalf("loads %v, want %v", load, want)
	}
	if got := r.metric("portguard_clearance_assignments_total", map[string]string{"kind": "draw"}); got != 30 {
		t.Fatalf("assignments metric %v", got)
	}
}

func TestNonConformingResultIsPublishedWithItsLabelThenCorrected(t *testing.T) {
	r := newRig(t, nil)
	ctx := context.Background()
	decidedAt := r.clock.Now()
	d := decision(declNo(20), 1, targeting.Red, decidedAt)
	r.decide(d)
	tk := r.task(d.ID())
	me := officer(tk.Officer)

	if _, err := r.svc.RecordResult(ctx, officer("someone-else"), clearance.ResultInput{TaskID: tk.ID, ExpectedVersion: 1,
		Outcome: clearance.Conforming, Disposition: clearance.DispRelease}); !errors.Is(err, clearance.ErrForbidden) {
		t.Fatalf("another officer: %v, want ErrForbidden", err)
	}
	tk, err := r.svc.StartInspection(ctx, me, tk.ID, tk.Version)
	if err != nil || tk.State != clearance.TaskInProgress {
		t.Fatalf("start: %+v, %v", tk, err)
	}
	r.clock.Advance(90 * time.Minute)
	in := clearance.ResultInput{TaskID: tk.ID, ExpectedVersion: tk.Version, Outcome: clearance.NonConforming,
		Findings: []clearance.Finding{{Code: clearance.FindUndervaluation, Severity: 2, Note: "发票价格低于市场价 40%"},
			{Code: clearance.FindLabelling, Severity: 1, Quantity: 120}},
		Adjustment: 3600, Disposition: clearance.DispTreatRelease, Note: "补税后放行"}
	res, err := r.svc.RecordResult(ctx, me, in)
	if err != nil {
		t.Fatalf("record: %v", err)
	}
	wantLabel := targeting.Outcome{DeclarationNo: d.DeclarationNo, Version: 1, Hit: true, Severity: 2, Revenue: 3600,
		Channel: targeting.Red, Selection: targeting.SelectedByRule, Propensity: 0.25, ModelVersion: "combiner-7",
		RulesFired: []string{"R-17"}, Features: d.Features, ResultVersion: 1, DecidedAt: decidedAt, InspectedAt: r.clock.Now()}
	if !reflect.DeepEqual(res.Label, wantLabel) {
		t.Fatalf("label\n got %+v\nwant %+v", res.Label, wantLabel)
	}
	if res.Version != 1 || res.Officer != me.User || res.Port != port || res.TaskID != tk.ID {
		t.Fatalf("result %+v", res)
	}
	if got := r.task(tk.ID); got.State != clearance.TaskTreatedRelease || got.Result == nil || got.Result.Version != 1 {
		t.Fatalf("task after result: %+v", got)
	}

	// The same submission again (a double click): the version moved on, so it conflicts.
	if _, err := r.svc.RecordResult(ctx, me, in); !errors.Is(err, clearance.ErrConflict) {
		t.Fatalf("duplicate submission: %v, want ErrConflict", err)
	}
	// A correction: severity was underestimated. New result version, never an overwrite.
	cur := r.task(tk.ID)
	corr := in
	corr.ExpectedVersion = cur.Version
	corr.Findings = []clearance.Finding{{Code: clearance.FindUndervaluation, Severity: 3}, {Code: clearance.FindLabelling, Severity: 1}}
	corr.Disposition = ""
	res2, err := r.svc.RecordResult(ctx, me, corr)
	if err != nil {
		t.Fatalf("correction: %v", err)
	}
	if res2.Version != 2 || res2.Label.ResultVersion != 2 || res2.Label.Severity != 3 || res2.Disposition != clearance.DispTreatRelease {
		t.Fatalf("correction result %+v", res2)
	}
	// Changing the disposition of an ended task is refused.
	corr.ExpectedVersion = r.task(tk.ID).Version
	corr.Disposition = clearance.DispDestroy
	if paths := fieldPaths(t, func() error { _, err := r.svc.RecordResult(ctx, me, corr); return err }()); !paths["disposition"] {
		t.Fatalf("paths %v", paths)
	}

	results := decode[clearance.InspectionResult](t, r.messages(r.b.Topics.InspectionResults, 2))
	if len(results) != 2 || results[0].Version != 1 || results[1].Version != 2 || results[1].Label.ResultVersion != 2 {
		t.Fatalf("published results: %+v", results)
	}
	rm := r.messages(r.b.Topics.InspectionResults, 2)
	if string(rm[0].Key) != d.DeclarationNo {
		t.Fatalf("result key %q", rm[0].Key)
	}
	rels := decode[clearance.Release](t, r.messages(r.b.Topics.Releases, 1))
	if len(rels) != 1 || rels[0].Disposition != clearance.DispTreatRelease || rels[0].ReleasedBy != me.User {
		t.Fatalf("receipts %+v", rels)
	}
	trail, err := r.svc.Trail(ctx, d.DeclarationNo)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{clearance.AuditTaskCreate, clearance.AuditTaskAssign, clearance.AuditTaskStart, clearance.AuditRelease,
		clearance.AuditResult, clearance.AuditResult}
	if got := actions(trail); !reflect.DeepEqual(got, want) {
		t.Fatalf("trail %v, want %v", got, want)
	}
}

func TestTwoOfficersRecordingTheSameTaskOneWins(t *testing.T) {
	r := newRig(t, nil)
	d := decision(declNo(30), 1, targeting.Red, r.clock.Now())
	r.decide(d)
	tk := r.task(d.ID())
	sup := supervisor
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, a := range []clearance.Actor{officer(tk.Officer), sup} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = r.svc.RecordResult(context.Background(), a, clearance.ResultInput{TaskID: tk.ID, ExpectedVersion: tk.Version,
				Outcome: clearance.Conforming, Disposition: clearance.DispRelease})
		}()
	}
	wg.Wait()
	var ok, conflict int
	for _, err := range errs {
		switch {
		case err == nil:
			ok++
		case errors.Is(err, clearance.ErrConflict):
			conflict++
		default:
			t.Fatalf("unexpected error %v", err)
		}
	}
	if ok != 1 || conflict != 1 {
		t.Fatalf("%d won, %d conflicted; want one each", ok, conflict)
	}
	if rels := r.messages(r.b.Topics.Releases, 1); len(rels) != 1 {
		t.Fatalf("%d receipts", len(rels))
	}
}

func TestInvalidResultsAreRefusedWithFieldErrors(t *testing.T) {
	r := newRig(t, nil)
	d := decision(declNo(40), 1, targeting.Red, r.clock.Now())
	r.decide(d)
	tk := r.task(d.ID())
	_, err := r.svc.RecordResult(context.Background(), officer(tk.Officer), clearance.ResultInput{TaskID: tk.ID, ExpectedVersion: tk.Version,
		Outcome: clearance.NonConforming, Findings: []clearance.Finding{{Code: "ALIEN_LIFE", Severity: 9}}})
	paths := fieldPaths(t, err)
	if !paths["findings[0].code"] || !paths["findings[0].severity"] {
		t.Fatalf("paths %v", paths)
	}
	if got := r.task(tk.ID); got.Version != tk.Version || got.Result != nil {
		t.Fatalf("task changed by an invalid result: %+v", got)
	}
}

func TestLabSamplingHoldsOrBondsThenTheLateReportCompletesTheTask(t *testing.T) {
	r := newRig(t, nil)
	ctx := context.Background()
	held, bonded := decision(declNo(50), 1, targeting.Red, r.clock.Now()), decision(declNo(51), 1, targeting.Red, r.clock.Now())
	r.decide(held, bonded)

	// A suspected pest: the goods are held until the laboratory reports.
	th := r.task(held.ID())
	if _, err := r.svc.RecordResult(ctx, officer(th.Officer), clearance.ResultInput{TaskID: th.ID, ExpectedVersion: th.Version,
		Outcome: clearance.PendingLab, Findings: []clearance.Finding{{Code: clearance.FindQuarantinePest, Note: "疑似检疫性害虫"}}}); err != nil {
		t.Fatal(err)
	}
	// Routine sampling: released under bond at once.
	tb := r.task(bonded.ID())
	if _, err := r.svc.RecordResult(ctx, officer(tb.Officer), clearance.ResultInput{TaskID: tb.ID, ExpectedVersion: tb.Version,
		Outcome: clearance.PendingLab}); err != nil {
		t.Fatal(err)
	}
	if got := r.task(held.ID()); got.State != clearance.TaskAwaitingLab || got.BondReleased {
		t.Fatalf("held task %+v", got)
	}
	if got := r.task(bonded.ID()); got.State != clearance.TaskAwaitingLab || !got.BondReleased {
		t.Fatalf("bonded task %+v", got)
	}
	rels := decode[clearance.Release](t, r.messages(r.b.Topics.Releases, 1))
	if len(rels) != 1 || rels[0].DeclarationNo != bonded.DeclarationNo || rels[0].Disposition != clearance.DispReleaseBond {
		t.Fatalf("receipts while sampling: %+v", rels)
	}
	if n := len(r.messages(r.b.Topics.InspectionResults, 0)); n != 0 {
		t.Fatalf("%d results published before the lab reported; pending results teach nothing", n)
	}
	// A sample is not the officer's delay.
	r.clock.Advance(3 * 24 * time.Hour)
	if od, _ := r.svc.Overdue(ctx); len(od) != 0 {
		t.Fatalf("awaiting-lab tasks reported overdue: %v", od)
	}

	// Three days later the lab reports over Kafka, through a real consumer.
	labTopic := r.cfg.LabResultsTopic // created by newRig
	cons, err := ingest.NewConsumer(ingest.ConsumerConfig{Brokers: []string{r.b.Addr}, Topic: labTopic, GroupID: "clearance-lab"})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- cons.Run(runCtx, r.svc.LabResultsHandler()) }()
	defer func() { stop(); <-done }()
	msg := func(m clearance.LabResultMessage) []byte { b, _ := json.Marshal(m); return b }
	r.b.Produce(t, labTopic, [][]byte{
		msg(clearance.LabResultMessage{Schema: clearance.SchemaLabResultV1, LabInput: clearance.LabInput{TaskID: held.ID(), LabRef: "LAB-2026-0042",
			Outcome: clearance.NonConforming, Disposition: clearance.DispDestroy, Note: "检出地中海实蝇"}}),
		msg(clearance.LabResultMessage{Schema: clearance.SchemaLabResultV1, LabInput: clearance.LabInput{TaskID: bonded.ID(), LabRef: "LAB-2026-0043",
			Outcome: clearance.Conforming}}),
		msg(clearance.LabResultMessage{Schema: clearance.SchemaLabResultV1, LabInput: clearance.LabInput{TaskID: bonded.ID(), LabRef: "LAB-2026-0043",
			Outcome: clearance.Conforming}}), // redelivered
		[]byte(`{"schema":"portguard.lab-result/v1","task_id":"nope","lab_ref":"X","outcome":"CONFORMING"}`),
	}, nil)
	// The report of a held consignment that went to RESULT… must end DESTROYED; the bonded one RELEASED.
	waitState(t, r, held.ID(), clearance.TaskDestroyed)
	waitState(t, r, bonded.ID(), clearance.TaskReleased)

	results := decode[clearance.InspectionResult](t, r.messages(r.b.Topics.InspectionResults, 2))
	if len(results) != 2 {
		t.Fatalf("%d results after the lab reports, want 2", len(results))
	}
	for _, res := range results {
		if res.Version != 2 || res.Label.ResultVersion != 2 || res.LabRef == "" || !res.InspectedAt.Equal(r.clock.Now()) {
			t.Errorf("lab result %+v", res)
		}
		if res.DeclarationNo == held.DeclarationNo && (!res.Label.Hit || res.Label.Severity != 3 || res.Findings[0].Code != clearance.FindQuarantinePest) {
			t.Errorf("held consignment's label %+v", res.Label)
		}
	}
	rels = decode[clearance.Release](t, r.messages(r.b.Topics.Releases, 2))
	if len(rels) != 2 || rels[1].DeclarationNo != held.DeclarationNo || rels[1].Disposition != clearance.DispDestroy {
		t.Fatalf("receipts after the lab: %+v (the bonded consignment must not get a second one)", rels)
	}
	dead := decode[ingest.DeadLetter](t, r.messages(r.b.Topics.DeadLetters, 1))
	if len(dead) != 1 || dead[0].SourceTopic != labTopic {
		t.Fatalf("dead letters %+v", dead)
	}
}

func waitState(t *testing.T, r *rig, id string, want clearance.TaskState) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		tk, err := r.svc.Task(context.Background(), id)
		if err == nil && tk.State == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("task %s is %s, want %s", id, tk.State, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func createTopic(t *testing.T, addr, topic string) {
	t.Helper()
	conn, err := kafka.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := conn.CreateTopics(kafka.TopicConfig{Topic: topic, NumPartitions: 1, ReplicationFactor: 1}); err != nil {
		t.Fatalf("create topic %s: %v", topic, err)
	}
	kafkatest.WaitFor(t, 10*time.Second, "topic "+topic+" to exist", func() bool {
		ps, err := conn.ReadPartitions(topic)
		return err == nil && len(ps) == 1
	})
}
