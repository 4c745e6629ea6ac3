package synth

import (
	"bufio"
	"io"
	"math"
	"strconv"
	"strings"

	"github.com/portguard/portguard/ingest"
)

// CSV is the labelled-history format of issue 7: one row per declaration, describing its main
// (first) goods item, with the declaration's totals, the manifest cross-check indicators ingest
// would compute, and the truth. Mapping returns the mapping file that reads it back.

// CSVColumns are the header of the labelled CSV, in order.
var CSVColumns = []string{
	"DECL_NO", "DECL_DATE", "PORT", "TRADE_MODE", "TRANSPORT", "DECLARANT", "IMPORTER", "CONSIGNOR",
	"HS_CODE", "DEPARTURE", "ORIGIN", "NET_KG", "QTY", "VALUE", "CURRENCY",
	"PAYMENT_TYPE", "LOADING_PORT", "TRADING_COUNTRY",
	"ITEMS", "TOTAL_VALUE_CNY", "MANIFEST_WEIGHT_DEV", "ROUTE_MISMATCH", "UNDECLARED_CONTAINERS",
	"FRAUD", "RECOVERED", "SEVERITY", "FINDINGS",
}

// CSVDateFormat is the Go layout of DECL_DATE (UTC).
const CSVDateFormat = "2006-01-02 15:04:05"

// Mapping returns the mapping file (YAML, issue 7 keys) for the CSV that CSVWriter writes.
func Mapping() []byte {
	return []byte(`# Mapping of the labelled CSV written by portguard gen (ingest/synth CSVWriter).
id: DECL_NO
date: DECL_DATE
date_format: "` + CSVDateFormat + `"
fields:
  port: PORT
  trade_mode: TRADE_MODE
  transport_mode: TRANSPORT
  declarant: DECLARANT
  importer: IMPORTER
  consignor: CONSIGNOR
  hs_code: HS_CODE
  departure_country: DEPARTURE
  origin_country: ORIGIN
  net_weight_kg: NET_KG
  quantity: QTY
  declared_value: VALUE
  currency: CURRENCY
attributes: [PAYMENT_TYPE, LOADING_PORT, TRADING_COUNTRY]
numeric: [ITEMS, TOTAL_VALUE_CNY, MANIFEST_WEIGHT_DEV, ROUTE_MISMATCH, UNDECLARED_CONTAINERS]
label: FRAUD
revenue: RECOVERED
`)
}

// CSVWriter streams samples as labelled CSV rows. Write the header with the first row; call
// Flush at the end.
type CSVWriter struct {
	w      *bufio.Writer
	buf    []byte
	header bool
}

// NewCSVWriter returns a writer that buffers its output to w.
func NewCSVWriter(w io.Writer) *CSVWriter {
	return &CSVWriter{w: bufio.NewWriterSize(w, 256<<10), buf: make([]byte, 0, 512)}
}

// Write writes one sample as a row (after the header, the first time).
func (c *CSVWriter) Write(s Sample) error {
	if !c.header {
		c.header = true
		if _, err := c.w.WriteString(strings.Join(CSVColumns, ",") + "\n"); err != nil {
			return err
		}
	}
	c.buf = AppendCSVRow(c.buf[:0], s)
	_, err := c.w.Write(c.buf)
	return err
}

// Flush writes any buffered rows to the underlying writer.
func (c *CSVWriter) Flush() error { return c.w.Flush() }

// WriteCSV writes the header and one row per sample.
func WriteCSV(w io.Writer, samples ...Sample) error {
	c := NewCSVWriter(w)
	for i := range samples {
		if err := c.Write(samples[i]); err != nil {
			return err
		}
	}
	if !c.header {
		if _, err := c.w.WriteString(strings.Join(CSVColumns, ",") + "\n"); err != nil {
			return err
		}
	}
	return c.Flush()
}

// AppendCSVRow appends one CSV row (with its newline) for s, columns as in CSVColumns.
func AppendCSVRow(b []byte, s Sample) []byte {
	d := s.Decl
	it := &d.Items[0]
	b = appendCSV(b, d.Number)
	b = append(b, ',')
	b = d.DeclaredAt.UTC().AppendFormat(b, CSVDateFormat)
	for _, f := range [...]string{d.Port, d.TradeMode, d.TransportMode, d.Declarant, d.Consignee.Key(),
		d.Consignor.Key(), it.HSCode, d.DepartureCountry, it.OriginCountry} {
		b = append(b, ',')
		b = appendCSV(b, f)
	}
	b = append(b, ',')
	b = appendFloat(b, it.NetWeightKg)
	b = append(b, ',')
	b = appendFloat(b, it.Quantity)
	b = append(b, ',')
	b = appendFloat(b, it.DeclaredValue)
	b = append(b, ',')
	b = appendCSV(b, it.Currency)
	b = append(b, ',')
	b = appendCSV(b, d.Attributes["payment_type"])
	b = append(b, ',')
	b = appendCSV(b, d.LoadingPort)
	b = append(b, ',')
	b = appendCSV(b, d.TradingCountry)
	b = append(b, ',')
	b = strconv.AppendInt(b, int64(len(d.Items)), 10)
	b = append(b, ',')
	b = appendFloat(b, math.Round(d.TotalValueBase()*100)/100)
	b = append(b, ',')
	if s.Manifest != nil {
		cc := crossCheck(d, s.Manifest)
		b = strconv.AppendFloat(b, cc.WeightDeviation, 'f', 4, 64)
		b = append(b, ',')
		b = strconv.AppendInt(b, int64(b2i(cc.OriginRouteMismatch)), 10)
		b = append(b, ',')
		b = strconv.AppendInt(b, int64(cc.UndeclaredContainers), 10)
	} else {
		b = append(b, ",,"...) // no manifest: the indicators are unknown, not zero
	}
	b = append(b, ',')
	b = strconv.AppendInt(b, int64(b2i(s.Truth.Hit)), 10)
	b = append(b, ',')
	b = appendFloat(b, s.Truth.Revenue)
	b = append(b, ',')
	b = strconv.AppendInt(b, int64(s.Truth.Severity), 10)
	b = append(b, ',')
	for i, f := range s.Truth.Findings {
		if i > 0 {
			b = append(b, '|')
		}
		b = append(b, f...)
	}
	return append(b, '\n')
}

// appendCSV writes a field, quoting it when it holds a comma, quote or line break.
func appendCSV(b []byte, s string) []byte {
	if !strings.ContainsAny(s, ",\"\r\n") {
		return append(b, s...)
	}
	b = append(b, '"')
	b = append(b, strings.ReplaceAll(s, `"`, `""`)...)
	return append(b, '"')
}

// crossCheck computes the manifest indicators as ingest defines them (CrossCheck's doc comments):
// the relative gross weight deviation, an item origin matching neither the loading country nor
// any transshipment country, and manifest containers the declaration does not list.
func crossCheck(d *ingest.Declaration, m *ingest.Manifest) ingest.CrossCheck {
	cc := ingest.CrossCheck{Joined: true}
	var gross float64
	for i := range d.Items {
		gross += d.Items[i].GrossWeightKg
	}
	if m.GrossWeightKg > 0 {
		cc.WeightDeviation = math.Abs(gross-m.GrossWeightKg) / m.GrossWeightKg
	}
	for i := range d.Items {
		o := d.Items[i].OriginCountry
		ok := len(m.LoadingPort) >= 2 && m.LoadingPort[:2] == o
		for _, t := range m.TransshipmentPorts {
			ok = ok || len(t) >= 2 && t[:2] == o
		}
		if !ok {
			cc.OriginRouteMismatch = true
		}
	}
	for _, c := range m.Containers {
		if !contains(d.Containers, c) {
			cc.UndeclaredContainers++
		}
	}
	return cc
}
