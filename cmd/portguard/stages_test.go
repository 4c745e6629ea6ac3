package main

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/segmentio/kafka-go"

	"github.com/portguard/portguard/analytics/chserver"
	"github.com/portguard/portguard/ingest"
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
	if _, err := chserver.Installed(); err != nil && os.Getenv("CI") != "true" {
		t.Skip("skipped: clickhouse-server not installed; ./deploy/test.sh installs it")
	}
	ch, err := chserver.Start(context.Background(), chserver.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ch.Stop() })
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
