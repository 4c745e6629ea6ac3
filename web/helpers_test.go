package web

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

// testPort is the port the test users are bound to.
const testPort = "2200"

// testUsers has, for every role, a console user "<role>-user" with password "password-<role>"
// bound to testPort, and a machine client "<role>-client" with key testKey(role) and no port.
func testUsers(tb testing.TB) *Users {
	tb.Helper()
	us := NewUsers()
	us.cost = bcrypt.MinCost // the tests log in hundreds of times
	for _, r := range allRoles {
		if err := us.AddUser(User{Name: r + "-user", Display: r, Roles: []string{r}, Port: testPort}, "password-"+r); err != nil {
			tb.Fatal(err)
		}
		if err := us.AddAPIKey(User{Name: r + "-client", Roles: []string{r}}, testKey(r)); err != nil {
			tb.Fatal(err)
		}
	}
	return us
}

func testKey(role string) string { return "test-key-" + role + "-0123456789abcdef" }

// testConfig is DefaultConfig with a plain-http cookie, as in dev.
func testConfig() Config {
	c := DefaultConfig()
	c.CookieSecure = false
	return c
}

// mustServer builds a server and its handler, failing the test on error.
func mustServer(tb testing.TB, cfg Config, deps Deps) (*server, http.Handler) {
	tb.Helper()
	if deps.Users == nil {
		deps.Users = testUsers(tb)
	}
	s, err := newServer(cfg, deps)
	if err != nil {
		tb.Fatalf("newServer: %v", err)
	}
	e, err := s.engine()
	if err != nil {
		tb.Fatalf("engine: %v", err)
	}
	return s, e
}

// request is one test request. Headers are name, value pairs.
type request struct {
	method, path, body string
	headers            []string
	cookies            []*http.Cookie
}

func do(tb testing.TB, h http.Handler, r request) *httptest.ResponseRecorder {
	tb.Helper()
	var body io.Reader
	if r.body != "" {
		body = strings.NewReader(r.body)
	}
	req := httptest.NewRequest(r.method, r.path, body)
	for i := 0; i+1 < len(r.headers); i += 2 {
		req.Header.Set(r.headers[i], r.headers[i+1])
	}
	for _, c := range r.cookies {
		req.AddCookie(c)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return w
}

// errorOf decodes an error response body, failing the test if it is not one.
func errorOf(tb testing.TB, w *httptest.ResponseRecorder) errorDetail {
	tb.Helper()
	var b errorBody
	if err := json.Unmarshal(w.Body.Bytes(), &b); err != nil || b.Error.Code == "" {
		tb.Fatalf("status %d: body is not an error body: %s", w.Code, w.Body.String())
	}
	return b.Error
}

// login logs in as user and returns the session cookie and the CSRF token.
func login(tb testing.TB, h http.Handler, user, password string) (*http.Cookie, string) {
	tb.Helper()
	body, _ := json.Marshal(loginRequest{Username: user, Password: password})
	w := do(tb, h, request{method: "POST", path: "/v1/login", body: string(body), headers: []string{"Content-Type", "application/json"}})
	if w.Code != http.StatusOK {
		tb.Fatalf("login %s: status %d: %s", user, w.Code, w.Body.String())
	}
	var me meResponse
	if err := json.Unmarshal(w.Body.Bytes(), &me); err != nil {
		tb.Fatal(err)
	}
	for _, c := range w.Result().Cookies() {
		if c.Name == cookieSession {
			return c, me.CSRFToken
		}
	}
	tb.Fatalf("login %s: no session cookie", user)
	return nil, ""
}

// samplePath fills a gin pattern's parameters with plausible values.
func samplePath(pattern string) string {
	r := strings.NewReplacer(":number", "110120250000000001", ":id", "R1", ":name", "declaration",
		"*filepath", "")
	return r.Replace(pattern)
}
