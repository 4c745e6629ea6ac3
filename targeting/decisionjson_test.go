package targeting

import (
	"bytes"
	"encoding/json"
	"math"
	"testing"
	"time"
)

// plainDecision is Decision without its MarshalJSON: encoding/json's reflection writes it, the
// reference the hand-written encoder must match byte for byte.
type plainDecision Decision

func TestDecisionJSONMatchesEncodingJSON(t *testing.T) {
	f, err := newBenchFixture(1000, 10_000)
	if err != nil {
		t.Fatal(err)
	}
	var cases []Decision
	for _, d := range f.decls[:500] {
		cases = append(cases, f.e.Decide(d, f.now))
	}
	fired := 0
	for _, c := range cases {
		if len(c.RulesFired) > 0 {
			fired++
		}
	}
	if fired == 0 {
		t.Fatal("no decision of the fixture fired a rule: the cases do not cover rules_fired")
	}
	at := time.Date(2026, 11, 23, 8, 30, 15, 123456789, time.FixedZone("CST", 8*3600))
	cases = append(cases,
		Decision{}, // zero: null reasons, zero time
		Decision{Schema: SchemaDecisionV1, DeclarationNo: "310120260000000001", Version: 3, Port: "3101",
			Importer: `<script>&"quote"\`, Channel: Green, Action: ActionRelease, Selection: NotSelected,
			Score: -0.0, Probability: 1e-9, Propensity: 1e21, ModelVersion: "v7-logistic",
			RulesFired: []RuleHit{}, Reasons: []Reason{}, Features: []Feature{},
			DecidedAt: at, AwaitingManifest: true},
		Decision{Schema: SchemaDecisionV1, DeclarationNo: "310120260000000002", Version: 1, Channel: Red,
			Action: ActionSampling, Selection: SelectedByRule, Score: 123456.789, Probability: 0.5,
			RulesFired: []RuleHit{{ID: "R-1", Version: 2, Title: "冷冻水产品\u2028 line", Action: ActionSampling, Selected: true}},
			Reasons:    []Reason{{Code: "rule:R-1", ZH: "布控指令 R-1", EN: "rule R-1 \x00 \xff bad", Weight: math.SmallestNonzeroFloat64}},
			Features:   []Feature{{Name: "importer", Value: "4403960123"}},
			DecidedAt:  at.UTC(), Shadow: &Shadow{ModelVersion: "v8-gbdt", Score: 0.25, Probability: 0.125, Selected: true},
			Revision: 2, RevisedFrom: Green, Degraded: true})
	for i, d := range cases {
		want, werr := json.Marshal(plainDecision(d))
		got, gerr := d.AppendJSON([]byte("prefix"))
		if (werr == nil) != (gerr == nil) {
			t.Fatalf("case %d: encoding/json error %v, AppendJSON error %v", i, werr, gerr)
		}
		if !bytes.Equal(got[len("prefix"):], want) || string(got[:6]) != "prefix" {
			t.Fatalf("case %d:\n got  %s\n want %s", i, got, want)
		}
		viaMarshal, err := json.Marshal(d)
		if err != nil || !bytes.Equal(viaMarshal, want) {
			t.Fatalf("case %d: json.Marshal(decision) = %s, %v", i, viaMarshal, err)
		}
		var back Decision
		if err := json.Unmarshal(got[len("prefix"):], &back); err != nil {
			t.Fatalf("case %d: does not decode: %v", i, err)
		}
	}
	for _, bad := range []Decision{{Score: math.NaN()}, {Probability: math.Inf(1)}, {Shadow: &Shadow{Score: math.Inf(-1)}},
		{DecidedAt: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}} {
		if _, err := json.Marshal(bad); err == nil {
			t.Errorf("%+v encoded without an error", bad)
		}
	}
}

func BenchmarkDecisionJSON(b *testing.B) {
	f, err := newBenchFixture(1000, 10_000)
	if err != nil {
		b.Fatal(err)
	}
	var ds []Decision
	for _, d := range f.decls[:256] {
		ds = append(ds, f.e.Decide(d, f.now))
	}
	b.Run("AppendJSON", func(b *testing.B) {
		b.ReportAllocs()
		buf := make([]byte, 0, 4096)
		i := 0
		for b.Loop() {
			buf, _ = ds[i%256].AppendJSON(buf[:0])
			i++
		}
	})
	b.Run("reflection", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			json.Marshal(plainDecision(ds[i%256]))
			i++
		}
	})
}
