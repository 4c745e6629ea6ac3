package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/segmentio/kafka-go"

	"github.com/portguard/portguard/analytics/chserver"
	"github.com/portguard/portguard/clearance"
	"github.com/portguard/portguard/ingest"
	"github.com/portguard/portguard/ingest/synth"
	"github.com/portguard/portguard/targeting"
)

// syncBuffer is the program's stdout, read by the test while the program writes it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// devProgram is `portguard dev` started in-process on free ports, as a user would run it.
type devProgram struct {
	URL, APIKey, Kafka, ClickHouse string
	Logins                         map[string]string // user → password, from the banner
	done                           chan error
	cancel                         context.CancelFunc
	stderr                         *syncBuffer
}

var (
	bannerURL   = regexp.MustCompile(`console\s+(http://\S+)/console/`)
	bannerKey   = regexp.MustCompile(`API key\s+(\S+)\s+\(.*electronic port`)
	bannerKafka = regexp.MustCompile(`Kafka\s+(\S+)`)
	bannerCH    = regexp.MustCompile(`ClickHouse\s+(\S+)`)
	bannerLogin = regexp.MustCompile(`login\s+(\S+)\s+password\s+(\S+)`)
)

// startDev runs the real program with `dev` and the given extra flags and waits for /readyz.
func startDev(t *testing.T, extra ...string) *devProgram {
	t.Helper()
	if _, err := chserver.Installed(); err != nil && os.Getenv("CI") != "true" {
		t.Skip("skipped: clickhouse-server not installed; ./deploy/test.sh installs it")
	}
	kport, err := chserver.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	args := append([]string{"dev", "--listen", "127.0.0.1:0", "--kafka-port", fmt.Sprint(kport),
		"--clickhouse-port", "0", "--data-dir", t.TempDir()}, extra...)
	ctx, cancel := context.WithCancel(context.Background())
	out, errOut := &syncBuffer{}, &syncBuffer{}
	p := &devProgram{done: make(chan error, 1), cancel: cancel, stderr: errOut, Logins: map[string]string{}}
	go func() { p.done <- run(ctx, args, func(string) string { return "" }, out, errOut) }()
	t.Cleanup(func() { p.stop(t) })

	deadline := time.Now().Add(90 * time.Second)
	for !strings.Contains(out.String(), "ClickHouse ") {
		select {
		case err := <-p.done:
			p.done <- err
			t.Fatalf("portguard dev exited early: %v\nstderr:\n%s", err, errOut.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("no banner after 90s; stdout:\n%s\nstderr:\n%s", out.String(), errOut.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	banner := out.String()
	for _, x := range []struct {
		re  *regexp.Regexp
		dst *string
	}{{bannerURL, &p.URL}, {bannerKey, &p.APIKey}, {bannerKafka, &p.Kafka}, {bannerCH, &p.ClickHouse}} {
		m := x.re.FindStringSubmatch(banner)
		if m == nil {
			t.Fatalf("banner lacks %s:\n%s", x.re, banner)
		}
		*x.dst = m[1]
	}
	for _, m := range bannerLogin.FindAllStringSubmatch(banner, -1) {
		p.Logins[m[1]] = m[2]
	}
	waitUntil(t, 60*time.Second, "GET /readyz answers 200", func() bool {
		resp, err := http.Get(p.URL + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
	return p
}

func (p *devProgram) stop(t *testing.T) {
	t.Helper()
	p.cancel()
	select {
	case err := <-p.done:
		if err != nil {
			t.Errorf("portguard dev stopped with an error: %v", err)
		}
	case <-time.After(60 * time.Second):
		t.Errorf("portguard dev did not stop within 60s after cancellation")
	}
}

func waitUntil(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting until %s", d, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// apiClient calls the API as a logged-in console user (cookie + CSRF token) or with an API key.
type apiClient struct {
	t    *testing.T
	base string
	hc   *http.Client
	key  string
	csrf string
}

func (c *apiClient) do(method, path string, body any, want int, out any) {
	c.t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			c.t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, c.base+path, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if c.key != "" {
		req.Header.Set("Authorization", "Bearer "+c.key)
	}
	if c.csrf != "" {
		req.Header.Set("X-CSRF-Token", c.csrf)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		c.t.Fatalf("%s %s: status %d, want %d: %s", method, path, resp.StatusCode, want, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			c.t.Fatalf("%s %s: decode %s: %v", method, path, b, err)
		}
	}
}

func login(t *testing.T, base, user, password string) *apiClient {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &apiClient{t: t, base: base, hc: &http.Client{Jar: jar, Timeout: 20 * time.Second}}
	var me struct {
		CSRF string `json:"csrf_token"`
	}
	c.do("POST", "/v1/login", map[string]string{"username": user, "password": password}, 200, &me)
	if me.CSRF == "" {
		t.Fatal("login answered no CSRF token")
	}
	c.csrf = me.CSRF
	return c
}

// consumeAll reads topic from the start without a consumer group until stop says enough.
func consumeAll(t *testing.T, broker, topic string, timeout time.Duration, stop func([]kafka.Message) bool) []kafka.Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	conn, err := kafka.DialContext(ctx, "tcp", broker)
	if err != nil {
		t.Fatal(err)
	}
	parts, err := conn.ReadPartitions(topic)
	conn.Close()
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var got []kafka.Message
	var wg sync.WaitGroup
	for _, p := range parts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := kafka.NewReader(kafka.ReaderConfig{Brokers: []string{broker}, Topic: topic, Partition: p.ID, MaxWait: 100 * time.Millisecond})
			defer r.Close()
			for {
				m, err := r.ReadMessage(ctx)
				if err != nil {
					return
				}
				mu.Lock()
				got = append(got, m)
				if stop(got) {
					cancel()
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return got
}

func TestTheWholeLoopRunsEndToEndThroughKafkaTheAPIAndClickHouse(t *testing.T) {
	p := startDev(t, "--rate", "0", "--officer-delay", "0", "--jobs-every", "1s")
	topics := ingest.DefaultTopics()

	// An electronic port produces declarations (and one malformed and one invalid message in the
	// middle) with kafka-go, as any Kafka client would.
	const n = 60
	g := synth.New(synth.Config{Seed: 7, Start: time.Now().UTC().Add(-time.Hour)})
	truth := map[string]synth.Truth{}
	var msgs []kafka.Message
	for i := range n {
		s := g.Next()
		truth[s.Decl.Number] = s.Truth
		msgs = append(msgs, kafka.Message{Key: []byte(s.Decl.Number), Value: g.JSON(s)})
		if i == n/2 {
			msgs = append(msgs,
				kafka.Message{Key: []byte("bad-json"), Value: []byte(`{"schema":"portguard.declaration/v1","declaration_no":`)},
				kafka.Message{Key: []byte("bad-fields"), Value: []byte(`{"schema":"portguard.declaration/v1","declaration_no":"12","version":0,"items":[]}`)})
		}
	}
	w := &kafka.Writer{Addr: kafka.TCP(p.Kafka), Topic: topics.Declarations, RequiredAcks: kafka.RequireAll,
		BatchTimeout: 5 * time.Millisecond, Balancer: kafka.Murmur2Balancer{}}
	if err := w.WriteMessages(context.Background(), msgs...); err != nil {
		t.Fatalf("produce declarations: %v", err)
	}
	w.Close()

	// Decisions appear on the decisions topic, one per declaration.
	decisions := map[string]targeting.Decision{}
	consumeAll(t, p.Kafka, topics.Decisions, 60*time.Second, func(ms []kafka.Message) bool {
		var d targeting.Decision
		if err := json.Unmarshal(ms[len(ms)-1].Value, &d); err == nil {
			decisions[d.DeclarationNo] = d
		}
		return len(decisions) == n
	})
	if len(decisions) != n {
		t.Fatalf("%d decisions on the topic, want %d", len(decisions), n)
	}
	var inspected []targeting.Decision
	for _, d := range decisions {
		if _, ok := truth[d.DeclarationNo]; !ok {
			t.Fatalf("decision for unknown declaration %s", d.DeclarationNo)
		}
		if len(d.Reasons) == 0 || d.Propensity <= 0 || d.Propensity > 1 || d.ModelVersion == "" {
			t.Errorf("decision %s lacks reasons, propensity or model version: %+v", d.DeclarationNo, d)
		}
		if d.Inspected() {
			inspected = append(inspected, d)
		}
	}
	if len(inspected) == 0 {
		t.Fatal("no consignment was selected for inspection among 60; the loop cannot be closed")
	}

	// The malformed and invalid messages are in dead letters with their reasons, and did not
	// stop the consumer (the declarations after them were decided).
	dead := consumeAll(t, p.Kafka, topics.DeadLetters, 30*time.Second, func(ms []kafka.Message) bool { return len(ms) >= 2 })
	if len(dead) != 2 {
		t.Fatalf("%d dead letters, want 2", len(dead))
	}
	for _, m := range dead {
		var dl ingest.DeadLetter
		if err := json.Unmarshal(m.Value, &dl); err != nil {
			t.Fatalf("dead letter does not decode: %v", err)
		}
		if dl.Reason == "" || dl.SourceTopic != topics.Declarations || len(dl.Value) == 0 {
			t.Errorf("dead letter lacks reason, source or original bytes: %+v", dl)
		}
		if string(m.Key) == "bad-fields" && len(dl.Errors) < 3 {
			t.Errorf("invalid declaration's dead letter lists %d field errors, want every problem: %+v", len(dl.Errors), dl.Errors)
		}
	}

	// The importer profile before any result, as an analyst sees it through the API.
	analyst := login(t, p.URL, "analyst", p.Logins["analyst"])
	first := inspected[0]
	var before, after struct {
		Alpha float64 `json:"alpha"`
		Beta  float64 `json:"beta"`
	}
	analyst.do("GET", "/v1/profiles/importer/"+first.Importer, nil, 200, &before)

	// An officer records results for every inspected consignment through the API.
	officer := login(t, p.URL, "supervisor", p.Logins["supervisor"])
	waitUntil(t, 30*time.Second, "every inspected consignment has a task", func() bool {
		var tasks []clearance.Task
		officer.do("GET", "/v1/tasks", nil, 200, &tasks)
		return len(tasks) >= len(inspected)
	})
	hits := 0
	for _, d := range inspected {
		var task clearance.Task
		officer.do("GET", "/v1/tasks/"+d.ID(), nil, 200, &task)
		tr := truth[d.DeclarationNo]
		if d.DeclarationNo == first.DeclarationNo && !tr.Hit {
			// The officer finds what the generator did not plant: the label path of a hit must
			// be exercised whatever the draw.
			tr = synth.Truth{Hit: true, Severity: 2, Revenue: 1200, Findings: []string{"UNDERVALUATION"}}
			truth[d.DeclarationNo] = tr
		}
		in := clearance.ResultInput{TaskID: task.ID, ExpectedVersion: task.Version, Outcome: clearance.Conforming, Disposition: "RELEASE"}
		if tr.Hit {
			hits++
			in.Outcome, in.Disposition, in.Adjustment = clearance.NonConforming, "TREAT_RELEASE", tr.Revenue
			for _, f := range tr.Findings {
				in.Findings = append(in.Findings, clearance.Finding{Code: f, Severity: 2})
			}
		}
		officer.do("POST", "/v1/inspection-results", in, 201, nil)
	}

	// Releases appear: every consignment exactly once (GREEN at once, the others after results).
	releases := map[string]int{}
	consumeAll(t, p.Kafka, topics.Releases, 60*time.Second, func(ms []kafka.Message) bool {
		var r clearance.Release
		if err := json.Unmarshal(ms[len(ms)-1].Value, &r); err == nil {
			releases[r.DeclarationNo]++
		}
		return len(releases) == n
	})
	if len(releases) != n {
		t.Fatalf("%d consignments released, want %d", len(releases), n)
	}
	for no, k := range releases {
		if k != 1 {
			t.Errorf("declaration %s released %d times, want once", no, k)
		}
	}

	// The result came back through the inspection-results topic and moved the importer's posterior.
	waitUntil(t, 30*time.Second, "the importer's posterior moves after its result", func() bool {
		analyst.do("GET", "/v1/profiles/importer/"+first.Importer, nil, 200, &after)
		return after.Alpha+after.Beta > before.Alpha+before.Beta
	})
	if after.Alpha <= before.Alpha {
		t.Errorf("a hit did not raise alpha: before %+v after %+v", before, after)
	}

	// ClickHouse holds every declaration, decision, result and release exactly once.
	conn, err := clickhouse.Open(&clickhouse.Options{Addr: []string{p.ClickHouse}})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	count := func(q string) uint64 {
		var c uint64
		if err := conn.QueryRow(context.Background(), q).Scan(&c); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		return c
	}
	for _, c := range []struct {
		table, key string
		want       int
	}{
		{"declarations", "declaration_no, version", n},
		{"decisions", "declaration_no, version", n},
		{"inspection_results", "declaration_no, decl_version", len(inspected)},
		{"releases", "declaration_no, decl_version", n},
	} {
		q := fmt.Sprintf("SELECT count() FROM %s FINAL", c.table)
		waitUntil(t, 30*time.Second, fmt.Sprintf("%s holds %d rows", c.table, c.want), func() bool { return count(q) >= uint64(c.want) })
		if got := count(q); got != uint64(c.want) {
			t.Errorf("%s FINAL holds %d rows, want %d", c.table, got, c.want)
		}
		if got := count(fmt.Sprintf("SELECT uniqExact(%s) FROM %s FINAL", c.key, c.table)); got != uint64(c.want) {
			t.Errorf("%s holds %d distinct keys, want %d", c.table, got, c.want)
		}
	}
	if got := count("SELECT count() FROM dead_letters"); got != 2 {
		t.Errorf("dead_letters holds %d rows, want 2", got)
	}

	// Third-party clients work against it: kcat reads decisions, clickhouse-client queries.
	thirdParty(t, "kcat", []string{"-b", p.Kafka, "-t", topics.Decisions, "-C", "-e", "-c", "1", "-q"}, `"schema":"portguard.decision/v1"`)
	thirdParty(t, "clickhouse-client", []string{"--host", "127.0.0.1", "--port", portOf(p.ClickHouse), "-q",
		"SELECT count() FROM declarations FINAL"}, fmt.Sprint(n))

	// The trend query answers with today's inspection and hit rates.
	var trend struct {
		Points []struct {
			Declarations uint64 `json:"declarations"`
			Inspected    uint64 `json:"inspected"`
		} `json:"points"`
	}
	analyst.do("GET", "/v1/trends/daily", nil, 200, &trend)
	var total, insp uint64
	for _, r := range trend.Points {
		total += r.Declarations
		insp += r.Inspected
	}
	if total != n || insp != uint64(len(inspected)) {
		t.Errorf("trend counts %d declarations, %d inspected; want %d, %d (%+v)", total, insp, n, len(inspected), trend)
	}
	t.Logf("%d declarations, %d inspected, %d hits, %d releases", n, len(inspected), hits, len(releases))

	// The periodic jobs (enterprise grades fed to targeting, early warning) ran without error.
	waitUntil(t, 20*time.Second, "the analytics jobs have run", func() bool {
		return strings.Contains(p.stderr.String(), "analytics jobs done")
	})
	for _, bad := range []string{"enterprise grades not recomputed", "early warning not completed", "enterprise grades not loaded"} {
		if strings.Contains(p.stderr.String(), bad) {
			t.Errorf("dev log says %q:\n%s", bad, p.stderr.String())
		}
	}

	// A draft rule on the HS heading of the first inspected consignment, backtested over the
	// history just stored, matches it and reports its outcome.
	ok := false
	var stored struct {
		Items []struct {
			HSCode string `json:"hs_code"`
		} `json:"items"`
	}
	officer.do("GET", "/v1/declarations/"+first.DeclarationNo, nil, 200, &stored)
	ok = len(stored.Items) > 0
	if !ok {
		t.Fatalf("declaration %s has no items through the API", first.DeclarationNo)
	}
	rulePath := filepath.Join(t.TempDir(), "rule.json")
	rule := fmt.Sprintf(`{"id":"BT-1","title":"回测","reason_zh":"回测","reason_en":"backtest","action":"PHYSICAL","percent":100,
		"when":{"field":"hs_code","op":"prefix","values":[%q]}}`, stored.Items[0].HSCode[:4])
	if err := os.WriteFile(rulePath, []byte(rule), 0o644); err != nil {
		t.Fatal(err)
	}
	var btOut syncBuffer
	today := time.Now().UTC()
	err = run(context.Background(), []string{"backtest", "--rule", rulePath, "--clickhouse", p.ClickHouse,
		"--from", today.AddDate(0, 0, -1).Format(time.DateOnly), "--to", today.AddDate(0, 0, 1).Format(time.DateOnly)},
		func(string) string { return "" }, &btOut, io.Discard)
	if err != nil {
		t.Fatalf("backtest: %v", err)
	}
	var bt struct {
		Declarations     int `json:"declarations"`
		Matches          int `json:"matches"`
		Selected         int `json:"selected"`
		MatchedInspected struct {
			N    int `json:"n"`
			Hits int `json:"hits"`
		} `json:"matched_inspected"`
	}
	if err := json.Unmarshal([]byte(btOut.String()), &bt); err != nil {
		t.Fatalf("backtest output: %v: %s", err, btOut.String())
	}
	if bt.Declarations != n || bt.Matches < 1 || bt.Selected != bt.Matches || bt.MatchedInspected.N < 1 || bt.MatchedInspected.Hits < 1 {
		t.Errorf("backtest of HS %s over %d declarations: %+v", stored.Items[0].HSCode[:4], n, bt)
	}

	// Every action is on the audit chain, `portguard audit verify` accepts it, and a record
	// changed behind portguard's back is named.
	trail := []clearance.AuditRecord{}
	officer.do("GET", "/v1/audit/trail/"+first.DeclarationNo, nil, 200, &trail)
	actions := map[string]bool{}
	for _, r := range trail {
		actions[r.Action] = true
	}
	if !actions["decision"] || !actions["result"] || !actions["release"] {
		t.Errorf("trail of %s lacks decision, result or release: %v", first.DeclarationNo, actions)
	}
	verify := func() (string, error) {
		var out syncBuffer
		err := run(context.Background(), []string{"audit", "verify", "--clickhouse", p.ClickHouse}, func(string) string { return "" }, &out, io.Discard)
		return out.String(), err
	}
	if out, err := verify(); err != nil || !strings.Contains(out, "audit chain OK") {
		t.Fatalf("audit verify on an untouched chain: %v: %s", err, out)
	}
	victim := count("SELECT min(seq) FROM audit WHERE action = 'result'")
	if err := conn.Exec(context.Background(), fmt.Sprintf("ALTER TABLE audit UPDATE detail = '{\"outcome\":\"CONFORMING\"}' WHERE seq = %d", victim)); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 30*time.Second, "the tampering mutation is applied", func() bool {
		return count("SELECT count() FROM system.mutations WHERE table = 'audit' AND is_done = 0") == 0
	})
	out, err := verify()
	if err == nil || !strings.Contains(out, fmt.Sprintf("BROKEN at record %d", victim)) {
		t.Fatalf("audit verify after tampering with record %d: err %v, output %s", victim, err, out)
	}
}

// thirdParty runs a client we do not own against the program and expects want in its output.
func thirdParty(t *testing.T, name string, args []string, want string) {
	t.Helper()
	bin, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is not installed; deploy/deps.sh installs it", name)
		}
		t.Logf("skipped the %s check: not installed (./deploy/test.sh installs it)", name)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, args...).CombinedOutput()
	if err != nil || !strings.Contains(string(out), want) {
		t.Errorf("%s %v: err %v, output lacks %q:\n%s", name, args, err, want, out)
	}
}
