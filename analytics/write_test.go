package analytics

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/portguard/portguard/clearance"
	"github.com/portguard/portguard/ingest"
	"github.com/portguard/portguard/targeting"
)

func TestEveryInsertIsExactlyOnceUnderRedelivery(t *testing.T) {
	s, db := mustStore(t)
	ctx := context.Background()
	decls := []*ingest.Declaration{testDeclaration(declNo(1), 1, day0), testDeclaration(declNo(1), 2, day0.Add(time.Hour)), testDeclaration(declNo(2), 1, day0)}
	decisions := []targeting.Decision{testDecision(declNo(1), 1, targeting.Red, targeting.SelectedByRule, day0), testDecision(declNo(2), 1, targeting.Green, targeting.NotSelected, day0)}
	results := []clearance.InspectionResult{testResult(declNo(1), 1, 1, clearance.NonConforming, day0.Add(2*time.Hour))}
	releases := []clearance.Release{{Schema: clearance.SchemaReleaseV1, DeclarationNo: declNo(1), DeclVersion: 1, Port: "2201", Channel: targeting.Red, Disposition: "RELEASE", ReleasedBy: "officer1", ReleasedAt: day0.Add(3 * time.Hour)}}
	dead := []ingest.DeadLetter{{Schema: ingest.SchemaDeadLetterV1, SourceTopic: "portguard.declarations", Partition: 0, Offset: 7, Value: []byte("{bad"), Reason: "invalid JSON", Errors: []ingest.FieldError{{Path: "$", Code: "format", ZH: "格式错误", EN: "bad format"}}, At: day0}}
	manifests := []*ingest.Manifest{{Schema: ingest.SchemaManifestV1, BillOfLading: "HLCU1", Carrier: "HLC", VesselIMO: "9321483", Voyage: "123E", LoadingPort: "DEHAM", GrossWeightKg: 1100, Packages: 2, ArrivalAt: day0, ReceivedAt: day0}}

	tests := []struct {
		name   string
		insert func() error
		table  string
		want   uint64
	}{
		{"declarations are stored once per number and version", func() error { return s.InsertDeclarations(ctx, decls) }, "declarations", 3},
		{"goods items are stored once per declaration version and line", func() error { return s.InsertDeclarations(ctx, decls) }, "declaration_items", 6},
		{"manifests are stored once per bill of lading", func() error { return s.InsertManifests(ctx, manifests) }, "manifests", 1},
		{"decisions are stored once per declaration version", func() error { return s.InsertDecisions(ctx, decisions) }, "decisions", 2},
		{"inspection results are stored once per result version", func() error { return s.InsertResults(ctx, results) }, "inspection_results", 1},
		{"releases are stored once per declaration version", func() error { return s.InsertReleases(ctx, releases) }, "releases", 1},
		{"dead letters are stored once per source offset", func() error { return s.InsertDeadLetters(ctx, dead) }, "dead_letters", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for range 3 { // the original delivery and two redeliveries
				if err := tt.insert(); err != nil {
					t.Fatal(err)
				}
			}
			if got := db.Count(t, tt.table+" FINAL", ""); got != tt.want {
				t.Fatalf("%s FINAL holds %d rows after three deliveries, want %d", tt.table, got, tt.want)
			}
			if raw := db.Count(t, tt.table, ""); raw < tt.want {
				t.Fatalf("%s holds %d raw rows, fewer than the %d distinct ones", tt.table, raw, tt.want)
			}
		})
	}
	// The daily materialized view counts a decision once however often it was delivered.
	var n uint64
	if err := db.Conn.QueryRow(ctx, "SELECT uniqExactMerge(decisions) FROM decisions_daily").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 2 {
		t.Fatalf("decisions_daily counts %d decisions, want 2", n)
	}
	var rows uint64
	if err := db.Conn.QueryRow(ctx, "SELECT countMerge(rows) FROM decisions_daily").Scan(&rows); err != nil {
		t.Fatal(err)
	}
	if rows != 6 {
		t.Fatalf("decisions_daily saw %d inserted rows, want 6 (2 decisions × 3 deliveries)", rows)
	}
}

func TestDeclarationByIDRoundTripsTheStoredDeclaration(t *testing.T) {
	s, _ := mustStore(t)
	ctx := context.Background()
	v1 := testDeclaration(declNo(5), 1, day0)
	v2 := testDeclaration(declNo(5), 2, day0.Add(time.Hour))
	v2.Items[0].Description = "amended"
	if err := s.InsertDeclarations(ctx, []*ingest.Declaration{v2, v1}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		version int
		want    *ingest.Declaration
	}{
		{"version 0 returns the latest version", 0, v2},
		{"an explicit version returns that version", 1, v1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.DeclarationByID(ctx, declNo(5), tt.version)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("round trip changed the declaration:\n got %+v\nwant %+v", got, tt.want)
			}
		})
	}
	t.Run("an unknown declaration is ErrNotFound", func(t *testing.T) {
		_, err := s.DeclarationByID(ctx, declNo(6), 0)
		if !errors.Is(err, ErrNotFound) {
			t.Fatalf("err = %v, want ErrNotFound", err)
		}
		if s.Healthy() != nil {
			t.Fatalf("a not-found must not count against the breaker: %v", s.Healthy())
		}
	})
}

func TestInsertRejectsAnUnknownChannelBeforeWriting(t *testing.T) {
	s, db := mustStore(t)
	d := testDecision(declNo(1), 1, "PURPLE", targeting.NotSelected, day0)
	if err := s.InsertDecisions(context.Background(), []targeting.Decision{d}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("err = %v, want ErrInvalid", err)
	}
	if n := db.Count(t, "decisions", ""); n != 0 {
		t.Fatalf("%d rows written", n)
	}
}

// TestInsertDeclarationsOnceKeepsRawRowsExact: a batch that may have been stored before, in
// whole or in part, adds exactly the rows that are missing — counted raw, without FINAL, so no
// background merge is needed to hide a duplicate.
func TestInsertDeclarationsOnceKeepsRawRowsExact(t *testing.T) {
	ctx := context.Background()
	batch := func(n0 int) []*ingest.Declaration { // 3 declarations, 6 goods lines
		return []*ingest.Declaration{testDeclaration(declNo(n0), 1, day0), testDeclaration(declNo(n0), 2, day0.Add(time.Hour)), testDeclaration(declNo(n0+1), 1, day0)}
	}
	tests := []struct {
		name   string
		before func(s *Store, ds []*ingest.Declaration) error
	}{
		{"a batch stored before adds no row", func(s *Store, ds []*ingest.Declaration) error { return s.InsertDeclarations(ctx, ds) }},
		{"a batch never stored is stored whole", func(*Store, []*ingest.Declaration) error { return nil }},
		{"a batch of which one declaration was stored adds the others", func(s *Store, ds []*ingest.Declaration) error {
			return s.InsertDeclarations(ctx, ds[:1])
		}},
		{"a batch whose header rows were stored but not its goods lines gets the goods lines", func(s *Store, ds []*ingest.Declaration) error {
			return s.insertColumns(ctx, "test", declarationColumns, len(ds), declarationColumnsOf(sortedByKey(ds)))
		}},
		{"a batch of which some goods lines were stored gets the rest", func(s *Store, ds []*ingest.Declaration) error {
			n, cols := itemColumnsOf(sortedByKey(ds))
			keep := make([]bool, n)
			for i := range keep {
				keep[i] = i%2 == 0
			}
			n, cols, err := compactColumns(cols, keep)
			if err != nil {
				return err
			}
			return s.insertColumns(ctx, "test", itemColumns, n, cols)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, db := mustStore(t)
			ds := batch(1)
			if err := tt.before(s, ds); err != nil {
				t.Fatal(err)
			}
			for range 2 { // the redelivery and one more
				if err := s.InsertDeclarationsOnce(ctx, ds); err != nil {
					t.Fatal(err)
				}
			}
			if n := db.Count(t, "declarations", ""); n != 3 {
				t.Errorf("declarations holds %d raw rows, want 3", n)
			}
			if n := db.Count(t, "declaration_items", ""); n != 6 {
				t.Errorf("declaration_items holds %d raw rows, want 6", n)
			}
			var distinct uint64
			if err := db.Conn.QueryRow(ctx, "SELECT uniqExact(declaration_no, version, seq) FROM declaration_items").Scan(&distinct); err != nil {
				t.Fatal(err)
			}
			if distinct != 6 {
				t.Errorf("declaration_items holds %d distinct goods lines, want 6", distinct)
			}
		})
	}
}

// TestWithdrawalsAreStoredOncePerNumberAndTime: withdrawals (撤单) are rows of their own, a
// redelivered or repeated one adds none, and what is stored reads back.
func TestWithdrawalsAreStoredOncePerNumberAndTime(t *testing.T) {
	s, db := mustStore(t)
	ctx := context.Background()
	w1 := &ingest.Withdrawal{Schema: ingest.SchemaWithdrawalV1, Number: declNo(1), Reason: "申报错误 declared in error", At: day0.Add(90 * time.Minute)}
	w2 := &ingest.Withdrawal{Schema: ingest.SchemaWithdrawalV1, Number: declNo(2), Reason: "撤单", At: day0}
	for range 3 {
		if err := s.InsertWithdrawals(ctx, []*ingest.Withdrawal{w1, w2, w1}); err != nil {
			t.Fatal(err)
		}
	}
	if n := db.Count(t, "withdrawals", ""); n != 2 {
		t.Fatalf("withdrawals holds %d raw rows after three deliveries of two, want 2", n)
	}
	var (
		reason, raw string
		at          time.Time
	)
	if err := db.Conn.QueryRow(ctx, "SELECT reason, withdrawn_at, raw FROM withdrawals WHERE declaration_no = ?", declNo(1)).Scan(&reason, &at, &raw); err != nil {
		t.Fatal(err)
	}
	if reason != w1.Reason || !at.Equal(w1.At) || !strings.Contains(raw, `"declaration_no":"`+declNo(1)+`"`) {
		t.Errorf("stored %q at %v raw %s; want %q at %v", reason, at, raw, w1.Reason, w1.At)
	}
	if err := s.InsertWithdrawals(ctx, []*ingest.Withdrawal{nil}); !errors.Is(err, ErrInvalid) {
		t.Errorf("a nil withdrawal: %v, want ErrInvalid", err)
	}
}
