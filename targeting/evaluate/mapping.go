package evaluate

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
)

// Mapping says which CSV column holds what (issue 7). Example, in YAML:
//
//	id: DECL_NO
//	date: DECL_DATE
//	date_format: "2006-01-02"
//	fields: {port: OFFICE, importer: IMPORTER_ID, hs_code: HS_CODE, origin_country: ORIGIN}
//	attributes: [PAYMENT_TYPE, COURIER_ID]
//	numeric: [TAX_RATE]
//	label: FRAUD
//	revenue: RECOVERED
type Mapping struct {
	// ID is the column of the unique declaration id. Required.
	ID string `yaml:"id" json:"id"`
	// Date is the column of the declaration date. Required.
	Date string `yaml:"date" json:"date"`
	// DateFormat is the Go time layout of Date; dates without a zone are UTC. Default
	// "2006-01-02".
	DateFormat string `yaml:"date_format" json:"date_format"`
	// Fields maps portguard fields (the keys of FieldNames) to columns; any subset.
	Fields map[string]string `yaml:"fields" json:"fields"`
	// Attributes are extra categorical columns, kept as declaration attributes named as the
	// column.
	Attributes []string `yaml:"attributes" json:"attributes"`
	// Numeric are extra numeric columns, kept as declaration measures named as the column.
	Numeric []string `yaml:"numeric" json:"numeric"`
	// Label is the column of the outcome: 1/true/yes = hit, 0/false/no = no hit. Required.
	Label string `yaml:"label" json:"label"`
	// Revenue is the optional column of the value recovered when hit.
	Revenue string `yaml:"revenue" json:"revenue"`
}

// Portguard fields a mapping can name.
const (
	FieldPort             = "port"
	FieldTradeMode        = "trade_mode"
	FieldTransportMode    = "transport_mode"
	FieldDeclarant        = "declarant"
	FieldImporter         = "importer"
	FieldConsignor        = "consignor"
	FieldHSCode           = "hs_code"
	FieldDepartureCountry = "departure_country"
	FieldOriginCountry    = "origin_country"
	FieldNetWeightKg      = "net_weight_kg"
	FieldQuantity         = "quantity"
	FieldDeclaredValue    = "declared_value"
	FieldCurrency         = "currency"
)

// FieldNames are the keys Mapping.Fields accepts.
var FieldNames = []string{FieldPort, FieldTradeMode, FieldTransportMode, FieldDeclarant, FieldImporter,
	FieldConsignor, FieldHSCode, FieldDepartureCountry, FieldOriginCountry, FieldNetWeightKg,
	FieldQuantity, FieldDeclaredValue, FieldCurrency}

// ErrMapping marks a mapping that cannot be used, or that does not fit the CSV's header.
var ErrMapping = errors.New("evaluate: bad mapping")

// LoadMapping reads a mapping file: JSON when its name ends in .json or it starts with '{',
// YAML otherwise. Unknown keys are an error, so that a typo fails fast instead of silently
// dropping a column.
func LoadMapping(path string) (*Mapping, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("evaluate: read mapping: %w", err)
	}
	m, err := ParseMapping(b, strings.EqualFold(filepath.Ext(path), ".json"))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return m, nil
}

// ParseMapping decodes a mapping from JSON (when isJSON or the data starts with '{') or YAML,
// applies the default date format and validates it.
func ParseMapping(data []byte, isJSON bool) (*Mapping, error) {
	var m Mapping
	if isJSON || bytes.HasPrefix(bytes.TrimSpace(data), []byte("{")) {
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&m); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrMapping, err)
		}
	} else {
		dec := yaml.NewDecoder(bytes.NewReader(data))
		dec.KnownFields(true)
		if err := dec.Decode(&m); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrMapping, err)
		}
	}
	if m.DateFormat == "" {
		m.DateFormat = "2006-01-02"
	}
	if err := m.Validate(); err != nil {
		return nil, err
	}
	return &m, nil
}

// Validate reports missing required keys and unknown portguard fields.
func (m *Mapping) Validate() error {
	var missing []string
	for _, k := range [...]struct{ key, col string }{{"id", m.ID}, {"date", m.Date}, {"label", m.Label}} {
		if strings.TrimSpace(k.col) == "" {
			missing = append(missing, k.key)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("%w: required key(s) %s missing", ErrMapping, strings.Join(missing, ", "))
	}
	known := map[string]bool{}
	for _, f := range FieldNames {
		known[f] = true
	}
	var unknown []string
	for k, col := range m.Fields {
		if !known[k] {
			unknown = append(unknown, k)
		}
		if strings.TrimSpace(col) == "" {
			return fmt.Errorf("%w: field %s maps to no column", ErrMapping, k)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return fmt.Errorf("%w: unknown field(s) %s; known: %s", ErrMapping, strings.Join(unknown, ", "), strings.Join(FieldNames, ", "))
	}
	return nil
}

// columns lists every column the mapping names, with what it names, in a stable order.
func (m *Mapping) columns() [][2]string {
	out := [][2]string{{m.ID, "id"}, {m.Date, "date"}, {m.Label, "label"}}
	if m.Revenue != "" {
		out = append(out, [2]string{m.Revenue, "revenue"})
	}
	for _, f := range FieldNames {
		if c, ok := m.Fields[f]; ok {
			out = append(out, [2]string{c, "fields." + f})
		}
	}
	for _, c := range m.Attributes {
		out = append(out, [2]string{c, "attributes"})
	}
	for _, c := range m.Numeric {
		out = append(out, [2]string{c, "numeric"})
	}
	return out
}
