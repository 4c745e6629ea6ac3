package evaluate

import (
	"encoding/csv"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/portguard/portguard/ingest"
)

// Row is one labelled declaration read from history.
type Row struct {
	// Decl is the declaration built from the row: one goods item, the mapped fields, the
	// attributes and numeric columns as Attributes and Measures.
	Decl *ingest.Declaration
	// Hit is the label: the consignment was found non-compliant.
	Hit bool
	// Revenue is the value recovered when hit (0 without a revenue column).
	Revenue float64
	// At is the declaration date.
	At time.Time
	// Line is the row's line number in the file (the header is line 1).
	Line int
}

// SourceIDAttribute is the attribute that keeps a row's original id when it is not an 18-digit
// declaration number and a synthetic one had to be derived.
const SourceIDAttribute = "source_id"

// ReadLabelled reads a labelled CSV through m. The header must contain every column m names,
// or ReadLabelled fails at once naming the missing ones (wrapping ErrMapping). A row that cannot
// be used — wrong number of fields, empty or duplicate id, unparsable date, label or number, an
// HS code that is not 6 to 10 digits — is passed to report (when not nil) with its line number
// and reason, and skipped. Rows come back in file order.
func ReadLabelled(r io.Reader, m *Mapping, report func(line int, reason string)) ([]Row, error) {
	if err := m.Validate(); err != nil {
		return nil, err
	}
	if report == nil {
		report = func(int, string) {}
	}
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1 // checked per row, to report the line instead of failing
	cr.ReuseRecord = true
	header, err := cr.Read()
	if err == io.EOF {
		return nil, fmt.Errorf("%w: the CSV is empty (no header)", ErrMapping)
	}
	if err != nil {
		return nil, fmt.Errorf("evaluate: read CSV header: %w", err)
	}
	p, err := newParser(m, header)
	if err != nil {
		return nil, err
	}
	var rows []Row
	seen := map[string]int{}
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			return rows, nil
		}
		line, _ := cr.FieldPos(0)
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				report(pe.StartLine, pe.Err.Error())
				continue
			}
			return rows, fmt.Errorf("evaluate: read CSV: %w", err)
		}
		if len(rec) != p.width {
			report(line, fmt.Sprintf("%d fields, the header has %d", len(rec), p.width))
			continue
		}
		row, reason := p.row(rec)
		if reason != "" {
			report(line, reason)
			continue
		}
		id := rec[p.id]
		if first, dup := seen[id]; dup {
			report(line, fmt.Sprintf("duplicate id %q (first on line %d)", id, first))
			continue
		}
		seen[id] = line
		row.Line = line
		rows = append(rows, row)
	}
}

// parser holds the column positions of one mapping on one header.
type parser struct {
	m                        *Mapping
	width                    int
	id, date, label, revenue int
	field                    map[string]int
	attrs, nums              []int
	rates                    *ingest.Rates
}

func newParser(m *Mapping, header []string) (*parser, error) {
	pos := map[string]int{}
	for i, h := range header {
		h = strings.TrimSpace(strings.TrimPrefix(h, "\ufeff"))
		if _, dup := pos[h]; !dup {
			pos[h] = i
		}
	}
	find := func(col string) int {
		if i, ok := pos[col]; ok {
			return i
		}
		for h, i := range pos {
			if strings.EqualFold(h, col) {
				return i
			}
		}
		return -1
	}
	var missing []string
	for _, c := range m.columns() {
		if find(c[0]) < 0 {
			missing = append(missing, fmt.Sprintf("%q (%s)", c[0], c[1]))
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("%w: the CSV header lacks column(s) %s", ErrMapping, strings.Join(missing, ", "))
	}
	p := &parser{m: m, width: len(header), id: find(m.ID), date: find(m.Date), label: find(m.Label), revenue: -1,
		field: map[string]int{}, rates: ingest.DefaultRates()}
	if m.Revenue != "" {
		p.revenue = find(m.Revenue)
	}
	for f, c := range m.Fields {
		p.field[f] = find(c)
	}
	for _, c := range m.Attributes {
		p.attrs = append(p.attrs, find(c))
	}
	for _, c := range m.Numeric {
		p.nums = append(p.nums, find(c))
	}
	return p, nil
}

// row builds a Row from a record, or returns why it cannot.
func (p *parser) row(rec []string) (Row, string) {
	get := func(f string) string {
		if i, ok := p.field[f]; ok {
			return strings.TrimSpace(rec[i])
		}
		return ""
	}
	id := strings.TrimSpace(rec[p.id])
	if id == "" {
		return Row{}, "empty id"
	}
	at, err := time.Parse(p.m.DateFormat, strings.TrimSpace(rec[p.date]))
	if err != nil {
		return Row{}, fmt.Sprintf("date %q does not match %q", rec[p.date], p.m.DateFormat)
	}
	hit, ok := parseLabel(rec[p.label])
	if !ok {
		return Row{}, fmt.Sprintf("label %q is not 1/true/yes or 0/false/no", rec[p.label])
	}
	var row Row
	row.Hit, row.At = hit, at.UTC()
	if p.revenue >= 0 {
		if s := strings.TrimSpace(rec[p.revenue]); s != "" {
			v, err := strconv.ParseFloat(s, 64)
			if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
				return Row{}, fmt.Sprintf("revenue %q is not a number", s)
			}
			row.Revenue = v
		}
	}

	d := &ingest.Declaration{
		Schema: ingest.SchemaDeclarationV1, Version: 1, Direction: ingest.Import, DeclaredAt: row.At,
		Port: get(FieldPort), TradeMode: get(FieldTradeMode), TransportMode: get(FieldTransportMode),
		Declarant: get(FieldDeclarant),
		Consignee: ingest.Enterprise{CustomsCode: get(FieldImporter)},
		Consignor: ingest.Enterprise{CustomsCode: get(FieldConsignor)},
	}
	d.DepartureCountry = country(get(FieldDepartureCountry))
	if isDigits(id) && len(id) == 18 {
		d.Number = id
	} else {
		d.Number = syntheticNumber(id)
		d.Attributes = map[string]string{SourceIDAttribute: id}
	}
	it := ingest.Item{Seq: 1, OriginCountry: country(get(FieldOriginCountry)), Currency: strings.ToUpper(get(FieldCurrency))}
	if _, mapped := p.field[FieldHSCode]; mapped {
		hs := get(FieldHSCode)
		code, ok := normalizeHS(hs)
		if !ok {
			return Row{}, fmt.Sprintf("hs_code %q is not 6 to 10 digits", hs)
		}
		it.HSCode = code
	}
	for _, f := range [...]struct {
		name string
		dst  *float64
	}{{FieldNetWeightKg, &it.NetWeightKg}, {FieldQuantity, &it.Quantity}, {FieldDeclaredValue, &it.DeclaredValue}} {
		s := get(f.name)
		if s == "" {
			continue
		}
		v, err := strconv.ParseFloat(s, 64)
		if err != nil || !(v >= 0) || math.IsInf(v, 0) {
			return Row{}, fmt.Sprintf("%s %q is not a non-negative number", f.name, s)
		}
		*f.dst = v
	}
	it.ValueBase = it.DeclaredValue
	if it.Currency != "" && it.Currency != "CNY" {
		if rate, ok := p.rates.Rate(it.Currency, row.At); ok {
			it.ValueBase = math.Round(it.DeclaredValue*rate*100) / 100
		}
	}
	d.Items = []ingest.Item{it}

	for k, i := range p.attrs {
		if s := strings.TrimSpace(rec[i]); s != "" {
			if d.Attributes == nil {
				d.Attributes = map[string]string{}
			}
			d.Attributes[p.m.Attributes[k]] = s
		}
	}
	for k, i := range p.nums {
		s := strings.TrimSpace(rec[i])
		if s == "" {
			continue // unknown, not zero
		}
		v, err := strconv.ParseFloat(s, 64)
		if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
			return Row{}, fmt.Sprintf("%s %q is not a number", p.m.Numeric[k], s)
		}
		if d.Measures == nil {
			d.Measures = map[string]float64{}
		}
		d.Measures[p.m.Numeric[k]] = v
	}
	row.Decl = d
	return row, ""
}

func parseLabel(s string) (hit, ok bool) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "1", "true", "yes", "y", "t", "1.0":
		return true, true
	case "0", "false", "no", "n", "f", "0.0":
		return false, true
	}
	return false, false
}

// hsSeparators is built once: a Replacer builds its tables on first use, which cost more than
// the rest of reading a row.
var hsSeparators = strings.NewReplacer(".", "", " ", "", "-", "")

// normalizeHS strips separators and pads a 6- to 10-digit HS code with zeros to 10 digits.
func normalizeHS(s string) (string, bool) {
	if strings.ContainsAny(s, ". -") {
		s = hsSeparators.Replace(s)
	}
	if len(s) < 6 || len(s) > 10 || !isDigits(s) {
		return "", false
	}
	return s + "0000"[:10-len(s)], true
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// country normalizes ISO alpha-2 or alpha-3 codes to alpha-2 and keeps anything else upper
// case: history may use its own codes, and a model can still learn from them.
func country(s string) string {
	if s == "" {
		return ""
	}
	if a2, ok := ingest.NormalizeCountry(s); ok {
		return a2
	}
	return strings.ToUpper(s)
}

// syntheticNumber derives a stable 18-digit declaration number from an id that is not one:
// "9" and 17 digits of its FNV-1a hash.
func syntheticNumber(id string) string {
	h := fnv.New64a()
	h.Write([]byte(id))
	var b [18]byte
	b[0] = '9'
	v := h.Sum64() % 1e17
	for i := 17; i >= 1; i-- {
		b[i] = byte('0' + v%10)
		v /= 10
	}
	return string(b[:])
}
