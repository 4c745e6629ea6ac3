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

// versionRequest is the body of POST /v1/tasks/:id/start: the task version the officer saw.
type versionRequest struct {
	ExpectedVersion int `json:"expected_version"`
}

// reassignRequest is the body of POST /v1/tasks/:id/reassign. Officer empty asks for a fresh
// recorded random draw among the other eligible officers.
type reassignRequest struct {
	ExpectedVersion int    `json:"expected_version"`
	Officer         string `json:"officer,omitempty"`
	Reason          string `json:"reason"`
}

// dutyRequest is the body of PUT /v1/officers/:id/duty.
type dutyRequest struct {
	OnDuty bool `json:"on_duty"`
}

// startTask marks an assigned task in progress: the officer is at the consignment.
func (s *server) startTask(c *gin.Context) {
	var req versionRequest
	if err := s.bindJSON(c, &req); err != nil {
		s.fail(c, err)
		return
	}
	if s.deps.Clearance == nil {
		s.fail(c, errNotConfigured)
		return
	}
	t, err := s.deps.Clearance.StartInspection(c.Request.Context(), actor(c), c.Param("id"), req.ExpectedVersion)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, t)
}

// reassignTask gives a task another officer, with a reason: the supervisor's choice or a fresh
// recorded draw.
func (s *server) reassignTask(c *gin.Context) {
	var req reassignRequest
	if err := s.bindJSON(c, &req); err != nil {
		s.fail(c, err)
		return
	}
	if s.deps.Clearance == nil {
		s.fail(c, errNotConfigured)
		return
	}
	t, err := s.deps.Clearance.Reassign(c.Request.Context(), actor(c), clearance.ReassignInput{
		TaskID: c.Param("id"), ExpectedVersion: req.ExpectedVersion, Officer: req.Officer, Reason: req.Reason})
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, t)
}

// overdueTasks lists the open tasks past their due time, most overdue first; a supervisor bound
// to a port sees that port's.
func (s *server) overdueTasks(c *gin.Context) {
	if s.deps.Clearance == nil {
		s.fail(c, errNotConfigured)
		return
	}
	tasks, err := s.deps.Clearance.Overdue(c.Request.Context())
	if err != nil {
		s.fail(c, err)
		return
	}
	p, _ := principalOf(c)
	tasks = slices.DeleteFunc(tasks, func(t clearance.Task) bool { return !samePort(p.User, t.Port) })
	if tasks == nil {
		tasks = []clearance.Task{}
	}
	c.JSON(http.StatusOK, tasks)
}

// onRoster reports whether an officer works at port ("" = every port).
func onRoster(o clearance.Officer, port string) bool {
	return port == "" || len(o.Ports) == 0 || slices.Contains(o.Ports, port)
}

// officers returns the duty roster; a supervisor bound to a port sees the officers who may work
// there. The console's reassignment picklist and duty switches come from it.
func (s *server) officers(c *gin.Context) {
	if s.deps.Clearance == nil {
		s.fail(c, errNotConfigured)
		return
	}
	p, _ := principalOf(c)
	out := []clearance.Officer{}
	for _, o := range s.deps.Clearance.Officers() {
		if onRoster(o, p.Port) {
			out = append(out, o)
		}
	}
	c.JSON(http.StatusOK, out)
}

// setDuty puts an officer on or off duty; officers coming on duty take part in the next draws.
func (s *server) setDuty(c *gin.Context) {
	var req dutyRequest
	if err := s.bindJSON(c, &req); err != nil {
		s.fail(c, err)
		return
	}
	if s.deps.Clearance == nil {
		s.fail(c, errNotConfigured)
		return
	}
	id := c.Param("id")
	p, _ := principalOf(c)
	i := slices.IndexFunc(s.deps.Clearance.Officers(), func(o clearance.Officer) bool { return o.ID == id })
	if i >= 0 && !onRoster(s.deps.Clearance.Officers()[i], p.Port) {
		s.fail(c, errOtherPort)
		return
	}
	if err := s.deps.Clearance.SetOnDuty(c.Request.Context(), actor(c), id, req.OnDuty); err != nil {
		s.fail(c, err)
		return
	}
	for _, o := range s.deps.Clearance.Officers() {
		if o.ID == id {
			c.JSON(http.StatusOK, o)
			return
		}
	}
	s.fail(c, errNotFound)
}

// postLabResult applies a laboratory report to a sampled consignment: the laboratory's system
// (role lab) reports for any task; an officer or supervisor types in a paper report for a task
// they may work on.
func (s *server) postLabResult(c *gin.Context) {
	var in clearance.LabInput
	if err := s.bindJSON(c, &in); err != nil {
		s.fail(c, err)
		return
	}
	if s.deps.Clearance == nil {
		s.fail(c, errNotConfigured)
		return
	}
	res, err := s.deps.Clearance.RecordLabResult(c.Request.Context(), actor(c), in)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.Header("Location", "/v1/tasks/"+res.TaskID)
	c.JSON(http.StatusCreated, res)
}
