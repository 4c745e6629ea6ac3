package clearance

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/portguard/portguard/ingest"
	"github.com/portguard/portguard/targeting"
)

// RoleLab is the role of laboratory systems reporting sample results (API key or Kafka).
const RoleLab = "lab"

// maxNote bounds free text, in characters.
const maxNote = 2000

// ResultInput is what an officer submits for a task.
type ResultInput struct {
	TaskID string `json:"task_id"`
	// ExpectedVersion is the task Version the officer saw; if the task changed since, the
	// result is refused with ErrConflict (two officers recording the same task: one wins).
	ExpectedVersion int        `json:"expected_version"`
	Outcome         Conformity `json:"outcome"`
	Findings        []Finding  `json:"findings,omitempty"`
	Adjustment      float64    `json:"adjustment"`            // duty or value adjustment, base currency, ≥ 0
	Disposition     string     `json:"disposition,omitempty"` // empty: decide later; must be empty for PENDING_LAB
	Note            string     `json:"note,omitempty"`
}

// LabInput is a laboratory's report on a sampled consignment.
type LabInput struct {
	TaskID string `json:"task_id"`
	// ExpectedVersion is checked like ResultInput's when > 0; laboratories report by task and
	// may leave it 0.
	ExpectedVersion int        `json:"expected_version,omitempty"`
	LabRef          string     `json:"lab_ref"` // the laboratory's report number; a repeated report is ignored
	Outcome         Conformity `json:"outcome"` // CONFORMING or NON_CONFORMING
	// Findings of the laboratory; empty on a non-conforming report keeps the findings recorded
	// at sampling.
	Findings    []Finding `json:"findings,omitempty"`
	Adjustment  float64   `json:"adjustment,omitempty"`
	Disposition string    `json:"disposition,omitempty"` // empty: RELEASE when conforming, else decided by an officer
	Note        string    `json:"note,omitempty"`
	ReportedAt  time.Time `json:"reported_at,omitempty"`
}

func fe(path, code, zh, en string) ingest.FieldError {
	return ingest.FieldError{Path: path, Code: code, ZH: zh, EN: en}
}

func validDisposition(d string) bool {
	switch d {
	case "", DispRelease, DispTreatRelease, DispReturn, DispDestroy, DispDetain:
		return true
	}
	return false
}

// validateFindings checks and completes findings (severity 0 takes the catalogue's default).
func validateFindings(fs []Finding) []ingest.FieldError {
	var errs []ingest.FieldError
	for i := range fs {
		f := &fs[i]
		p := "findings[" + strconv.Itoa(i) + "]"
		ft, ok := findingType(f.Code)
		if !ok {
			errs = append(errs, fe(p+".code", "unknown", "未知的查验问题代码 "+strconv.Quote(f.Code), "unknown finding code "+strconv.Quote(f.Code)))
		}
		if f.Severity == 0 && ok {
			f.Severity = ft.DefaultSeverity
		}
		if f.Severity < SeverityMinor || f.Severity > SeveritySevere {
			errs = append(errs, fe(p+".severity", "range", "严重程度须为 1（轻微）至 3（严重）", "severity must be 1 (minor) to 3 (severe)"))
		}
		if f.Quantity < 0 || math.IsNaN(f.Quantity) || math.IsInf(f.Quantity, 0) {
			errs = append(errs, fe(p+".quantity", "range", "数量须为非负数", "quantity must be a non-negative number"))
		}
		if utf8.RuneCountInString(f.Note) > maxNote {
			errs = append(errs, fe(p+".note", "length", "说明过长", "note is too long"))
		}
	}
	return errs
}

func validateCommon(outcome Conformity, fs []Finding, adj float64, disp, note string) []ingest.FieldError {
	errs := validateFindings(fs)
	switch outcome {
	case NonConforming:
		if len(fs) == 0 {
			errs = append(errs, fe("findings", "required", "不合格结果须至少填写一项查验问题", "a non-conforming result needs at least one finding"))
		}
	case Conforming:
		if len(fs) > 0 {
			errs = append(errs, fe("findings", "forbidden", "合格结果不应填写查验问题", "a conforming result has no findings"))
		}
		if disp != "" && disp != DispRelease {
			errs = append(errs, fe("disposition", "invalid", "合格货物只能放行", "conforming goods can only be released"))
		}
	case PendingLab:
		if disp != "" {
			errs = append(errs, fe("disposition", "forbidden", "送检期间不能作出处置", "no disposition while the sample is at the laboratory"))
		}
	case "":
		errs = append(errs, fe("outcome", "required", "缺少查验结论", "outcome is required"))
	default:
		errs = append(errs, fe("outcome", "unknown", "未知的查验结论 "+strconv.Quote(string(outcome)), "unknown outcome "+strconv.Quote(string(outcome))))
	}
	if adj < 0 || math.IsNaN(adj) || math.IsInf(adj, 0) {
		errs = append(errs, fe("adjustment", "range", "补税/调整金额须为非负数", "adjustment must be a non-negative number"))
	}
	if !validDisposition(disp) {
		errs = append(errs, fe("disposition", "unknown", "未知的处置方式 "+strconv.Quote(disp), "unknown disposition "+strconv.Quote(disp)))
	}
	if utf8.RuneCountInString(note) > maxNote {
		errs = append(errs, fe("note", "length", "备注过长（最多 2000 字）", "note is too long (2000 characters at most)"))
	}
	return errs
}

// Validate checks the input as RecordResult does and returns every problem at once, or nil.
// Findings with severity 0 get their catalogue default.
func (in *ResultInput) Validate() error {
	var errs []ingest.FieldError
	if in.TaskID == "" {
		errs = append(errs, fe("task_id", "required", "缺少任务编号", "task_id is required"))
	}
	if in.ExpectedVersion < 1 {
		errs = append(errs, fe("expected_version", "required", "缺少任务版本号（用于并发控制）", "expected_version is required (optimistic concurrency)"))
	}
	errs = append(errs, validateCommon(in.Outcome, in.Findings, in.Adjustment, in.Disposition, in.Note)...)
	if len(errs) > 0 {
		return &ingest.ValidationError{Kind: "inspection_result", Fields: errs}
	}
	return nil
}

// Validate checks a lab report and returns every problem at once, or nil.
func (in *LabInput) Validate() error {
	var errs []ingest.FieldError
	if in.TaskID == "" {
		errs = append(errs, fe("task_id", "required", "缺少任务编号", "task_id is required"))
	}
	if in.LabRef == "" {
		errs = append(errs, fe("lab_ref", "required", "缺少实验室报告编号", "lab_ref is required"))
	}
	if in.Outcome == PendingLab {
		errs = append(errs, fe("outcome", "invalid", "实验室结论须为合格或不合格", "a laboratory reports CONFORMING or NON_CONFORMING"))
	}
	fs := in.Findings
	if in.Outcome == NonConforming && len(fs) == 0 {
		fs = []Finding{{Code: FindOther, Severity: 1}} // the findings at sampling are used; checked later
	}
	errs = append(errs, validateCommon(in.Outcome, fs, in.Adjustment, in.Disposition, in.Note)...)
	if len(errs) > 0 {
		return &ingest.ValidationError{Kind: "lab_result", Fields: errs}
	}
	return nil
}

// canWork says whether a may act on t as the inspecting officer: the assigned officer, an
// officer of the port taking an unassigned task, a supervisor of the port, or an admin.
func canWork(a Actor, t *Task) error {
	samePort := a.Port == "" || a.Port == t.Port
	switch {
	case a.Has(RoleAdmin):
	case a.Has(RoleSupervisor) && samePort:
	case a.Has(RoleOfficer) && (t.Officer == a.User || t.Officer == "" && samePort):
	default:
		return fmt.Errorf("%w: %s may not work on task %s", ErrForbidden, a.User, t.ID)
	}
	return nil
}

func (s *Service) taskForWrite(id string, expected int) (*Task, error) {
	t := s.tasks[id]
	if t == nil {
		return nil, fmt.Errorf("%w: task %s", ErrNotFound, id)
	}
	if expected > 0 && expected != t.Version {
		return nil, fmt.Errorf("%w: task %s is at version %d, not %d: someone else changed it; reload it", ErrConflict, id, t.Version, expected)
	}
	return t, nil
}

// RecordResult records an inspection result for a task and acts on it: a final result is
// published to the inspection-results topic (key = declaration number) with its learning label;
// a final disposition ends the task and publishes the receipt to the releases topic (once per
// declaration version); PENDING_LAB parks the task until RecordLabResult, releasing the goods
// under bond or holding them as the lab policy of its findings says. Recording again on a task
// that has a result is a correction: a new result version, never an overwrite, republished with
// the next ResultVersion so that targeting replaces the label.
//
// Errors: *ingest.ValidationError for bad input, ErrNotFound, ErrForbidden, ErrConflict when
// ExpectedVersion is stale, ErrState when the task's state does not allow it, and wrapped
// transport errors when Kafka or the store failed (nothing was changed then; retry).
func (s *Service) RecordResult(ctx context.Context, a Actor, in ResultInput) (InspectionResult, error) {
	in.Findings = append([]Finding(nil), in.Findings...)
	if err := in.Validate(); err != nil {
		return InspectionResult{}, err
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	t, err := s.taskForWrite(in.TaskID, in.ExpectedVersion)
	if err != nil {
		return InspectionResult{}, err
	}
	if err := canWork(a, t); err != nil {
		return InspectionResult{}, err
	}
	ev, disp := EventResult, in.Disposition
	if in.Outcome == PendingLab {
		ev = EventPendingLab
	} else if t.State == TaskAwaitingLab {
		return InspectionResult{}, fmt.Errorf("%w: task %s awaits its laboratory result", ErrState, t.ID)
	}
	if t.State.Final() && t.Result != nil && ev == EventResult {
		switch {
		case disp == "":
			disp = t.Result.Disposition
		case disp != t.Result.Disposition:
			return InspectionResult{}, &ingest.ValidationError{Kind: "inspection_result", Fields: []ingest.FieldError{
				fe("disposition", "immutable", "任务已办结，更正结果不能改变处置方式", "the task has ended: a correction cannot change its disposition")}}
		}
	}
	state, err := t.State.Next(ev, disp)
	if err != nil {
		return InspectionResult{}, fmt.Errorf("clearance: task %s: %w", t.ID, err)
	}
	res := InspectionResult{Outcome: in.Outcome, Findings: in.Findings, Adjustment: in.Adjustment, Disposition: disp, Note: in.Note}
	return s.commitResult(ctx, a, t, state, res, AuditResult, time.Time{})
}

// resultDetail is the audit detail of a result.
type resultDetail struct {
	Version     int        `json:"version"`
	Outcome     Conformity `json:"outcome"`
	Findings    []Finding  `json:"findings,omitempty"`
	Adjustment  float64    `json:"adjustment"`
	Disposition string     `json:"disposition,omitempty"`
	LabRef      string     `json:"lab_ref,omitempty"`
	Note        string     `json:"note,omitempty"`
	State       TaskState  `json:"state"`
	LabHold     LabHold    `json:"lab_hold,omitempty"`
}

// commitResult completes res, publishes it and any receipt, saves the task and audits. wmu held.
func (s *Service) commitResult(ctx context.Context, a Actor, t *Task, state TaskState, res InspectionResult, action string, at time.Time) (InspectionResult, error) {
	now := s.now()
	if at.IsZero() {
		at = now
	}
	res.Schema, res.DeclarationNo, res.DeclVersion, res.TaskID, res.Port = SchemaInspectionResultV1, t.DeclarationNo, t.DeclVersion, t.ID, t.Port
	res.Version = 1
	if t.Result != nil {
		res.Version = t.Result.Version + 1
	}
	res.Officer = a.User
	if action == AuditLabResult && t.Officer != "" {
		res.Officer = t.Officer // the label belongs to the inspecting officer; the lab is on the chain
	}
	res.InspectedAt = at
	res.Label = label(t, &res)

	nt := next(t, now)
	nt.State, nt.Result = state, &res
	if nt.Officer == "" && a.Has(RoleOfficer) {
		nt.Officer = a.User // an officer of the port took the unassigned task
	}
	var msgs []ingest.Message
	if res.Outcome != PendingLab {
		msgs = append(msgs, ingest.Message{Topic: s.topics.InspectionResults, Key: res.DeclarationNo, Value: res})
	}
	var rel *Release
	source := "result"
	hold := LabHold("")
	if state == TaskAwaitingLab {
		hold = s.cfg.labHold(res.Findings)
		if hold == LabBond && !s.released.has(t.ID) {
			r := s.release(t.DeclarationNo, t.DeclVersion, t.Port, t.Channel, DispReleaseBond, a.User, now)
			rel, source, nt.BondReleased = &r, "bond", true
		}
	} else if state.Final() && !s.released.has(t.ID) {
		r := s.release(t.DeclarationNo, t.DeclVersion, t.Port, t.Channel, res.Disposition, res.Officer, now)
		rel = &r
		if action == AuditLabResult {
			source = "lab"
		}
	}
	if rel != nil {
		msgs = append(msgs, s.releaseMsg(*rel))
	}
	if len(msgs) > 0 {
		if err := s.pub.Publish(ctx, msgs...); err != nil {
			return InspectionResult{}, fmt.Errorf("clearance: publish result of %s: %w", t.ID, err)
		}
	}
	if rel != nil {
		s.mu.Lock()
		s.released.put(t.ID, 1, now)
		s.mu.Unlock()
		s.met.releases.WithLabelValues(source).Inc()
		s.backlog = append(s.backlog, s.rec(a.User, AuditRelease, t.ID, rel))
	}
	if err := s.st.SaveTasks(ctx, []Task{*nt}); err != nil {
		return InspectionResult{}, fmt.Errorf("clearance: save task %s: %w", t.ID, err)
	}
	s.mu.Lock()
	s.putTask(nt)
	s.mu.Unlock()
	s.met.results.WithLabelValues(string(res.Outcome)).Inc()
	detail := resultDetail{Version: res.Version, Outcome: res.Outcome, Findings: res.Findings, Adjustment: res.Adjustment,
		Disposition: res.Disposition, LabRef: res.LabRef, Note: res.Note, State: state, LabHold: hold}
	s.auditLate(ctx, s.rec(a.User, action, t.ID, detail))
	return res, nil
}

// auditLate appends records describing effects that are already durable. A failure is logged
// and the records stay in the backlog for the next append: the caller's action succeeded.
func (s *Service) auditLate(ctx context.Context, recs ...AuditRecord) {
	if err := s.audit(ctx, recs...); err != nil {
		s.log.Error("audit append failed; records kept for the next append", "records", len(s.backlog), "err", err)
	}
}

// label builds the learning label of a result from the task's decision.
func label(t *Task, r *InspectionResult) targeting.Outcome {
	d := &t.Decision
	sev := 0
	for _, f := range r.Findings {
		sev = max(sev, f.Severity)
	}
	var rules []string
	if len(d.RulesFired) > 0 {
		rules = make([]string, len(d.RulesFired))
		for i, h := range d.RulesFired {
			rules[i] = h.ID
		}
	}
	return targeting.Outcome{
		DeclarationNo: t.DeclarationNo, Version: t.DeclVersion,
		Hit: r.Outcome == NonConforming, Severity: sev, Revenue: r.Adjustment,
		Channel: d.Channel, Selection: d.Selection, Random: d.Random, Propensity: d.Propensity,
		ModelVersion: d.ModelVersion, RulesFired: rules, Features: d.Features,
		ResultVersion: r.Version, DecidedAt: d.DecidedAt, InspectedAt: r.InspectedAt,
	}
}

// labHold applies the lab policy to the findings recorded at sampling: HOLD if any finding's
// policy says so, else BOND; LabDefault when there are no findings.
func (c Config) labHold(fs []Finding) LabHold {
	if len(fs) == 0 {
		return c.LabDefault
	}
	for _, f := range fs {
		h, ok := c.LabPolicy[f.Code]
		if !ok {
			h = c.LabDefault
		}
		if h == LabHeld {
			return LabHeld
		}
	}
	return LabBond
}

// StartInspection marks an assigned task in progress: the officer is at the consignment.
func (s *Service) StartInspection(ctx context.Context, a Actor, taskID string, expectedVersion int) (Task, error) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	t, err := s.taskForWrite(taskID, expectedVersion)
	if err != nil {
		return Task{}, err
	}
	if err := canWork(a, t); err != nil {
		return Task{}, err
	}
	state, err := t.State.Next(EventStart, "")
	if err != nil {
		return Task{}, fmt.Errorf("clearance: task %s: %w", t.ID, err)
	}
	nt := next(t, s.now())
	nt.State = state
	if err := s.st.SaveTasks(ctx, []Task{*nt}); err != nil {
		return Task{}, fmt.Errorf("clearance: save task %s: %w", t.ID, err)
	}
	s.mu.Lock()
	s.putTask(nt)
	s.mu.Unlock()
	s.auditLate(ctx, s.rec(a.User, AuditTaskStart, t.ID, map[string]string{"officer": nt.Officer}))
	return *nt, nil
}

// RecordLabResult applies a laboratory report to a task awaiting it, days after sampling: a new
// result version with the lab's outcome, published as feedback. A conforming report without a
// disposition releases the goods (no second receipt if they were released under bond); a
// non-conforming one without a disposition leaves the task RESULT_RECORDED for an officer to
// decide. A report whose LabRef was already applied is ignored and returns the result it made.
func (s *Service) RecordLabResult(ctx context.Context, a Actor, in LabInput) (InspectionResult, error) {
	in.Findings = append([]Finding(nil), in.Findings...)
	if err := in.Validate(); err != nil {
		return InspectionResult{}, err
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	t, err := s.taskForWrite(in.TaskID, in.ExpectedVersion)
	if err != nil {
		return InspectionResult{}, err
	}
	if t.Result != nil && t.Result.LabRef == in.LabRef {
		return *t.Result, nil // the same report again (Kafka redelivery, a retried call)
	}
	if !a.Has(RoleLab) {
		if err := canWork(a, t); err != nil {
			return InspectionResult{}, err
		}
	}
	disp := in.Disposition
	if disp == "" && in.Outcome == Conforming {
		disp = DispRelease
	}
	state, err := t.State.Next(EventLabResult, disp)
	if err != nil {
		return InspectionResult{}, fmt.Errorf("clearance: task %s: %w", t.ID, err)
	}
	fs := in.Findings
	if in.Outcome == NonConforming && len(fs) == 0 && t.Result != nil {
		fs = t.Result.Findings
	}
	if in.Outcome == NonConforming && len(fs) == 0 {
		return InspectionResult{}, &ingest.ValidationError{Kind: "lab_result", Fields: []ingest.FieldError{
			fe("findings", "required", "不合格结论须至少有一项查验问题", "a non-conforming report needs at least one finding")}}
	}
	adj := in.Adjustment
	if adj == 0 && t.Result != nil {
		adj = t.Result.Adjustment
	}
	res := InspectionResult{Outcome: in.Outcome, Findings: fs, Adjustment: adj, Disposition: disp, Note: in.Note, LabRef: in.LabRef}
	return s.commitResult(ctx, a, t, state, res, AuditLabResult, in.ReportedAt)
}
