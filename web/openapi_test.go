package web

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
)

// TestOpenAPIDocumentMatchesTheRoutes keeps /v1/openapi.json in step with what gin serves: every
// registered /v1 route is documented with its method, and every documented operation is served.
func TestOpenAPIDocumentMatchesTheRoutes(t *testing.T) {
	s, err := newServer(testConfig(), Deps{Users: testUsers(t)})
	if err != nil {
		t.Fatal(err)
	}
	e, err := s.engine()
	if err != nil {
		t.Fatal(err)
	}
	w := do(t, e, request{method: "GET", path: "/v1/openapi.json"})
	if w.Code != http.StatusOK {
		t.Fatalf("status %d", w.Code)
	}
	var doc struct {
		OpenAPI string                               `json:"openapi"`
		Paths   map[string]map[string]map[string]any `json:"paths"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.0") {
		t.Errorf("openapi = %q", doc.OpenAPI)
	}
	served := map[string]bool{}
	for _, r := range e.Routes() {
		if !strings.HasPrefix(r.Path, "/v1/") {
			continue
		}
		key := strings.ToLower(r.Method) + " " + openAPIPath(r.Path)
		served[key] = true
		if _, ok := doc.Paths[openAPIPath(r.Path)][strings.ToLower(r.Method)]; !ok {
			t.Errorf("served but not documented: %s %s", r.Method, r.Path)
		}
	}
	if len(served) < 10 {
		t.Fatalf("only %d /v1 routes served", len(served))
	}
	ids := map[string]bool{}
	for p, ops := range doc.Paths {
		for m, o := range ops {
			if !served[m+" "+p] {
				t.Errorf("documented but not served: %s %s", m, p)
			}
			id, _ := o["operationId"].(string)
			if id == "" || ids[id] {
				t.Errorf("%s %s: operationId %q missing or duplicated", m, p, id)
			}
			ids[id] = true
			if o["summary"] == "" || o["responses"] == nil {
				t.Errorf("%s %s: no summary or responses", m, p)
			}
			for _, prm := range strings.Split(p, "/") {
				if strings.HasPrefix(prm, "{") && !documentsParam(o, strings.Trim(prm, "{}")) {
					t.Errorf("%s %s: path parameter %s not documented", m, p, prm)
				}
			}
		}
	}
}

func documentsParam(o map[string]any, name string) bool {
	ps, _ := o["parameters"].([]any)
	for _, p := range ps {
		if m, _ := p.(map[string]any); m["name"] == name && m["in"] == "path" {
			return true
		}
	}
	return false
}

// TestOpenAPIReferencesResolve checks that every $ref points at a component that exists, and
// that the schemas derived from the Go types carry their JSON field names.
func TestOpenAPIReferencesResolve(t *testing.T) {
	s, _ := mustServer(t, testConfig(), Deps{})
	var doc map[string]any
	if err := json.Unmarshal(s.openapi, &doc); err != nil {
		t.Fatal(err)
	}
	comps := doc["components"].(map[string]any)["schemas"].(map[string]any)
	var refs []string
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			if r, ok := x["$ref"].(string); ok {
				refs = append(refs, r)
			}
			for _, c := range x {
				walk(c)
			}
		case []any:
			for _, c := range x {
				walk(c)
			}
		}
	}
	walk(doc)
	if len(refs) == 0 {
		t.Fatal("no $ref at all")
	}
	for _, r := range refs {
		name, ok := strings.CutPrefix(r, "#/components/schemas/")
		if _, exists := comps[name]; !ok || !exists {
			t.Errorf("dangling $ref %s", r)
		}
	}
	dec, _ := comps["targeting.Decision"].(map[string]any)
	props, _ := dec["properties"].(map[string]any)
	for _, f := range []string{"declaration_no", "channel", "reasons", "propensity", "decided_at"} {
		if _, ok := props[f]; !ok {
			t.Errorf("targeting.Decision schema lacks %q", f)
		}
	}
	if req, _ := dec["required"].([]any); !slices.Contains(req, any("channel")) {
		t.Errorf("channel not required in Decision: %v", req)
	}
}
