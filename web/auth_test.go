package web

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

// wantAccess is the role table of routes.go, written out independently: a route whose access
// changes, or a new route, must be reflected here.
var wantAccess = map[string][]string{
	"POST /v1/decisions":               {RoleSystem, RoleAdmin},
	"GET /v1/decisions/:number":        {RoleOfficer, RoleSupervisor, RoleRiskAnalyst, RoleHQAnalyst, RoleAdmin, RoleSystem},
	"GET /v1/declarations/:number":     {RoleOfficer, RoleSupervisor, RoleRiskAnalyst, RoleHQAnalyst, RoleAdmin, RoleSystem},
	"GET /v1/tasks":                    {RoleOfficer, RoleSupervisor},
	"GET /v1/tasks/:id":                {RoleOfficer, RoleSupervisor},
	"POST /v1/inspection-results":      {RoleOfficer, RoleSupervisor, RoleAdmin},
	"GET /v1/trends/daily":             {RoleSupervisor, RoleRiskAnalyst, RoleHQAnalyst, RoleAdmin},
	"GET /v1/audit/trail/:number":      {RoleOfficer, RoleSupervisor, RoleRiskAnalyst, RoleHQAnalyst, RoleAdmin},
	"GET /v1/tasks/overdue":            {RoleSupervisor, RoleAdmin},
	"POST /v1/tasks/:id/start":         {RoleOfficer, RoleSupervisor, RoleAdmin},
	"POST /v1/tasks/:id/reassign":      {RoleSupervisor, RoleAdmin},
	"POST /v1/lab-results":             {RoleLab, RoleOfficer, RoleSupervisor, RoleAdmin},
	"GET /v1/officers":                 {RoleSupervisor, RoleAdmin},
	"PUT /v1/officers/:id/duty":        {RoleSupervisor, RoleAdmin},
	"POST /v1/overrides":               {RoleOfficer, RoleSupervisor, RoleAdmin},
	"GET /v1/overrides":                {RoleSupervisor, RoleRiskAnalyst, RoleHQAnalyst, RoleAdmin},
	"POST /v1/overrides/:id/review":    {RoleSupervisor, RoleAdmin},
	"GET /v1/override-rates":           {RoleSupervisor, RoleRiskAnalyst, RoleHQAnalyst, RoleAdmin},
	"GET /v1/override-reasons":         allRoles,
	"GET /v1/analytics/trend":          {RoleSupervisor, RoleRiskAnalyst, RoleHQAnalyst, RoleAdmin},
	"GET /v1/analytics/hit-rates":      {RoleSupervisor, RoleRiskAnalyst, RoleHQAnalyst, RoleAdmin},
	"GET /v1/analytics/rule-yield":     {RoleSupervisor, RoleRiskAnalyst, RoleHQAnalyst, RoleAdmin},
	"GET /v1/analytics/model-yield":    {RoleSupervisor, RoleRiskAnalyst, RoleHQAnalyst, RoleAdmin},
	"GET /v1/analytics/dimensions":     {RoleSupervisor, RoleRiskAnalyst, RoleHQAnalyst, RoleAdmin},
	"GET /v1/analytics/grades":         {RoleSupervisor, RoleRiskAnalyst, RoleHQAnalyst, RoleAdmin},
	"GET /v1/analytics/alerts":         {RoleSupervisor, RoleRiskAnalyst, RoleHQAnalyst, RoleAdmin},
	"GET /v1/analytics/forecast":       {RoleSupervisor, RoleRiskAnalyst, RoleHQAnalyst, RoleAdmin},
	"GET /v1/rules":                    {RoleSupervisor, RoleRiskAnalyst, RoleHQAnalyst, RoleAdmin},
	"GET /v1/rules/:id":                {RoleSupervisor, RoleRiskAnalyst, RoleHQAnalyst, RoleAdmin},
	"POST /v1/rules":                   {RoleSupervisor, RoleRiskAnalyst},
	"PUT /v1/rules/:id":                {RoleSupervisor, RoleRiskAnalyst},
	"POST /v1/rules/:id/submit":        {RoleSupervisor, RoleRiskAnalyst},
	"POST /v1/rules/:id/approve":       {RoleRiskAnalyst},
	"POST /v1/rules/:id/reject":        {RoleRiskAnalyst},
	"POST /v1/rules/:id/revoke":        {RoleSupervisor, RoleRiskAnalyst},
	"POST /v1/rules/:id/emergency":     {RoleSupervisor},
	"POST /v1/rules/backtest":          {RoleSupervisor, RoleRiskAnalyst, RoleHQAnalyst},
	"POST /v1/rules/:id/backtest":      {RoleSupervisor, RoleRiskAnalyst, RoleHQAnalyst},
	"GET /v1/profiles/:feature/:value": {RoleSupervisor, RoleRiskAnalyst, RoleHQAnalyst, RoleAdmin},
	"GET /v1/findings":                 allRoles,
	"GET /v1/me":                       allRoles,

	// Reviews of early warnings: the analysts who act on risks, not supervisors or admins.
	"POST /v1/analytics/alerts/:id/acknowledge": {RoleRiskAnalyst, RoleHQAnalyst},
	"POST /v1/analytics/alerts/:id/dismiss":     {RoleRiskAnalyst, RoleHQAnalyst},
}

var wantPublic = []string{
	"POST /v1/login", "POST /v1/logout", "GET /v1/schemas", "GET /v1/schemas/:name", "GET /v1/openapi.json",
	"GET /healthz", "GET /readyz", "GET /metrics", "GET /", "GET /console/*filepath",
}

func TestEveryRouteEnforcesItsRoles(t *testing.T) {
	s, h := mustServer(t, testConfig(), Deps{})
	for _, r := range s.routes() {
		key := r.method + " " + r.path
		if r.access.public {
			if !slices.Contains(wantPublic, key) {
				t.Errorf("%s is public but the test does not expect it to be", key)
			}
			continue
		}
		allowed, ok := wantAccess[key]
		if !ok {
			t.Errorf("%s is not in the test's role table", key)
			continue
		}
		t.Run(key, func(t *testing.T) {
			base := request{method: r.method, path: samplePath(r.path)}
			if r.method == http.MethodPost || r.method == http.MethodPut {
				base.body = "{}"
				base.headers = []string{"Content-Type", "application/json"}
			}
			if w := do(t, h, base); w.Code != http.StatusUnauthorized || errorOf(t, w).Code != "unauthenticated" {
				t.Errorf("without credentials: status %d, want 401 unauthenticated: %s", w.Code, w.Body.String())
			}
			bad := base
			bad.headers = append(slices.Clone(base.headers), "X-API-Key", "not-a-key-of-anyone-at-all-1234")
			if w := do(t, h, bad); w.Code != http.StatusUnauthorized || errorOf(t, w).Code != "invalid_api_key" {
				t.Errorf("with a wrong key: status %d, want 401 invalid_api_key", w.Code)
			}
			for _, role := range allRoles {
				req := base
				req.headers = append(slices.Clone(base.headers), "Authorization", "Bearer "+testKey(role))
				w := do(t, h, req)
				if slices.Contains(allowed, role) {
					if w.Code == http.StatusUnauthorized || w.Code == http.StatusForbidden {
						t.Errorf("role %s is allowed but got %d: %s", role, w.Code, w.Body.String())
					}
				} else if w.Code != http.StatusForbidden || errorOf(t, w).Code != "forbidden" {
					t.Errorf("role %s is not allowed but got %d, want 403", role, w.Code)
				}
			}
		})
	}
	for key := range wantAccess {
		found := false
		for _, r := range s.routes() {
			found = found || r.method+" "+r.path == key
		}
		if !found {
			t.Errorf("the test expects route %s, which is not registered", key)
		}
	}
}

func TestAPIKeyIsAcceptedInEitherHeader(t *testing.T) {
	_, h := mustServer(t, testConfig(), Deps{})
	for _, hdr := range [][]string{
		{"Authorization", "Bearer " + testKey(RoleSystem)},
		{"Authorization", "bearer " + testKey(RoleSystem)},
		{"X-API-Key", testKey(RoleSystem)},
	} {
		w := do(t, h, request{method: "GET", path: "/v1/me", headers: hdr})
		if w.Code != http.StatusOK {
			t.Fatalf("%s: status %d: %s", hdr[0], w.Code, w.Body.String())
		}
		var me meResponse
		if err := json.Unmarshal(w.Body.Bytes(), &me); err != nil {
			t.Fatal(err)
		}
		if me.User.Name != "system-client" || me.Via != "api_key" || me.CSRFToken != "" {
			t.Errorf("%s: me = %+v", hdr[0], me)
		}
	}
}

func TestConsoleSessions(t *testing.T) {
	cfg := testConfig()
	cfg.SessionTTL = 30 * time.Minute
	cfg.SessionMaxAge = 2 * time.Hour
	json := []string{"Content-Type", "application/json"}

	t.Run("a login sets an HttpOnly SameSite=Strict cookie and GET needs no CSRF token", func(t *testing.T) {
		_, h := mustServer(t, cfg, Deps{})
		body := `{"username":"officer-user","password":"password-officer"}`
		w := do(t, h, request{method: "POST", path: "/v1/login", body: body, headers: json})
		if w.Code != http.StatusOK {
			t.Fatalf("login: %d %s", w.Code, w.Body.String())
		}
		var c *http.Cookie
		for _, x := range w.Result().Cookies() {
			if x.Name == cookieSession {
				c = x
			}
		}
		if c == nil || !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Path != "/" || len(c.Value) < 40 {
			t.Fatalf("session cookie = %+v", c)
		}
		if w := do(t, h, request{method: "GET", path: "/v1/me", cookies: []*http.Cookie{c}}); w.Code != http.StatusOK {
			t.Fatalf("me: %d %s", w.Code, w.Body.String())
		}
	})

	t.Run("the session cookie is Secure when the config says so", func(t *testing.T) {
		cfg := cfg
		cfg.CookieSecure = true
		_, h := mustServer(t, cfg, Deps{})
		c, _ := login(t, h, "officer-user", "password-officer")
		if !c.Secure {
			t.Errorf("cookie not Secure")
		}
	})

	t.Run("a state-changing request by cookie needs the session's CSRF token", func(t *testing.T) {
		_, h := mustServer(t, cfg, Deps{})
		c, csrf := login(t, h, "system-user", "password-system")
		req := request{method: "POST", path: "/v1/decisions", body: "{}", cookies: []*http.Cookie{c}}
		for _, tc := range []struct {
			name, token string
			want        int
		}{
			{"no token", "", http.StatusForbidden},
			{"a wrong token", csrf[:len(csrf)-2] + "xx", http.StatusForbidden},
		} {
			r := req
			r.headers = append(slices.Clone(json), headerCSRF, tc.token)
			w := do(t, h, r)
			if w.Code != tc.want || errorOf(t, w).Code != "csrf" {
				t.Errorf("%s: status %d, want %d csrf", tc.name, w.Code, tc.want)
			}
		}
		r := req
		r.headers = append(slices.Clone(json), headerCSRF, csrf)
		if w := do(t, h, r); w.Code == http.StatusForbidden || w.Code == http.StatusUnauthorized {
			t.Errorf("with the right token: status %d: %s", w.Code, w.Body.String())
		}
	})

	t.Run("an idle session expires after the TTL and every request renews it", func(t *testing.T) {
		s, h := mustServer(t, cfg, Deps{})
		base := time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC)
		now := base
		s.sessions.now = func() time.Time { return now }
		c, _ := login(t, h, "officer-user", "password-officer")
		me := request{method: "GET", path: "/v1/me", cookies: []*http.Cookie{c}}
		for i := 1; i <= 3; i++ { // 3 × 29 min: beyond one TTL, but never idle for a whole TTL
			now = now.Add(29 * time.Minute)
			if w := do(t, h, me); w.Code != http.StatusOK {
				t.Fatalf("after %d renewals: %d", i, w.Code)
			}
		}
		now = now.Add(30 * time.Minute)
		w := do(t, h, me)
		if w.Code != http.StatusUnauthorized || errorOf(t, w).Code != "session_expired" {
			t.Fatalf("idle for a TTL: status %d %s, want 401 session_expired", w.Code, w.Body.String())
		}
		cleared := false
		for _, x := range w.Result().Cookies() {
			cleared = cleared || (x.Name == cookieSession && x.MaxAge < 0)
		}
		if !cleared {
			t.Errorf("the expired session's cookie was not cleared")
		}
	})

	t.Run("a busy session still ends at the max age", func(t *testing.T) {
		s, h := mustServer(t, cfg, Deps{})
		now := time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC)
		s.sessions.now = func() time.Time { return now }
		c, _ := login(t, h, "officer-user", "password-officer")
		me := request{method: "GET", path: "/v1/me", cookies: []*http.Cookie{c}}
		code := http.StatusOK
		for i := 0; i < 20 && code == http.StatusOK; i++ {
			now = now.Add(10 * time.Minute)
			code = do(t, h, me).Code
			if code != http.StatusOK && now.Before(time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)) {
				t.Fatalf("ended early at %v", now)
			}
		}
		if code != http.StatusUnauthorized {
			t.Fatalf("still alive after %v", now)
		}
	})

	t.Run("logout needs the CSRF token and ends the session", func(t *testing.T) {
		_, h := mustServer(t, cfg, Deps{})
		c, csrf := login(t, h, "officer-user", "password-officer")
		if w := do(t, h, request{method: "POST", path: "/v1/logout", cookies: []*http.Cookie{c}}); w.Code != http.StatusForbidden {
			t.Fatalf("logout without token: %d", w.Code)
		}
		if w := do(t, h, request{method: "POST", path: "/v1/logout", cookies: []*http.Cookie{c}, headers: []string{headerCSRF, csrf}}); w.Code != http.StatusNoContent {
			t.Fatalf("logout: %d %s", w.Code, w.Body.String())
		}
		if w := do(t, h, request{method: "GET", path: "/v1/me", cookies: []*http.Cookie{c}}); w.Code != http.StatusUnauthorized {
			t.Fatalf("me after logout: %d", w.Code)
		}
	})

	t.Run("an API key decides alone even when a valid cookie is sent too", func(t *testing.T) {
		_, h := mustServer(t, cfg, Deps{})
		c, _ := login(t, h, "officer-user", "password-officer")
		w := do(t, h, request{method: "GET", path: "/v1/me", cookies: []*http.Cookie{c}, headers: []string{"X-API-Key", "wrong-key-wrong-key-wrong-key"}})
		if w.Code != http.StatusUnauthorized {
			t.Fatalf("status %d", w.Code)
		}
	})
}

func TestLogin(t *testing.T) {
	jsonHdr := []string{"Content-Type", "application/json"}
	tests := []struct {
		name, body string
		want       int
		code       string
		fields     []string
	}{
		{"a wrong password is 401", `{"username":"officer-user","password":"nope-nope"}`, 401, "invalid_credentials", nil},
		{"an unknown user is the same 401", `{"username":"nobody","password":"password-officer"}`, 401, "invalid_credentials", nil},
		{"missing fields are 422 with each field", `{}`, 422, "invalid", []string{"username", "password"}},
		{"a body that is not JSON is 400", `{"username":`, 400, "bad_request", nil},
		{"a value of the wrong type is 422 naming the field", `{"username":7,"password":"x"}`, 422, "invalid", []string{"username"}},
	}
	_, h := mustServer(t, testConfig(), Deps{})
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := do(t, h, request{method: "POST", path: "/v1/login", body: tc.body, headers: jsonHdr})
			if w.Code != tc.want {
				t.Fatalf("status %d, want %d: %s", w.Code, tc.want, w.Body.String())
			}
			e := errorOf(t, w)
			if e.Code != tc.code || e.Message == "" || e.MessageZH == "" {
				t.Errorf("error = %+v, want code %s with both messages", e, tc.code)
			}
			var got []string
			for _, f := range e.Fields {
				got = append(got, f.Path)
			}
			if !slices.Equal(got, tc.fields) {
				t.Errorf("fields = %v, want %v", got, tc.fields)
			}
		})
	}
	t.Run("a form post is refused with 415", func(t *testing.T) {
		w := do(t, h, request{method: "POST", path: "/v1/login", body: "username=a&password=b",
			headers: []string{"Content-Type", "application/x-www-form-urlencoded"}})
		if w.Code != http.StatusUnsupportedMediaType {
			t.Fatalf("status %d", w.Code)
		}
	})
	t.Run("repeated failures lock the name out until the window passes", func(t *testing.T) {
		s, h := mustServer(t, testConfig(), Deps{})
		now := time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC)
		s.limiter.now = func() time.Time { return now }
		bad := request{method: "POST", path: "/v1/login", body: `{"username":"officer-user","password":"wrong-guess"}`, headers: jsonHdr}
		good := request{method: "POST", path: "/v1/login", body: `{"username":"officer-user","password":"password-officer"}`, headers: jsonHdr}
		for range s.cfg.LoginFailures {
			if w := do(t, h, bad); w.Code != http.StatusUnauthorized {
				t.Fatalf("failure: %d", w.Code)
			}
		}
		if w := do(t, h, good); w.Code != http.StatusTooManyRequests {
			t.Fatalf("right password while locked: %d, want 429", w.Code)
		}
		if w := do(t, h, request{method: "POST", path: "/v1/login", body: `{"username":"supervisor-user","password":"password-supervisor"}`, headers: jsonHdr}); w.Code != http.StatusOK {
			t.Fatalf("another user is not locked: %d", w.Code)
		}
		now = now.Add(s.cfg.LoginWindow)
		if w := do(t, h, good); w.Code != http.StatusOK {
			t.Fatalf("after the window: %d %s", w.Code, w.Body.String())
		}
	})
}

func TestDevUsers(t *testing.T) {
	users, creds := DevUsers()
	if _, err := New(DefaultConfig(), Deps{Users: users}); err == nil || !strings.Contains(err.Error(), "dev mode") {
		t.Fatalf("New accepted demo accounts outside dev mode: %v", err)
	}
	cfg := testConfig()
	cfg.DevMode = true
	h, err := New(cfg, Deps{Users: users})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, c := range creds {
		for _, r := range c.Roles {
			seen[r] = true
		}
		switch c.Kind {
		case "login":
			login(t, h, c.Name, c.Secret)
		case "api_key":
			if w := do(t, h, request{method: "GET", path: "/v1/me", headers: []string{"X-API-Key", c.Secret}}); w.Code != http.StatusOK {
				t.Errorf("demo key: %d", w.Code)
			}
		default:
			t.Errorf("unknown credential kind %q", c.Kind)
		}
	}
	for _, r := range allRoles {
		if !seen[r] {
			t.Errorf("no demo credential has role %s", r)
		}
	}
}

func TestUsersRejectsBadEntries(t *testing.T) {
	us := NewUsers()
	tests := []struct {
		name string
		err  error
	}{
		{"an unknown role", us.AddUser(User{Name: "x", Roles: []string{"officr"}}, "long-enough")},
		{"no role", us.AddUser(User{Name: "x"}, "long-enough")},
		{"a short password", us.AddUser(User{Name: "x", Roles: []string{RoleOfficer}}, "short")},
		{"a short API key", us.AddAPIKey(User{Name: "x", Roles: []string{RoleSystem}}, "short")},
	}
	for _, tc := range tests {
		if tc.err == nil {
			t.Errorf("%s was accepted", tc.name)
		}
	}
}
