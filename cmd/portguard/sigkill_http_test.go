package main

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/portguard/portguard/analytics/chserver"
	"github.com/portguard/portguard/analytics/chtest"
	"github.com/portguard/portguard/ingest"
	"github.com/portguard/portguard/ingest/kafkatest"
	"github.com/portguard/portguard/ingest/synth"
)

// TestADeclarationAnsweredOverHTTPSurvivesASIGKILL: POST /v1/decisions answers 201 only when
// the declaration and its decision are on disk, so a process killed with SIGKILL right after
// answering still ends up, once restarted, with every answered declaration stored and decided.
// (Before the accepted-declarations journal, the last ~200 ms of answered declarations lived
// only in memory and were lost.)
func TestADeclarationAnsweredOverHTTPSurvivesASIGKILL(t *testing.T) {
	if _, err := chserver.Installed(); err != nil && os.Getenv("CI") != "true" {
		t.Skip("skipped: clickhouse-server not installed; ./deploy/test.sh installs it")
	}
	bin := portguardBinary(t)
	srv, chArgs := privateDatabase(t, "killhttp")
	conn := chtest.MustOpen(t, srv.Addr(), "killhttp")
	defer conn.Close()
	b := kafkatest.Start(t, 3)
	users := filepath.Join(t.TempDir(), "users.json")
	if err := os.WriteFile(users, []byte(`{"api_keys":[{"name":"sw","roles":["system"],"key_env":"PORTGUARD_KEY_SW"}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	const key = "killhttp-test-api-key-0123456789"
	args := append([]string{"--listen", "127.0.0.1:0", "--kafka-brokers", b.Addr, "--data-dir", t.TempDir(),
		"--random-key", "killhttp-test-random-key", "--users-file", users, "--jobs-every", "0",
		"--rollup-lag", "0", "--instance-id", "killhttp"}, chArgs...)
	env := []string{"PORTGUARD_KEY_SW=" + key}
	logs := &syncBuffer{}
	p := startServe(t, bin, args, env, logs)

	// Eight clients post until the process dies; it is killed right after the 300th answer.
	g := synth.New(synth.Config{Seed: 31, Start: time.Now().UTC().Add(-time.Hour)})
	v := ingest.NewValidator(ingest.DefaultConfig())
	bodies := make([][]byte, 2000)
	for i := range bodies {
		bodies[i] = g.JSON(g.Next())
	}
	var (
		mu       sync.Mutex
		answered = map[string]bool{}
		next     int
		wg       sync.WaitGroup
	)
	killed := make(chan struct{})
	var once sync.Once
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				mu.Lock()
				i := next
				next++
				mu.Unlock()
				if i >= len(bodies) {
					return
				}
				req, _ := http.NewRequest("POST", p.url+"/v1/decisions", bytes.NewReader(bodies[i]))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Authorization", "Bearer "+key)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					return // the process is gone
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusCreated {
					t.Errorf("declaration %d: status %d", i, resp.StatusCode)
					return
				}
				d, _ := v.Declaration(bodies[i])
				mu.Lock()
				answered[d.ID()] = true
				n := len(answered)
				mu.Unlock()
				if n == 300 {
					once.Do(func() { p.kill(); close(killed) })
				}
			}
		}()
	}
	wg.Wait()
	select {
	case <-killed:
	default:
		t.Fatalf("the process was not killed: %d answers", len(answered))
	}
	t.Logf("killed after %d answers", len(answered))

	startServe(t, bin, args, env, logs)
	stored := func(table string) map[string]bool {
		rows, err := conn.Query(context.Background(), "SELECT DISTINCT declaration_no, version FROM "+table)
		if err != nil {
			return nil
		}
		defer rows.Close()
		out := map[string]bool{}
		for rows.Next() {
			var n string
			var ver uint32
			if rows.Scan(&n, &ver) == nil {
				out[ingest.DeclarationID(n, int(ver))] = true
			}
		}
		return out
	}
	missing := func(table string) []string {
		have := stored(table)
		var out []string
		for id := range answered {
			if !have[id] {
				out = append(out, id)
			}
		}
		return out
	}
	for _, table := range []string{"declarations", "decisions"} {
		deadline := time.Now().Add(90 * time.Second)
		for len(missing(table)) > 0 && time.Now().Before(deadline) {
			time.Sleep(200 * time.Millisecond)
		}
		if m := missing(table); len(m) > 0 {
			t.Errorf("%d of %d declarations answered 201 before the SIGKILL are missing from %s, e.g. %v\n%s",
				len(m), len(answered), table, m[:min(3, len(m))], tail(logs.String(), 3000))
		}
	}
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[len(s)-n:]
}
