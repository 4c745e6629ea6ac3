package web

import (
	"net/http"
	"slices"

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
		version = 0 // the latest stored version
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

// openStates and doneStates are what the queue's ?state=open and ?state=done select.
var (
	openStates = []clearance.TaskState{clearance.TaskPending, clearance.TaskAssigned, clearance.TaskInProgress,
		clearance.TaskAwaitingLab, clearance.TaskResultRecorded}
	doneStates = []clearance.TaskState{clearance.TaskReleased, clearance.TaskTreatedRelease, clearance.TaskReturned,
		clearance.TaskDestroyed, clearance.TaskDetained, clearance.TaskCancelled}
)

const (
	defaultTaskLimit = 200
	maxTaskLimit     = 1000
)

// listTasks is the queue. An officer sees the tasks assigned to them and the unassigned tasks of
// their port (which they may take); a supervisor sees every task of their port. ?state= is
// open (default), done, all, or one task state; ?limit= caps the list (default 200, at most
// 1000).
func (s *server) listTasks(c *gin.Context) {
	p, _ := principalOf(c)
	f := clearance.TaskFilter{Port: p.Port, Declaration: c.Query("declaration_no")}
	switch st := c.DefaultQuery("state", "open"); st {
	case "open":
		f.States = openStates
	case "done":
		f.States = doneStates
	case "all":
	default:
		state := clearance.TaskState(st)
		if !slices.Contains(openStates, state) && !slices.Contains(doneStates, state) {
			s.fail(c, &ingest.ValidationError{Kind: "query", Fields: []ingest.FieldError{{Path: "state", Code: "enum",
				EN: "must be open, done, all or a task state", ZH: "须为 open、done、all 或任务状态"}}})
			return
		}
		f.States = []clearance.TaskState{state}
	}
	limit, set, err := intQuery(c, "limit")
	if err != nil {
		s.fail(c, err)
		return
	}
	if !set {
		limit = defaultTaskLimit
	}
	limit = min(limit, maxTaskLimit)
	if s.deps.Clearance == nil {
		s.fail(c, errNotConfigured)
		return
	}
	supervisor := p.Has(RoleSupervisor)
	if supervisor {
		f.Limit = limit
	}
	tasks, err := s.deps.Clearance.Tasks(c.Request.Context(), f)
	if err != nil {
		s.fail(c, err)
		return
	}
	if !supervisor {
		// An officer's view: own tasks and unassigned ones, as clearance lets them work on.
		tasks = slices.DeleteFunc(tasks, func(t clearance.Task) bool { return t.Officer != "" && t.Officer != p.Name })
	}
	if len(tasks) > limit {
		tasks = tasks[:limit]
	}
	if tasks == nil {
		tasks = []clearance.Task{}
	}
	c.JSON(http.StatusOK, tasks)
}

// postResult records an inspection result (and, with a final disposition, releases). It answers
// 201 with the stored result; recording again on the same task is a correction (a new result
// version). A stale expected_version is 409: someone else changed the task first.
func (s *server) postResult(c *gin.Context) {
	var in clearance.ResultInput
	if err := s.bindJSON(c, &in); err != nil {
		s.fail(c, err)
		return
	}
	if s.deps.Clearance == nil {
		s.fail(c, errNotConfigured)
		return
	}
	res, err := s.deps.Clearance.RecordResult(c.Request.Context(), actor(c), in)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.Header("Location", "/v1/tasks/"+res.TaskID)
	c.JSON(http.StatusCreated, res)
}

// actor is the caller as clearance sees it.
func actor(c *gin.Context) clearance.Actor {
	p, _ := principalOf(c)
	return clearance.Actor{User: p.Name, Roles: p.Roles, Port: p.Port}
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
