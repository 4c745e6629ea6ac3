package clearance

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/portguard/portguard/ingest"
)

// Publisher writes messages to Kafka and returns once they are acknowledged. *ingest.Producer
// satisfies it.
type Publisher interface {
	Publish(ctx context.Context, msgs ...ingest.Message) error
}

// TaskReader is optionally implemented by a Store that can find tasks no longer open (released,
// cancelled …), so that Task answers for them after a restart. Without it only tasks seen by
// this process are found.
type TaskReader interface {
	// LoadTask returns the latest version of the task, ok=false when there is none.
	LoadTask(ctx context.Context, id string) (t Task, ok bool, err error)
}

// Deps are the collaborators a Service needs. Store and Publish are required.
type Deps struct {
	Store      Store
	Publish    Publisher
	Topics     ingest.Topics         // zero value: ingest.DefaultTopics()
	Logger     *slog.Logger          // nil: discard
	Registerer prometheus.Registerer // nil: metrics are kept but not exported
	Now        func() time.Time      // nil: time.Now
}

// Service is clearance: it turns decisions into tasks and releases, takes results, overrides and
// withdrawals, publishes feedback and receipts, and keeps the audit chain.
//
// State changes are serialised by one writer lock, held across the durable effects of each
// change (Kafka, then ClickHouse, then the audit chain), so effects happen in the order of the
// changes and a change is visible to readers only once it is durable. Officers work at human
// pace and decisions arrive in batches, so one writer is not the bottleneck; reads never wait
// for it.
type Service struct {
	cfg    Config
	st     Store
	pub    Publisher
	topics ingest.Topics
	log    *slog.Logger
	now    func() time.Time
	met    *metrics
	chain  *Chain
	key    []byte

	wmu     sync.Mutex    // the one writer
	backlog []AuditRecord // audit records whose effects are durable but whose append failed

	mu        sync.RWMutex // guards everything below; writers hold wmu too
	officers  map[string]*Officer
	tasks     map[string]*Task
	byNumber  map[string][]string // declaration number → task IDs
	released  *genSet             // declaration IDs that have a receipt
	withdrawn *genSet             // withdrawn declaration numbers
	latest    *genSet             // declaration number → highest version seen
	holdEnded *genSet             // declaration IDs whose release hold has ended
	alerted   map[string]bool     // overdue tasks already alerted
	overrides map[string]*Override
	ovOrder   []string
	counts    rateCounts
	holds     map[string]*Hold // declaration number → release held for its manifest
}

// NewService validates cfg and returns a service. Call Load before handling anything.
func NewService(cfg Config, deps Deps) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if deps.Store == nil || deps.Publish == nil {
		return nil, errors.New("clearance: a store and a publisher are required")
	}
	if deps.Topics == (ingest.Topics{}) {
		deps.Topics = ingest.DefaultTopics()
	}
	if err := deps.Topics.Validate(); err != nil {
		return nil, fmt.Errorf("clearance: %w", err)
	}
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.DiscardHandler)
	}
	if deps.Now == nil {
		deps.Now = time.Now
	}
	met, err := newMetrics(deps.Registerer)
	if err != nil {
		return nil, err
	}
	s := &Service{
		cfg: cfg, st: deps.Store, pub: deps.Publish, topics: deps.Topics,
		log: deps.Logger.With("component", "clearance"), now: deps.Now, met: met,
		key:       []byte(cfg.DrawKey),
		officers:  map[string]*Officer{},
		released:  newGenSet(cfg.Retention),
		withdrawn: newGenSet(cfg.Retention),
		latest:    newGenSet(cfg.Retention),
		holdEnded: newGenSet(cfg.Retention),
		overrides: map[string]*Override{},
	}
	s.chain = NewChain(deps.Store, deps.Now)
	s.chain.met = met
	for i := range cfg.Officers {
		o := cfg.Officers[i]
		s.officers[o.ID] = &o
	}
	s.reset()
	return s, nil
}

func (s *Service) reset() {
	s.tasks = map[string]*Task{}
	s.byNumber = map[string][]string{}
	s.alerted = map[string]bool{}
	s.counts = newRateCounts()
	s.holds = map[string]*Hold{}
}

// Audit returns the audit chain, for targeting (as its targeting.Auditor) and web (logins).
func (s *Service) Audit() *Chain { return s.chain }

// Config returns the configuration the service runs with.
func (s *Service) Config() Config { return s.cfg }

// Load reads the chain head, the open tasks and, from the audit trail, what must be remembered
// across restarts: released declarations, withdrawals, overrides and the counts behind override
// rates. Call it once before handling anything.
func (s *Service) Load(ctx context.Context) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if err := s.chain.Load(ctx); err != nil {
		return err
	}
	open, err := s.st.OpenTasks(ctx)
	if err != nil {
		return fmt.Errorf("clearance: load open tasks: %w", err)
	}
	now := s.now()
	s.mu.Lock()
	s.reset()
	for i := range open {
		t := open[i]
		s.putTask(&t)
	}
	s.mu.Unlock()
	var n int
	err = s.st.AuditRecords(ctx, 1, "", func(r AuditRecord) error {
		n++
		s.replay(r, now)
		return nil
	})
	if err != nil {
		return fmt.Errorf("clearance: load audit trail: %w", err)
	}
	s.mu.Lock()
	s.met.holds.Set(float64(len(s.holds)))
	s.mu.Unlock()
	s.log.Info("clearance loaded", "open_tasks", len(open), "audit_records", n, "held_releases", len(s.holds), "head_seq", s.chain.Head().Seq)
	return nil
}

// replay rebuilds the in-memory facts one audit record carries.
func (s *Service) replay(r AuditRecord, now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	recent := now.Sub(r.At) < s.cfg.Retention
	if recent {
		s.replayHold(r)
	}
	switch r.Action {
	case AuditRelease:
		if recent {
			s.released.put(r.Subject, 1, r.At)
		}
	case AuditWithdrawal:
		if recent {
			s.withdrawn.put(r.Subject, 1, r.At)
		}
	case AuditTaskCreate:
		var d struct {
			Port string `json:"port"`
		}
		if json.Unmarshal([]byte(r.Detail), &d) == nil {
			s.counts.portTasks[d.Port]++
		}
	case AuditTaskAssign, AuditTaskReassign:
		var d struct {
			Officer string `json:"officer"`
		}
		if json.Unmarshal([]byte(r.Detail), &d) == nil && d.Officer != "" {
			s.counts.officerTasks[d.Officer]++
		}
	case AuditOverride, AuditOverrideReview:
		var o Override
		if json.Unmarshal([]byte(r.Detail), &o) == nil && o.ID != "" {
			s.putOverride(&o, r.Action == AuditOverride)
		}
	}
}

// putTask stores t in memory (s.mu held), keeping the per-state gauge and the number index.
func (s *Service) putTask(t *Task) {
	if old, ok := s.tasks[t.ID]; ok {
		s.met.tasksByState.WithLabelValues(string(old.State)).Dec()
	} else {
		s.byNumber[t.DeclarationNo] = append(s.byNumber[t.DeclarationNo], t.ID)
	}
	s.tasks[t.ID] = t
	s.met.tasksByState.WithLabelValues(string(t.State)).Inc()
	if v, ok := s.latest.get(t.DeclarationNo); !ok || t.DeclVersion > v {
		s.latest.put(t.DeclarationNo, t.DeclVersion, s.now())
	}
}

// TaskFilter selects tasks. Empty fields select everything.
type TaskFilter struct {
	Officer     string      `json:"officer,omitempty"`
	Port        string      `json:"port,omitempty"`
	States      []TaskState `json:"states,omitempty"`
	Declaration string      `json:"declaration_no,omitempty"`
	OverdueOnly bool        `json:"overdue_only,omitempty"`
	Limit       int         `json:"limit,omitempty"` // 0 = no limit
}

// Tasks returns the tasks f selects, highest priority first, then oldest first.
func (s *Service) Tasks(ctx context.Context, f TaskFilter) ([]Task, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	now := s.now()
	s.mu.RLock()
	out := make([]Task, 0, 64)
	for _, t := range s.tasks {
		if f.Officer != "" && t.Officer != f.Officer ||
			f.Port != "" && t.Port != f.Port ||
			f.Declaration != "" && t.DeclarationNo != f.Declaration ||
			f.OverdueOnly && !t.overdue(now) {
			continue
		}
		if len(f.States) > 0 && !hasState(f.States, t.State) {
			continue
		}
		out = append(out, *t)
	}
	s.mu.RUnlock()
	sortTasks(out)
	if f.Limit > 0 && len(out) > f.Limit {
		out = out[:f.Limit]
	}
	return out, nil
}

func hasState(ss []TaskState, s TaskState) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

func sortTasks(ts []Task) {
	sort.Slice(ts, func(i, j int) bool {
		if ts[i].Priority != ts[j].Priority {
			return ts[i].Priority > ts[j].Priority
		}
		if !ts[i].CreatedAt.Equal(ts[j].CreatedAt) {
			return ts[i].CreatedAt.Before(ts[j].CreatedAt)
		}
		return ts[i].ID < ts[j].ID
	})
}

// overdue reports whether the task waits on an officer past its due time. Tasks waiting for the
// laboratory are not the officer's delay.
func (t *Task) overdue(now time.Time) bool {
	return !t.State.Final() && t.State != TaskAwaitingLab && !t.DueAt.IsZero() && now.After(t.DueAt)
}

// Task returns one task by ID (the declaration ID, number-version), or ErrNotFound.
func (s *Service) Task(ctx context.Context, id string) (Task, error) {
	s.mu.RLock()
	t, ok := s.tasks[id]
	s.mu.RUnlock()
	if ok {
		return *t, nil
	}
	if r, ok := s.st.(TaskReader); ok {
		t, found, err := r.LoadTask(ctx, id)
		if err != nil {
			return Task{}, fmt.Errorf("clearance: load task %s: %w", id, err)
		}
		if found {
			return t, nil
		}
	}
	return Task{}, fmt.Errorf("%w: task %s", ErrNotFound, id)
}

// Trail returns every audit record about a declaration (all its versions): decision, task,
// assignment, results, overrides, release — in chain order.
func (s *Service) Trail(ctx context.Context, declarationNo string) ([]AuditRecord, error) {
	if declarationNo == "" {
		return nil, fmt.Errorf("%w: declaration number required", ErrNotFound)
	}
	var out []AuditRecord
	err := s.st.AuditRecords(ctx, 1, declarationNo, func(r AuditRecord) error {
		if r.Subject == declarationNo || strings.HasPrefix(r.Subject, declarationNo+"-") {
			out = append(out, r)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("clearance: trail of %s: %w", declarationNo, err)
	}
	return out, nil
}

// audit appends recs after any backlog. The effects the records describe are already durable,
// so on failure they are kept and appended before the next records: late, never lost (unless
// the process dies first).
func (s *Service) audit(ctx context.Context, recs ...AuditRecord) error {
	all := append(s.backlog, recs...)
	if len(all) == 0 {
		return nil
	}
	if err := s.chain.appendRecords(ctx, all); err != nil {
		s.backlog = all
		return err
	}
	s.backlog = nil
	return nil
}

// rec builds an audit record stamped now; detail is JSON-encoded.
func (s *Service) rec(actor, action, subject string, detail any) AuditRecord {
	r, err := s.chain.entry(actor, action, subject, detail, s.now())
	if err != nil {
		// Details are clearance's own types, which always encode.
		s.log.Error("audit detail does not encode", "action", action, "subject", subject, "err", err)
	}
	return r
}

// genSet remembers keys for between retention/2 and retention: two generations of maps, the
// older dropped when the newer is half a retention old. Memory stays bounded however many
// declarations pass.
type genSet struct {
	every    time.Duration
	cur, old map[string]int
	since    time.Time
}

func newGenSet(retention time.Duration) *genSet {
	return &genSet{every: retention / 2, cur: map[string]int{}, old: map[string]int{}}
}

func (g *genSet) get(k string) (int, bool) {
	if v, ok := g.cur[k]; ok {
		return v, true
	}
	v, ok := g.old[k]
	return v, ok
}

func (g *genSet) has(k string) bool { _, ok := g.get(k); return ok }

func (g *genSet) put(k string, v int, now time.Time) {
	if g.since.IsZero() {
		g.since = now
	}
	if now.Sub(g.since) > g.every {
		g.old, g.cur, g.since = g.cur, make(map[string]int, len(g.cur)), now
	}
	g.cur[k] = v
}
