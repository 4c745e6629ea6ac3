package clearance

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/portguard/portguard/ingest"
)

// ReassignInput moves a task to another officer. A reason is always required.
type ReassignInput struct {
	TaskID          string `json:"task_id"`
	ExpectedVersion int    `json:"expected_version"`
	// Officer is the new officer; empty draws one at random among the eligible officers other
	// than the current one (a recorded redraw).
	Officer string `json:"officer,omitempty"`
	Reason  string `json:"reason"`
}

// Reassign gives a task another officer: a supervisor's choice or a fresh recorded draw. Only
// supervisors of the task's port and admins may reassign; an officer with a conflict of
// interest can never be chosen. Errors: *ingest.ValidationError, ErrNotFound, ErrForbidden,
// ErrConflict, ErrState, transport errors.
func (s *Service) Reassign(ctx context.Context, a Actor, in ReassignInput) (Task, error) {
	var errs []ingest.FieldError
	if in.TaskID == "" {
		errs = append(errs, fe("task_id", "required", "缺少任务编号", "task_id is required"))
	}
	if in.ExpectedVersion < 1 {
		errs = append(errs, fe("expected_version", "required", "缺少任务版本号", "expected_version is required"))
	}
	if strings.TrimSpace(in.Reason) == "" {
		errs = append(errs, fe("reason", "required", "改派须写明理由", "a reassignment needs a reason"))
	}
	if len(errs) > 0 {
		return Task{}, &ingest.ValidationError{Kind: "reassignment", Fields: errs}
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	t, err := s.taskForWrite(in.TaskID, in.ExpectedVersion)
	if err != nil {
		return Task{}, err
	}
	if !a.Has(RoleAdmin) && !(a.Has(RoleSupervisor) && (a.Port == "" || a.Port == t.Port)) {
		return Task{}, fmt.Errorf("%w: %s may not reassign task %s", ErrForbidden, a.User, t.ID)
	}
	state, err := t.State.Next(EventReassign, "")
	if err != nil {
		return Task{}, fmt.Errorf("clearance: task %s: %w", t.ID, err)
	}
	now := s.now()
	nt := next(t, now)
	nt.State, nt.Reason = state, strings.TrimSpace(in.Reason)
	kind := "reassign"
	if in.Officer != "" {
		if in.Officer == t.Officer {
			return Task{}, &ingest.ValidationError{Kind: "reassignment", Fields: []ingest.FieldError{
				fe("officer", "unchanged", "新关员与当前关员相同", "the task already has this officer")}}
		}
		if len(s.officers) > 0 {
			o, ok := s.officers[in.Officer]
			if !ok {
				return Task{}, &ingest.ValidationError{Kind: "reassignment", Fields: []ingest.FieldError{
					fe("officer", "unknown", "关员不在值班名册中", "the officer is not on the roster")}}
			}
			if conflicts(o.Conflicts, s.conflictCodes(&t.Decision)) {
				return Task{}, &ingest.ValidationError{Kind: "reassignment", Fields: []ingest.FieldError{
					fe("officer", "conflict", "该关员与此企业存在利害关系，须回避", "the officer has a conflict of interest with this enterprise")}}
			}
		}
		nt.Officer, nt.Draw = in.Officer, nil
	} else {
		attempt := 1
		if t.Draw != nil {
			attempt = t.Draw.Attempt + 1
		}
		dr := s.drawFor(t, s.loads(), t.Officer, attempt, now)
		if dr == nil {
			return Task{}, fmt.Errorf("%w: no other eligible officer is on duty for task %s", ErrState, t.ID)
		}
		nt.Officer, nt.Draw, kind = dr.Chosen, dr, "redraw"
	}
	if err := s.st.SaveTasks(ctx, []Task{*nt}); err != nil {
		return Task{}, fmt.Errorf("clearance: save task %s: %w", t.ID, err)
	}
	s.mu.Lock()
	s.putTask(nt)
	s.counts.officerTasks[nt.Officer]++
	s.mu.Unlock()
	s.met.assignments.WithLabelValues(kind).Inc()
	s.auditLate(ctx, s.rec(a.User, AuditTaskReassign, t.ID, assignment{Officer: nt.Officer, Port: t.Port, From: t.Officer, Reason: nt.Reason, Draw: nt.Draw}))
	return *nt, nil
}

// Overdue returns the open tasks past their due time (tasks waiting for the laboratory
// excepted), most overdue first, and refreshes the overdue metric. A task that became overdue
// since the last call raises an alert: a warning in the log and the overdue-alerts counter.
func (s *Service) Overdue(ctx context.Context) ([]Task, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	now := s.now()
	byPort := map[string]int{}
	var out []Task
	s.mu.Lock()
	for _, t := range s.tasks {
		if t.overdue(now) {
			out = append(out, *t)
			byPort[t.Port]++
			if !s.alerted[t.ID] {
				s.alerted[t.ID] = true
				s.met.overdueAlert.Inc()
				s.log.Warn("task overdue", "task", t.ID, "port", t.Port, "officer", t.Officer, "state", t.State, "due_at", t.DueAt)
			}
		}
	}
	for id := range s.alerted {
		if t := s.tasks[id]; t == nil || !t.overdue(now) {
			delete(s.alerted, id)
		}
	}
	s.mu.Unlock()
	s.met.overdue.Reset()
	for p, n := range byPort {
		s.met.overdue.WithLabelValues(p).Set(float64(n))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].DueAt.Before(out[j].DueAt) })
	return out, nil
}

// SetOnDuty puts an officer of the roster on or off duty and draws officers for tasks that
// were waiting for one. Supervisors and admins only.
func (s *Service) SetOnDuty(ctx context.Context, a Actor, officer string, onDuty bool) error {
	if !a.Has(RoleSupervisor) && !a.Has(RoleAdmin) {
		return fmt.Errorf("%w: %s may not change the duty roster", ErrForbidden, a.User)
	}
	s.wmu.Lock()
	s.mu.Lock()
	o, ok := s.officers[officer]
	if ok {
		c := *o
		c.OnDuty = onDuty
		s.officers[officer] = &c
	}
	s.mu.Unlock()
	if !ok {
		s.wmu.Unlock()
		return fmt.Errorf("%w: officer %s", ErrNotFound, officer)
	}
	s.auditLate(ctx, s.rec(a.User, "duty", officer, map[string]bool{"on_duty": onDuty}))
	s.wmu.Unlock()
	return s.AssignPending(ctx)
}

// Officers returns the roster with each officer's current duty state.
func (s *Service) Officers() []Officer {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]Officer, 0, len(s.officers))
	for _, o := range s.officers {
		out = append(out, *o)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// AssignPending draws officers for tasks still PENDING (nobody was eligible when they were
// created). Run calls it periodically.
func (s *Service) AssignPending(ctx context.Context) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	now := s.now()
	loads := s.loads()
	var changed []*Task
	var recs []AuditRecord
	var pending []*Task
	for _, t := range s.tasks {
		if t.State == TaskPending {
			pending = append(pending, t)
		}
	}
	sort.Slice(pending, func(i, j int) bool { return pending[i].CreatedAt.Before(pending[j].CreatedAt) })
	for _, t := range pending {
		dr := s.drawFor(t, loads, "", 1, now)
		if dr == nil {
			continue
		}
		nt := next(t, now)
		nt.State, nt.Officer, nt.Draw = TaskAssigned, dr.Chosen, dr
		loads[dr.Chosen]++
		changed = append(changed, nt)
		recs = append(recs, s.rec("system", AuditTaskAssign, t.ID, assignment{Officer: dr.Chosen, Port: t.Port, Draw: dr}))
	}
	if len(changed) == 0 {
		return nil
	}
	ts := make([]Task, len(changed))
	for i, t := range changed {
		ts[i] = *t
	}
	if err := s.st.SaveTasks(ctx, ts); err != nil {
		return fmt.Errorf("clearance: save %d assignment(s): %w", len(ts), err)
	}
	s.mu.Lock()
	for _, t := range changed {
		s.putTask(t)
		s.counts.officerTasks[t.Officer]++
	}
	s.mu.Unlock()
	s.met.assignments.WithLabelValues("draw").Add(float64(len(changed)))
	return s.audit(ctx, recs...)
}

// sweep forgets final tasks older than the retention; TaskReader answers for them afterwards.
func (s *Service) sweep() {
	cut := s.now().Add(-s.cfg.Retention)
	s.wmu.Lock()
	defer s.wmu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, t := range s.tasks {
		if t.State.Final() && t.UpdatedAt.Before(cut) {
			delete(s.tasks, id)
			s.met.tasksByState.WithLabelValues(string(t.State)).Dec()
			ids := s.byNumber[t.DeclarationNo][:0]
			for _, x := range s.byNumber[t.DeclarationNo] {
				if x != id {
					ids = append(ids, x)
				}
			}
			if len(ids) == 0 {
				delete(s.byNumber, t.DeclarationNo)
			} else {
				s.byNumber[t.DeclarationNo] = ids
			}
		}
	}
}

// Run does the periodic work until ctx ends: overdue alerts, draws for pending tasks, audit
// backlog, forgetting old final tasks. It returns nil when ctx ends.
func (s *Service) Run(ctx context.Context) error {
	tick := time.NewTicker(s.cfg.CheckEvery)
	defer tick.Stop()
	holdTick := time.NewTicker(s.cfg.holdEvery())
	defer holdTick.Stop()
	releaseExpired := func() {
		if _, err := s.ReleaseExpiredHolds(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("releasing holds past the manifest window failed; will retry", "err", err)
		}
	}
	for {
		releaseExpired()
		if _, err := s.Overdue(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("overdue check failed", "err", err)
		}
		if err := s.AssignPending(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("assigning pending tasks failed", "err", err)
		}
		s.wmu.Lock()
		if len(s.backlog) > 0 {
			s.auditLate(ctx)
		}
		s.wmu.Unlock()
		s.sweep()
	wait:
		for {
			select {
			case <-ctx.Done():
				return nil
			case <-holdTick.C:
				releaseExpired()
			case <-tick.C:
				break wait
			}
		}
	}
}

// SchemaLabResultV1 identifies a laboratory report on the lab-results topic.
const SchemaLabResultV1 = "portguard.lab-result/v1"

// LabResultMessage is a laboratory report as it arrives on Kafka: the schema and a LabInput.
type LabResultMessage struct {
	Schema string `json:"schema"`
	LabInput
}

// LabResultsHandler returns the handler for a consumer of Config.LabResultsTopic. Reports that
// cannot be applied — bad JSON, unknown schema, invalid fields, unknown task, a task not
// awaiting a lab result — go to the dead-letter topic with the reason; transport failures are
// returned so that the batch is retried. A report applied twice is harmless (LabRef).
func (s *Service) LabResultsHandler() ingest.Handler {
	lab := Actor{User: "lab", Roles: []string{RoleLab}}
	return func(ctx context.Context, batch []kafka.Message) error {
		var dead []ingest.Message
		for i := range batch {
			m := &batch[i]
			var msg LabResultMessage
			if err := json.Unmarshal(m.Value, &msg); err != nil {
				dead = append(dead, s.deadLetter(m, "malformed lab result JSON: "+err.Error()))
				continue
			}
			if msg.Schema != SchemaLabResultV1 {
				dead = append(dead, s.deadLetter(m, "unknown lab result schema "+strconv.Quote(msg.Schema)))
				continue
			}
			a := lab
			if msg.LabRef != "" {
				a.User = "lab:" + msg.LabRef
			}
			_, err := s.RecordLabResult(ctx, a, msg.LabInput)
			var ve *ingest.ValidationError
			switch {
			case err == nil:
			case errors.As(err, &ve):
				dl := s.deadLetter(m, ve.Error())
				d := dl.Value.(ingest.DeadLetter)
				d.Errors = ve.Fields
				dl.Value = d
				dead = append(dead, dl)
			case errors.Is(err, ErrNotFound), errors.Is(err, ErrState), errors.Is(err, ErrConflict), errors.Is(err, ErrForbidden):
				dead = append(dead, s.deadLetter(m, err.Error()))
			default:
				return err
			}
		}
		return s.publishDead(ctx, dead)
	}
}
