package web

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/portguard/portguard/clearance"
	"github.com/portguard/portguard/ingest"
)

// samePort reports whether a user bound to a port may see a record of port: users with no port
// see every port.
func samePort(u User, port string) bool { return u.Port == "" || u.Port == port }

// getTask returns one inspection task of the caller's port.
func (s *server) getTask(c *gin.Context) {
	if s.deps.Clearance == nil {
		s.fail(c, errNotConfigured)
		return
	}
	p, _ := principalOf(c)
	t, err := s.deps.Clearance.Task(c.Request.Context(), c.Param("id"))
	if err != nil {
		s.fail(c, err)
		return
	}
	if !samePort(p.User, t.Port) {
		s.fail(c, errOtherPort)
		return
	}
	c.JSON(http.StatusOK, t)
}

// getDeclaration returns a stored declaration version (its goods items, parties and route) from
// ClickHouse, for the task detail page.
func (s *server) getDeclaration(c *gin.Context) {
	if s.deps.Analytics == nil {
		s.fail(c, errNotConfigured)
		return
	}
	version, set, err := intQuery(c, "version")
	if err != nil {
		s.fail(c, err)
		return
	}
	if !set {
		s.fail(c, &ingest.ValidationError{Kind: "query", Fields: []ingest.FieldError{{
			Path: "version", Code: "required", EN: "required", ZH: "必填"}}})
		return
	}
	d, err := s.deps.Analytics.DeclarationByID(c.Request.Context(), c.Param("number"), version)
	if err != nil {
		s.fail(c, err)
		return
	}
	p, _ := principalOf(c)
	if !samePort(p.User, d.Port) {
		s.fail(c, errOtherPort)
		return
	}
	c.JSON(http.StatusOK, d)
}

// findings returns the findings catalogue: the result form's picklist.
func (s *server) findings(c *gin.Context) {
	c.JSON(http.StatusOK, clearance.Catalogue())
}

// trail returns a declaration's audit trail, oldest first.
func (s *server) trail(c *gin.Context) {
	if s.deps.Clearance == nil {
		s.fail(c, errNotConfigured)
		return
	}
	recs, err := s.deps.Clearance.Trail(c.Request.Context(), c.Param("number"))
	if err != nil {
		s.fail(c, err)
		return
	}
	if recs == nil {
		recs = []clearance.AuditRecord{}
	}
	c.JSON(http.StatusOK, recs)
}
