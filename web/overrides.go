package web

import (
	"net/http"
	"slices"

	"github.com/gin-gonic/gin"

	"github.com/portguard/portguard/clearance"
	"github.com/portguard/portguard/ingest"
)

// Overrides (改变布控指令) are the "data iron cage": an officer or supervisor may change a
// consignment's channel only with a reason code and a text, every override waits in the
// supervisors' review queue, and override rates per officer and port are visible to supervisors
// and analysts.

// reviewRequest is the body of POST /v1/overrides/:id/review.
type reviewRequest struct {
	Approve bool   `json:"approve"`
	Note    string `json:"note,omitempty"` // required when rejecting
}

// reviewStates are the values ?review= accepts.
var reviewStates = []string{clearance.ReviewPending, clearance.ReviewApproved, clearance.ReviewRejected}

const (
	defaultOverrideLimit = 200
	maxOverrideLimit     = 1000
)

// postOverride changes the channel of an open task (by task_id, or the newest open task of
// declaration_no).
func (s *server) postOverride(c *gin.Context) {
	var in clearance.OverrideInput
	if err := s.bindJSON(c, &in); err != nil {
		s.fail(c, err)
		return
	}
	if s.deps.Clearance == nil {
		s.fail(c, errNotConfigured)
		return
	}
	o, err := s.deps.Clearance.Override(c.Request.Context(), actor(c), in)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.Header("Location", "/v1/overrides?review="+o.Review)
	c.JSON(http.StatusCreated, o)
}

// listOverrides returns overrides, newest first: ?review=PENDING is the supervisors' review
// queue; ?by= one user's; a user bound to a port sees that port's.
func (s *server) listOverrides(c *gin.Context) {
	f := clearance.OverrideFilter{Review: c.Query("review"), By: c.Query("by"), Port: c.Query("port")}
	if f.Review != "" && !slices.Contains(reviewStates, f.Review) {
		s.fail(c, &ingest.ValidationError{Kind: "query", Fields: []ingest.FieldError{{Path: "review", Code: "enum",
			EN: "must be PENDING, APPROVED or REJECTED", ZH: "须为 PENDING、APPROVED 或 REJECTED"}}})
		return
	}
	limit, set, err := intQuery(c, "limit")
	if err != nil {
		s.fail(c, err)
		return
	}
	if !set {
		limit = defaultOverrideLimit
	}
	f.Limit = min(limit, maxOverrideLimit)
	p, _ := principalOf(c)
	if p.Port != "" {
		if f.Port != "" && f.Port != p.Port {
			s.fail(c, errOtherPort)
			return
		}
		f.Port = p.Port
	}
	if s.deps.Clearance == nil {
		s.fail(c, errNotConfigured)
		return
	}
	list, err := s.deps.Clearance.Overrides(c.Request.Context(), f)
	if err != nil {
		s.fail(c, err)
		return
	}
	if list == nil {
		list = []clearance.Override{}
	}
	c.JSON(http.StatusOK, list)
}

// reviewOverride records a supervisor's verdict; clearance refuses the override's own author
// (four eyes) and a rejection without a note.
func (s *server) reviewOverride(c *gin.Context) {
	var req reviewRequest
	if err := s.bindJSON(c, &req); err != nil {
		s.fail(c, err)
		return
	}
	if s.deps.Clearance == nil {
		s.fail(c, errNotConfigured)
		return
	}
	o, err := s.deps.Clearance.ReviewOverride(c.Request.Context(), actor(c),
		clearance.OverrideReview{ID: c.Param("id"), Approve: req.Approve, Note: req.Note})
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, o)
}

// overrideRates returns override rates per officer and per port, highest first. A user bound
// to a port sees their port's row and the rows of the officers who work there.
func (s *server) overrideRates(c *gin.Context) {
	if s.deps.Clearance == nil {
		s.fail(c, errNotConfigured)
		return
	}
	rates, err := s.deps.Clearance.OverrideRates(c.Request.Context())
	if err != nil {
		s.fail(c, err)
		return
	}
	p, _ := principalOf(c)
	if p.Port != "" {
		here := map[string]bool{}
		for _, o := range s.deps.Clearance.Officers() {
			here[o.ID] = onRoster(o, p.Port)
		}
		rates = slices.DeleteFunc(rates, func(r clearance.OverrideRate) bool {
			if r.Kind == "port" {
				return r.Key != p.Port
			}
			return !here[r.Key]
		})
	}
	if rates == nil {
		rates = []clearance.OverrideRate{}
	}
	c.JSON(http.StatusOK, rates)
}

// overrideReasons returns the override reason codes: the console's picklist.
func (s *server) overrideReasons(c *gin.Context) {
	c.JSON(http.StatusOK, clearance.OverrideReasons())
}
