package ingest

import (
	"encoding/json"
	"fmt"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// schemaCheck applies the subset of JSON Schema 2020-12 the v1 schemas use (type, const, enum,
// required, properties, additionalProperties, items, pattern, min/max items and length,
// minimum, exclusiveMinimum, local $ref) and returns the paths that violate it.
func schemaCheck(root, s map[string]any, v any, path string) []string {
	if ref, ok := s["$ref"].(string); ok {
		name := strings.TrimPrefix(ref, "#/$defs/")
		return schemaCheck(root, root["$defs"].(map[string]any)[name].(map[string]any), v, path)
	}
	var bad []string
	fail := func(why string) { bad = append(bad, path+": "+why) }
	if c, ok := s["const"]; ok && !reflect.DeepEqual(c, v) {
		fail("const")
	}
	if e, ok := s["enum"].([]any); ok {
		found := false
		for _, x := range e {
			found = found || reflect.DeepEqual(x, v)
		}
		if !found {
			fail("enum")
		}
	}
	if t, ok := s["type"]; ok {
		types := []any{t}
		if ts, ok := t.([]any); ok {
			types = ts
		}
		match := false
		for _, t := range types {
			switch t {
			case "object":
				_, ok = v.(map[string]any)
			case "array":
				_, ok = v.([]any)
			case "string":
				_, ok = v.(string)
			case "number":
				_, ok = v.(float64)
			case "integer":
				f, isNum := v.(float64)
				ok = isNum && f == float64(int64(f))
			}
			match = match || ok
		}
		if !match {
			fail(fmt.Sprintf("type %v", t))
			return bad
		}
	}
	switch x := v.(type) {
	case map[string]any:
		props, _ := s["properties"].(map[string]any)
		for _, r := range asList(s["required"]) {
			if _, ok := x[r.(string)]; !ok {
				bad = append(bad, path+"."+r.(string)+": required")
			}
		}
		for k, val := range x {
			if ps, ok := props[k].(map[string]any); ok {
				bad = append(bad, schemaCheck(root, ps, val, path+"."+k)...)
			} else if ap, ok := s["additionalProperties"]; ok {
				if ap == false {
					bad = append(bad, path+"."+k+": additional property")
				} else if aps, ok := ap.(map[string]any); ok {
					bad = append(bad, schemaCheck(root, aps, val, path+"."+k)...)
				}
			}
		}
	case []any:
		if n, ok := s["minItems"].(float64); ok && float64(len(x)) < n {
			fail("minItems")
		}
		if n, ok := s["maxItems"].(float64); ok && float64(len(x)) > n {
			fail("maxItems")
		}
		if is, ok := s["items"].(map[string]any); ok {
			for i, e := range x {
				bad = append(bad, schemaCheck(root, is, e, fmt.Sprintf("%s[%d]", path, i))...)
			}
		}
	case string:
		if p, ok := s["pattern"].(string); ok && !regexp.MustCompile(p).MatchString(x) {
			fail("pattern " + p)
		}
		if n, ok := s["minLength"].(float64); ok && float64(len([]rune(x))) < n {
			fail("minLength")
		}
		if n, ok := s["maxLength"].(float64); ok && float64(len([]rune(x))) > n {
			fail("maxLength")
		}
	case float64:
		if n, ok := s["minimum"].(float64); ok && x < n {
			fail("minimum")
		}
		if n, ok := s["exclusiveMinimum"].(float64); ok && x <= n {
			fail("exclusiveMinimum")
		}
	}
	return bad
}

func asList(v any) []any { l, _ := v.([]any); return l }

func loadSchema(t *testing.T, name string) map[string]any {
	t.Helper()
	b, ok := Schemas()[name]
	if !ok {
		t.Fatalf("schema %s is not embedded", name)
	}
	var s map[string]any
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if s["$schema"] != "https://json-schema.org/draft/2020-12/schema" {
		t.Fatalf("%s is not draft 2020-12", name)
	}
	return s
}

func TestGoldenMessagesSatisfyTheirSchemas(t *testing.T) {
	cases := []struct{ schema, golden string }{
		{"declaration.v1.json", "golden/declaration_import.json"},
		{"declaration.v1.json", "golden/declaration_export.json"},
		{"manifest.v1.json", "golden/manifest.json"},
		{"withdrawal.v1.json", "golden/withdrawal.json"},
	}
	for _, c := range cases {
		t.Run(c.golden+" satisfies "+c.schema, func(t *testing.T) {
			s := loadSchema(t, c.schema)
			var v any
			if err := json.Unmarshal(mustRead(t, c.golden), &v); err != nil {
				t.Fatal(err)
			}
			if bad := schemaCheck(s, s, v, "$"); len(bad) > 0 {
				t.Fatalf("violations: %v", bad)
			}
		})
	}
}

func TestSchemasRejectWhatTheValidatorRejects(t *testing.T) {
	cases := []struct{ schema, file string }{
		{"declaration.v1.json", "malformed/every_rule.json"},
		{"declaration.v1.json", "malformed/wrong_types.json"},
		{"declaration.v1.json", "malformed/unknown_schema.json"},
		{"manifest.v1.json", "malformed/manifest_bad.json"},
		{"withdrawal.v1.json", "malformed/withdrawal_bad.json"},
	}
	for _, c := range cases {
		t.Run(c.file+" violates "+c.schema, func(t *testing.T) {
			s := loadSchema(t, c.schema)
			var v any
			if err := json.Unmarshal(mustRead(t, c.file), &v); err != nil {
				t.Fatal(err)
			}
			if bad := schemaCheck(s, s, v, "$"); len(bad) == 0 {
				t.Fatal("the schema accepts a message the validator rejects")
			}
		})
	}
}

// The schemas and the Go types must name the same fields, or one of them is out of date.
func TestSchemasListExactlyTheWireFields(t *testing.T) {
	names := func(t reflect.Type) []string {
		var out []string
		for name := range jsonFields(t) {
			out = append(out, name)
		}
		sort.Strings(out)
		return out
	}
	props := func(m map[string]any) []string {
		var out []string
		for k := range m["properties"].(map[string]any) {
			out = append(out, k)
		}
		sort.Strings(out)
		return out
	}
	decl := loadSchema(t, "declaration.v1.json")
	defs := decl["$defs"].(map[string]any)
	cases := []struct {
		name   string
		goType reflect.Type
		schema map[string]any
		extra  []string
	}{
		{"declaration", reflect.TypeOf(Declaration{}), decl, []string{"attributes"}},
		{"item", reflect.TypeOf(Item{}), defs["item"].(map[string]any), nil},
		{"enterprise", reflect.TypeOf(Enterprise{}), defs["enterprise"].(map[string]any), nil},
		{"manifest", reflect.TypeOf(Manifest{}), loadSchema(t, "manifest.v1.json"), nil},
		{"withdrawal", reflect.TypeOf(Withdrawal{}), loadSchema(t, "withdrawal.v1.json"), nil},
	}
	for _, c := range cases {
		want := append(names(c.goType), c.extra...)
		sort.Strings(want)
		if got := props(c.schema); !reflect.DeepEqual(got, want) {
			t.Errorf("%s: schema properties %v, Go fields %v", c.name, got, want)
		}
	}
}
