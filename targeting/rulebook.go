package targeting

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/portguard/portguard/ingest"
)

// Errors of the rule book, classified by what the caller does next.
var (
	// ErrNotFound: no rule with that ID.
	ErrNotFound = errors.New("targeting: rule not found")
	// ErrConflict: the rule is not in a state that allows the change, or was changed meanwhile
	// (the version given is not the current one), or the ID is taken.
	ErrConflict = errors.New("targeting: rule conflict")
	// ErrForbidden: the actor may not make this change (role, or four eyes).
	ErrForbidden = errors.New("targeting: forbidden")
)

// Roles that rule changes check. The web layer maps its users' roles onto these strings.
const (
	RoleOfficer     = "officer"
	RoleSupervisor  = "supervisor"
	RoleRiskAnalyst = "risk_analyst"
	RoleHQAnalyst   = "hq_analyst"
	RoleAdmin       = "admin"
)

// Actor is the user making a rule change.
type Actor struct {
	User  string
	Roles []string
}

// Has reports whether the actor holds role.
func (a Actor) Has(role string) bool { return slices.Contains(a.Roles, role) }

// RuleStore persists every version of every rule. Analytics implements it over ClickHouse;
// SaveRuleVersion must be idempotent for the same id and version (a retried change rewrites it).
type RuleStore interface {
	SaveRuleVersion(ctx context.Context, id string, version int, state string, body []byte, actor string, at time.Time) error
	// RuleVersions calls fn for every stored version, in any order.
	RuleVersions(ctx context.Context, fn func(id string, version int, state string, body []byte) error) error
}

// RuleStats counts a rule's matches, selections and labelled outcomes since the engine started
// (labels include those replayed by warm start).
type RuleStats struct {
	Matches   int64     `json:"matches"`
	Selected  int64     `json:"selected"`
	Labelled  int64     `json:"labelled"`
	Hits      int64     `json:"hits"`
	LastMatch time.Time `json:"last_match,omitzero"`
	LastHit   time.Time `json:"last_hit,omitzero"`
}

// RuleBook holds the targeting rules and their lifecycle: draft → pending → active → expired /
// revoked, with four eyes on activation. Every change is a new version, saved to the RuleStore
// and appended to the audit chain before it takes effect; the engine's index of active rules is
// rebuilt on each change and swapped atomically. Safe for concurrent use.
type RuleBook struct {
	e     *Engine
	mu    sync.Mutex // serializes changes
	rules map[string]*bookEntry
	stats sync.Map // id → *ruleStats
	seq   int

	// Set by the service; nil store or auditor means in-memory only (replay, evaluate).
	store RuleStore
	audit Auditor
	now   func() time.Time
	// bulk defers reindexing while a fixture loads thousands of rules.
	bulk bool
}

type bookEntry struct {
	r *Rule
	c *compiledRule // compiled when active
}

func newRuleBook(e *Engine) *RuleBook {
	return &RuleBook{e: e, rules: map[string]*bookEntry{}, now: time.Now}
}

func (b *RuleBook) statsFor(id string) *ruleStats {
	if s, ok := b.stats.Load(id); ok {
		return s.(*ruleStats)
	}
	return nil
}

// Create stores a new draft authored by the actor (a risk analyst or supervisor). An empty ID is
// generated ("R" and a number). It returns *ingest.ValidationError for bad content and
// ErrConflict when the ID exists.
func (b *RuleBook) Create(ctx context.Context, a Actor, r Rule) (Rule, error) {
	if !a.Has(RoleRiskAnalyst) && !a.Has(RoleSupervisor) {
		return Rule{}, fmt.Errorf("create rule: only risk analysts and supervisors write rules: %w", ErrForbidden)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if r.ID == "" {
		for {
			b.seq++
			r.ID = "R" + strconv.Itoa(b.seq)
			if _, ok := b.rules[r.ID]; !ok {
				break
			}
		}
	} else if _, ok := b.rules[r.ID]; ok {
		return Rule{}, fmt.Errorf("create rule %s: id taken: %w", r.ID, ErrConflict)
	}
	if err := checkID(r.ID); err != nil {
		return Rule{}, err
	}
	r.Version, r.State, r.Author, r.Approver, r.Emergency, r.ApprovalDue, r.Note = 0, RuleDraft, a.User, "", false, time.Time{}, ""
	if _, err := validateRule(&r); err != nil {
		return Rule{}, err
	}
	return b.commit(ctx, a, "rule.create", nil, r)
}

func checkID(id string) error {
	if len(id) > 64 || strings.ContainsAny(id, " \t\n/\\") {
		return &ingest.ValidationError{Kind: "rule", Fields: []ingest.FieldError{{Path: "id", Code: "format",
			ZH: "规则编号最长 64 个字符，不含空白和斜杠", EN: "a rule id is at most 64 characters without spaces or slashes"}}}
	}
	return nil
}

// UpdateDraft replaces the content of a draft. r.Version must be the current version
// (optimistic concurrency: ErrConflict otherwise); only the author or another risk analyst may
// edit.
func (b *RuleBook) UpdateDraft(ctx context.Context, a Actor, r Rule) (Rule, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	cur, err := b.get(r.ID)
	if err != nil {
		return Rule{}, err
	}
	if cur.State != RuleDraft {
		return Rule{}, fmt.Errorf("update rule %s: it is %s, only drafts are edited: %w", r.ID, cur.State, ErrConflict)
	}
	if r.Version != cur.Version {
		return Rule{}, fmt.Errorf("update rule %s: version %d is not the current %d: %w", r.ID, r.Version, cur.Version, ErrConflict)
	}
	if a.User != cur.Author && !a.Has(RoleRiskAnalyst) {
		return Rule{}, fmt.Errorf("update rule %s: %w", r.ID, ErrForbidden)
	}
	r.State, r.Author, r.Approver, r.Emergency, r.ApprovalDue, r.Note = RuleDraft, cur.Author, "", false, time.Time{}, ""
	if _, err := validateRule(&r); err != nil {
		return Rule{}, err
	}
	return b.commit(ctx, a, "rule.update", cur, r)
}

// Submit sends a draft for approval.
func (b *RuleBook) Submit(ctx context.Context, a Actor, id string) (Rule, error) {
	return b.transition(ctx, a, id, "rule.submit", func(r *Rule) error {
		if r.State != RuleDraft {
			return fmt.Errorf("submit rule %s: it is %s: %w", id, r.State, ErrConflict)
		}
		if a.User != r.Author && !a.Has(RoleRiskAnalyst) {
			return fmt.Errorf("submit rule %s: %w", id, ErrForbidden)
		}
		r.State = RulePending
		return nil
	})
}

// Approve activates a pending rule, or confirms an emergency rule already active. Four eyes:
// the approver must hold the risk-analyst role and be neither the author nor the supervisor who
// activated it in an emergency.
func (b *RuleBook) Approve(ctx context.Context, a Actor, id string) (Rule, error) {
	return b.transition(ctx, a, id, "rule.approve", func(r *Rule) error {
		if !a.Has(RoleRiskAnalyst) {
			return fmt.Errorf("approve rule %s: only a risk analyst approves: %w", id, ErrForbidden)
		}
		if a.User == r.Author || (r.Emergency && a.User == r.UpdatedBy && r.Approver == "") {
			return fmt.Errorf("approve rule %s: the approver must be another person (four eyes): %w", id, ErrForbidden)
		}
		switch {
		case r.State == RulePending:
			r.State = RuleActive
		case r.State == RuleActive && r.Emergency && r.Approver == "":
			if r.EffectiveState(b.now()) != RuleActive {
				return fmt.Errorf("approve rule %s: its approval window has passed: %w", id, ErrConflict)
			}
		default:
			return fmt.Errorf("approve rule %s: it is %s: %w", id, r.EffectiveState(b.now()), ErrConflict)
		}
		r.Approver = a.User
		return nil
	})
}

// Reject sends a pending rule back to draft with a note.
func (b *RuleBook) Reject(ctx context.Context, a Actor, id, note string) (Rule, error) {
	return b.transition(ctx, a, id, "rule.reject", func(r *Rule) error {
		if !a.Has(RoleRiskAnalyst) {
			return fmt.Errorf("reject rule %s: %w", id, ErrForbidden)
		}
		if r.State != RulePending {
			return fmt.Errorf("reject rule %s: it is %s: %w", id, r.State, ErrConflict)
		}
		r.State, r.Note = RuleDraft, note
		return nil
	})
}

// ActivateEmergency activates a draft or pending rule at once, without prior approval (e.g. an
// epidemic notice 疫情预警). Only a supervisor may; a risk analyst other than the author and the
// supervisor must Approve it within the configured window or it stops matching.
func (b *RuleBook) ActivateEmergency(ctx context.Context, a Actor, id string) (Rule, error) {
	return b.transition(ctx, a, id, "rule.emergency", func(r *Rule) error {
		if !a.Has(RoleSupervisor) {
			return fmt.Errorf("emergency activation of rule %s: only a supervisor may: %w", id, ErrForbidden)
		}
		if r.State != RuleDraft && r.State != RulePending {
			return fmt.Errorf("emergency activation of rule %s: it is %s: %w", id, r.State, ErrConflict)
		}
		r.State, r.Emergency, r.Approver = RuleActive, true, ""
		r.ApprovalDue = b.now().Add(b.e.cfg.EmergencyApprovalWindow)
		return nil
	})
}

// Revoke stops a draft, pending or active rule for good, with a reason.
func (b *RuleBook) Revoke(ctx context.Context, a Actor, id, note string) (Rule, error) {
	return b.transition(ctx, a, id, "rule.revoke", func(r *Rule) error {
		if !a.Has(RoleRiskAnalyst) && !a.Has(RoleSupervisor) {
			return fmt.Errorf("revoke rule %s: %w", id, ErrForbidden)
		}
		if r.State == RuleRevoked {
			return fmt.Errorf("revoke rule %s: already revoked: %w", id, ErrConflict)
		}
		if strings.TrimSpace(note) == "" {
			return &ingest.ValidationError{Kind: "rule", Fields: []ingest.FieldError{{Path: "note", Code: "required",
				ZH: "撤销须说明理由", EN: "a revocation needs a reason"}}}
		}
		r.State, r.Note = RuleRevoked, note
		return nil
	})
}

// Get returns the current version of a rule, its State the effective one (expired when past its
// end), or ErrNotFound.
func (b *RuleBook) Get(id string) (Rule, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	r, err := b.get(id)
	if err != nil {
		return Rule{}, err
	}
	out := *r
	out.State = r.EffectiveState(b.now())
	return out, nil
}

// List returns the rules in the given effective state ("" for all), by ID.
func (b *RuleBook) List(state RuleState) []Rule {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.now()
	out := make([]Rule, 0, len(b.rules))
	for _, en := range b.rules {
		r := *en.r
		r.State = en.r.EffectiveState(now)
		if state == "" || r.State == state {
			out = append(out, r)
		}
	}
	slices.SortFunc(out, func(x, y Rule) int { return strings.Compare(x.ID, y.ID) })
	return out
}

// Len counts the rules in effect now.
func (b *RuleBook) Len() int {
	ix := b.e.rules.Load()
	now := b.now()
	n := 0
	for _, c := range ix.rules {
		if c.r.EffectiveState(now) == RuleActive {
			n++
		}
	}
	return n
}

// Stats returns a rule's counters.
func (b *RuleBook) Stats(id string) RuleStats {
	s := b.statsFor(id)
	if s == nil {
		return RuleStats{}
	}
	out := RuleStats{Matches: s.matches.Load(), Selected: s.selected.Load(), Labelled: s.labelled.Load(), Hits: s.hits.Load()}
	if t := s.lastMatch.Load(); t > 0 {
		out.LastMatch = time.Unix(t, 0).UTC()
	}
	if t := s.lastHit.Load(); t > 0 {
		out.LastHit = time.Unix(t, 0).UTC()
	}
	return out
}

// Load replaces the book's content with the latest version of each rule in the store.
func (b *RuleBook) Load(ctx context.Context, store RuleStore) error {
	latest := map[string]*Rule{}
	err := store.RuleVersions(ctx, func(id string, version int, state string, body []byte) error {
		if cur, ok := latest[id]; ok && cur.Version >= version {
			return nil
		}
		var r Rule
		if err := json.Unmarshal(body, &r); err != nil {
			return fmt.Errorf("decode rule %s version %d: %w", id, version, err)
		}
		r.ID, r.Version, r.State = id, version, RuleState(state)
		latest[id] = &r
		return nil
	})
	if err != nil {
		return fmt.Errorf("targeting: load rules: %w", err)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.rules = make(map[string]*bookEntry, len(latest))
	for id, r := range latest {
		en := &bookEntry{r: r}
		if r.State == RuleActive {
			c, err := validateRule(r)
			if err != nil {
				return fmt.Errorf("targeting: load rule %s: %w", id, err)
			}
			en.c = c
		}
		b.rules[id] = en
		if n, err := strconv.Atoi(strings.TrimPrefix(id, "R")); err == nil && strings.HasPrefix(id, "R") {
			b.seq = max(b.seq, n)
		}
	}
	b.reindex()
	return nil
}

func (b *RuleBook) get(id string) (*Rule, error) {
	en, ok := b.rules[id]
	if !ok {
		return nil, fmt.Errorf("rule %s: %w", id, ErrNotFound)
	}
	return en.r, nil
}

func (b *RuleBook) transition(ctx context.Context, a Actor, id, action string, change func(*Rule) error) (Rule, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	cur, err := b.get(id)
	if err != nil {
		return Rule{}, err
	}
	next := *cur
	if err := change(&next); err != nil {
		return Rule{}, err
	}
	return b.commit(ctx, a, action, cur, next)
}

// commit saves, audits and applies a new version; on any error nothing changes in memory, and
// retrying rewrites the same version (the store deduplicates).
func (b *RuleBook) commit(ctx context.Context, a Actor, action string, cur *Rule, next Rule) (Rule, error) {
	now := b.now().UTC()
	if cur != nil {
		next.Version = cur.Version + 1
	} else {
		next.Version = 1
	}
	next.UpdatedBy, next.UpdatedAt = a.User, now
	var c *compiledRule
	if next.State == RuleActive {
		var err error
		if c, err = validateRule(&next); err != nil {
			return Rule{}, err
		}
	}
	body, err := json.Marshal(&next)
	if err != nil {
		return Rule{}, fmt.Errorf("targeting: encode rule %s: %w", next.ID, err)
	}
	if b.store != nil {
		if err := b.store.SaveRuleVersion(ctx, next.ID, next.Version, string(next.State), body, a.User, now); err != nil {
			return Rule{}, fmt.Errorf("targeting: save rule %s version %d: %w", next.ID, next.Version, err)
		}
	}
	if b.audit != nil {
		if err := b.audit.Append(ctx, AuditEntry{Actor: a.User, Action: action, Subject: next.ID, Detail: json.RawMessage(body), At: now}); err != nil {
			return Rule{}, fmt.Errorf("targeting: audit rule %s version %d: %w", next.ID, next.Version, err)
		}
	}
	r := next
	if c != nil {
		c.r = &r
		c.setWindow()
	}
	b.rules[r.ID] = &bookEntry{r: &r, c: c}
	if ((cur != nil && cur.State == RuleActive) || c != nil) && !b.bulk {
		b.reindex()
	}
	out := r
	out.State = r.EffectiveState(now)
	return out, nil
}

// reindex rebuilds the engine's index of active rules; callers hold b.mu.
func (b *RuleBook) reindex() {
	now := b.now()
	var active []*compiledRule
	for _, en := range b.rules {
		if en.c == nil || en.r.State != RuleActive || en.r.EffectiveState(now) == RuleExpired {
			continue
		}
		s, _ := b.stats.LoadOrStore(en.r.ID, new(ruleStats))
		en.c.stats = s.(*ruleStats)
		active = append(active, en.c)
	}
	slices.SortFunc(active, func(x, y *compiledRule) int { return strings.Compare(x.r.ID, y.r.ID) })
	b.e.rules.Store(buildIndex(active))
}
