package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/segmentio/kafka-go"

	"github.com/portguard/portguard/ingest"
	"github.com/portguard/portguard/ingest/synth"
	"github.com/portguard/portguard/targeting"
)

func TestStagesAreParsedStrictly(t *testing.T) {
	for in, want := range map[string]stages{"": {true, true, true}, "all": {true, true, true}, "none": {},
		"ingest": {ingest: true}, "clearance, recorder": {clearance: true, recorder: true}} {
		got, err := parseStages(in)
		if err != nil || got != want {
			t.Errorf("parseStages(%q) = %+v, %v; want %+v", in, got, err, want)
		}
	}
	if _, err := parseStages("ingest,clearence"); err == nil || !strings.Contains(err.Error(), `unknown stage "clearence"`) {
		t.Errorf("a misspelt stage: %v", err)
	}
	err := run(context.Background(), []string{"serve", "--stages", "api"}, func(string) string { return "" }, &syncBuffer{}, &syncBuffer{})
	if err == nil || !strings.Contains(err.Error(), `--stages: unknown stage "api"`) {
		t.Errorf("serve --stages api: %v", err)
	}
}

// An API-only instance (--stages none) decides over HTTP and publishes its decisions, but
// leaves the declarations topic, clearance and the recorder to other instances.
func TestAnAPIOnlyInstanceDecidesButLeavesTheTopicsToOthers(t *testing.T) {
	ch := ownClickHouse(t)
	users := filepath.Join(t.TempDir(), "users.json")
	writeJSON(t, users, map[string]any{"api_keys": []map[string]any{{"name": "sw", "roles": []string{"system"}, "key_env": "KEY"}}})
	env := map[string]string{"KEY": "stages-api-key-0123456789"}
	p := startScenarioProgram(t, ch.Addr(), "stages", users, env, targeting.Policy{}, "--stages", "none")

	suite, err := targeting.LoadScenarios(filepath.Join("..", "..", "targeting", "testdata", "scenarios"))
	if err != nil {
		t.Fatal(err)
	}
	viaHTTP, err := suite[0].Steps[0].Copy(1)
	if err != nil {
		t.Fatal(err)
	}
	viaKafka, _ := suite[0].Steps[0].Copy(2)
	dec, err := p.postDecision(viaHTTP)
	if err != nil {
		t.Fatal(err)
	}
	v, _ := viaKafka.AppendJSON(nil)
	p.broker.Produce(t, p.broker.Topics.Declarations, [][]byte{v}, nil)
	got := p.broker.Consume(t, p.broker.Topics.Decisions, 2, 5*time.Second)
	if len(got) != 1 || string(got[0].Key) != dec.DeclarationNo {
		t.Fatalf("decisions topic holds %d decisions, want only the one decided over HTTP (%s)", len(got), dec.DeclarationNo)
	}
	if _, ok := p.decision(t, viaKafka); ok {
		t.Errorf("an API-only instance decided %s from the declarations topic", viaKafka.ID())
	}

	// The declaration it decided went, through its outbox, to the accepted topic — not to
	// ClickHouse: storing is the ingest stage's work.
	acc := p.broker.Consume(t, p.broker.Topics.Accepted, 1, 10*time.Second)
	var journaled ingest.Declaration
	if len(acc) != 1 || json.Unmarshal(acc[0].Value, &journaled) != nil || journaled.ID() != viaHTTP.ID() ||
		len(journaled.Items) != len(viaHTTP.Items) {
		t.Fatalf("accepted topic: %d messages, first %.200q; want %s with %d items", len(acc), firstValue(acc), viaHTTP.ID(), len(viaHTTP.Items))
	}
	conn, err := clickhouse.Open(&clickhouse.Options{Addr: []string{ch.Addr()}, Auth: clickhouse.Auth{Database: "stages"}})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	stored := func() (n, items uint64) {
		row := conn.QueryRow(context.Background(), "SELECT count(), sum(item_count) FROM declarations FINAL WHERE declaration_no = ? AND version = ?",
			viaHTTP.Number, uint32(viaHTTP.Version))
		if err := row.Scan(&n, &items); err != nil {
			t.Fatal(err)
		}
		return n, items
	}
	if n, _ := stored(); n != 0 {
		t.Fatalf("the API-only instance stored %s itself", viaHTTP.ID())
	}

	// An ingest instance on the same broker and database stores it once, and decides only
	// what came on the declarations topic.
	serveOn(t, p.broker, ch.Addr(), "stages", users, env, targeting.Policy{}, "ingest", "--stages", "ingest")
	waitUntil(t, 30*time.Second, "the ingest instance stores the declaration decided over HTTP", func() bool {
		n, items := stored()
		return n == 1 && items == uint64(len(viaHTTP.Items))
	})
	got = p.broker.Consume(t, p.broker.Topics.Decisions, 3, 10*time.Second)
	perNumber := map[string]int{}
	for _, m := range got {
		perNumber[string(m.Key)]++
	}
	if len(got) != 2 || perNumber[viaHTTP.Number] != 1 || perNumber[viaKafka.Number] != 1 {
		t.Errorf("decisions topic per declaration: %v; want one each for %s (HTTP) and %s (Kafka)", perNumber, viaHTTP.Number, viaKafka.Number)
	}
}

func firstValue(ms []kafka.Message) []byte {
	if len(ms) == 0 {
		return nil
	}
	return ms[0].Value
}

// decision asks the program for a declaration's decision.
func (p *servedProgram) decision(t *testing.T, d *ingest.Declaration) (targeting.Decision, bool) {
	t.Helper()
	req, _ := http.NewRequest("GET", p.url+"/v1/decisions/"+d.Number, nil)
	req.Header.Set("Authorization", "Bearer "+p.key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var dec targeting.Decision
	if resp.StatusCode != http.StatusOK {
		return dec, false
	}
	return dec, json.NewDecoder(resp.Body).Decode(&dec) == nil
}

// TestAnAPIOnlyInstanceJoinsEveryManifestItself: the manifest join state is per process, so an
// API-only instance reads the manifests topic in a consumer group of its own. A manifest that
// came first is cross-checked with a declaration posted to it afterwards (a weight-mismatch rule
// then sends it RED), and a GREEN it decided before its manifest is revised when the manifest
// comes. Before, API-only instances read no manifests: the first was decided GREEN "awaiting its
// manifest" and the second never revised — held by clearance for the whole join window.
func TestAnAPIOnlyInstanceJoinsEveryManifestItself(t *testing.T) {
	ch := ownClickHouse(t)
	users, env := scenarioUsers(t)
	p := startScenarioProgram(t, ch.Addr(), "joins", users, env, targeting.Policy{}, "--stages", "none")
	dev := 0.2
	p.putRules(t, targeting.Scenario{Rules: []targeting.ScenarioRule{{ValidFrom: "-1h", Rule: targeting.Rule{
		ID: "W1", Title: "舱单毛重不符", ReasonZH: "毛重与舱单不符", ReasonEN: "gross weight differs from the manifest",
		When: targeting.Expr{Field: "weight_deviation", Op: targeting.OpAbove, Min: &dev}, Action: targeting.ActionPhysical, Percent: 100}}}})

	g := synth.New(synth.Config{Seed: 23, Start: time.Now().UTC().Add(-time.Hour)})
	var sea []synth.Sample
	for len(sea) < 40 {
		if s := g.Next(); s.Manifest != nil && s.Decl.BillOfLading != "" {
			sea = append(sea, s)
		}
	}
	heavy := func(s synth.Sample) []byte {
		m := *s.Manifest
		m.GrossWeightKg *= 1.6
		b, _ := json.Marshal(&m)
		return b
	}
	joined := func() float64 { return p.metric(t, `portguard_ingest_consumed_total{kind="manifest_join"} `) }

	// A manifest first, then its declaration over HTTP: cross-checked, so the rule fires.
	p.broker.Produce(t, p.broker.Topics.Manifests, [][]byte{heavy(sea[0])}, nil)
	waitUntil(t, 30*time.Second, "the API-only instance reads the manifest", func() bool { return joined() >= 1 })
	d, err := p.postDecision(sea[0].Decl)
	if err != nil {
		t.Fatal(err)
	}
	if d.AwaitingManifest || d.Channel != targeting.Red || len(d.RulesFired) == 0 || d.RulesFired[0].ID != "W1" {
		t.Fatalf("a declaration whose manifest came first: %s, awaiting manifest %v, rules %+v; want RED by W1",
			d.Channel, d.AwaitingManifest, d.RulesFired)
	}

	// A declaration first, decided GREEN awaiting its manifest; the manifest revises it.
	var held *synth.Sample
	for i := 1; i < len(sea) && held == nil; i++ {
		d, err := p.postDecision(sea[i].Decl)
		if err != nil {
			t.Fatal(err)
		}
		if d.Channel == targeting.Green && d.AwaitingManifest {
			held = &sea[i]
		}
	}
	if held == nil {
		t.Fatalf("none of %d sea-cargo declarations was decided GREEN awaiting its manifest", len(sea)-1)
	}
	p.broker.Produce(t, p.broker.Topics.Manifests, [][]byte{heavy(*held)}, nil)
	var rev targeting.Decision
	waitUntil(t, 30*time.Second, "the held GREEN is revised", func() bool {
		var ok bool
		rev, ok = p.decision(t, held.Decl)
		return ok && rev.Revision > 0
	})
	if rev.Channel != targeting.Red || rev.RevisedFrom != targeting.Green {
		t.Errorf("revision %d: %s from %s; want RED from GREEN", rev.Revision, rev.Channel, rev.RevisedFrom)
	}
}

// metric reads one sample from the program's /metrics: the value after the line prefix (name
// and labels), 0 when absent.
func (p *servedProgram) metric(t *testing.T, prefix string) float64 {
	t.Helper()
	resp, err := http.Get(p.url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, prefix); ok {
			v, _ := strconv.ParseFloat(strings.TrimSpace(rest), 64)
			return v
		}
	}
	return 0
}

// TestTwoIngestInstancesReviseEveryHeldGreenWhereverItsManifestLands: two instances share the
// ingest stage (one consumer group over the declarations and manifests topics). A declaration
// is decided, and held GREEN awaiting its manifest, by whichever instance holds its partition;
// its manifest, keyed by bill of lading, may land on the other. Each instance joins every
// manifest, so every held GREEN is revised by the instance that decided it.
func TestTwoIngestInstancesReviseEveryHeldGreenWhereverItsManifestLands(t *testing.T) {
	ch := ownClickHouse(t)
	users, env := scenarioUsers(t)
	a := startScenarioProgram(t, ch.Addr(), "twoingest", users, env, targeting.Policy{}, "--stages", "ingest,clearance,recorder")
	b := serveOn(t, a.broker, ch.Addr(), "twoingest", users, env, targeting.Policy{}, "second", "--stages", "ingest")
	dev := 0.2
	for _, p := range []*servedProgram{a, b} { // each instance's rule book is its own
		p.putRules(t, targeting.Scenario{Rules: []targeting.ScenarioRule{{ValidFrom: "-1h", Rule: targeting.Rule{
			ID: "W1", Title: "舱单毛重不符", ReasonZH: "毛重与舱单不符", ReasonEN: "gross weight differs from the manifest",
			When: targeting.Expr{Field: "weight_deviation", Op: targeting.OpAbove, Min: &dev}, Action: targeting.ActionPhysical, Percent: 100}}}})
	}

	// Declarations over Kafka, round after round, until both instances have held a GREEN for
	// its manifest (the group shares the partitions once the second member has joined).
	g := synth.New(synth.Config{Seed: 29, Start: time.Now().UTC().Add(-time.Hour)})
	type heldBy struct {
		s synth.Sample
		p *servedProgram
	}
	var held []heldBy
	deciders := map[*servedProgram]int{}
	deadline := time.Now().Add(90 * time.Second)
	for deciders[a] == 0 || deciders[b] == 0 || len(held) < 8 {
		if time.Now().After(deadline) {
			t.Fatalf("after 90 s: %d held GREENs, %d by the first instance and %d by the second", len(held), deciders[a], deciders[b])
		}
		var round []synth.Sample
		var values [][]byte
		for len(round) < 10 {
			if s := g.Next(); s.Manifest != nil && s.Decl.BillOfLading != "" {
				round = append(round, s)
				values = append(values, g.JSON(s))
			}
		}
		a.broker.Produce(t, a.broker.Topics.Declarations, values, nil)
		for _, s := range round {
			var who *servedProgram
			var d targeting.Decision
			waitUntil(t, 30*time.Second, "an instance decides "+s.Decl.Number, func() bool {
				for _, p := range []*servedProgram{a, b} {
					if dd, ok := p.decision(t, s.Decl); ok {
						who, d = p, dd
						return true
					}
				}
				return false
			})
			if d.Channel == targeting.Green && d.AwaitingManifest {
				held = append(held, heldBy{s, who})
				deciders[who]++
			}
		}
	}

	var manifests [][]byte
	for _, h := range held {
		m := *h.s.Manifest
		m.GrossWeightKg *= 1.6
		v, _ := json.Marshal(&m)
		manifests = append(manifests, v)
	}
	a.broker.Produce(t, a.broker.Topics.Manifests, manifests, nil)
	for _, h := range held {
		var rev targeting.Decision
		waitUntil(t, 30*time.Second, "the instance that held "+h.s.Decl.Number+" revises it", func() bool {
			var ok bool
			rev, ok = h.p.decision(t, h.s.Decl)
			return ok && rev.Revision > 0
		})
		if rev.Channel != targeting.Red {
			t.Errorf("%s revised to %s, want RED (its manifest is 60 %% heavier)", h.s.Decl.Number, rev.Channel)
		}
	}
}
