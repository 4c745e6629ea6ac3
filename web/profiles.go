package web

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/portguard/portguard/targeting"
)

// Profiles reads the hit-rate posterior of one attribute value. *targeting.Engine implements it.
type Profiles interface {
	Posterior(f targeting.Feature) (alpha, beta float64)
}

// profileResponse is one attribute value's Beta posterior of the hit rate.
type profileResponse struct {
	Feature string  `json:"feature"`
	Value   string  `json:"value"`
	Alpha   float64 `json:"alpha"`
	Beta    float64 `json:"beta"`
	Mean    float64 `json:"mean"` // alpha / (alpha + beta)
}

// profile answers an analyst's question "what does targeting believe of this importer (HS
// heading, origin …)": the posterior after shrinkage priors, decay and every label so far.
func (s *server) profile(c *gin.Context) {
	if s.deps.Profiles == nil {
		s.fail(c, errNotConfigured)
		return
	}
	f := targeting.Feature{Name: c.Param("feature"), Value: c.Param("value")}
	a, b := s.deps.Profiles.Posterior(f)
	r := profileResponse{Feature: f.Name, Value: f.Value, Alpha: a, Beta: b}
	if a+b > 0 {
		r.Mean = a / (a + b)
	}
	c.JSON(http.StatusOK, r)
}
