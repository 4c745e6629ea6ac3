package web

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/portguard/portguard/analytics"
	"github.com/portguard/portguard/clearance"
	"github.com/portguard/portguard/ingest"
)

func TestClassify(t *testing.T) {
	ve := &ingest.ValidationError{Kind: "declaration", Fields: []ingest.FieldError{
		{Path: "items[0].hs_code", Code: "format", ZH: "须为10位数字", EN: "must be 10 digits"},
		{Path: "port", Code: "required", ZH: "必填", EN: "required"},
	}}
	var syntax error
	if err := json.Unmarshal([]byte("{"), new(any)); err != nil {
		syntax = err
	}
	tests := []struct {
		name   string
		err    error
		status int
		code   string
		fields int
	}{
		{"a validation error is 422 with every field", fmt.Errorf("submit: %w", ve), 422, "invalid", 2},
		{"a clearance conflict is 409", fmt.Errorf("record: %w", clearance.ErrConflict), 409, "conflict", 0},
		{"a clearance state error is 409", clearance.ErrState, 409, "invalid_state", 0},
		{"a clearance not-found is 404", clearance.ErrNotFound, 404, "not_found", 0},
		{"a clearance refusal is 403", clearance.ErrForbidden, 403, "forbidden", 0},
		{"ClickHouse unavailable is 503", fmt.Errorf("trend: %w", analytics.ErrUnavailable), 503, "unavailable", 0},
		{"an analytics not-found is 404", analytics.ErrNotFound, 404, "not_found", 0},
		{"an invalid analytics query is 400", analytics.ErrInvalid, 400, "bad_request", 0},
		{"a body over the limit is 413", &http.MaxBytesError{Limit: 10}, 413, "too_large", 0},
		{"broken JSON is 400", syntax, 400, "bad_request", 0},
		{"a deadline is 504", fmt.Errorf("x: %w", context.DeadlineExceeded), 504, "timeout", 0},
		{"anything else is 500", errors.New("disk on fire at /var/secret"), 500, "internal", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := classify(tc.err)
			if e.status != tc.status || e.code != tc.code || len(e.fields) != tc.fields {
				t.Errorf("classify = %d %s %d fields, want %d %s %d", e.status, e.code, len(e.fields), tc.status, tc.code, tc.fields)
			}
			if e.en == "" || e.zh == "" {
				t.Errorf("messages missing: %+v", e)
			}
			if strings.Contains(e.en, "secret") {
				t.Errorf("internal detail leaked to the client: %q", e.en)
			}
		})
	}
}

func TestErrorResponses(t *testing.T) {
	cfg := testConfig()
	cfg.MaxBodyBytes = 64
	_, h := mustServer(t, cfg, Deps{})
	tests := []struct {
		name string
		req  request
		want int
		code string
	}{
		{"an unknown API path is a JSON 404", request{method: "GET", path: "/v1/nope"}, 404, "not_found"},
		{"a wrong method is a JSON 405", request{method: "DELETE", path: "/v1/login"}, 405, "method_not_allowed"},
		{"a body over the limit is 413", request{method: "POST", path: "/v1/login", body: `{"username":"` + strings.Repeat("a", 100) + `"}`,
			headers: []string{"Content-Type", "application/json"}}, 413, "too_large"},
		{"a bad version query is 400 naming it", request{method: "GET", path: "/v1/decisions/1?version=x",
			headers: []string{"X-API-Key", testKey(RoleSystem)}}, 400, "bad_request"},
		{"a missing dependency is 503", request{method: "GET", path: "/v1/decisions/1",
			headers: []string{"X-API-Key", testKey(RoleSystem)}}, 503, "unavailable"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := do(t, h, tc.req)
			if w.Code != tc.want {
				t.Fatalf("status %d, want %d: %s", w.Code, tc.want, w.Body.String())
			}
			if e := errorOf(t, w); e.Code != tc.code || e.Fields == nil {
				t.Errorf("error = %+v, want code %s and a fields array", e, tc.code)
			}
			if w.Header().Get(headerRequestID) == "" {
				t.Errorf("no request ID on the error response")
			}
		})
	}
}

func TestRequestIDIsKeptWhenPlainAndReplacedOtherwise(t *testing.T) {
	_, h := mustServer(t, testConfig(), Deps{})
	if got := do(t, h, request{method: "GET", path: "/healthz", headers: []string{headerRequestID, "sw-2026.11.23-0001"}}).Header().Get(headerRequestID); got != "sw-2026.11.23-0001" {
		t.Errorf("plain ID replaced by %q", got)
	}
	got := do(t, h, request{method: "GET", path: "/healthz", headers: []string{headerRequestID, "bad id\nforged=1"}}).Header().Get(headerRequestID)
	if got == "" || strings.ContainsAny(got, " \n=") {
		t.Errorf("unsafe ID not replaced: %q", got)
	}
}
