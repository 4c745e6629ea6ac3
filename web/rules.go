package web

import (
	"context"
	"net/http"
	"slices"

	"github.com/gin-gonic/gin"

	"github.com/portguard/portguard/ingest"
	"github.com/portguard/portguard/targeting"
)

// ruleView is a rule with what the engine has seen of it since start: the risk analyst's list
// shows matches and hits next to each rule.
type ruleView struct {
	Rule  targeting.Rule      `json:"rule"`
	Stats targeting.RuleStats `json:"stats"`
}

// noteRequest is the body of reject and revoke: why.
type noteRequest struct {
	Note string `json:"note"`
}

// ruleStates are the values ?state= accepts on GET /v1/rules.
var ruleStates = []targeting.RuleState{targeting.RuleDraft, targeting.RulePending, targeting.RuleActive,
	targeting.RuleExpired, targeting.RuleRevoked}

func ruleActor(c *gin.Context) targeting.Actor {
	p, _ := principalOf(c)
	return targeting.Actor{User: p.Name, Roles: p.Roles}
}

// listRules lists the rules, optionally in one effective state, each with its statistics.
func (s *server) listRules(c *gin.Context) {
	state := targeting.RuleState(c.Query("state"))
	if state != "" && !slices.Contains(ruleStates, state) {
		s.fail(c, &ingest.ValidationError{Kind: "query", Fields: []ingest.FieldError{{Path: "state", Code: "enum",
			EN: "must be draft, pending, active, expired or revoked", ZH: "须为 draft、pending、active、expired 或 revoked"}}})
		return
	}
	if s.deps.Targeting == nil {
		s.fail(c, errNotConfigured)
		return
	}
	b := s.deps.Targeting.Rules()
	rules := b.List(state)
	out := make([]ruleView, len(rules))
	for i, r := range rules {
		out[i] = ruleView{Rule: r, Stats: b.Stats(r.ID)}
	}
	c.JSON(http.StatusOK, out)
}

// getRule returns one rule with its statistics.
func (s *server) getRule(c *gin.Context) {
	if s.deps.Targeting == nil {
		s.fail(c, errNotConfigured)
		return
	}
	b := s.deps.Targeting.Rules()
	r, err := b.Get(c.Param("id"))
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, ruleView{Rule: r, Stats: b.Stats(r.ID)})
}

// createRule stores a new draft authored by the caller: 201 with the rule and its ID.
func (s *server) createRule(c *gin.Context) {
	var r targeting.Rule
	if err := s.bindJSON(c, &r); err != nil {
		s.fail(c, err)
		return
	}
	if s.deps.Targeting == nil {
		s.fail(c, errNotConfigured)
		return
	}
	r, err := s.deps.Targeting.Rules().Create(c.Request.Context(), ruleActor(c), r)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.Header("Location", "/v1/rules/"+r.ID)
	c.JSON(http.StatusCreated, r)
}

// updateRule replaces a draft's content; the body's version must be the current one (409
// otherwise). The ID is the path's.
func (s *server) updateRule(c *gin.Context) {
	var r targeting.Rule
	if err := s.bindJSON(c, &r); err != nil {
		s.fail(c, err)
		return
	}
	if s.deps.Targeting == nil {
		s.fail(c, errNotConfigured)
		return
	}
	r.ID = c.Param("id")
	r, err := s.deps.Targeting.Rules().UpdateDraft(c.Request.Context(), ruleActor(c), r)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, r)
}

// ruleTransition adapts one lifecycle step of the rule book (submit, approve, emergency
// activation) to a handler.
func (s *server) ruleTransition(step func(b *targeting.RuleBook, ctx context.Context, a targeting.Actor, id string) (targeting.Rule, error)) gin.HandlerFunc {
	return func(c *gin.Context) {
		if s.deps.Targeting == nil {
			s.fail(c, errNotConfigured)
			return
		}
		r, err := step(s.deps.Targeting.Rules(), c.Request.Context(), ruleActor(c), c.Param("id"))
		if err != nil {
			s.fail(c, err)
			return
		}
		c.JSON(http.StatusOK, r)
	}
}

// ruleNoted adapts a lifecycle step that needs a reason (reject, revoke).
func (s *server) ruleNoted(step func(b *targeting.RuleBook, ctx context.Context, a targeting.Actor, id, note string) (targeting.Rule, error)) gin.HandlerFunc {
	return func(c *gin.Context) {
		var req noteRequest
		if err := s.bindJSON(c, &req); err != nil {
			s.fail(c, err)
			return
		}
		if s.deps.Targeting == nil {
			s.fail(c, errNotConfigured)
			return
		}
		r, err := step(s.deps.Targeting.Rules(), c.Request.Context(), ruleActor(c), c.Param("id"), req.Note)
		if err != nil {
			s.fail(c, err)
			return
		}
		c.JSON(http.StatusOK, r)
	}
}
