package web

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
)

// Authentication: machine clients present an API key (Authorization: Bearer <key> or
// X-API-Key: <key>); console users log in and carry a random session ID in an HttpOnly,
// SameSite=Strict cookie that refers to a server-side session. A cookie is sent by the browser
// on its own, so every state-changing request authenticated by cookie must also carry the
// session's CSRF token in the X-CSRF-Token header, which only our own console script can read
// (from the login answer or GET /v1/me). API-key requests carry no ambient credential and need
// no CSRF token.

const (
	cookieSession = "pg_session"
	headerCSRF    = "X-CSRF-Token"
	headerAPIKey  = "X-API-Key"
	ctxPrincipal  = "portguard.principal"
)

// principal is who is calling and how they proved it.
type principal struct {
	User
	Via       string // "session" or "api_key"
	SessionID string
	CSRF      string
	ExpiresAt time.Time
}

func principalOf(c *gin.Context) (principal, bool) {
	v, ok := c.Get(ctxPrincipal)
	if !ok {
		return principal{}, false
	}
	p, ok := v.(principal)
	return p, ok
}

// access says who may call a route: anyone (public), any authenticated caller (roles empty), or
// callers holding at least one of roles.
type access struct {
	public bool
	roles  []string
}

var (
	public        = access{public: true}
	authenticated = access{}
)

func roles(r ...string) access { return access{roles: r} }

// allows reports whether u may call a route with this access.
func (a access) allows(u User) bool {
	if a.public || len(a.roles) == 0 {
		return true
	}
	for _, r := range a.roles {
		if u.Has(r) {
			return true
		}
	}
	return false
}

// guard returns the middleware that enforces a: 401 without valid credentials, 403 with the
// wrong role or a missing CSRF token.
func (s *server) guard(a access) gin.HandlerFunc {
	return func(c *gin.Context) {
		if a.public {
			c.Next()
			return
		}
		p, err := s.authenticate(c)
		if err != nil {
			s.fail(c, err)
			return
		}
		if p.Via == "session" && !safeMethod(c.Request.Method) {
			got := c.GetHeader(headerCSRF)
			if subtle.ConstantTimeCompare([]byte(got), []byte(p.CSRF)) != 1 {
				s.fail(c, errCSRF)
				return
			}
		}
		if !a.allows(p.User) {
			s.fail(c, errRole)
			return
		}
		c.Set(ctxPrincipal, p)
		c.Next()
	}
}

func safeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions
}

// authenticate finds the caller's credentials. An API key, when present, decides alone: a wrong
// key is a 401 even if a session cookie is also sent.
func (s *server) authenticate(c *gin.Context) (principal, error) {
	if key, ok := apiKey(c.Request); ok {
		u, ok := s.deps.Users.APIKey(key)
		if !ok {
			return principal{}, errBadAPIKey
		}
		return principal{User: u, Via: "api_key"}, nil
	}
	id, err := c.Cookie(cookieSession)
	if err != nil || id == "" {
		return principal{}, errUnauthenticated
	}
	sess, ok := s.sessions.get(id)
	if !ok {
		s.clearCookie(c)
		return principal{}, errSessionExpired
	}
	return principal{User: sess.user, Via: "session", SessionID: id, CSRF: sess.csrf, ExpiresAt: sess.expires(s.sessions)}, nil
}

// apiKey returns the key from Authorization: Bearer or X-API-Key.
func apiKey(r *http.Request) (string, bool) {
	if k := r.Header.Get(headerAPIKey); k != "" {
		return k, true
	}
	h := r.Header.Get("Authorization")
	if len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
		return strings.TrimSpace(h[7:]), true
	}
	return "", false
}

func (s *server) setCookie(c *gin.Context, id string) {
	http.SetCookie(c.Writer, &http.Cookie{Name: cookieSession, Value: id, Path: "/",
		HttpOnly: true, Secure: s.cfg.CookieSecure, SameSite: http.SameSiteStrictMode})
}

func (s *server) clearCookie(c *gin.Context) {
	http.SetCookie(c.Writer, &http.Cookie{Name: cookieSession, Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, Secure: s.cfg.CookieSecure, SameSite: http.SameSiteStrictMode})
}

// session is one console login, kept in memory: a restart logs everyone out, which is
// acceptable for a console and keeps the secret out of any store.
type session struct {
	user     User
	csrf     string
	created  time.Time
	lastSeen time.Time
}

func (se *session) expires(ss *sessions) time.Time {
	idle := se.lastSeen.Add(ss.ttl)
	if hard := se.created.Add(ss.maxAge); hard.Before(idle) {
		return hard
	}
	return idle
}

// sessions is the server-side session store. Expired sessions are dropped when met and swept
// on every login, so the map stays as large as the number of live logins.
type sessions struct {
	mu     sync.Mutex
	byID   map[string]*session
	ttl    time.Duration
	maxAge time.Duration
	now    func() time.Time // tests move time
}

func newSessions(ttl, maxAge time.Duration) *sessions {
	return &sessions{byID: map[string]*session{}, ttl: ttl, maxAge: maxAge, now: time.Now}
}

func randomToken() string {
	var b [32]byte
	_, _ = rand.Read(b[:]) // crypto/rand never fails on supported platforms
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// create starts a session for u and returns its ID.
func (ss *sessions) create(u User) (string, *session) {
	now := ss.now()
	id := randomToken()
	se := &session{user: u, csrf: randomToken(), created: now, lastSeen: now}
	ss.mu.Lock()
	defer ss.mu.Unlock()
	for k, old := range ss.byID {
		if !now.Before(old.expires(ss)) {
			delete(ss.byID, k)
		}
	}
	ss.byID[id] = se
	return id, se
}

// get returns a live session and renews its idle timer; ok=false if unknown or expired.
func (ss *sessions) get(id string) (session, bool) {
	now := ss.now()
	ss.mu.Lock()
	defer ss.mu.Unlock()
	se := ss.byID[id]
	if se == nil {
		return session{}, false
	}
	if !now.Before(se.expires(ss)) {
		delete(ss.byID, id)
		return session{}, false
	}
	se.lastSeen = now
	return *se, true
}

func (ss *sessions) delete(id string) {
	ss.mu.Lock()
	delete(ss.byID, id)
	ss.mu.Unlock()
}

// loginLimiter locks a user name out after too many failed logins within a window, so that a
// password cannot be guessed online. It counts unknown names too, which keeps both cases alike.
type loginLimiter struct {
	mu     sync.Mutex
	max    int
	window time.Duration
	fails  map[string][]time.Time
	now    func() time.Time
}

func newLoginLimiter(max int, window time.Duration) *loginLimiter {
	return &loginLimiter{max: max, window: window, fails: map[string][]time.Time{}, now: time.Now}
}

// recent drops failures older than the window; call with mu held.
func (l *loginLimiter) recent(name string, now time.Time) []time.Time {
	f := l.fails[name]
	f = slices.DeleteFunc(f, func(t time.Time) bool { return now.Sub(t) >= l.window })
	if len(f) == 0 {
		delete(l.fails, name)
		return nil
	}
	l.fails[name] = f
	return f
}

func (l *loginLimiter) locked(name string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.recent(name, l.now())) >= l.max
}

func (l *loginLimiter) fail(name string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	if len(l.fails) > 100_000 { // a flood of made-up names must not grow memory without bound
		for k := range l.fails {
			l.recent(k, now)
		}
	}
	l.fails[name] = append(l.recent(name, now), now)
}

func (l *loginLimiter) reset(name string) {
	l.mu.Lock()
	delete(l.fails, name)
	l.mu.Unlock()
}
