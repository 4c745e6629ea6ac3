package analytics

import (
	"fmt"
	"time"

	"github.com/portguard/portguard/clearance"
	"github.com/portguard/portguard/ingest"
	"github.com/portguard/portguard/targeting"
)

var day0 = time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC) // a Monday

func declNo(i int) string { return fmt.Sprintf("2201%014d", i) }

// testDeclaration is a realistic two-item import declaration.
func testDeclaration(no string, version int, at time.Time) *ingest.Declaration {
	return &ingest.Declaration{
		Schema: ingest.SchemaDeclarationV1, Number: no, Version: version, Direction: ingest.Import,
		DeclaredAt: at, Port: "2201", TradeMode: "0110", TransportMode: "2",
		Consignee: ingest.Enterprise{USCC: "91310000MA1FL0000X", CustomsCode: "3101960001", Name: "上海测试进口有限公司"},
		Consignor: ingest.Enterprise{Name: "Acme GmbH"}, Declarant: "3101980002",
		TradingCountry: "DE", DepartureCountry: "DE", LoadingPort: "DEHAM", BillOfLading: "HLCU" + no[10:],
		VesselVoyage: "MSC ANNA/123E", Containers: []string{"MSCU1234565", "MSCU7654321"},
		Items: []ingest.Item{
			{Seq: 1, HSCode: "0303890090", Description: "冻鱼", Quantity: 1000, Unit: "035", NetWeightKg: 1000,
				GrossWeightKg: 1100, DeclaredValue: 5000, Currency: "USD", OriginCountry: "NO", ValueBase: 36000},
			{Seq: 2, HSCode: "8471300000", Description: "laptop", Quantity: 10, Unit: "台", NetWeightKg: 25,
				DeclaredValue: 9000, Currency: "EUR", OriginCountry: "CN", ValueBase: 70000.5},
		},
		Attributes: map[string]string{"PAYMENT": "TT", "INCOTERM": "FOB"},
		Measures:   map[string]float64{"TAX_RATE": 0.13},
		Check:      ingest.CrossCheck{Joined: true, WeightDeviation: 0.02},
		ReceivedAt: at.Add(time.Second),
	}
}

func testDecision(no string, version int, ch targeting.Channel, sel targeting.Selection, at time.Time) targeting.Decision {
	return targeting.Decision{
		Schema: targeting.SchemaDecisionV1, DeclarationNo: no, Version: version, Port: "2201",
		Importer: "3101960001", Channel: ch, Action: targeting.ActionPhysical, Selection: sel,
		Score: 1.5, Probability: 0.2, Random: sel == targeting.SelectedByRandom, Propensity: 0.25,
		ModelVersion: "m1", RulesFired: []targeting.RuleHit{{ID: "R1", Version: 1, Selected: sel == targeting.SelectedByRule}},
		Reasons:   []targeting.Reason{{Code: "rule", ZH: "布控指令", EN: "targeting rule"}},
		Features:  []targeting.Feature{{Name: "hs4", Value: "0303"}, {Name: "origin", Value: "NO"}, {Name: "trade_mode", Value: "0110"}},
		DecidedAt: at,
	}
}

func testResult(no string, version, resultVersion int, out clearance.Conformity, at time.Time) clearance.InspectionResult {
	r := clearance.InspectionResult{
		Schema: clearance.SchemaInspectionResultV1, DeclarationNo: no, DeclVersion: version,
		Version: resultVersion, TaskID: ingest.DeclarationID(no, version), Officer: "officer1", Port: "2201",
		Outcome: out, Disposition: "RELEASE", InspectedAt: at,
		Label: targeting.Outcome{DeclarationNo: no, Version: version, Hit: out == clearance.NonConforming,
			Channel: targeting.Red, Selection: targeting.SelectedByRule, Propensity: 0.5, ModelVersion: "label-model",
			ResultVersion: resultVersion, DecidedAt: at.Add(-time.Hour), InspectedAt: at},
	}
	if out == clearance.NonConforming {
		r.Findings = []clearance.Finding{{Code: "UNDERVALUATION", Severity: 2}}
		r.Adjustment = 1200
		r.Label.Severity, r.Label.Revenue = 2, 1200
	}
	return r
}
