package analytics

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
	"unsafe"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/portguard/portguard/ingest"
)

// Column-wise inserts for the ingest hot path. driver.Batch.Append takes one row as []any: every
// value boxed, every column type-switched per row. Building one typed slice per column and
// handing it to the column whole (Column(i).Append) does the same work without either; arrays
// go row by row through AppendRow, which has a reflection-free path for []string and []float64.

// flushRows is how many rows are sent to the server as one block of the INSERT. The server
// gathers the blocks of one INSERT into one part, so this does not change what is written; it
// keeps our column buffers small and reused (a 10,000-row batch grown in one piece spent most
// of its time copying and faulting in fresh memory) and lets the server read one block while
// we build the next.
const flushRows = 1024

// insertColumns sends one batch whose i-th column holds cols[i]: a []string, []uint32, []uint8,
// []float64, []time.Time, [][]string, [][]float64 or rawJSON of n values each.
func (s *Store) insertColumns(ctx context.Context, op, query string, n int, cols []any) error {
	if n == 0 {
		return nil
	}
	return s.do(ctx, op, func(ctx context.Context) error {
		b, err := s.conn.PrepareBatch(ctx, query)
		if err != nil {
			return err
		}
		defer b.Abort()
		for lo := 0; lo < n; lo += flushRows {
			hi := min(lo+flushRows, n)
			for i, c := range cols {
				if err := appendColumn(b.Column(i), c, lo, hi); err != nil {
					// Bad values are the caller's problem, not the server's.
					return callerError{fmt.Errorf("column %d: %w", i, err)}
				}
			}
			if hi < n {
				if err := b.Flush(); err != nil {
					return err
				}
			}
		}
		return b.Send()
	})
}

// appendColumn appends rows lo … hi-1 of vals to c.
func appendColumn(c driver.BatchColumn, vals any, lo, hi int) error {
	switch v := vals.(type) {
	case []string:
		return c.Append(v[lo:hi])
	case []uint32:
		return c.Append(v[lo:hi])
	case []uint8:
		return c.Append(v[lo:hi])
	case []float64:
		return c.Append(v[lo:hi])
	case []time.Time:
		return c.Append(v[lo:hi])
	case [][]string:
		// Row by row: AppendRow has a reflection-free path for []string, Append has not.
		for _, x := range v[lo:hi] {
			if err := c.AppendRow(x); err != nil {
				return err
			}
		}
		return nil
	case [][]float64:
		for _, x := range v[lo:hi] {
			if err := c.AppendRow(x); err != nil {
				return err
			}
		}
		return nil
	case rawJSON:
		return v.append(c, lo, hi)
	}
	return fmt.Errorf("%w: no column appender for %T", ErrInvalid, vals)
}

// rawJSON is the raw column of declarations: each declaration's wire form, exactly as
// json.Marshal writes it, encoded block by block into a pooled buffer.
type rawJSON []*ingest.Declaration

// rawBuffer is what rawJSON encodes into: the JSON and the strings over it.
type rawBuffer struct {
	b    []byte
	strs []string
}

var rawBuffers = sync.Pool{New: func() any { return &rawBuffer{b: make([]byte, 0, 4<<20)} }}

func (r rawJSON) append(c driver.BatchColumn, lo, hi int) error {
	rb := rawBuffers.Get().(*rawBuffer)
	defer rawBuffers.Put(rb)
	buf, ends := rb.b[:0], make([]int, 0, hi-lo)
	for _, d := range r[lo:hi] {
		var err error
		if buf, err = d.AppendJSON(buf); err != nil {
			return fmt.Errorf("%w: encode %s: %w", ErrInvalid, d.ID(), err)
		}
		ends = append(ends, len(buf))
	}
	rb.b = buf
	// The strings share buf without copying it: the column copies them into its own buffer
	// within Append, and they are cleared before buf is used again.
	strs := rb.strs[:0]
	start := 0
	for _, end := range ends {
		strs = append(strs, unsafe.String(unsafe.SliceData(buf[start:end]), end-start))
		start = end
	}
	err := c.Append(strs)
	clear(strs)
	rb.strs = strs[:0]
	return err
}

// declarationColumnsOf builds the columns of declarationColumns for ds, in that order.
func declarationColumnsOf(ds []*ingest.Declaration) []any {
	n := len(ds)
	var (
		number, direction, port, tradeMode, transportMode, importer = mk[string](n), mk[string](n), mk[string](n), mk[string](n), mk[string](n), mk[string](n)
		eeUSCC, eeCode, eeName, orUSCC, orCode, orName              = mk[string](n), mk[string](n), mk[string](n), mk[string](n), mk[string](n), mk[string](n)
		declarant, trading, departure, loading, bl, vessel          = mk[string](n), mk[string](n), mk[string](n), mk[string](n), mk[string](n), mk[string](n)
		version, itemCount, undeclared                              = mk[uint32](n), mk[uint32](n), mk[uint32](n)
		declaredAt, receivedAt                                      = mk[time.Time](n), mk[time.Time](n)
		containers, hs2, hs4, origins, ak, av, mkeys                = mk[[]string](n), mk[[]string](n), mk[[]string](n), mk[[]string](n), mk[[]string](n), mk[[]string](n), mk[[]string](n)
		mvals                                                       = mk[[]float64](n)
		totalValue, totalWeight, deviation                          = mk[float64](n), mk[float64](n), mk[float64](n)
		joined, mismatch                                            = mk[uint8](n), mk[uint8](n)
	)
	// The per-declaration arrays are cut from shared backing slices: a handful of allocations
	// per batch instead of several per declaration.
	var items int
	for _, d := range ds {
		items += len(d.Items)
	}
	codes := make([]string, 0, 3*items)
	for i, d := range ds {
		number[i], version[i], direction[i], declaredAt[i] = d.Number, u32(d.Version), string(d.Direction), ts(d.DeclaredAt)
		port[i], tradeMode[i], transportMode[i], importer[i] = d.Port, d.TradeMode, d.TransportMode, d.Importer().Key()
		eeUSCC[i], eeCode[i], eeName[i] = d.Consignee.USCC, d.Consignee.CustomsCode, d.Consignee.Name
		orUSCC[i], orCode[i], orName[i] = d.Consignor.USCC, d.Consignor.CustomsCode, d.Consignor.Name
		declarant[i], trading[i], departure[i], loading[i] = d.Declarant, d.TradingCountry, d.DepartureCountry, d.LoadingPort
		bl[i], vessel[i], containers[i] = d.BillOfLading, d.VesselVoyage, strs(d.Containers)
		itemCount[i] = u32(len(d.Items))
		var weight float64
		for j := range d.Items {
			weight += d.Items[j].NetWeightKg
		}
		hs2[i], codes = uniqSortedInto(codes, d.Items, func(it *ingest.Item) string { return it.HS(2) })
		hs4[i], codes = uniqSortedInto(codes, d.Items, func(it *ingest.Item) string { return it.HS(4) })
		origins[i], codes = uniqSortedInto(codes, d.Items, func(it *ingest.Item) string { return it.OriginCountry })
		totalValue[i], totalWeight[i] = d.TotalValueBase(), weight
		ak[i], av[i] = sortedPairs(d.Attributes)
		mkeys[i], mvals[i] = sortedMeasures(d.Measures)
		joined[i], deviation[i], mismatch[i] = b2u(d.Check.Joined), d.Check.WeightDeviation, b2u(d.Check.OriginRouteMismatch)
		undeclared[i], receivedAt[i] = u32(d.Check.UndeclaredContainers), ts(d.ReceivedAt)
	}
	return []any{number, version, direction, declaredAt, port, tradeMode, transportMode, importer,
		eeUSCC, eeCode, eeName, orUSCC, orCode, orName, declarant, trading, departure, loading, bl, vessel,
		containers, itemCount, hs2, hs4, origins, totalValue, totalWeight, ak, av, mkeys, mvals, joined,
		deviation, mismatch, undeclared, receivedAt, rawJSON(ds)}
}

// itemColumnsOf builds the columns of itemColumns for every item of ds, in that order.
func itemColumnsOf(ds []*ingest.Declaration) (int, []any) {
	var n int
	for _, d := range ds {
		n += len(d.Items)
	}
	var (
		number, port, importer, hs10, hs2, hs4, hs6, hs8 = mk[string](n), mk[string](n), mk[string](n), mk[string](n), mk[string](n), mk[string](n), mk[string](n), mk[string](n)
		ciq, desc, origin, unit, currency                = mk[string](n), mk[string](n), mk[string](n), mk[string](n), mk[string](n)
		version, seq                                     = mk[uint32](n), mk[uint32](n)
		declaredAt                                       = mk[time.Time](n)
		qty, net, gross, value, base                     = mk[float64](n), mk[float64](n), mk[float64](n), mk[float64](n), mk[float64](n)
	)
	k := 0
	for _, d := range ds {
		v, at, imp := u32(d.Version), ts(d.DeclaredAt), d.Importer().Key()
		order := itemOrder(d)
		for jj := range d.Items {
			j := jj
			if order != nil {
				j = order[jj]
			}
			it := &d.Items[j]
			s := it.Seq
			if s == 0 {
				s = j + 1
			}
			number[k], version[k], seq[k], declaredAt[k], port[k], importer[k] = d.Number, v, u32(s), at, d.Port, imp
			hs10[k], hs2[k], hs4[k], hs6[k], hs8[k] = it.HSCode, it.HS(2), it.HS(4), it.HS(6), it.HS(8)
			ciq[k], desc[k], origin[k], qty[k], unit[k] = it.CIQCode, it.Description, it.OriginCountry, it.Quantity, it.Unit
			net[k], gross[k], value[k], currency[k], base[k] = it.NetWeightKg, it.GrossWeightKg, it.DeclaredValue, it.Currency, it.ValueBase
			k++
		}
	}
	return n, []any{number, version, seq, declaredAt, port, importer, hs10, hs2, hs4, hs6, hs8, ciq, desc,
		origin, qty, unit, net, gross, value, currency, base}
}

func mk[T any](n int) []T { return make([]T, n) }

// sortedByKey returns ds (or a sorted copy of it) in the tables' sorting-key order, number then
// version: ClickHouse checks whether an inserted block is already sorted and, when it is, writes
// the columns as they are instead of sorting and copying each one.
func sortedByKey(ds []*ingest.Declaration) []*ingest.Declaration {
	less := func(a, b *ingest.Declaration) int {
		if c := strings.Compare(a.Number, b.Number); c != 0 {
			return c
		}
		return cmp.Compare(u32(a.Version), u32(b.Version))
	}
	if slices.IsSortedFunc(ds, less) {
		return ds
	}
	ds = slices.Clone(ds)
	slices.SortStableFunc(ds, less)
	return ds
}

// itemOrder returns the indexes of d's items by sequence number (the items table's sorting key
// after number and version), or nil when they are in that order already.
func itemOrder(d *ingest.Declaration) []int {
	seq := func(j int) uint32 {
		if s := d.Items[j].Seq; s != 0 {
			return u32(s)
		}
		return u32(j + 1)
	}
	sorted := true
	for j := 1; j < len(d.Items) && sorted; j++ {
		sorted = seq(j-1) <= seq(j)
	}
	if sorted {
		return nil
	}
	order := make([]int, len(d.Items))
	for j := range order {
		order[j] = j
	}
	slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(seq(a), seq(b)) })
	return order
}

// uniqSortedInto appends the distinct non-empty values of key over items, sorted, to buf and
// returns them (a slice of buf) with the grown buf: uniqSorted without an allocation per call.
func uniqSortedInto(buf []string, items []ingest.Item, key func(*ingest.Item) string) ([]string, []string) {
	start := len(buf)
	for j := range items {
		if v := key(&items[j]); v != "" {
			buf = append(buf, v)
		}
	}
	out := buf[start:]
	slices.Sort(out)
	out = slices.Compact(out)
	// Full slice expression: a later append to buf must not write into out's spare capacity.
	return out[:len(out):len(out)], buf[:start+len(out)]
}

func sortedMeasures(m map[string]float64) ([]string, []float64) {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	vals := make([]float64, len(keys))
	for i, k := range keys {
		vals[i] = m[k]
	}
	return keys, vals
}

// compactColumns keeps the rows i with keep[i] of columns built for insertColumns and returns
// their number and the columns.
func compactColumns(cols []any, keep []bool) (int, []any, error) {
	n := 0
	for _, k := range keep {
		if k {
			n++
		}
	}
	out := make([]any, len(cols))
	for i, c := range cols {
		switch v := c.(type) {
		case []string:
			out[i] = compact(v, keep)
		case []uint32:
			out[i] = compact(v, keep)
		case []uint8:
			out[i] = compact(v, keep)
		case []float64:
			out[i] = compact(v, keep)
		case []time.Time:
			out[i] = compact(v, keep)
		case [][]string:
			out[i] = compact(v, keep)
		case [][]float64:
			out[i] = compact(v, keep)
		default:
			return 0, nil, fmt.Errorf("compact column %d: unsupported type %T", i, c)
		}
	}
	return n, out, nil
}

func compact[T any](v []T, keep []bool) []T {
	out := make([]T, 0, len(v))
	for i, x := range v {
		if keep[i] {
			out = append(out, x)
		}
	}
	return out
}
