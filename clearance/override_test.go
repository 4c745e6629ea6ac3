package clearance_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/portguard/portguard/clearance"
	"github.com/portguard/portguard/targeting"
)

func TestOverrideNeedsAReasonAndJoinsTheReviewQueueAndRates(t *testing.T) {
	r := newRig(t, nil)
	ctx := context.Background()
	a, b := decision(declNo(60), 1, targeting.Red, r.clock.Now()), decision(declNo(61), 1, targeting.Red, r.clock.Now())
	r.decide(a, b)
	ta := r.task(a.ID())

	_, err := r.svc.Override(ctx, officer(ta.Officer), clearance.OverrideInput{TaskID: ta.ID, NewChannel: targeting.Green})
	if paths := fieldPaths(t, err); !paths["reason_code"] || !paths["text"] {
		t.Fatalf("override without reason: paths %v", paths)
	}
	other := "officer1"
	if ta.Officer == other {
		other = "officer2"
	}
	in := clearance.OverrideInput{TaskID: ta.ID, NewChannel: targeting.Green, ReasonCode: clearance.OverrideAEO, Text: "AEO 高级认证企业，已核实单证"}
	if _, err := r.svc.Override(ctx, officer(other), in); !errors.Is(err, clearance.ErrForbidden) {
		t.Fatalf("override of another officer's task: %v, want ErrForbidden", err)
	}
	o, err := r.svc.Override(ctx, officer(ta.Officer), in)
	if err != nil {
		t.Fatalf("override: %v", err)
	}
	if o.From != targeting.Red || o.To != targeting.Green || o.Review != clearance.ReviewPending || o.By != ta.Officer {
		t.Fatalf("override %+v", o)
	}
	if got := r.task(ta.ID); got.State != clearance.TaskReleased || got.Channel != targeting.Green {
		t.Fatalf("task after override to GREEN: %+v", got)
	}
	// A supervisor sends the other consignment by declaration number from RED to YELLOW.
	ob, err := r.svc.Override(ctx, supervisor, clearance.OverrideInput{DeclarationNo: b.DeclarationNo, NewChannel: targeting.Yellow,
		ReasonCode: clearance.OverrideCapacity, Text: "查验台位已满，改为单证审核"})
	if err != nil {
		t.Fatalf("supervisor override: %v", err)
	}
	if got := r.task(b.ID()); got.State != clearance.TaskAssigned || got.Channel != targeting.Yellow || got.Action != targeting.ActionDocuments {
		t.Fatalf("task after override to YELLOW: %+v", got)
	}

	queue, err := r.svc.Overrides(ctx, clearance.OverrideFilter{Port: port, Review: clearance.ReviewPending})
	if err != nil || len(queue) != 2 || queue[0].ID != ob.ID || queue[1].ID != o.ID {
		t.Fatalf("review queue %+v, %v", queue, err)
	}
	if _, err := r.svc.ReviewOverride(ctx, supervisor, clearance.OverrideReview{ID: ob.ID, Approve: true}); !errors.Is(err, clearance.ErrForbidden) {
		t.Fatalf("reviewing one's own override: %v, want ErrForbidden", err)
	}
	if _, err := r.svc.ReviewOverride(ctx, supervisor, clearance.OverrideReview{ID: o.ID}); err == nil {
		t.Fatal("a rejection without a note was accepted")
	}
	rev, err := r.svc.ReviewOverride(ctx, supervisor, clearance.OverrideReview{ID: o.ID, Approve: true, Note: "同意"})
	if err != nil || rev.Review != clearance.ReviewApproved || rev.Reviewer != supervisor.User {
		t.Fatalf("review: %+v, %v", rev, err)
	}
	if _, err := r.svc.ReviewOverride(ctx, supervisor, clearance.OverrideReview{ID: o.ID, Approve: true}); !errors.Is(err, clearance.ErrState) {
		t.Fatalf("second review: %v, want ErrState", err)
	}

	rates, err := r.svc.OverrideRates(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]clearance.OverrideRate{
		"port/" + port:    {Kind: "port", Key: port, Tasks: 2, Overrides: 2, Rate: 1},
		"officer/chief":   {Kind: "officer", Key: "chief", Tasks: 0, Overrides: 1, Rate: 0},
		"officer/" + o.By: {Kind: "officer", Key: o.By, Tasks: 1, Overrides: 1, Rate: 1},
	}
	got := map[string]clearance.OverrideRate{}
	for _, x := range rates {
		got[x.Kind+"/"+x.Key] = x
	}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("rate %s = %+v, want %+v", k, got[k], w)
		}
	}

	// The released consignment got exactly one receipt, and everything survives a restart.
	if rels := decode[clearance.Release](t, r.messages(r.b.Topics.Releases, 1)); len(rels) != 1 || rels[0].Channel != targeting.Green || rels[0].ReleasedBy != o.By {
		t.Fatalf("receipts %+v", rels)
	}
	r.svc = r.start()
	after, err := r.svc.Overrides(ctx, clearance.OverrideFilter{})
	if err != nil || len(after) != 2 || after[1].Review != clearance.ReviewApproved || after[0].Review != clearance.ReviewPending {
		t.Fatalf("overrides after restart: %+v, %v", after, err)
	}
	rates2, _ := r.svc.OverrideRates(ctx)
	if len(rates2) != len(rates) {
		t.Fatalf("rates after restart %+v, before %+v", rates2, rates)
	}
}

func TestWithdrawalAndAmendmentCancelOpenTasks(t *testing.T) {
	r := newRig(t, nil)
	ctx := context.Background()
	w, am := decision(declNo(70), 1, targeting.Red, r.clock.Now()), decision(declNo(71), 1, targeting.Red, r.clock.Now())
	r.decide(w, am)

	if err := r.svc.Withdraw(ctx, w.DeclarationNo, "企业申请撤单"); err != nil {
		t.Fatal(err)
	}
	if err := r.svc.Withdraw(ctx, w.DeclarationNo, "企业申请撤单"); err != nil {
		t.Fatalf("second withdrawal: %v", err)
	}
	if got := r.task(w.ID()); got.State != clearance.TaskCancelled {
		t.Fatalf("withdrawn task %+v", got)
	}
	late := decision(w.DeclarationNo, 2, targeting.Red, r.clock.Now()) // in flight when withdrawn
	r.decide(late)
	if _, err := r.svc.Task(ctx, late.ID()); !errors.Is(err, clearance.ErrNotFound) {
		t.Fatalf("a decision after the withdrawal made a task: %v", err)
	}

	// Version 2 supersedes version 1; a late version-1 decision changes nothing.
	am2 := decision(am.DeclarationNo, 2, targeting.Yellow, r.clock.Now())
	r.decide(am2)
	r.decide(am)
	if got := r.task(am.ID()); got.State != clearance.TaskCancelled {
		t.Fatalf("superseded task %+v", got)
	}
	if got := r.task(am2.ID()); got.State != clearance.TaskAssigned || got.Channel != targeting.Yellow {
		t.Fatalf("amended task %+v", got)
	}
	open, err := r.svc.Tasks(ctx, clearance.TaskFilter{States: []clearance.TaskState{clearance.TaskPending, clearance.TaskAssigned}})
	if err != nil || len(open) != 1 || open[0].ID != am2.ID() {
		t.Fatalf("open tasks %+v, %v", open, err)
	}
	// The store agrees: after a restart only the amended task is open.
	r.svc = r.start()
	reloaded, _ := r.svc.Tasks(ctx, clearance.TaskFilter{})
	if len(reloaded) != 1 || reloaded[0].ID != am2.ID() || reloaded[0].Version != 1 {
		t.Fatalf("reloaded %+v", reloaded)
	}
}

func TestReassignmentNeedsAReasonAndRecordsTheRedraw(t *testing.T) {
	r := newRig(t, nil)
	ctx := context.Background()
	d := decision(declNo(80), 1, targeting.Red, r.clock.Now())
	r.decide(d)
	tk := r.task(d.ID())

	if _, err := r.svc.Reassign(ctx, supervisor, clearance.ReassignInput{TaskID: tk.ID, ExpectedVersion: tk.Version}); !fieldPaths(t, err)["reason"] {
		t.Fatal("reassignment without a reason accepted")
	}
	if _, err := r.svc.Reassign(ctx, officer(tk.Officer), clearance.ReassignInput{TaskID: tk.ID, ExpectedVersion: tk.Version, Reason: "回避"}); !errors.Is(err, clearance.ErrForbidden) {
		t.Fatalf("officer reassigning: %v, want ErrForbidden", err)
	}
	if _, err := r.svc.Reassign(ctx, supervisor, clearance.ReassignInput{TaskID: tk.ID, ExpectedVersion: tk.Version, Officer: "conflicted", Reason: "人手调整"}); !fieldPaths(t, err)["officer"] {
		t.Fatal("an officer with a conflict of interest was accepted")
	}
	nt, err := r.svc.Reassign(ctx, supervisor, clearance.ReassignInput{TaskID: tk.ID, ExpectedVersion: tk.Version, Reason: "原关员病假"})
	if err != nil {
		t.Fatal(err)
	}
	if nt.Officer == tk.Officer || nt.Draw == nil || nt.Draw.Attempt != 2 || nt.Draw.Excluded[tk.Officer] != "current_officer" || nt.Reason != "原关员病假" {
		t.Fatalf("reassigned %+v (draw %+v)", nt, nt.Draw)
	}
	chosen, _ := clearance.DrawOfficer([]byte(r.cfg.DrawKey), tk.ID, 2, nt.Draw.Candidates)
	if chosen != nt.Officer {
		t.Fatalf("redraw not reproducible: %s vs %s", chosen, nt.Officer)
	}
	trail, _ := r.svc.Trail(ctx, d.DeclarationNo)
	if last := trail[len(trail)-1]; last.Action != clearance.AuditTaskReassign || last.Actor != supervisor.User {
		t.Fatalf("last trail entry %+v", last)
	}
}

func TestOverdueTasksRaiseOneAlertEach(t *testing.T) {
	r := newRig(t, nil)
	ctx := context.Background()
	red, yellow := decision(declNo(90), 1, targeting.Red, r.clock.Now()), decision(declNo(91), 1, targeting.Yellow, r.clock.Now())
	r.decide(red, yellow)
	if od, _ := r.svc.Overdue(ctx); len(od) != 0 {
		t.Fatalf("overdue at once: %v", od)
	}
	r.clock.Advance(5 * time.Hour) // RED is due after 4 h, YELLOW after 8 h
	od, _ := r.svc.Overdue(ctx)
	if len(od) != 1 || od[0].ID != red.ID() {
		t.Fatalf("overdue %+v", od)
	}
	r.svc.Overdue(ctx)
	if got := r.metric("portguard_clearance_overdue_alerts_total", nil); got != 1 {
		t.Fatalf("alerts %v, want 1", got)
	}
	if got := r.metric("portguard_clearance_tasks_overdue", map[string]string{"port": port}); got != 1 {
		t.Fatalf("overdue gauge %v", got)
	}
	if only, _ := r.svc.Tasks(ctx, clearance.TaskFilter{OverdueOnly: true}); len(only) != 1 {
		t.Fatalf("overdue filter %+v", only)
	}
}
