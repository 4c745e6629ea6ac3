package ingest_test

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/portguard/portguard/analytics/chtest"
	"github.com/portguard/portguard/ingest"
)

type storedHeader struct {
	Number        string    `ch:"declaration_no"`
	Version       uint32    `ch:"version"`
	Direction     string    `ch:"direction"`
	DeclaredAt    time.Time `ch:"declared_at"`
	Port          string    `ch:"port"`
	TradeMode     string    `ch:"trade_mode"`
	TransportMode string    `ch:"transport_mode"`
	Importer      string    `ch:"importer"`
	EeUSCC        string    `ch:"consignee_uscc"`
	EeCode        string    `ch:"consignee_code"`
	EeName        string    `ch:"consignee_name"`
	OrUSCC        string    `ch:"consignor_uscc"`
	OrCode        string    `ch:"consignor_code"`
	OrName        string    `ch:"consignor_name"`
	Declarant     string    `ch:"declarant"`
	Trading       string    `ch:"trading_country"`
	Departure     string    `ch:"departure_country"`
	Loading       string    `ch:"loading_port"`
	BL            string    `ch:"bill_of_lading"`
	Vessel        string    `ch:"vessel_voyage"`
	Containers    []string  `ch:"containers"`
	ItemCount     uint32    `ch:"item_count"`
	HS2           []string  `ch:"hs2"`
	HS4           []string  `ch:"hs4"`
	Origins       []string  `ch:"origins"`
	TotalValue    float64   `ch:"total_value_base"`
	TotalWeight   float64   `ch:"total_net_weight_kg"`
	AttrKeys      []string  `ch:"attr_keys"`
	AttrValues    []string  `ch:"attr_values"`
	MeasureKeys   []string  `ch:"measure_keys"`
	MeasureValues []float64 `ch:"measure_values"`
	Joined        uint8     `ch:"manifest_joined"`
	Deviation     float64   `ch:"weight_deviation"`
	Mismatch      uint8     `ch:"origin_route_mismatch"`
	Undeclared    uint32    `ch:"undeclared_containers"`
	ReceivedAt    time.Time `ch:"received_at"`
	Raw           string    `ch:"raw"`
}

type storedItem struct {
	Number     string    `ch:"declaration_no"`
	Version    uint32    `ch:"version"`
	Seq        uint32    `ch:"seq"`
	DeclaredAt time.Time `ch:"declared_at"`
	Port       string    `ch:"port"`
	Importer   string    `ch:"importer"`
	HS10       string    `ch:"hs10"`
	HS2        string    `ch:"hs2"`
	HS4        string    `ch:"hs4"`
	HS6        string    `ch:"hs6"`
	HS8        string    `ch:"hs8"`
	CIQ        string    `ch:"ciq_code"`
	Desc       string    `ch:"description"`
	Origin     string    `ch:"origin"`
	Quantity   float64   `ch:"quantity"`
	Unit       string    `ch:"unit"`
	Net        float64   `ch:"net_weight_kg"`
	Gross      float64   `ch:"gross_weight_kg"`
	Value      float64   `ch:"declared_value"`
	Currency   string    `ch:"currency"`
	ValueBase  float64   `ch:"value_base"`
}

// expectedHeader is the declarations row of d, worked out field by field.
func expectedHeader(t *testing.T, d *ingest.Declaration) storedHeader {
	raw, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	set := func(f func(it ingest.Item) string) []string {
		out := []string{}
		for _, it := range d.Items {
			if v := f(it); v != "" && !slices.Contains(out, v) {
				out = append(out, v)
			}
		}
		slices.Sort(out)
		return out
	}
	h := storedHeader{
		Number: d.Number, Version: uint32(d.Version), Direction: string(d.Direction), DeclaredAt: d.DeclaredAt.UTC().Truncate(time.Second),
		Port: d.Port, TradeMode: d.TradeMode, TransportMode: d.TransportMode, Importer: d.Importer().Key(),
		EeUSCC: d.Consignee.USCC, EeCode: d.Consignee.CustomsCode, EeName: d.Consignee.Name,
		OrUSCC: d.Consignor.USCC, OrCode: d.Consignor.CustomsCode, OrName: d.Consignor.Name,
		Declarant: d.Declarant, Trading: d.TradingCountry, Departure: d.DepartureCountry, Loading: d.LoadingPort,
		BL: d.BillOfLading, Vessel: d.VesselVoyage, Containers: append([]string{}, d.Containers...), ItemCount: uint32(len(d.Items)),
		HS2: set(func(it ingest.Item) string { return it.HS(2) }), HS4: set(func(it ingest.Item) string { return it.HS(4) }),
		Origins: set(func(it ingest.Item) string { return it.OriginCountry }), TotalValue: d.TotalValueBase(),
		AttrKeys: []string{}, AttrValues: []string{}, MeasureKeys: []string{}, MeasureValues: []float64{},
		Deviation: d.Check.WeightDeviation, Undeclared: uint32(d.Check.UndeclaredContainers),
		ReceivedAt: d.ReceivedAt.UTC().Truncate(time.Second), Raw: string(raw),
	}
	for _, it := range d.Items {
		h.TotalWeight += it.NetWeightKg
	}
	for _, k := range sortedKeysOf(d.Attributes) {
		h.AttrKeys, h.AttrValues = append(h.AttrKeys, k), append(h.AttrValues, d.Attributes[k])
	}
	for _, k := range sortedKeysOf(d.Measures) {
		h.MeasureKeys, h.MeasureValues = append(h.MeasureKeys, k), append(h.MeasureValues, d.Measures[k])
	}
	if d.Check.Joined {
		h.Joined = 1
	}
	if d.Check.OriginRouteMismatch {
		h.Mismatch = 1
	}
	return h
}

func sortedKeysOf[V any](m map[string]V) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

// TestStoreWritesEveryColumnOfTheDeclaration: the column-wise insert puts each value of each
// declaration and goods item in its column, across several blocks of one INSERT, the raw JSON
// is the declaration's wire form, and DeclarationByID gives back the declaration that went in.
func TestStoreWritesEveryColumnOfTheDeclaration(t *testing.T) {
	db := chtest.New(t)
	store := openStore(t, db.Addr, db.Database)
	ctx := context.Background()
	v := ingest.NewValidator(ingest.DefaultConfig())
	var ds []*ingest.Declaration
	for i, name := range []string{"declaration_import.json", "declaration_export.json"} {
		m := golden(t, name)
		m["declaration_no"] = fmt.Sprintf("53012026%010d", i)
		b, _ := json.Marshal(m)
		d, err := v.Declaration(b)
		if err != nil {
			t.Fatal(err)
		}
		ds = append(ds, d)
	}
	// Enough more for several blocks per INSERT (the store sends 1,024 rows at a time).
	for i := range 1500 {
		m := golden(t, "declaration_import.json")
		m["declaration_no"] = fmt.Sprintf("53022026%010d", i)
		m["version"] = 1 + i%3
		m["vessel_voyage"] = fmt.Sprintf("VOYAGE %d <&>", i)
		items := m["items"].([]any)
		m["items"] = items[:1+i%3]
		b, _ := json.Marshal(m)
		d, err := v.Declaration(b)
		if err != nil {
			t.Fatal(err)
		}
		ds = append(ds, d)
	}
	// A joined one with a measure only, no containers and an item of its own.
	j := *ds[0]
	j.Number, j.Version = "530120269999999999", 3
	j.Check = ingest.CrossCheck{Joined: true, WeightDeviation: 0.125, OriginRouteMismatch: true, UndeclaredContainers: 2}
	j.Attributes, j.Measures, j.Containers = nil, map[string]float64{"tax_rate": 0.13, "a": -1}, nil
	j.Items = []ingest.Item{{Seq: 1, HSCode: "8471300000", Quantity: 2, NetWeightKg: 3.5, DeclaredValue: 10, Currency: "USD", OriginCountry: "US", ValueBase: 71.5}}
	// Items out of sequence order (the store sends them sorted).
	k := *ds[1]
	k.Number = "530120269999999998"
	k.Items = []ingest.Item{ds[1].Items[0], ds[1].Items[0], ds[1].Items[0]}
	k.Items[0].Seq, k.Items[1].Seq, k.Items[2].Seq = 3, 1, 2
	k.Items[1].HSCode = "0101210000"
	ds = append(ds, &k)
	ds = append(ds, &j)
	if err := store.InsertDeclarations(ctx, ds); err != nil {
		t.Fatal(err)
	}
	// The order the rows are read back in.
	slices.SortFunc(ds, func(a, b *ingest.Declaration) int { return strings.Compare(a.Number, b.Number) })

	var headers []storedHeader
	if err := db.Conn.Select(ctx, &headers, "SELECT * FROM declarations FINAL ORDER BY declaration_no"); err != nil {
		t.Fatal(err)
	}
	var items []storedItem
	if err := db.Conn.Select(ctx, &items, "SELECT * FROM declaration_items FINAL ORDER BY declaration_no, seq"); err != nil {
		t.Fatal(err)
	}
	if len(headers) != len(ds) {
		t.Fatalf("%d declaration rows, want %d", len(headers), len(ds))
	}
	var wantItems []storedItem
	for i, d := range ds {
		if want := expectedHeader(t, d); !reflect.DeepEqual(headers[i], want) {
			t.Fatalf("declaration %s:\n got %+v\nwant %+v", d.Number, headers[i], want)
		}
		for _, it := range d.Items {
			wantItems = append(wantItems, storedItem{Number: d.Number, Version: uint32(d.Version), Seq: uint32(it.Seq),
				DeclaredAt: d.DeclaredAt.UTC().Truncate(time.Second), Port: d.Port, Importer: d.Importer().Key(),
				HS10: it.HSCode, HS2: it.HS(2), HS4: it.HS(4), HS6: it.HS(6), HS8: it.HS(8), CIQ: it.CIQCode,
				Desc: it.Description, Origin: it.OriginCountry, Quantity: it.Quantity, Unit: it.Unit, Net: it.NetWeightKg,
				Gross: it.GrossWeightKg, Value: it.DeclaredValue, Currency: it.Currency, ValueBase: it.ValueBase})
		}
		if i%100 != 0 && i != len(ds)-1 {
			continue
		}
		got, err := store.DeclarationByID(ctx, d.Number, d.Version)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, d) {
			t.Errorf("DeclarationByID(%s) changed it:\n got %+v\nwant %+v", d.ID(), got, d)
		}
	}
	slices.SortStableFunc(wantItems, func(a, b storedItem) int {
		if c := strings.Compare(a.Number, b.Number); c != 0 {
			return c
		}
		return int(a.Seq) - int(b.Seq)
	})
	if len(items) != len(wantItems) {
		t.Fatalf("%d goods items stored, want %d", len(items), len(wantItems))
	}
	for i := range items {
		if !reflect.DeepEqual(items[i], wantItems[i]) {
			t.Fatalf("goods item %d:\n got %+v\nwant %+v", i, items[i], wantItems[i])
		}
	}
}
