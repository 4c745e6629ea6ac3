package analytics

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/portguard/portguard/clearance"
	"github.com/portguard/portguard/ingest"
	"github.com/portguard/portguard/targeting"
)

// Every writer below is idempotent: the tables are ReplacingMergeTree keyed on the identity of
// the row (declaration number + version, result version, source offset …), so a re-delivered
// message inserts an identical row that FINAL, argMax or the next merge collapses into one.

// insert sends one batch with an explicit column list (ClickHouse 18.16 requires it) through the
// breaker. row appends the i-th row.
func (s *Store) insert(ctx context.Context, op, query string, n int, row func(b driver.Batch, i int) error) error {
	if n == 0 {
		return nil
	}
	return s.do(ctx, op, func(ctx context.Context) error {
		b, err := s.conn.PrepareBatch(ctx, query)
		if err != nil {
			return err
		}
		defer b.Abort()
		for i := range n {
			if err := row(b, i); err != nil {
				// Bad values are the caller's problem, not the server's.
				return callerError{fmt.Errorf("row %d: %w", i, err)}
			}
		}
		return b.Send()
	})
}

// ts clamps a time into what DateTime holds (1970 … 2106), in UTC; the zero time becomes 1970.
func ts(t time.Time) time.Time {
	if t.IsZero() || t.Unix() < 0 {
		return time.Unix(0, 0).UTC()
	}
	if t.Unix() > 4294967295 {
		return time.Unix(4294967295, 0).UTC()
	}
	return t.UTC()
}

func u32(v int) uint32 {
	if v < 0 {
		return 0
	}
	return uint32(v)
}

func b2u(b bool) uint8 {
	if b {
		return 1
	}
	return 0
}

func strs(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// uniqSorted returns the distinct non-empty values, sorted: stable arrays for analysts' arrayJoin.
func uniqSorted(v []string) []string {
	out := make([]string, 0, len(v))
	for _, x := range v {
		if x != "" {
			out = append(out, x)
		}
	}
	sort.Strings(out)
	return slices.Compact(out)
}

const declarationColumns = `INSERT INTO declarations (declaration_no, version, direction, declared_at, port,
 trade_mode, transport_mode, importer, consignee_uscc, consignee_code, consignee_name, consignor_uscc,
 consignor_code, consignor_name, declarant, trading_country, departure_country, loading_port,
 bill_of_lading, vessel_voyage, containers, item_count, hs2, hs4, origins, total_value_base,
 total_net_weight_kg, attr_keys, attr_values, measure_keys, measure_values, manifest_joined,
 weight_deviation, origin_route_mismatch, undeclared_containers, received_at, raw)`

const itemColumns = `INSERT INTO declaration_items (declaration_no, version, seq, declared_at, port,
 importer, hs10, hs2, hs4, hs6, hs8, ciq_code, description, origin, quantity, unit, net_weight_kg,
 gross_weight_kg, declared_value, currency, value_base)`

// InsertDeclarations stores declarations (header row each) and their goods items. Storing the
// same number+version again changes nothing once merged; read with FINAL.
//
// The two tables are written at the same time over two connections, column by column, rows in
// sorting-key order (the server then skips sorting and copying every column of the part): the
// server's work on one overlaps ours and its own on the other. When either fails the caller
// re-sends the whole batch (retry or spool), and both tables deduplicate.
func (s *Store) InsertDeclarations(ctx context.Context, ds []*ingest.Declaration) error {
	for i, d := range ds {
		if d == nil {
			return fmt.Errorf("analytics: insert declarations: %w: declaration %d is nil", ErrInvalid, i)
		}
	}
	if len(ds) == 0 {
		return nil
	}
	ds = sortedByKey(ds)
	var itemsErr error
	done := make(chan struct{})
	go func() {
		defer close(done)
		n, cols := itemColumnsOf(ds)
		itemsErr = s.insertColumns(ctx, "insert_declaration_items", itemColumns, n, cols)
	}()
	err := s.insertColumns(ctx, "insert_declarations", declarationColumns, len(ds), declarationColumnsOf(ds))
	<-done
	if err != nil {
		return fmt.Errorf("analytics: insert declarations: %w", err)
	}
	if itemsErr != nil {
		return fmt.Errorf("analytics: insert declaration items: %w", itemsErr)
	}
	return nil
}

func sortedPairs(m map[string]string) (keys, values []string) {
	keys = make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	values = make([]string, len(keys))
	for i, k := range keys {
		values[i] = m[k]
	}
	return keys, values
}

// InsertManifests stores manifests; the latest received version of a bill of lading wins.
func (s *Store) InsertManifests(ctx context.Context, ms []*ingest.Manifest) error {
	raws := make([][]byte, len(ms))
	for i, m := range ms {
		if m == nil {
			return fmt.Errorf("analytics: insert manifests: %w: manifest %d is nil", ErrInvalid, i)
		}
		b, err := json.Marshal(m)
		if err != nil {
			return fmt.Errorf("analytics: insert manifests: encode %s: %w", m.BillOfLading, err)
		}
		raws[i] = b
	}
	err := s.insert(ctx, "insert_manifests", `INSERT INTO manifests (bill_of_lading, carrier, vessel_imo,
 voyage, loading_port, transshipment_ports, containers, gross_weight_kg, packages, arrival_at, received_at, raw)`,
		len(ms), func(b driver.Batch, i int) error {
			m := ms[i]
			return b.Append(m.BillOfLading, m.Carrier, m.VesselIMO, m.Voyage, m.LoadingPort,
				strs(m.TransshipmentPorts), strs(m.Containers), m.GrossWeightKg, u32(m.Packages),
				ts(m.ArrivalAt), ts(m.ReceivedAt), string(raws[i]))
		})
	if err != nil {
		return fmt.Errorf("analytics: insert manifests: %w", err)
	}
	return nil
}

// decisionDims pulls the dimensions analysts group by out of a decision's features (targeting
// names them hs2, hs4, origin, trade_mode), so trend queries need no join with declarations.
func decisionDims(d *targeting.Decision) (hs2, hs4, origins []string, tradeMode string) {
	for _, f := range d.Features {
		switch f.Name {
		case "hs2":
			hs2 = append(hs2, f.Value)
		case "hs4":
			hs4 = append(hs4, f.Value)
		case "hs6", "hs8", "hs10":
			if len(f.Value) >= 4 {
				hs4 = append(hs4, f.Value[:4])
			}
		case "origin":
			origins = append(origins, f.Value)
		case "trade_mode":
			tradeMode = f.Value
		}
	}
	for _, h := range hs4 {
		if len(h) >= 2 {
			hs2 = append(hs2, h[:2])
		}
	}
	return uniqSorted(hs2), uniqSorted(hs4), uniqSorted(origins), tradeMode
}

const decisionColumns = `INSERT INTO decisions (declaration_no, version, decided_at, port, importer,
 channel, action, selection, score, probability, random, propensity, model_version, rules_fired,
 rules_selected, reasons, feature_names, feature_values, hs2, hs4, origins, trade_mode, degraded, raw)`

// InsertDecisions stores decisions, one row per declaration version (a re-decision with a later
// decided_at replaces the earlier one).
func (s *Store) InsertDecisions(ctx context.Context, ds []targeting.Decision) error {
	for i := range ds {
		if err := validChannel(ds[i].Channel); err != nil {
			return fmt.Errorf("analytics: insert decisions: %s: %w", ds[i].ID(), err)
		}
	}
	err := s.insert(ctx, "insert_decisions", decisionColumns, len(ds), func(b driver.Batch, i int) error {
		d := &ds[i]
		raw, err := json.Marshal(d)
		if err != nil {
			return err
		}
		reasons, err := json.Marshal(d.Reasons)
		if err != nil {
			return err
		}
		fired := make([]string, 0, len(d.RulesFired))
		selected := make([]string, 0, len(d.RulesFired))
		for _, r := range d.RulesFired {
			fired = append(fired, r.ID)
			if r.Selected {
				selected = append(selected, r.ID)
			}
		}
		fn := make([]string, len(d.Features))
		fv := make([]string, len(d.Features))
		for j, f := range d.Features {
			fn[j], fv[j] = f.Name, f.Value
		}
		hs2, hs4, origins, tm := decisionDims(d)
		return b.Append(d.DeclarationNo, u32(d.Version), ts(d.DecidedAt), d.Port, d.Importer,
			string(d.Channel), string(d.Action), string(d.Selection), d.Score, d.Probability,
			b2u(d.Random), d.Propensity, d.ModelVersion, fired, selected, string(reasons), fn, fv,
			hs2, hs4, origins, tm, b2u(d.Degraded), string(raw))
	})
	if err != nil {
		return fmt.Errorf("analytics: insert decisions: %w", err)
	}
	return nil
}

func validChannel(c targeting.Channel) error {
	switch c {
	case targeting.Red, targeting.Yellow, targeting.Green:
		return nil
	}
	return fmt.Errorf("%w: unknown channel %q", ErrInvalid, c)
}

const resultColumns = `INSERT INTO inspection_results (declaration_no, decl_version, result_version,
 task_id, officer, port, outcome, hit, severity, findings, finding_severities, adjustment, revenue,
 disposition, note, inspected_at, channel, selection, random, propensity, model_version, rules_fired,
 decided_at, label, raw)`

// InsertResults stores inspection results; each result version is its own row and corrections
// add versions (queries read the latest).
func (s *Store) InsertResults(ctx context.Context, rs []clearance.InspectionResult) error {
	for i := range rs {
		switch rs[i].Outcome {
		case clearance.Conforming, clearance.NonConforming, clearance.PendingLab:
		default:
			return fmt.Errorf("analytics: insert results: %s-%d: %w: unknown outcome %q", rs[i].DeclarationNo, rs[i].DeclVersion, ErrInvalid, rs[i].Outcome)
		}
	}
	err := s.insert(ctx, "insert_results", resultColumns, len(rs), func(b driver.Batch, i int) error {
		r := &rs[i]
		raw, err := json.Marshal(r)
		if err != nil {
			return err
		}
		label, err := json.Marshal(r.Label)
		if err != nil {
			return err
		}
		codes := make([]string, len(r.Findings))
		sev := make([]uint8, len(r.Findings))
		maxSev := r.Label.Severity
		for j, f := range r.Findings {
			codes[j] = f.Code
			sev[j] = uint8(min(max(f.Severity, 0), 255))
			maxSev = max(maxSev, f.Severity)
		}
		// The officer's recorded outcome is the truth; the label only carries decision context.
		hit := r.Outcome == clearance.NonConforming
		revenue := r.Label.Revenue
		if revenue == 0 {
			revenue = r.Adjustment
		}
		l := &r.Label
		return b.Append(r.DeclarationNo, u32(r.DeclVersion), u32(r.Version), r.TaskID, r.Officer, r.Port,
			string(r.Outcome), b2u(hit), uint8(min(max(maxSev, 0), 255)), codes, sev, r.Adjustment, revenue,
			r.Disposition, r.Note, ts(r.InspectedAt), string(l.Channel), string(l.Selection), b2u(l.Random),
			l.Propensity, l.ModelVersion, strs(l.RulesFired), ts(l.DecidedAt), string(label), string(raw))
	})
	if err != nil {
		return fmt.Errorf("analytics: insert results: %w", err)
	}
	return nil
}

// InsertReleases stores release receipts, one per declaration version.
func (s *Store) InsertReleases(ctx context.Context, rs []clearance.Release) error {
	err := s.insert(ctx, "insert_releases", `INSERT INTO releases (declaration_no, decl_version, port,
 channel, disposition, released_by, released_at, raw)`, len(rs), func(b driver.Batch, i int) error {
		r := &rs[i]
		raw, err := json.Marshal(r)
		if err != nil {
			return err
		}
		return b.Append(r.DeclarationNo, u32(r.DeclVersion), r.Port, string(r.Channel), r.Disposition,
			r.ReleasedBy, ts(r.ReleasedAt), string(raw))
	})
	if err != nil {
		return fmt.Errorf("analytics: insert releases: %w", err)
	}
	return nil
}

// InsertDeadLetters stores dead letters, one per source topic, partition and offset.
func (s *Store) InsertDeadLetters(ctx context.Context, ds []ingest.DeadLetter) error {
	err := s.insert(ctx, "insert_dead_letters", `INSERT INTO dead_letters (source_topic, partition, offset,
 key, value, reason, errors, at)`, len(ds), func(b driver.Batch, i int) error {
		d := &ds[i]
		errs := []byte("[]")
		if len(d.Errors) > 0 {
			var err error
			if errs, err = json.Marshal(d.Errors); err != nil {
				return err
			}
		}
		return b.Append(d.SourceTopic, int32(d.Partition), d.Offset, d.Key, string(d.Value), d.Reason,
			string(errs), ts(d.At))
	})
	if err != nil {
		return fmt.Errorf("analytics: insert dead letters: %w", err)
	}
	return nil
}

// keysPerRead bounds the declaration numbers in one IN list of the reads below: 1,000 numbers
// keep the query far under ClickHouse's max_query_size (256 KiB).
const keysPerRead = 1000

// eachStored runs `SELECT cols FROM table WHERE declaration_no IN (…)` over numbers, in chunks,
// and hands each row to scan.
func (s *Store) eachStored(ctx context.Context, op, cols, table string, numbers []string, scan func(driver.Rows) error) error {
	for lo := 0; lo < len(numbers); lo += keysPerRead {
		chunk := numbers[lo:min(lo+keysPerRead, len(numbers))]
		var q strings.Builder
		q.WriteString("SELECT " + cols + " FROM " + table + " WHERE declaration_no IN (")
		for i, n := range chunk {
			if i > 0 {
				q.WriteByte(',')
			}
			q.WriteString(quoteString(n))
		}
		q.WriteByte(')')
		err := s.do(ctx, op, func(ctx context.Context) error {
			rows, err := s.conn.Query(ctx, q.String())
			if err != nil {
				return err
			}
			defer rows.Close()
			for rows.Next() {
				if err := scan(rows); err != nil {
					return err
				}
			}
			return rows.Err()
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// quoteString is a ClickHouse string literal of v.
func quoteString(v string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(v) + "'"
}

// distinctNumbers returns the distinct declaration numbers of n values got by number(i).
func distinctNumbers(n int, number func(i int) string) []string {
	seen := make(map[string]bool, n)
	out := make([]string, 0, n)
	for i := range n {
		if x := number(i); !seen[x] {
			seen[x] = true
			out = append(out, x)
		}
	}
	return out
}

type declKey struct {
	number  string
	version uint32
}

type lineKey struct {
	declKey
	seq uint32
}

// InsertDeclarationsOnce is InsertDeclarations for a batch that may have been stored before, in
// whole or in part (ingest.OnceStore: redelivered after a crash, retried, drained from the
// spool). It reads which header rows and goods lines of ds the tables hold and inserts only the
// others, so that every row is there exactly once in raw counts, not only after a merge. The
// reads cost about as much as the insert; ingest uses this only for batches it cannot be sure
// of.
func (s *Store) InsertDeclarationsOnce(ctx context.Context, ds []*ingest.Declaration) error {
	for i, d := range ds {
		if d == nil {
			return fmt.Errorf("analytics: insert declarations once: %w: declaration %d is nil", ErrInvalid, i)
		}
	}
	if len(ds) == 0 {
		return nil
	}
	ds = sortedByKey(ds)
	numbers := distinctNumbers(len(ds), func(i int) string { return ds[i].Number })
	// The two reads run at the same time, over two connections, like the inserts.
	heads := map[declKey]bool{}
	lines := map[lineKey]bool{}
	var linesErr error
	done := make(chan struct{})
	go func() {
		defer close(done)
		linesErr = s.eachStored(ctx, "stored_declaration_items", "declaration_no, version, seq", "declaration_items", numbers, func(r driver.Rows) error {
			var k lineKey
			if err := r.Scan(&k.number, &k.version, &k.seq); err != nil {
				return err
			}
			lines[k] = true
			return nil
		})
	}()
	err := s.eachStored(ctx, "stored_declarations", "declaration_no, version", "declarations", numbers, func(r driver.Rows) error {
		var k declKey
		if err := r.Scan(&k.number, &k.version); err != nil {
			return err
		}
		heads[k] = true
		return nil
	})
	<-done
	if err != nil {
		return fmt.Errorf("analytics: insert declarations once: read stored headers: %w", err)
	}
	if linesErr != nil {
		return fmt.Errorf("analytics: insert declarations once: read stored goods lines: %w", linesErr)
	}

	todo := make([]*ingest.Declaration, 0, len(ds))
	for _, d := range ds {
		k := declKey{d.Number, u32(d.Version)}
		if !heads[k] {
			heads[k] = true // and not twice from one batch
			todo = append(todo, d)
		}
	}
	n, cols := itemColumnsOf(ds)
	number, version, seq := cols[0].([]string), cols[1].([]uint32), cols[2].([]uint32)
	keep := make([]bool, n)
	for i := range n {
		k := lineKey{declKey{number[i], version[i]}, seq[i]}
		keep[i] = !lines[k]
		lines[k] = true
	}
	if n, cols, err = compactColumns(cols, keep); err != nil {
		return fmt.Errorf("analytics: insert declarations once: %w", err)
	}
	if err := s.insertColumns(ctx, "insert_declarations", declarationColumns, len(todo), declarationColumnsOf(todo)); err != nil {
		return fmt.Errorf("analytics: insert declarations once: %w", err)
	}
	if err := s.insertColumns(ctx, "insert_declaration_items", itemColumns, n, cols); err != nil {
		return fmt.Errorf("analytics: insert declaration items once: %w", err)
	}
	return nil
}

// InsertWithdrawals stores withdrawals (撤单), one row per declaration number and withdrawal
// time, leaving out those stored before (ingest.WithdrawalStore): withdrawals are few, so the
// read that makes a redelivery add no row is always worth it.
func (s *Store) InsertWithdrawals(ctx context.Context, ws []*ingest.Withdrawal) error {
	for i, w := range ws {
		if w == nil {
			return fmt.Errorf("analytics: insert withdrawals: %w: withdrawal %d is nil", ErrInvalid, i)
		}
	}
	if len(ws) == 0 {
		return nil
	}
	type key struct {
		number string
		at     int64
	}
	stored := map[key]bool{}
	numbers := distinctNumbers(len(ws), func(i int) string { return ws[i].Number })
	err := s.eachStored(ctx, "stored_withdrawals", "declaration_no, withdrawn_at", "withdrawals", numbers, func(r driver.Rows) error {
		var (
			no string
			at time.Time
		)
		if err := r.Scan(&no, &at); err != nil {
			return err
		}
		stored[key{no, at.Unix()}] = true
		return nil
	})
	if err != nil {
		return fmt.Errorf("analytics: insert withdrawals: read stored: %w", err)
	}
	todo := make([]*ingest.Withdrawal, 0, len(ws))
	for _, w := range ws {
		k := key{w.Number, ts(w.At).Unix()}
		if !stored[k] {
			stored[k] = true
			todo = append(todo, w)
		}
	}
	now := time.Now().UTC()
	err = s.insert(ctx, "insert_withdrawals", `INSERT INTO withdrawals (declaration_no, withdrawn_at, reason,
 received_at, raw)`, len(todo), func(b driver.Batch, i int) error {
		w := todo[i]
		raw, err := json.Marshal(w)
		if err != nil {
			return err
		}
		return b.Append(w.Number, ts(w.At), w.Reason, now, string(raw))
	})
	if err != nil {
		return fmt.Errorf("analytics: insert withdrawals: %w", err)
	}
	return nil
}
