package web

import (
	"io/fs"
	"net/http"
	"regexp"
	"strings"
	"testing"
)

func TestConsoleIsServed(t *testing.T) {
	_, h := mustServer(t, testConfig(), Deps{})
	if w := do(t, h, request{method: "GET", path: "/"}); w.Code != http.StatusFound || w.Header().Get("Location") != "/console/" {
		t.Errorf("/: %d to %q", w.Code, w.Header().Get("Location"))
	}
	tests := []struct{ path, ctype, contains string }{
		{"/console/", "text/html", `lang="zh-CN"`},
		{"/console/app.js", "javascript", "X-CSRF-Token"},
		{"/console/i18n.js", "javascript", "查验"},
		{"/console/app.css", "text/css", "--red"},
		{"/console/tasks.js", "javascript", "/v1/overrides"},
		{"/console/supervise.js", "javascript", "/review"},
		{"/console/rules.js", "javascript", "/v1/rules"},
		{"/console/chart.js", "javascript", "createElementNS"},
	}
	for _, tc := range tests {
		w := do(t, h, request{method: "GET", path: tc.path})
		if w.Code != http.StatusOK || !strings.Contains(w.Header().Get("Content-Type"), tc.ctype) || !strings.Contains(w.Body.String(), tc.contains) {
			t.Errorf("%s: %d %q", tc.path, w.Code, w.Header().Get("Content-Type"))
		}
		if csp := w.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") {
			t.Errorf("%s: CSP %q", tc.path, csp)
		}
	}
	if w := do(t, h, request{method: "GET", path: "/console/missing.js"}); w.Code != http.StatusNotFound {
		t.Errorf("missing asset: %d", w.Code)
	}
}

// TestConsoleLabelsExistInBothLanguages checks that every label the page or the script asks
// for is in the Chinese and the English dictionary.
func TestConsoleLabelsExistInBothLanguages(t *testing.T) {
	read := func(name string) string {
		b, err := fs.ReadFile(consoleFiles, "console/"+name)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	dict := read("i18n.js")
	zhStart, enStart := strings.Index(dict, "zh: {"), strings.Index(dict, "en: {")
	if zhStart < 0 || enStart < zhStart {
		t.Fatal("i18n.js: zh and en sections not found")
	}
	keyRe := regexp.MustCompile(`"([a-zA-Z]+\.[A-Za-z0-9_.]+)":`)
	keys := func(s string) map[string]bool {
		m := map[string]bool{}
		for _, k := range keyRe.FindAllStringSubmatch(s, -1) {
			m[k[1]] = true
		}
		return m
	}
	zh, en := keys(dict[zhStart:enStart]), keys(dict[enStart:])
	for k := range zh {
		if !en[k] {
			t.Errorf("%s has no English text", k)
		}
	}
	for k := range en {
		if !zh[k] {
			t.Errorf("%s has no Chinese text", k)
		}
	}
	var used []string
	for _, m := range regexp.MustCompile(`data-i18n="([^"]+)"`).FindAllStringSubmatch(read("index.html"), -1) {
		used = append(used, m[1])
	}
	scripts, err := fs.Glob(consoleFiles, "console/*.js")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range scripts {
		if p == "console/i18n.js" {
			continue
		}
		// t("key") in code, and "data-l"/"data-lp" keys of labels the rule editor builds.
		for _, m := range regexp.MustCompile(`\bt\("([^"]+)"\)|"data-lp?": "([^"]+)"\s*[,}]`).FindAllStringSubmatch(read(strings.TrimPrefix(p, "console/")), -1) {
			used = append(used, m[1]+m[2])
		}
	}
	if len(used) < 40 {
		t.Fatalf("only %d labels found in use", len(used))
	}
	for _, k := range used {
		if !zh[k] {
			t.Errorf("label %s is used but not defined", k)
		}
	}
}
