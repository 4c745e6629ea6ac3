package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/portguard/portguard/analytics"
	"github.com/portguard/portguard/analytics/chserver"
	"github.com/portguard/portguard/ingest"
	"github.com/portguard/portguard/ingest/kafkatest"
	"github.com/portguard/portguard/targeting"
)

// TestTheScenarioSuiteHoldsThroughTheHTTPAPIAndKafka runs targeting's behavioural scenarios
// (targeting/testdata/scenarios, also run in process by the targeting package) against the real
// program, `portguard serve`, once deciding through POST /v1/decisions and once through the
// declarations and decisions topics: the same decision code must serve both. Each run has its
// own broker and ClickHouse database; the scenario's settings reach the program as a --policy
// file, its rules through the rules API (four eyes: one analyst creates and submits, another
// approves; emergency rules are activated by a supervisor), and its inspection results through
// the inspection-results topic, as clearance publishes them.
func TestTheScenarioSuiteHoldsThroughTheHTTPAPIAndKafka(t *testing.T) {
	ch := ownClickHouse(t)
	suite, err := targeting.LoadScenarios(filepath.Join("..", "..", "targeting", "testdata", "scenarios"))
	if err != nil {
		t.Fatal(err)
	}
	users, env := scenarioUsers(t)

	n := 0
	for _, s := range suite {
		for _, via := range []string{"http", "kafka"} {
			n++
			db := fmt.Sprintf("scenario_%d", n)
			t.Run(s.Name+"/"+via, func(t *testing.T) {
				p := startScenarioProgram(t, ch.Addr(), db, users, env, s.Config)
				p.putRules(t, s)
				send := p.decideHTTP
				if via == "kafka" {
					send = p.kafkaDecider(t)
				}
				if err := targeting.RunScenario(s, stepwise(s, send, p.awaitFeedback), p.learn); err != nil {
					t.Errorf("%s\n%v", s.Description, err)
				}
			})
		}
	}
}

// stepwise turns a function deciding a batch of declarations into RunScenario's one-at-a-time
// decide: at the first declaration of each step, it waits until every inspection result of the
// earlier steps has been learnt, then sends all the step's copies at once (as a busy electronic
// port does) and answers from them. Steps are the scenarios' unit of order: expectations are
// checked on steps whose predecessors have been learnt.
func stepwise(s targeting.Scenario, send func([]*ingest.Declaration) (map[string]targeting.Decision, error),
	awaitFeedback func(time.Duration) error) func(*ingest.Declaration) (targeting.Decision, error) {
	next := 0
	var got map[string]targeting.Decision
	return func(d *ingest.Declaration) (targeting.Decision, error) {
		if dec, ok := got[d.ID()]; ok {
			return dec, nil
		}
		if next >= len(s.Steps) {
			return targeting.Decision{}, fmt.Errorf("declaration %s is in no step", d.ID())
		}
		st := &s.Steps[next]
		next++
		if err := awaitFeedback(60 * time.Second); err != nil {
			return targeting.Decision{}, err
		}
		var batch []*ingest.Declaration
		for k := 0; k < max(st.Repeat, 1); k++ {
			c, err := st.Copy(k)
			if err != nil {
				return targeting.Decision{}, err
			}
			batch = append(batch, c)
		}
		var err error
		if got, err = send(batch); err != nil {
			return targeting.Decision{}, err
		}
		dec, ok := got[d.ID()]
		if !ok {
			return dec, fmt.Errorf("declaration %s is not in step %d", d.ID(), next)
		}
		return dec, nil
	}
}

func writeJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// servedProgram is `portguard serve` started in-process for one scenario run.
type servedProgram struct {
	url, key string
	env      map[string]string
	broker   *kafkatest.Broker
	writer   *kafka.Writer
	sent     int // inspection results produced
}

// ownClickHouse starts a throwaway ClickHouse server for the test (skipping it, with the
// reason, where none is installed outside CI).
func ownClickHouse(t *testing.T) *chserver.Server {
	t.Helper()
	if _, err := chserver.Installed(); err != nil && os.Getenv("CI") != "true" {
		t.Skip("skipped: clickhouse-server not installed; ./deploy/test.sh installs it")
	}
	ch, err := chserver.Start(context.Background(), chserver.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ch.Stop() })
	return ch
}

// scenarioUsers writes a users file with two risk analysts, a supervisor and a system API key,
// and returns it with the environment that holds their secrets.
func scenarioUsers(t *testing.T) (string, map[string]string) {
	t.Helper()
	users := filepath.Join(t.TempDir(), "users.json")
	writeJSON(t, users, map[string]any{
		"users": []map[string]any{
			{"name": "analyst1", "roles": []string{"risk_analyst"}, "password_env": "PW"},
			{"name": "analyst2", "roles": []string{"risk_analyst"}, "password_env": "PW"},
			{"name": "supervisor1", "roles": []string{"supervisor", "officer"}, "port": "3101", "password_env": "PW"},
		},
		"api_keys": []map[string]any{{"name": "single-window", "roles": []string{"system"}, "key_env": "KEY"}},
	})
	return users, map[string]string{"PW": "scenario-password-1", "KEY": "scenario-api-key-0123456789"}
}

func startScenarioProgram(t *testing.T, chAddr, db, users string, env map[string]string, policy targeting.Policy, extra ...string) *servedProgram {
	t.Helper()
	cfg := analytics.DefaultConfig()
	cfg.Addr, cfg.Database = chAddr, db
	if err := migrate(context.Background(), cfg, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	return serveOn(t, kafkatest.Start(t, 3), chAddr, db, users, env, policy, "scenario", extra...)
}

// serveOn runs `portguard serve` (instance id, own data dir) on broker b and the migrated
// ClickHouse database db until the test ends, and waits until it is ready.
func serveOn(t *testing.T, b *kafkatest.Broker, chAddr, db, users string, env map[string]string, policy targeting.Policy, instance string, extra ...string) *servedProgram {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	pf := filepath.Join(dir, "policy.json")
	writeJSON(t, pf, policy)
	port, err := chserver.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	listen := fmt.Sprintf("127.0.0.1:%d", port)
	args := []string{"serve", "--listen", listen, "--kafka-brokers", b.Addr, "--clickhouse", chAddr,
		"--clickhouse-db", db, "--data-dir", filepath.Join(dir, "data"), "--users-file", users,
		"--random-key", string(targeting.DevRandomKey), "--jobs-every", "0", "--instance-id", instance,
		"--policy", pf}
	args = append(args, extra...)
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	stderr := &syncBuffer{}
	go func() { done <- run(rctx, args, func(k string) string { return env[k] }, &syncBuffer{}, stderr) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("portguard serve stopped with an error: %v", err)
			}
		case <-time.After(60 * time.Second):
			t.Errorf("portguard serve did not stop within 60s")
		}
	})
	p := &servedProgram{url: "http://" + listen, key: env["KEY"], env: env, broker: b,
		writer: &kafka.Writer{Addr: kafka.TCP(b.Addr), Balancer: &kafka.Hash{}, BatchTimeout: 2 * time.Millisecond,
			RequiredAcks: kafka.RequireAll}}
	t.Cleanup(func() { p.writer.Close() })
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get(p.url + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		select {
		case err := <-done:
			t.Fatalf("portguard serve exited: %v\n%s", err, stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve not ready after 60s:\n%s", stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	return p
}

// putRules puts the scenario's rules in place through the API, as analysts and supervisors do.
func (p *servedProgram) putRules(t *testing.T, s targeting.Scenario) {
	t.Helper()
	if len(s.Rules) == 0 {
		return
	}
	author := login(t, p.url, "analyst1", p.env["PW"])
	approver := login(t, p.url, "analyst2", p.env["PW"])
	supervisor := login(t, p.url, "supervisor1", p.env["PW"])
	now := time.Now()
	for _, sr := range s.Rules {
		r, err := sr.At(now)
		if err != nil {
			t.Fatal(err)
		}
		var created targeting.Rule
		author.do("POST", "/v1/rules", r, http.StatusCreated, &created)
		if sr.Emergency {
			supervisor.do("POST", "/v1/rules/"+created.ID+"/emergency", nil, http.StatusOK, nil)
			continue
		}
		author.do("POST", "/v1/rules/"+created.ID+"/submit", nil, http.StatusOK, nil)
		approver.do("POST", "/v1/rules/"+created.ID+"/approve", nil, http.StatusOK, nil)
	}
}

// decideHTTP posts the declarations to /v1/decisions from eight concurrent clients.
func (p *servedProgram) decideHTTP(ds []*ingest.Declaration) (map[string]targeting.Decision, error) {
	out := make([]targeting.Decision, len(ds))
	errs := make([]error, len(ds))
	var wg sync.WaitGroup
	work := make(chan int)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				out[i], errs[i] = p.postDecision(ds[i])
			}
		}()
	}
	for i := range ds {
		work <- i
	}
	close(work)
	wg.Wait()
	got := make(map[string]targeting.Decision, len(ds))
	for i, d := range ds {
		if errs[i] != nil {
			return nil, fmt.Errorf("decide %s: %w", d.ID(), errs[i])
		}
		got[d.ID()] = out[i]
	}
	return got, nil
}

func (p *servedProgram) postDecision(d *ingest.Declaration) (targeting.Decision, error) {
	body, err := d.AppendJSON(nil)
	if err != nil {
		return targeting.Decision{}, err
	}
	req, _ := http.NewRequest("POST", p.url+"/v1/decisions", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+p.key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return targeting.Decision{}, err
	}
	defer resp.Body.Close()
	var dec targeting.Decision
	if resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusOK {
		var b bytes.Buffer
		b.ReadFrom(resp.Body)
		return dec, fmt.Errorf("POST /v1/decisions: status %d: %s", resp.StatusCode, b.String())
	}
	return dec, json.NewDecoder(resp.Body).Decode(&dec)
}

// kafkaDecider decides through the declarations topic and reads the decisions from the
// decisions topic.
func (p *servedProgram) kafkaDecider(t *testing.T) func([]*ingest.Declaration) (map[string]targeting.Decision, error) {
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	var mu sync.Mutex
	cond := sync.NewCond(&mu)
	got := map[string]targeting.Decision{}
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: []string{p.broker.Addr}, Topic: p.broker.Topics.Decisions,
		GroupID: "scenario-test", StartOffset: kafka.FirstOffset, MaxWait: 50 * time.Millisecond})
	go func() {
		defer r.Close()
		for {
			m, err := r.ReadMessage(ctx)
			if err != nil {
				return
			}
			var d targeting.Decision
			if json.Unmarshal(m.Value, &d) == nil {
				mu.Lock()
				got[d.ID()] = d
				cond.Broadcast()
				mu.Unlock()
			}
		}
	}()
	return func(ds []*ingest.Declaration) (map[string]targeting.Decision, error) {
		msgs := make([]kafka.Message, len(ds))
		for i, d := range ds {
			v, err := d.AppendJSON(nil)
			if err != nil {
				return nil, err
			}
			msgs[i] = kafka.Message{Topic: p.broker.Topics.Declarations, Key: []byte(d.Number), Value: v}
		}
		if err := p.writer.WriteMessages(ctx, msgs...); err != nil {
			return nil, err
		}
		timer := time.AfterFunc(60*time.Second, func() { mu.Lock(); cond.Broadcast(); mu.Unlock() })
		defer timer.Stop()
		deadline := time.Now().Add(60 * time.Second)
		out := make(map[string]targeting.Decision, len(ds))
		mu.Lock()
		defer mu.Unlock()
		for _, d := range ds {
			for {
				if dec, ok := got[d.ID()]; ok {
					out[d.ID()] = dec
					break
				}
				if time.Now().After(deadline) {
					return nil, fmt.Errorf("no decision for %s on the decisions topic within 60s (%d of %d arrived)", d.ID(), len(out), len(ds))
				}
				cond.Wait()
			}
		}
		return out, nil
	}
}

// learn publishes an inspection result as clearance does.
func (p *servedProgram) learn(o targeting.Outcome) error {
	v, err := json.Marshal(map[string]any{"label": o})
	if err != nil {
		return err
	}
	p.sent++
	return p.writer.WriteMessages(context.Background(), kafka.Message{Topic: p.broker.Topics.InspectionResults,
		Key: []byte(o.DeclarationNo), Value: v})
}

// awaitFeedback waits until the program has learnt every inspection result sent so far (its
// feedback counter), so that the next decision sees them.
func (p *servedProgram) awaitFeedback(timeout time.Duration) error {
	if p.sent == 0 {
		return nil
	}
	deadline := time.Now().Add(timeout)
	for {
		applied, err := p.feedbackApplied()
		if err == nil && applied >= p.sent {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the program learnt %d of %d inspection results within %v (%v)", applied, p.sent, timeout, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (p *servedProgram) feedbackApplied() (int, error) {
	resp, err := http.Get(p.url + "/metrics")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, `portguard_targeting_feedback_total{result="applied"} `); ok {
			v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
			return int(v), err
		}
	}
	return 0, sc.Err()
}

// The example policy shipped in deploy/ is one the program accepts.
func TestTheExamplePolicyFileIsValid(t *testing.T) {
	p, err := loadPolicy(filepath.Join("..", "..", "deploy", "policy.example.json"))
	if err != nil {
		t.Fatal(err)
	}
	if p.PortDailyCapacity["5300"] != 400 {
		t.Errorf("example policy read as %+v", p)
	}
}
