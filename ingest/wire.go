package ingest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// declarationFields has Declaration's fields and tags but not its methods, so the wire types below
// can embed it without recursing into Declaration's MarshalJSON/UnmarshalJSON.
type declarationFields Declaration

// declarationIn is the wire form read; attribute values are kept raw until their type is known.
type declarationIn struct {
	*declarationFields
	Attributes map[string]json.RawMessage `json:"attributes,omitempty"`
}

// MarshalJSON writes the declaration with Attributes and Measures merged into one "attributes"
// object (strings and numbers). A key present in both is written from Attributes. It is
// AppendJSON into a fresh buffer.
func (d Declaration) MarshalJSON() ([]byte, error) {
	return d.AppendJSON(make([]byte, 0, 1024))
}

// UnmarshalJSON reads the wire form: string attributes go to Attributes, numeric ones to Measures;
// any other attribute value is an error. It does not validate; Validator.Declaration does.
func (d *Declaration) UnmarshalJSON(b []byte) error {
	in := declarationIn{declarationFields: (*declarationFields)(d)}
	if err := json.Unmarshal(b, &in); err != nil {
		return err
	}
	errs := splitAttributes(d, in.Attributes)
	if len(errs) > 0 {
		return fmt.Errorf("ingest: %s: %s", errs[0].Path, errs[0].EN)
	}
	return nil
}

// splitAttributes sorts raw attribute values into d.Attributes and d.Measures and returns a
// FieldError for each value that is neither a string nor a number.
func splitAttributes(d *Declaration, raw map[string]json.RawMessage) []FieldError {
	d.Attributes, d.Measures = nil, nil
	if len(raw) == 0 {
		return nil
	}
	var errs []FieldError
	for _, k := range sortedKeys(raw) {
		v := bytes.TrimSpace(raw[k])
		path := "attributes." + k
		switch {
		case len(v) > 0 && v[0] == '"':
			var s string
			if err := json.Unmarshal(v, &s); err != nil {
				errs = append(errs, typeError(path, "string or number"))
				continue
			}
			if d.Attributes == nil {
				d.Attributes = map[string]string{}
			}
			d.Attributes[k] = s
		case len(v) > 0 && (v[0] == '-' || v[0] >= '0' && v[0] <= '9'):
			f, err := strconv.ParseFloat(string(v), 64)
			if err != nil {
				errs = append(errs, FieldError{Path: path, Code: "range",
					ZH: "数值超出范围", EN: "number out of range"})
				continue
			}
			if d.Measures == nil {
				d.Measures = map[string]float64{}
			}
			d.Measures[k] = f
		default:
			errs = append(errs, typeError(path, "string or number"))
		}
	}
	return errs
}

// decodeStrict decodes raw into dst (a pointer to a wire struct), refusing unknown fields and
// trailing data. It is the fast path: when it fails, decodeLenient finds every problem.
func decodeStrict(raw []byte, dst any) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("trailing data after the JSON object")
	}
	return nil
}

// malformed returns the decoder's message when raw is not one well-formed JSON value, else "".
func malformed(raw []byte) string {
	if json.Valid(raw) {
		return ""
	}
	var v json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(raw))
	if err := dec.Decode(&v); err != nil {
		return err.Error()
	}
	if _, err := dec.Token(); err != io.EOF {
		return "invalid data after top-level value"
	}
	return "invalid JSON"
}

// lenient decodes field by field, recording a FieldError for every field of the wrong type or
// unknown name instead of stopping at the first. bad holds the paths already reported, so that
// the semantic checks do not report them again as missing.
type lenient struct {
	errs []FieldError
	bad  map[string]bool
	// extra handles fields that are not in the struct (the declaration's "attributes").
	extra map[string]func(path string, raw json.RawMessage)
}

func (l *lenient) fail(fe FieldError) {
	l.errs = append(l.errs, fe)
	if l.bad == nil {
		l.bad = map[string]bool{}
	}
	l.bad[fe.Path] = true
}

var timeType = reflect.TypeOf(time.Time{})

// object decodes raw (a JSON object) into the struct dst points to.
func (l *lenient) object(path string, raw json.RawMessage, dst reflect.Value) {
	if isNull(raw) {
		return
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		l.fail(typeError(path, "object"))
		return
	}
	fields := jsonFields(dst.Type())
	for _, k := range sortedKeys(m) {
		p := join(path, k)
		idx, ok := fields[k]
		if !ok {
			if h := l.extra[p]; h != nil {
				h(p, m[k])
				continue
			}
			l.fail(FieldError{Path: p, Code: "unknown_field", ZH: "未知字段", EN: "unknown field"})
			continue
		}
		l.value(p, m[k], dst.Field(idx))
	}
}

func (l *lenient) value(path string, raw json.RawMessage, v reflect.Value) {
	t := v.Type()
	switch {
	case t.Kind() == reflect.Struct && t != timeType:
		l.object(path, raw, v)
	case t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Struct:
		if isNull(raw) {
			return
		}
		var arr []json.RawMessage
		if err := json.Unmarshal(raw, &arr); err != nil {
			l.fail(typeError(path, "array"))
			return
		}
		s := reflect.MakeSlice(t, len(arr), len(arr))
		for i := range arr {
			l.object(path+"["+strconv.Itoa(i)+"]", arr[i], s.Index(i))
		}
		v.Set(s)
	default:
		if err := json.Unmarshal(raw, v.Addr().Interface()); err != nil {
			l.fail(typeError(path, kindName(t)))
		}
	}
}

func isNull(raw json.RawMessage) bool { return string(bytes.TrimSpace(raw)) == "null" }

func join(path, k string) string {
	if path == "" {
		return k
	}
	return path + "." + k
}

func kindName(t reflect.Type) string {
	switch {
	case t == timeType:
		return "date-time"
	case t.Kind() == reflect.String:
		return "string"
	case t.Kind() >= reflect.Int && t.Kind() <= reflect.Uint64:
		return "integer"
	case t.Kind() == reflect.Float32 || t.Kind() == reflect.Float64:
		return "number"
	case t.Kind() == reflect.Bool:
		return "boolean"
	case t.Kind() == reflect.Slice || t.Kind() == reflect.Array:
		return "array"
	}
	return "object"
}

var kindZH = map[string]string{
	"date-time": "RFC 3339 日期时间（如 2026-01-02T15:04:05+08:00）", "string": "字符串", "integer": "整数",
	"number": "数值", "boolean": "布尔值", "array": "数组", "object": "对象", "string or number": "字符串或数值",
}

func typeError(path, want string) FieldError {
	en := "wrong type: expected " + want
	if want == "date-time" {
		en = "wrong type: expected an RFC 3339 date-time such as 2026-01-02T15:04:05+08:00"
	}
	return FieldError{Path: path, Code: "type", ZH: "类型错误，应为" + kindZH[want], EN: en}
}

var fieldCache sync.Map // reflect.Type → map[string]int

// jsonFields maps the JSON names of t's fields to their index.
func jsonFields(t reflect.Type) map[string]int {
	if m, ok := fieldCache.Load(t); ok {
		return m.(map[string]int)
	}
	m := map[string]int{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" || !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		m[name] = i
	}
	fieldCache.Store(t, m)
	return m
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}
