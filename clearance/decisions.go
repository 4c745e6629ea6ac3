package clearance

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/portguard/portguard/ingest"
	"github.com/portguard/portguard/targeting"
)

// checkDecision says why d cannot be acted on ("" when it can).
func checkDecision(d *targeting.Decision) string {
	switch {
	case d.DeclarationNo == "":
		return "decision without declaration_no"
	case d.Version < 1:
		return "decision with version < 1"
	case d.Channel != targeting.Red && d.Channel != targeting.Yellow && d.Channel != targeting.Green:
		return "decision with unknown channel " + strconv.Quote(string(d.Channel))
	}
	return ""
}

// taskCreated is the audit detail of a new task.
type taskCreated struct {
	Port          string            `json:"port"`
	Channel       targeting.Channel `json:"channel"`
	Action        targeting.Action  `json:"action"`
	Priority      int               `json:"priority"`
	Qualification string            `json:"qualification,omitempty"`
	Selection     string            `json:"selection"`
	DueAt         time.Time         `json:"due_at"`
}

// assignment is the audit detail of a draw, reassignment or take-over.
type assignment struct {
	Officer string `json:"officer"`
	Port    string `json:"port"`
	From    string `json:"from,omitempty"` // previous officer
	Reason  string `json:"reason,omitempty"`
	Draw    *Draw  `json:"draw,omitempty"`
}

// HandleDecisions is the sink of the decisions topic. A RED or YELLOW decision becomes a task
// (once per decision ID), drawn to an officer at once when one is eligible; a GREEN decision gets
// its release receipt on the releases topic (once per declaration version). A decision for a
// newer version of a declaration cancels the open tasks of older versions; decisions for older
// versions than one already seen, or for withdrawn declarations, are ignored.
//
// A GREEN decision that awaits its manifest (AwaitingManifest, with Config.ManifestWindow set) is
// held instead of released: its revision (a higher Revision of the same version, made when the
// manifest arrived) becomes a task when RED or YELLOW and a release when GREEN; without one,
// Run releases it GREEN when the window has passed. A decision whose Revision is not higher than
// the one acted on is a duplicate, and a revision of a released consignment is ignored. Malformed decisions
// are logged, counted and skipped. It returns an error only when a durable effect failed; calling
// it again with the same decisions is then safe.
func (s *Service) HandleDecisions(ctx context.Context, ds []targeting.Decision) error {
	if len(ds) == 0 {
		return nil
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	now := s.now()
	var (
		msgs     []ingest.Message
		relRecs  []AuditRecord
		relIDs   []string
		recs     []AuditRecord
		overlay  = map[string]*Task{} // tasks created or changed by this batch
		order    []string
		latest   = map[string]int{}
		released = map[string]bool{}
		created  = map[string]bool{}
		loads    = s.loads()
		holds    = map[string]*Hold{} // holds begun (non-nil) or ended (nil) by this batch, by number
	)
	holdOf := func(no string) *Hold {
		if h, ok := holds[no]; ok {
			return h
		}
		return s.holds[no]
	}
	for i := range ds {
		d := ds[i]
		if why := checkDecision(&d); why != "" {
			s.met.decisions.WithLabelValues("invalid").Inc()
			s.log.Warn("decision skipped", "reason", why, "declaration_no", d.DeclarationNo)
			continue
		}
		id, no := d.ID(), d.DeclarationNo
		if s.withdrawn.has(no) {
			s.met.decisions.WithLabelValues("withdrawn").Inc()
			continue
		}
		hi, ok := latest[no]
		if !ok {
			hi, _ = s.latest.get(no)
		}
		if d.Version < hi {
			s.met.decisions.WithLabelValues("stale").Inc()
			s.log.Info("decision for an older version ignored", "decision", id, "latest_version", hi)
			continue
		}
		latest[no] = d.Version
		for _, t := range s.openOf(no, overlay) {
			if t.DeclVersion < d.Version {
				c := s.cancelled(t, fmt.Sprintf("superseded by version %d", d.Version), now)
				if _, seen := overlay[c.ID]; !seen {
					order = append(order, c.ID)
				}
				overlay[c.ID] = c
				recs = append(recs, s.rec("system", AuditTaskCancel, c.ID, map[string]string{"reason": c.Reason}))
			}
		}
		h := holdOf(no)
		if h != nil && h.DeclVersion < d.Version {
			recs = append(recs, s.rec("system", AuditHoldEnd, h.ID(), holdEnd{Outcome: holdSuperseded,
				Reason: fmt.Sprintf("superseded by version %d", d.Version)}))
			holds[no], h = nil, nil
		}
		held := h != nil && h.DeclVersion == d.Version
		if !d.Inspected() {
			if released[id] || s.released.has(id) {
				if d.Revision > 0 {
					// The window passed first: a released consignment is never re-targeted.
					s.met.decisions.WithLabelValues("revision_after_release").Inc()
					s.log.Info("revision of a released consignment ignored", "decision", id, "revision", d.Revision)
				} else {
					s.met.decisions.WithLabelValues("duplicate").Inc()
				}
				continue
			}
			if _, ok := overlay[id]; ok || s.tasks[id] != nil || s.holdEnded.has(id) && d.Revision == 0 {
				// An earlier decision of this version than the revision that made its task or
				// ended its hold.
				s.met.decisions.WithLabelValues("duplicate").Inc()
				continue
			}
			if d.AwaitingManifest && d.Revision == 0 && s.cfg.ManifestWindow > 0 {
				if held {
					s.met.decisions.WithLabelValues("duplicate").Inc()
					continue
				}
				at := d.DecidedAt
				if at.IsZero() || at.After(now) {
					at = now
				}
				if until := at.Add(s.cfg.ManifestWindow); until.After(now) {
					holds[no] = &Hold{DeclarationNo: no, DeclVersion: d.Version, Port: d.Port, HeldAt: now, Until: until}
					recs = append(recs, s.rec("system", AuditHold, id, holdDetail{Port: d.Port, Until: until,
						Reason: "GREEN; release held until the manifest is cross-checked"}))
					s.met.decisions.WithLabelValues("held").Inc()
					continue
				}
				// The window passed while the decision was on its way (a lagging consumer):
				// nothing can revise it any more, so it is released as it stands.
			}
			released[id] = true
			rel := s.release(d.DeclarationNo, d.Version, d.Port, d.Channel, DispRelease, "system", now)
			msgs = append(msgs, s.releaseMsg(rel))
			relIDs = append(relIDs, id)
			if held {
				holds[no] = nil
				relRecs = append(relRecs, s.rec("system", AuditHoldEnd, id, holdEnd{Outcome: holdReleased,
					Reason: fmt.Sprintf("revision %d after the manifest cross-check: %s", d.Revision, d.Channel)}))
			}
			relRecs = append(relRecs, s.rec("system", AuditRelease, id, rel))
			s.met.decisions.WithLabelValues("release").Inc()
			continue
		}
		if _, ok := overlay[id]; ok || s.tasks[id] != nil {
			s.met.decisions.WithLabelValues("duplicate").Inc()
			continue
		}
		if released[id] || s.released.has(id) {
			// A revision to RED or YELLOW that lost the race with the window: the goods are gone.
			s.met.decisions.WithLabelValues("revision_after_release").Inc()
			s.log.Warn("revision to an inspection channel after release ignored", "decision", id, "channel", d.Channel, "revision", d.Revision)
			continue
		}
		if held {
			holds[no] = nil
			recs = append(recs, s.rec("system", AuditHoldEnd, id, holdEnd{Outcome: holdTask,
				Reason: fmt.Sprintf("revision %d after the manifest cross-check: %s → %s", d.Revision, d.RevisedFrom, d.Channel)}))
		}
		t := s.newTask(&d, now)
		recs = append(recs, s.rec("system", AuditTaskCreate, id, taskCreated{Port: t.Port, Channel: t.Channel,
			Action: t.Action, Priority: t.Priority, Qualification: t.Qualification, Selection: string(d.Selection), DueAt: t.DueAt}))
		if dr := s.drawFor(t, loads, "", 1, now); dr != nil {
			t.Officer, t.Draw, t.State = dr.Chosen, dr, TaskAssigned
			loads[dr.Chosen]++
			recs = append(recs, s.rec("system", AuditTaskAssign, id, assignment{Officer: dr.Chosen, Port: t.Port, Draw: dr}))
			s.met.assignments.WithLabelValues("draw").Inc()
		} else {
			s.met.assignments.WithLabelValues("none_eligible").Inc()
		}
		overlay[id] = t
		order = append(order, id)
		created[id] = true
		s.met.decisions.WithLabelValues("task").Inc()
	}

	// Durable effects, in order: receipts to the electronic port, tasks to the store, the chain.
	if len(msgs) > 0 {
		if err := s.pub.Publish(ctx, msgs...); err != nil {
			return fmt.Errorf("clearance: publish %d release receipt(s): %w", len(msgs), err)
		}
		s.mu.Lock()
		for _, id := range relIDs {
			s.released.put(id, 1, now)
		}
		s.mu.Unlock()
		s.met.releases.WithLabelValues("green").Add(float64(len(msgs)))
		// The receipts are out: their audit records must follow even if what comes next fails.
		s.backlog = append(s.backlog, relRecs...)
	}
	if len(order) > 0 {
		tasks := make([]Task, len(order))
		for i, id := range order {
			tasks[i] = *overlay[id]
		}
		if err := s.st.SaveTasks(ctx, tasks); err != nil {
			return fmt.Errorf("clearance: save %d task(s): %w", len(tasks), err)
		}
		s.mu.Lock()
		for _, id := range order {
			t := overlay[id]
			if created[id] {
				s.met.tasksCreated.WithLabelValues(string(t.Channel)).Inc()
				s.counts.portTasks[t.Port]++
				if t.Officer != "" {
					s.counts.officerTasks[t.Officer]++
				}
			}
			s.putTask(t)
		}
		s.mu.Unlock()
	}
	s.mu.Lock()
	for no, v := range latest {
		if old, ok := s.latest.get(no); !ok || v > old {
			s.latest.put(no, v, now)
		}
	}
	for no, h := range holds {
		if h == nil {
			if old := s.holds[no]; old != nil {
				s.holdEnded.put(old.ID(), 1, now)
			}
			delete(s.holds, no)
		} else {
			s.holds[no] = h
		}
	}
	s.met.holds.Set(float64(len(s.holds)))
	s.mu.Unlock()
	return s.audit(ctx, recs...)
}

// openOf returns the open tasks of a declaration number, the batch's own versions first.
func (s *Service) openOf(no string, overlay map[string]*Task) []*Task {
	var out []*Task
	for _, t := range overlay {
		if t.DeclarationNo == no && !t.State.Final() {
			out = append(out, t)
		}
	}
	for _, id := range s.byNumber[no] {
		if _, ok := overlay[id]; ok {
			continue
		}
		if t := s.tasks[id]; t != nil && !t.State.Final() {
			out = append(out, t)
		}
	}
	return out
}

func (s *Service) newTask(d *targeting.Decision, now time.Time) *Task {
	action := d.Action
	if action == "" {
		action = targeting.ActionDocuments
		if d.Channel == targeting.Red {
			action = targeting.ActionPhysical
		}
	}
	return &Task{
		ID: d.ID(), DeclarationNo: d.DeclarationNo, DeclVersion: d.Version, Port: d.Port,
		Channel: d.Channel, Action: action, Priority: priority(d), State: TaskPending,
		Qualification: s.cfg.qualificationFor(d), Decision: *d, Version: 1,
		CreatedAt: now, UpdatedAt: now, DueAt: s.cfg.due(d.Channel == targeting.Red, now),
	}
}

// next returns a copy of t one version on, stamped now.
func next(t *Task, now time.Time) *Task {
	c := *t
	c.Version++
	c.UpdatedAt = now
	return &c
}

func (s *Service) cancelled(t *Task, reason string, now time.Time) *Task {
	c := next(t, now)
	c.State, c.Reason = TaskCancelled, reason
	return c
}

func (s *Service) release(no string, ver int, port string, ch targeting.Channel, disp, by string, now time.Time) Release {
	return Release{Schema: SchemaReleaseV1, DeclarationNo: no, DeclVersion: ver, Port: port, Channel: ch,
		Disposition: disp, ReleasedBy: by, ReleasedAt: now}
}

func (s *Service) releaseMsg(r Release) ingest.Message {
	return ingest.Message{Topic: s.topics.Releases, Key: r.DeclarationNo, Value: r}
}

// DecisionsHandler returns the handler for a consumer of the decisions topic. Messages that are
// not decisions (bad JSON, unknown schema, missing identity) go to the dead-letter topic with the
// reason and are counted; they never stop the consumer.
func (s *Service) DecisionsHandler() ingest.Handler {
	return func(ctx context.Context, batch []kafka.Message) error {
		ds := make([]targeting.Decision, 0, len(batch))
		var dead []ingest.Message
		for i := range batch {
			var d targeting.Decision
			var why string
			if err := json.Unmarshal(batch[i].Value, &d); err != nil {
				why = "malformed decision JSON: " + err.Error()
			} else if d.Schema != targeting.SchemaDecisionV1 {
				why = "unknown decision schema " + strconv.Quote(d.Schema)
			} else {
				why = checkDecision(&d)
			}
			if why != "" {
				dead = append(dead, s.deadLetter(&batch[i], why))
				continue
			}
			ds = append(ds, d)
		}
		if err := s.HandleDecisions(ctx, ds); err != nil {
			return err
		}
		return s.publishDead(ctx, dead)
	}
}

func (s *Service) deadLetter(m *kafka.Message, why string) ingest.Message {
	s.met.malformed.WithLabelValues(m.Topic).Inc()
	s.log.Warn("message dead-lettered", "topic", m.Topic, "partition", m.Partition, "offset", m.Offset, "reason", why)
	return ingest.Message{Topic: s.topics.DeadLetters, Key: string(m.Key), Value: ingest.DeadLetter{
		Schema: ingest.SchemaDeadLetterV1, SourceTopic: m.Topic, Partition: m.Partition, Offset: m.Offset,
		Key: string(m.Key), Value: m.Value, Reason: why, At: s.now(),
	}}
}

func (s *Service) publishDead(ctx context.Context, dead []ingest.Message) error {
	if len(dead) == 0 {
		return nil
	}
	if err := s.pub.Publish(ctx, dead...); err != nil {
		return fmt.Errorf("clearance: publish %d dead letter(s): %w", len(dead), err)
	}
	return nil
}

// Withdraw handles a withdrawal (撤单) of a declaration: its open tasks, of every version, are
// cancelled and later decisions for it are ignored. Withdrawing twice is harmless. It is the
// sink ingest calls for the withdrawals topic.
func (s *Service) Withdraw(ctx context.Context, number, reason string) error {
	if number == "" {
		return &ingest.ValidationError{Kind: "withdrawal", Fields: []ingest.FieldError{{Path: "declaration_no", Code: "required",
			ZH: "缺少报关单号", EN: "declaration number is required"}}}
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	now := s.now()
	open := s.openOf(number, nil)
	if len(open) == 0 && s.withdrawn.has(number) {
		return nil
	}
	if reason == "" {
		reason = "withdrawn"
	}
	changed := make([]Task, len(open))
	recs := []AuditRecord{s.rec("system", AuditWithdrawal, number, map[string]any{"reason": reason, "open_tasks": len(open)})}
	if h := s.holds[number]; h != nil {
		recs = append(recs, s.rec("system", AuditHoldEnd, h.ID(), holdEnd{Outcome: holdWithdrawn, Reason: "withdrawn: " + reason}))
	}
	for i, t := range open {
		changed[i] = *s.cancelled(t, "withdrawn: "+reason, now)
		recs = append(recs, s.rec("system", AuditTaskCancel, t.ID, map[string]string{"reason": changed[i].Reason}))
	}
	if len(changed) > 0 {
		if err := s.st.SaveTasks(ctx, changed); err != nil {
			return fmt.Errorf("clearance: cancel tasks of withdrawn %s: %w", number, err)
		}
	}
	s.mu.Lock()
	for i := range changed {
		s.putTask(&changed[i])
	}
	s.withdrawn.put(number, 1, now)
	delete(s.holds, number)
	s.met.holds.Set(float64(len(s.holds)))
	s.mu.Unlock()
	return s.audit(ctx, recs...)
}
