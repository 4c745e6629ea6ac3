package clearance

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/portguard/portguard/ingest"
	"github.com/portguard/portguard/targeting"
)

// Review states of an override.
const (
	ReviewPending  = "PENDING"
	ReviewApproved = "APPROVED"
	ReviewRejected = "REJECTED"
)

// OverrideInput asks to change the channel of a consignment (改变布控指令): by TaskID, or by
// DeclarationNo (its newest open task). A reason code and an explaining text are required — the
// "data iron cage": no silent overrides.
type OverrideInput struct {
	TaskID        string            `json:"task_id,omitempty"`
	DeclarationNo string            `json:"declaration_no,omitempty"`
	NewChannel    targeting.Channel `json:"new_channel"`
	ReasonCode    string            `json:"reason_code"`
	Text          string            `json:"text"`
}

// Override is a recorded channel change and its supervisor review.
type Override struct {
	ID            string            `json:"id"`
	TaskID        string            `json:"task_id"`
	DeclarationNo string            `json:"declaration_no"`
	DeclVersion   int               `json:"decl_version"`
	Port          string            `json:"port"`
	By            string            `json:"by"`      // who overrode
	Officer       string            `json:"officer"` // the task's officer at the time
	From          targeting.Channel `json:"from"`
	To            targeting.Channel `json:"to"`
	ReasonCode    string            `json:"reason_code"`
	Text          string            `json:"text"`
	At            time.Time         `json:"at"`
	Review        string            `json:"review"` // PENDING, APPROVED, REJECTED
	Reviewer      string            `json:"reviewer,omitempty"`
	ReviewNote    string            `json:"review_note,omitempty"`
	ReviewedAt    time.Time         `json:"reviewed_at,omitempty"`
}

// OverrideFilter selects overrides. Empty fields select everything.
type OverrideFilter struct {
	Port   string `json:"port,omitempty"`
	By     string `json:"by,omitempty"`
	Review string `json:"review,omitempty"` // e.g. PENDING: the supervisor's review queue
	Limit  int    `json:"limit,omitempty"`
}

// OverrideReview is a supervisor's verdict on an override.
type OverrideReview struct {
	ID      string `json:"id"`
	Approve bool   `json:"approve"`
	Note    string `json:"note,omitempty"` // required when rejecting
}

// OverrideRate is how often an officer or a port overrides: Overrides / Tasks.
type OverrideRate struct {
	Kind      string  `json:"kind"` // "officer" or "port"
	Key       string  `json:"key"`
	Tasks     int     `json:"tasks"` // tasks assigned to the officer / created at the port
	Overrides int     `json:"overrides"`
	Rate      float64 `json:"rate"` // 0 when Tasks is 0
}

// rateCounts are the numerators and denominators of override rates, rebuilt from the audit
// trail at Load.
type rateCounts struct {
	officerTasks, portTasks, officerOverrides, portOverrides map[string]int
}

func newRateCounts() rateCounts {
	return rateCounts{map[string]int{}, map[string]int{}, map[string]int{}, map[string]int{}}
}

// putOverride stores o (s.mu held); a new one counts towards the rates.
func (s *Service) putOverride(o *Override, isNew bool) {
	if _, ok := s.overrides[o.ID]; !ok {
		s.ovOrder = append(s.ovOrder, o.ID)
	}
	if isNew {
		s.counts.officerOverrides[o.By]++
		s.counts.portOverrides[o.Port]++
	}
	s.overrides[o.ID] = o
}

func (in *OverrideInput) validate() error {
	var errs []ingest.FieldError
	if in.TaskID == "" && in.DeclarationNo == "" {
		errs = append(errs, fe("task_id", "required", "须指定任务编号或报关单号", "task_id or declaration_no is required"))
	}
	switch in.NewChannel {
	case targeting.Red, targeting.Yellow, targeting.Green:
	default:
		errs = append(errs, fe("new_channel", "unknown", "未知的通道 "+strconv.Quote(string(in.NewChannel)), "unknown channel "+strconv.Quote(string(in.NewChannel))))
	}
	if in.ReasonCode == "" {
		errs = append(errs, fe("reason_code", "required", "改变布控指令须选择原因", "a reason code is required"))
	} else if !knownOverrideReason(in.ReasonCode) {
		errs = append(errs, fe("reason_code", "unknown", "未知的原因代码 "+strconv.Quote(in.ReasonCode), "unknown reason code "+strconv.Quote(in.ReasonCode)))
	}
	if n := utf8.RuneCountInString(strings.TrimSpace(in.Text)); n < 4 {
		errs = append(errs, fe("text", "required", "须写明改变布控指令的理由（至少 4 个字）", "explain the override (at least 4 characters)"))
	} else if n > maxNote {
		errs = append(errs, fe("text", "length", "说明过长", "text is too long"))
	}
	if len(errs) > 0 {
		return &ingest.ValidationError{Kind: "override", Fields: errs}
	}
	return nil
}

// Override changes the channel of an open task. RED↔YELLOW changes the task's work; → GREEN
// ends the task and publishes the release receipt. The override joins the supervisors' review
// queue and the override rates. Officers may override their own tasks, supervisors any task of
// their port. Errors: *ingest.ValidationError, ErrNotFound, ErrForbidden, ErrState (the task has
// ended or awaits the laboratory), transport errors.
func (s *Service) Override(ctx context.Context, a Actor, in OverrideInput) (Override, error) {
	if err := in.validate(); err != nil {
		return Override{}, err
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	t := s.overrideTarget(in)
	if t == nil {
		return Override{}, fmt.Errorf("%w: no task for %s%s", ErrNotFound, in.TaskID, in.DeclarationNo)
	}
	if !a.Has(RoleSupervisor) && !a.Has(RoleAdmin) && !(a.Has(RoleOfficer) && t.Officer == a.User) {
		return Override{}, fmt.Errorf("%w: %s may not override task %s", ErrForbidden, a.User, t.ID)
	}
	if a.Has(RoleSupervisor) && !a.Has(RoleAdmin) && a.Port != "" && a.Port != t.Port && t.Officer != a.User {
		return Override{}, fmt.Errorf("%w: task %s is at port %s", ErrForbidden, t.ID, t.Port)
	}
	if in.NewChannel == t.Channel {
		return Override{}, &ingest.ValidationError{Kind: "override", Fields: []ingest.FieldError{
			fe("new_channel", "unchanged", "新通道与当前通道相同", "the new channel is the current one")}}
	}
	ev := EventOverrideChange
	if in.NewChannel == targeting.Green {
		ev = EventOverrideGreen
	}
	state, err := t.State.Next(ev, "")
	if err != nil {
		return Override{}, fmt.Errorf("clearance: task %s: %w", t.ID, err)
	}
	now := s.now()
	o := &Override{ID: "OV-" + t.ID + "-" + strconv.Itoa(t.Version), TaskID: t.ID, DeclarationNo: t.DeclarationNo,
		DeclVersion: t.DeclVersion, Port: t.Port, By: a.User, Officer: t.Officer, From: t.Channel, To: in.NewChannel,
		ReasonCode: in.ReasonCode, Text: strings.TrimSpace(in.Text), At: now.UTC().Truncate(time.Second), Review: ReviewPending}
	nt := next(t, now)
	nt.State, nt.Channel, nt.Reason = state, in.NewChannel, in.ReasonCode+": "+o.Text
	switch in.NewChannel {
	case targeting.Red:
		nt.Action, nt.Priority, nt.DueAt = targeting.ActionPhysical, nt.Priority+100, s.cfg.due(true, now)
	case targeting.Yellow:
		nt.Action, nt.Priority = targeting.ActionDocuments, max(nt.Priority-100, 0)
	case targeting.Green:
		nt.Action = targeting.ActionRelease
	}
	var rel *Release
	if state == TaskReleased && !s.released.has(t.ID) {
		r := s.release(t.DeclarationNo, t.DeclVersion, t.Port, targeting.Green, DispRelease, a.User, now)
		rel = &r
		if err := s.pub.Publish(ctx, s.releaseMsg(r)); err != nil {
			return Override{}, fmt.Errorf("clearance: publish release of %s: %w", t.ID, err)
		}
		s.mu.Lock()
		s.released.put(t.ID, 1, now)
		s.mu.Unlock()
		s.met.releases.WithLabelValues("override").Inc()
	}
	recs := []AuditRecord{s.rec(a.User, AuditOverride, t.ID, o)}
	if rel != nil {
		recs = append(recs, s.rec(a.User, AuditRelease, t.ID, rel))
	}
	if err := s.st.SaveTasks(ctx, []Task{*nt}); err != nil {
		if rel != nil {
			s.backlog = append(s.backlog, recs[1])
		}
		return Override{}, fmt.Errorf("clearance: save task %s: %w", t.ID, err)
	}
	s.mu.Lock()
	s.putTask(nt)
	s.putOverride(o, true)
	s.mu.Unlock()
	s.met.overrides.WithLabelValues(in.ReasonCode).Inc()
	s.auditLate(ctx, recs...)
	return *o, nil
}

// overrideTarget finds the task an override names (wmu held).
func (s *Service) overrideTarget(in OverrideInput) *Task {
	if in.TaskID != "" {
		return s.tasks[in.TaskID]
	}
	var best *Task
	for _, id := range s.byNumber[in.DeclarationNo] {
		t := s.tasks[id]
		if t != nil && !t.State.Final() && (best == nil || t.DeclVersion > best.DeclVersion) {
			best = t
		}
	}
	return best
}

// Overrides returns the overrides f selects, newest first. With Review: ReviewPending it is the
// supervisors' review queue.
func (s *Service) Overrides(ctx context.Context, f OverrideFilter) ([]Override, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.RLock()
	var out []Override
	for i := len(s.ovOrder) - 1; i >= 0; i-- {
		o := s.overrides[s.ovOrder[i]]
		if f.Port != "" && o.Port != f.Port || f.By != "" && o.By != f.By || f.Review != "" && o.Review != f.Review {
			continue
		}
		out = append(out, *o)
		if f.Limit > 0 && len(out) == f.Limit {
			break
		}
	}
	s.mu.RUnlock()
	return out, nil
}

// ReviewOverride records a supervisor's verdict on a pending override. The reviewer must be a
// supervisor of the override's port (or an admin) and not its author; rejecting needs a note.
// Errors: *ingest.ValidationError, ErrNotFound, ErrForbidden, ErrState (already reviewed).
func (s *Service) ReviewOverride(ctx context.Context, a Actor, in OverrideReview) (Override, error) {
	if !in.Approve && strings.TrimSpace(in.Note) == "" {
		return Override{}, &ingest.ValidationError{Kind: "override_review", Fields: []ingest.FieldError{
			fe("note", "required", "驳回须写明理由", "a rejection needs a note")}}
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	s.mu.RLock()
	cur, ok := s.overrides[in.ID]
	s.mu.RUnlock()
	if !ok {
		return Override{}, fmt.Errorf("%w: override %s", ErrNotFound, in.ID)
	}
	switch {
	case a.Has(RoleAdmin):
	case a.Has(RoleSupervisor) && (a.Port == "" || a.Port == cur.Port) && a.User != cur.By:
	default:
		return Override{}, fmt.Errorf("%w: %s may not review override %s", ErrForbidden, a.User, in.ID)
	}
	if cur.Review != ReviewPending {
		return Override{}, fmt.Errorf("%w: override %s was already %s", ErrState, in.ID, cur.Review)
	}
	o := *cur
	o.Review, o.Reviewer, o.ReviewNote, o.ReviewedAt = ReviewRejected, a.User, strings.TrimSpace(in.Note), s.now().UTC().Truncate(time.Second)
	if in.Approve {
		o.Review = ReviewApproved
	}
	// The chain is the override's only record: the review counts once it is on it.
	if err := s.audit(ctx, s.rec(a.User, AuditOverrideReview, o.TaskID, o)); err != nil {
		return Override{}, err
	}
	s.mu.Lock()
	s.putOverride(&o, false)
	s.mu.Unlock()
	return o, nil
}

// OverrideRates returns override rates per officer and per port, since the start of the audit
// trail, highest rate first.
func (s *Service) OverrideRates(ctx context.Context) ([]OverrideRate, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.RLock()
	var out []OverrideRate
	add := func(kind string, tasks, ovs map[string]int) {
		keys := map[string]bool{}
		for k := range tasks {
			keys[k] = true
		}
		for k := range ovs {
			keys[k] = true
		}
		for k := range keys {
			r := OverrideRate{Kind: kind, Key: k, Tasks: tasks[k], Overrides: ovs[k]}
			if r.Tasks > 0 {
				r.Rate = float64(r.Overrides) / float64(r.Tasks)
			}
			out = append(out, r)
		}
	}
	add("officer", s.counts.officerTasks, s.counts.officerOverrides)
	add("port", s.counts.portTasks, s.counts.portOverrides)
	s.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool {
		if out[i].Kind != out[j].Kind {
			return out[i].Kind < out[j].Kind
		}
		if out[i].Rate != out[j].Rate {
			return out[i].Rate > out[j].Rate
		}
		return out[i].Key < out[j].Key
	})
	return out, nil
}
