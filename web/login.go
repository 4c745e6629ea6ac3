package web

import (
	"context"
	"crypto/subtle"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/portguard/portguard/ingest"
)

// loginRequest is the body of POST /v1/login.
type loginRequest struct {
	Username string `json:"username"`
	Password string `json:"password"`
}

// meResponse answers POST /v1/login and GET /v1/me: who the caller is and, for a console
// session, the CSRF token to send in X-CSRF-Token on state-changing requests.
type meResponse struct {
	User      User       `json:"user"`
	Via       string     `json:"via"` // "session" or "api_key"
	CSRFToken string     `json:"csrf_token,omitempty"`
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
	DevMode   bool       `json:"dev_mode"`
}

// login checks a user name and password and starts a console session. Both successful and
// failed logins go on the audit trail.
func (s *server) login(c *gin.Context) {
	var req loginRequest
	if err := s.bindJSON(c, &req); err != nil {
		s.fail(c, err)
		return
	}
	req.Username = strings.TrimSpace(req.Username)
	var missing []ingest.FieldError
	if req.Username == "" {
		missing = append(missing, ingest.FieldError{Path: "username", Code: "required", EN: "required", ZH: "必填"})
	}
	if req.Password == "" {
		missing = append(missing, ingest.FieldError{Path: "password", Code: "required", EN: "required", ZH: "必填"})
	}
	if missing != nil {
		s.fail(c, &ingest.ValidationError{Kind: "login", Fields: missing})
		return
	}
	ctx := c.Request.Context()
	if s.limiter.locked(req.Username) {
		s.audit(ctx, req.Username, "login.locked", c)
		s.fail(c, errLockedOut)
		return
	}
	u, ok := s.deps.Users.Authenticate(req.Username, req.Password)
	if !ok {
		s.limiter.fail(req.Username)
		s.audit(ctx, req.Username, "login.failed", c)
		s.fail(c, errBadCredentials)
		return
	}
	s.limiter.reset(req.Username)
	id, se := s.sessions.create(u)
	s.setCookie(c, id)
	s.audit(ctx, u.Name, "login", c)
	exp := se.expires(s.sessions)
	c.JSON(http.StatusOK, meResponse{User: u, Via: "session", CSRFToken: se.csrf, ExpiresAt: &exp, DevMode: s.cfg.DevMode})
}

// logout ends the caller's session, if any, and clears the cookie. It is public so that a
// console whose session already expired can still clear its cookie; ending a live session needs
// its CSRF token, so that another site cannot log an officer out.
func (s *server) logout(c *gin.Context) {
	if id, err := c.Cookie(cookieSession); err == nil && id != "" {
		if se, ok := s.sessions.get(id); ok {
			if subtle.ConstantTimeCompare([]byte(c.GetHeader(headerCSRF)), []byte(se.csrf)) != 1 {
				s.fail(c, errCSRF)
				return
			}
			s.sessions.delete(id)
			s.audit(c.Request.Context(), se.user.Name, "logout", c)
		}
	}
	s.clearCookie(c)
	c.Status(http.StatusNoContent)
}

// me tells the console who is logged in.
func (s *server) me(c *gin.Context) {
	p, _ := principalOf(c)
	r := meResponse{User: p.User, Via: p.Via, CSRFToken: p.CSRF, DevMode: s.cfg.DevMode}
	if p.Via == "session" {
		r.ExpiresAt = &p.ExpiresAt
	}
	c.JSON(http.StatusOK, r)
}

// audit records a login event. A failing audit store must not lock officers out of the
// console, so the failure is logged rather than returned.
func (s *server) audit(ctx context.Context, user, action string, c *gin.Context) {
	detail := map[string]string{"client": c.ClientIP(), "request_id": c.GetString(ctxRequestID),
		"user_agent": c.Request.UserAgent()}
	if s.deps.Audit == nil {
		s.log.Info("web: audit not configured", "action", action, "user", user, "client", detail["client"])
		return
	}
	if err := s.deps.Audit.Record(ctx, user, action, "user:"+user, detail); err != nil {
		s.log.Error("web: audit login event", "action", action, "user", user, "err", err)
	}
}
