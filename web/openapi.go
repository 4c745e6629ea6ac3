package web

import (
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
)

// The OpenAPI document is built from the same route table that registers the handlers
// (routes.go), and its schemas are derived by reflection from the Go types the handlers encode,
// so the document cannot drift from the code: a route without documentation cannot be written,
// and a changed struct changes its schema.

// route is one entry of the route table: what gin registers and what OpenAPI documents.
type route struct {
	method string
	path   string // gin pattern, e.g. /v1/decisions/:number
	access access
	handle gin.HandlerFunc
	doc    op
}

// op documents one operation.
type op struct {
	id        string // operationId
	tag       string
	summary   string // English
	summaryZH string
	desc      string
	params    []param
	body      any // a value of the request body's Go type; nil = no body
	ok        int // success status
	out       any // a value of the success body's Go type; nil = no body
	errors    []int
}

// param is a path or query parameter.
type param struct {
	name, in, typ, desc string // in: "path" or "query"; typ: "string", "integer", "date"
	required            bool
}

func pathParam(name, desc string) param {
	return param{name: name, in: "path", typ: "string", desc: desc, required: true}
}

func query(name, typ, desc string) param { return param{name: name, in: "query", typ: typ, desc: desc} }

// openAPIPath turns a gin pattern into an OpenAPI path: /v1/tasks/:id → /v1/tasks/{id}.
func openAPIPath(p string) string {
	parts := strings.Split(p, "/")
	for i, s := range parts {
		if strings.HasPrefix(s, ":") || strings.HasPrefix(s, "*") {
			parts[i] = "{" + s[1:] + "}"
		}
	}
	return strings.Join(parts, "/")
}

// openAPI builds the OpenAPI 3.0 document of every /v1 route in rs.
func openAPI(rs []route) map[string]any {
	comps := map[string]any{}
	gen := &schemaGen{comps: comps}
	paths := map[string]any{}
	for _, r := range rs {
		if !isAPI(r.path) {
			continue
		}
		p := openAPIPath(r.path)
		item, _ := paths[p].(map[string]any)
		if item == nil {
			item = map[string]any{}
			paths[p] = item
		}
		item[strings.ToLower(r.method)] = gen.operation(r)
	}
	gen.schema(reflect.TypeOf(errorBody{}))
	return map[string]any{
		"openapi": "3.0.3",
		"info": map[string]any{
			"title":   "portguard API",
			"version": "1",
			"description": "口岸检验检疫风险布控与闭环放行系统 — port inspection-and-quarantine risk targeting " +
				"and closed-loop clearance. Machine clients authenticate with an API key " +
				"(Authorization: Bearer <key> or X-API-Key); console users log in (POST /v1/login) and " +
				"send the X-CSRF-Token header on state-changing requests. x-roles lists the roles " +
				"allowed to call an operation. Errors: {\"error\":{\"code\",\"message\",\"message_zh\",\"fields\"}}.",
		},
		"paths": paths,
		"components": map[string]any{
			"schemas": comps,
			"securitySchemes": map[string]any{
				"bearer":  map[string]any{"type": "http", "scheme": "bearer"},
				"apiKey":  map[string]any{"type": "apiKey", "in": "header", "name": headerAPIKey},
				"session": map[string]any{"type": "apiKey", "in": "cookie", "name": cookieSession},
			},
		},
	}
}

func (g *schemaGen) operation(r route) map[string]any {
	d := r.doc
	o := map[string]any{
		"operationId": d.id,
		"summary":     d.summary,
		"description": strings.TrimSpace(d.summaryZH + "\n\n" + d.desc),
		"tags":        []string{d.tag},
	}
	if r.access.public {
		o["security"] = []any{}
	} else {
		o["security"] = []any{map[string]any{"bearer": []string{}}, map[string]any{"apiKey": []string{}},
			map[string]any{"session": []string{}}}
		rs := r.access.roles
		if rs == nil {
			rs = []string{}
		}
		o["x-roles"] = rs
	}
	var params []any
	for _, p := range d.params {
		sch := map[string]any{"type": p.typ}
		if p.typ == "date" {
			sch = map[string]any{"type": "string", "format": "date"}
		}
		params = append(params, map[string]any{"name": p.name, "in": p.in, "required": p.required,
			"description": p.desc, "schema": sch})
	}
	if params != nil {
		o["parameters"] = params
	}
	if d.body != nil {
		o["requestBody"] = map[string]any{"required": true, "content": map[string]any{
			"application/json": map[string]any{"schema": g.schema(reflect.TypeOf(d.body))}}}
	}
	resp := map[string]any{}
	okResp := map[string]any{"description": http.StatusText(d.ok)}
	if d.out != nil {
		okResp["content"] = map[string]any{"application/json": map[string]any{"schema": g.schema(reflect.TypeOf(d.out))}}
	}
	resp[strconv.Itoa(d.ok)] = okResp
	errs := slices.Clone(d.errors)
	if !r.access.public {
		errs = append(errs, http.StatusUnauthorized, http.StatusForbidden)
	}
	errRef := map[string]any{"application/json": map[string]any{"schema": map[string]any{"$ref": "#/components/schemas/web.errorBody"}}}
	for _, st := range errs {
		resp[strconv.Itoa(st)] = map[string]any{"description": http.StatusText(st), "content": errRef}
	}
	resp["default"] = map[string]any{"description": "error", "content": errRef}
	o["responses"] = resp
	return o
}

// schemaGen derives JSON Schemas (the OpenAPI 3.0 dialect) from Go types, following encoding/json's
// rules for field names, omitempty and embedded structs. Named struct types become components.
type schemaGen struct {
	comps map[string]any
}

var timeType = reflect.TypeOf(time.Time{})

func componentName(t reflect.Type) string {
	pkg := t.PkgPath()
	if i := strings.LastIndex(pkg, "/"); i >= 0 {
		pkg = pkg[i+1:]
	}
	return pkg + "." + t.Name()
}

func (g *schemaGen) schema(t reflect.Type) map[string]any {
	if t == timeType {
		return map[string]any{"type": "string", "format": "date-time"}
	}
	switch t.Kind() {
	case reflect.Pointer:
		s := g.schema(t.Elem())
		if _, ref := s["$ref"]; ref {
			return map[string]any{"allOf": []any{s}, "nullable": true}
		}
		s["nullable"] = true
		return s
	case reflect.String:
		return map[string]any{"type": "string"}
	case reflect.Bool:
		return map[string]any{"type": "boolean"}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return map[string]any{"type": "integer"}
	case reflect.Float32, reflect.Float64:
		return map[string]any{"type": "number"}
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 {
			return map[string]any{"type": "string", "format": "byte"}
		}
		return map[string]any{"type": "array", "items": g.schema(t.Elem())}
	case reflect.Map:
		return map[string]any{"type": "object", "additionalProperties": g.schema(t.Elem())}
	case reflect.Struct:
		if t.Name() == "" {
			return g.object(t)
		}
		name := componentName(t)
		if _, done := g.comps[name]; !done {
			g.comps[name] = map[string]any{} // placeholder: recursive types terminate
			g.comps[name] = g.object(t)
		}
		return map[string]any{"$ref": "#/components/schemas/" + name}
	}
	return map[string]any{} // interface{}: any JSON value
}

// object is the schema of a struct's JSON object.
func (g *schemaGen) object(t reflect.Type) map[string]any {
	props := map[string]any{}
	var required []string
	g.fields(t, props, &required)
	s := map[string]any{"type": "object", "properties": props}
	if len(required) > 0 {
		s["required"] = required
	}
	return s
}

func (g *schemaGen) fields(t reflect.Type, props map[string]any, required *[]string) {
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" || (!f.IsExported() && !f.Anonymous) {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" {
			ft := f.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				g.fields(ft, props, required)
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		props[name] = g.schema(f.Type)
		if !strings.Contains(opts, "omitempty") && !strings.Contains(opts, "omitzero") && f.Type.Kind() != reflect.Pointer {
			*required = append(*required, name)
		}
	}
}

// serveOpenAPI answers GET /v1/openapi.json with the document built at start.
func (s *server) serveOpenAPI(c *gin.Context) {
	c.Data(http.StatusOK, "application/json; charset=utf-8", s.openapi)
}

// schemaList answers GET /v1/schemas with the names of the published JSON Schemas.
func (s *server) schemaList(c *gin.Context) {
	names := make([]string, 0, len(s.deps.Schemas))
	for n := range s.deps.Schemas {
		names = append(names, n)
	}
	slices.Sort(names)
	c.JSON(http.StatusOK, gin.H{"schemas": names})
}

// schema answers GET /v1/schemas/:name with one published JSON Schema, by its file name
// ("declaration.v1.json"), without ".json", or by kind alone ("declaration": its latest
// version).
func (s *server) schema(c *gin.Context) {
	b, ok := lookupSchema(s.deps.Schemas, c.Param("name"))
	if !ok {
		s.fail(c, errNotFound)
		return
	}
	c.Data(http.StatusOK, "application/schema+json", b)
}

func lookupSchema(schemas map[string][]byte, name string) ([]byte, bool) {
	for _, n := range []string{name, name + ".json"} {
		if b, ok := schemas[n]; ok {
			return b, true
		}
	}
	best, bestV := "", -1
	for n := range schemas {
		rest, ok := strings.CutPrefix(n, name+".v")
		if !ok {
			continue
		}
		v, err := strconv.Atoi(strings.TrimSuffix(rest, ".json"))
		if err == nil && v > bestV {
			best, bestV = n, v
		}
	}
	b, ok := schemas[best]
	return b, ok && bestV >= 0
}
