package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// TestComposeFileIsValidAndOnlySetsVariablesTheProgramReads keeps docker-compose.yml in step
// with the binary: a renamed flag must not leave production silently on a default.
func TestComposeFileIsValidAndOnlySetsVariablesTheProgramReads(t *testing.T) {
	path := filepath.Join("..", "..", "docker-compose.yml")
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Services map[string]struct {
			Command     []string          `yaml:"command"`
			Environment map[string]string `yaml:"environment"`
		} `yaml:"services"`
	}
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	for _, svc := range []string{"kafka", "clickhouse", "portguard", "migrate"} {
		if _, ok := doc.Services[svc]; !ok {
			t.Errorf("docker-compose.yml has no %s service", svc)
		}
	}
	known := regexp.MustCompile(`\$(PORTGUARD_[A-Z_]+)`)
	for _, svc := range []string{"portguard", "migrate"} {
		s := doc.Services[svc]
		sub := s.Command[0]
		var usage bytes.Buffer
		_ = run(context.Background(), []string{sub, "-h"}, func(string) string { return "" }, &usage, &usage)
		vars := map[string]bool{}
		for _, m := range known.FindAllStringSubmatch(usage.String(), -1) {
			vars[m[1]] = true
		}
		if len(vars) == 0 {
			t.Fatalf("portguard %s -h lists no environment variables:\n%s", sub, usage.String())
		}
		for k := range s.Environment {
			if strings.HasPrefix(k, "PORTGUARD_") && !vars[k] {
				t.Errorf("service %s sets %s, which `portguard %s` does not read", svc, k, sub)
			}
		}
	}

	bin, err := exec.LookPath("docker-compose")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("docker-compose is not installed; deploy/deps.sh --tests installs it")
		}
		t.Skip("skipped: docker-compose not installed (./deploy/test.sh installs it); the structural checks above ran")
	}
	cmd := exec.Command(bin, "-f", path, "config", "-q")
	cmd.Env = append(os.Environ(), "PORTGUARD_RANDOM_KEY=test-key-for-config-validation")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("docker-compose config: %v\n%s", err, out)
	}
}
