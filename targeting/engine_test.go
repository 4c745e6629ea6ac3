package targeting

import (
	"fmt"
	"testing"
	"time"

	"github.com/portguard/portguard/ingest"
)

// testDecl builds a realistic three-item import declaration.
func testDecl(i int, importer string) *ingest.Declaration {
	return &ingest.Declaration{
		Schema:           ingest.SchemaDeclarationV1,
		Number:           fmt.Sprintf("3101%014d", i),
		Version:          1,
		Direction:        ingest.Import,
		DeclaredAt:       time.Date(2025, 3, 1, 8, 0, 0, 0, time.UTC),
		Port:             "3101",
		TradeMode:        "0110",
		TransportMode:    "2",
		Consignee:        ingest.Enterprise{CustomsCode: importer},
		Consignor:        ingest.Enterprise{CustomsCode: "SELLER0001"},
		Declarant:        "3101980001",
		DepartureCountry: "JP",
		Items: []ingest.Item{
			{Seq: 1, HSCode: "0303890090", Quantity: 1000, Unit: "035", NetWeightKg: 1000, DeclaredValue: 3000, Currency: "USD", OriginCountry: "JP", ValueBase: 21000},
			{Seq: 2, HSCode: "8471300000", Quantity: 10, Unit: "001", NetWeightKg: 25, DeclaredValue: 5000, Currency: "USD", OriginCountry: "CN", ValueBase: 35000},
			{Seq: 3, HSCode: "4403960000", Quantity: 20, Unit: "070", NetWeightKg: 20000, DeclaredValue: 4000, Currency: "USD", OriginCountry: "RU", ValueBase: 28000},
		},
	}
}

func mustEngine(tb testing.TB, mod func(*Config)) *Engine {
	tb.Helper()
	cfg := DefaultConfig()
	if mod != nil {
		mod(&cfg)
	}
	e, err := NewEngine(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	return e
}

func TestDecideWithoutRulesOrLabelsStillGivesAReasonedDecision(t *testing.T) {
	e := mustEngine(t, nil)
	now := time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)
	d := e.Decide(testDecl(1, "IMP0000001"), now)
	if d.Channel == "" || d.Action == "" || d.Selection == "" || len(d.Reasons) == 0 || len(d.Features) == 0 {
		t.Fatalf("incomplete decision: %+v", d)
	}
	if d.Propensity <= 0 || d.Propensity > 1 {
		t.Errorf("propensity %v outside (0,1]", d.Propensity)
	}
	if d.ModelVersion != "v0-prior" || !d.DecidedAt.Equal(now) {
		t.Errorf("model version %q decided at %v", d.ModelVersion, d.DecidedAt)
	}
	t.Logf("%+v", d)
}
