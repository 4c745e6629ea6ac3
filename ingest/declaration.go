// Package ingest owns the wire schemas of declarations and manifests, their validation and
// normalization, the Kafka plumbing that brings them in, dead letters, and idempotent storage.
// It never decides anything: it hands clean, enriched consignments to whoever is downstream.
package ingest

import "time"

// Schema identifiers carried in every JSON message. A message whose schema is not one of these
// goes to dead letters; ingest never guesses at an unknown version.
const (
	SchemaDeclarationV1 = "portguard.declaration/v1"
	SchemaManifestV1    = "portguard.manifest/v1"
	SchemaWithdrawalV1  = "portguard.withdrawal/v1"
)

// Direction tells import from export.
type Direction string

// Directions of a declaration.
const (
	Import Direction = "I"
	Export Direction = "E"
)

// Enterprise identifies a trading enterprise by its unified social credit code (18 characters,
// 统一社会信用代码) and its 10-digit customs registration code.
type Enterprise struct {
	USCC        string `json:"uscc,omitempty"`
	CustomsCode string `json:"customs_code,omitempty"`
	Name        string `json:"name,omitempty"`
}

// Key is the identifier targeting profiles an enterprise by: the customs code when present,
// otherwise the USCC.
func (e Enterprise) Key() string {
	if e.CustomsCode != "" {
		return e.CustomsCode
	}
	return e.USCC
}

// Declaration is one import or export goods declaration (报关单) as it arrives from the single
// window, after validation and normalization. Country codes are ISO 3166-1 alpha-2, HS codes are
// 10 digits, and ValueBase is each item's value in the base currency.
type Declaration struct {
	Schema        string    `json:"schema"`
	Number        string    `json:"declaration_no"` // 18 digits
	Version       int       `json:"version"`        // amendments increase it; starts at 1
	Direction     Direction `json:"direction"`
	DeclaredAt    time.Time `json:"declared_at"`
	Port          string    `json:"port"`           // 4-digit customs office / port code
	TradeMode     string    `json:"trade_mode"`     // 4-digit 监管方式
	TransportMode string    `json:"transport_mode"` // 运输方式 code

	Consignee Enterprise `json:"consignee"` // the importer on an import declaration
	Consignor Enterprise `json:"consignor"` // the overseas seller / producer on an import
	Declarant string     `json:"declarant"` // declarant agent (报关企业) code

	TradingCountry   string   `json:"trading_country,omitempty"`
	DepartureCountry string   `json:"departure_country,omitempty"`
	LoadingPort      string   `json:"loading_port,omitempty"`
	BillOfLading     string   `json:"bill_of_lading,omitempty"`
	VesselVoyage     string   `json:"vessel_voyage,omitempty"`
	Containers       []string `json:"containers,omitempty"`
	Items            []Item   `json:"items"`

	// Attributes and Measures hold free-form extra fields an administration adds; on the wire
	// they are one object "attributes" whose values are strings or numbers.
	Attributes map[string]string  `json:"-"`
	Measures   map[string]float64 `json:"-"`

	// Check is the manifest cross-check, filled by ingest when the manifest is joined.
	Check CrossCheck `json:"cross_check"`

	// ReceivedAt is when portguard accepted the message; set by ingest.
	ReceivedAt time.Time `json:"received_at,omitempty"`
}

// ID is the idempotency key of one version of a declaration: number and version.
func (d *Declaration) ID() string { return DeclarationID(d.Number, d.Version) }

// Importer is the enterprise targeting treats as the trader responsible: the consignee of an
// import, the consignor of an export.
func (d *Declaration) Importer() Enterprise {
	if d.Direction == Export {
		return d.Consignor
	}
	return d.Consignee
}

// TotalValueBase sums the items' values in the base currency.
func (d *Declaration) TotalValueBase() float64 {
	var s float64
	for i := range d.Items {
		s += d.Items[i].ValueBase
	}
	return s
}

// DeclarationID formats the idempotency key of a declaration version.
func DeclarationID(number string, version int) string {
	return number + "-" + itoa(version)
}

// Item is one goods line of a declaration.
type Item struct {
	Seq           int     `json:"seq"`
	HSCode        string  `json:"hs_code"` // 10 digits
	CIQCode       string  `json:"ciq_code,omitempty"`
	Description   string  `json:"description,omitempty"`
	Quantity      float64 `json:"quantity"`
	Unit          string  `json:"unit,omitempty"`
	NetWeightKg   float64 `json:"net_weight_kg"`
	GrossWeightKg float64 `json:"gross_weight_kg,omitempty"`
	DeclaredValue float64 `json:"declared_value"`
	Currency      string  `json:"currency"` // ISO 4217
	OriginCountry string  `json:"origin_country"`
	Purpose       string  `json:"purpose,omitempty"`

	// ValueBase is DeclaredValue converted to the base currency at the declaration date.
	ValueBase float64 `json:"value_base,omitempty"`
}

// HS returns the leading n digits of the item's HS code (n = 2, 4, 6, 8 or 10): the chapter,
// heading, subheading and national levels.
func (it *Item) HS(n int) string {
	if len(it.HSCode) < n {
		return it.HSCode
	}
	return it.HSCode[:n]
}

func itoa(v int) string {
	if v >= 0 && v < 10 {
		return string(rune('0' + v))
	}
	var b [20]byte
	i := len(b)
	neg := v < 0
	if neg {
		v = -v
	}
	for v > 0 {
		i--
		b[i] = byte('0' + v%10)
		v /= 10
	}
	if neg {
		i--
		b[i] = '-'
	}
	return string(b[i:])
}
