package analytics

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// The dashboards read two derived tables (migration 0003): decision_facts, one row per
// declaration version with its latest concluded result, and daily_cube, those facts summed per
// day and low-cardinality dimensions. Rollup keeps them exact: it rebuilds every day whose raw
// rows changed, deduplicating the raw rows (FINAL within a partition, LIMIT 1 BY across), and
// swaps each rebuilt day in with REPLACE PARTITION, so a reader sees a day either wholly before
// or wholly after a rebuild, never a mix and never a duplicate.

// rollupState serializes rollups in this process and remembers when the last one finished.
type rollupState struct {
	mu       sync.Mutex
	lastDone time.Time
}

// RollupStats says what one Rollup did.
type RollupStats struct {
	Days    int           `json:"days"`    // facts days rebuilt
	Facts   uint64        `json:"facts"`   // fact rows written
	Elapsed time.Duration `json:"elapsed"` // wall time
}

const (
	kindDecision = "decision"
	kindResult   = "result"
	kindFacts    = "facts"
	kindGrade    = "grade" // grade_changes recorded with changed_at on the day (migration 0007)
	dateLayout   = "2006-01-02"
	// touchMargin: a day touched in the same second as (or one second before) a rollup began
	// reading counts as changed after it, whichever way now()'s second resolution rounded. The
	// materialized views evaluate now() after the insert's part is committed, so a touch earlier
	// than that was visible to the rollup.
	touchMargin = time.Second
	// maxChunkDays bounds the days rebuilt by one statement, so that its sort stays small.
	maxChunkDays = 31
)

// fresh brings the rollups up to date before a dashboard query, unless Config.RollupLag allows
// the last rollup to stand.
func (s *Store) fresh(ctx context.Context) error {
	if lag := s.cfg.RollupLag; lag > 0 {
		s.rollup.mu.Lock()
		last := s.rollup.lastDone
		s.rollup.mu.Unlock()
		if time.Since(last) < lag {
			return nil
		}
	}
	_, err := s.Rollup(ctx)
	return err
}

// RunRollups rolls up every interval until ctx ends, logging failures: run it in the process
// that serves dashboards when Config.RollupLag > 0, so that queries rarely wait for a rollup.
func (s *Store) RunRollups(ctx context.Context, every time.Duration) {
	if every <= 0 {
		every = 30 * time.Second
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if st, err := s.Rollup(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("rollup failed", "err", err)
		} else if st.Days > 0 {
			s.log.Debug("rolled up", "days", st.Days, "facts", st.Facts, "elapsed", st.Elapsed)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Rollup rebuilds the facts and cube days whose decisions or results changed since they were
// last built. It is cheap when nothing changed. Calls in one process are serialized; run the
// rollup in one process per database (the serving one), since two processes rebuilding the same
// day at once could leave the older rebuild in place.
func (s *Store) Rollup(ctx context.Context) (RollupStats, error) {
	s.rollup.mu.Lock()
	defer s.rollup.mu.Unlock()
	start := time.Now()
	st, err := s.rollupLocked(ctx)
	st.Elapsed = time.Since(start)
	if err != nil {
		return st, fmt.Errorf("analytics: rollup: %w", err)
	}
	s.rollup.lastDone = time.Now()
	if st.Days > 0 {
		s.m.rollupDays.Add(float64(st.Days))
	}
	return st, nil
}

type dayKey struct{ kind, day string }

func (s *Store) rollupLocked(ctx context.Context) (RollupStats, error) {
	var st RollupStats
	var now time.Time
	touched := map[dayKey]time.Time{}
	type state struct {
		at time.Time
		tz string
	}
	built := map[dayKey]state{}
	err := s.do(ctx, "rollup_check", func(ctx context.Context) error {
		if err := s.conn.QueryRow(ctx, "SELECT now()").Scan(&now); err != nil {
			return err
		}
		rows, err := s.conn.Query(ctx, "SELECT kind, toString(day), max(touched_at) FROM rollup_touched GROUP BY kind, day")
		if err != nil {
			return err
		}
		for rows.Next() {
			var k dayKey
			var at time.Time
			if err := rows.Scan(&k.kind, &k.day, &at); err != nil {
				rows.Close()
				return err
			}
			touched[k] = at
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		rows, err = s.conn.Query(ctx, "SELECT kind, toString(day), max(computed_at), argMax(tz, computed_at) FROM rollup_state GROUP BY kind, day")
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var k dayKey
			var v state
			if err := rows.Scan(&k.kind, &k.day, &v.at, &v.tz); err != nil {
				return err
			}
			built[k] = v
		}
		return rows.Err()
	})
	if err != nil {
		return st, err
	}
	stale := func(k dayKey, touchedAt time.Time) bool {
		b, ok := built[k]
		return !ok || (k.kind == kindFacts && b.tz != s.cfg.TimeZone) || !touchedAt.Add(touchMargin).Before(b.at)
	}
	days := map[string]bool{} // local facts days to rebuild
	var resultDays []string   // UTC days whose results must be taken in
	for k, at := range touched {
		switch k.kind {
		case kindDecision:
			for _, l := range s.localDays(k.day) {
				if stale(dayKey{kindFacts, l}, at) {
					days[l] = true
				}
			}
		case kindResult:
			if stale(k, at) {
				resultDays = append(resultDays, k.day)
			}
		case kindGrade:
			// A grade change is the grade as of every later decision too: every facts day from
			// its day on that was built before it is stale.
			if l := s.localDays(k.day); len(l) > 0 {
				for b := range built {
					if b.kind == kindFacts && b.day >= l[0] && stale(b, at) {
						days[b.day] = true
					}
				}
			}
		}
	}
	// A facts day built under another time zone is rebuilt even if nothing touched it.
	for k, b := range built {
		if k.kind == kindFacts && b.tz != s.cfg.TimeZone {
			days[k.day] = true
		}
	}
	if len(resultDays) > 0 {
		ds, err := s.daysOfResults(ctx, resultDays)
		if err != nil {
			return st, err
		}
		for _, d := range ds {
			days[d] = true
		}
	}
	if len(days) == 0 && len(resultDays) == 0 {
		return st, nil
	}
	if len(days) > 0 {
		more, err := s.staleNeighbours(ctx, days)
		if err != nil {
			return st, err
		}
		for _, d := range more {
			days[d] = true
		}
	}
	list := make([]string, 0, len(days))
	for d := range days {
		list = append(list, d)
	}
	slices.Sort(list)
	n, err := s.rebuild(ctx, list)
	st.Days, st.Facts = len(list), n
	if err != nil {
		return st, err
	}
	// Record what was built, as of the time the rollup started reading.
	err = s.insert(ctx, "rollup_state", "INSERT INTO rollup_state (kind, day, computed_at, tz)", len(list)+len(resultDays), func(b driver.Batch, i int) error {
		if i < len(list) {
			return b.Append(kindFacts, mustDate(list[i]), now, s.cfg.TimeZone)
		}
		return b.Append(kindResult, mustDate(resultDays[i-len(list)]), now, s.cfg.TimeZone)
	})
	return st, err
}

func mustDate(s string) time.Time {
	t, _ := time.Parse(dateLayout, s)
	return t
}

// localDays maps a UTC day to the days of the configured time zone it overlaps (one or two).
func (s *Store) localDays(utcDay string) []string {
	t, err := time.Parse(dateLayout, utcDay)
	if err != nil {
		return nil
	}
	a := t.In(s.loc).Format(dateLayout)
	b := t.Add(24*time.Hour - time.Second).In(s.loc).Format(dateLayout)
	if a == b {
		return []string{a}
	}
	return []string{a, b}
}

// dayBounds returns the UTC instants of the start of local day first and of the day after last.
func (s *Store) dayBounds(first, last string) (time.Time, time.Time) {
	a, _ := time.ParseInLocation(dateLayout, first, s.loc)
	b, _ := time.ParseInLocation(dateLayout, last, s.loc)
	return a.UTC(), b.AddDate(0, 0, 1).UTC()
}

// daysOfResults finds the facts days of the decisions that results inspected on the given UTC
// days belong to. The results' own decided_at (from the label) bounds the search from below.
func (s *Store) daysOfResults(ctx context.Context, utcDays []string) ([]string, error) {
	slices.Sort(utcDays)
	lo, _ := time.Parse(dateLayout, utcDays[0])
	hi, _ := time.Parse(dateLayout, utcDays[len(utcDays)-1])
	hi = hi.Add(24 * time.Hour)
	var since time.Time
	tz := s.cfg.TimeZone
	var out []string
	err := s.run(ctx, "rollup_results", time.Duration(s.cfg.RollupSeconds)*time.Second, func(ctx context.Context) error {
		ctx = s.rollupSettings(ctx)
		if err := s.conn.QueryRow(ctx, `SELECT min(decided_at) FROM inspection_results
WHERE inspected_at >= ? AND inspected_at < ? AND has(?, toString(toDate(inspected_at)))`, lo, hi, utcDays).Scan(&since); err != nil {
			return err
		}
		since = since.Add(-s.cfg.RedecisionWindow)
		rows, err := s.conn.Query(ctx, `SELECT DISTINCT toString(toDate(decided_at, '`+tz+`')) FROM decisions
WHERE decided_at >= ? AND (declaration_no, version) IN (
 SELECT declaration_no, decl_version FROM inspection_results
 WHERE inspected_at >= ? AND inspected_at < ? AND has(?, toString(toDate(inspected_at))))`, ts(since), lo, hi, utcDays)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var d string
			if err := rows.Scan(&d); err != nil {
				return err
			}
			out = append(out, d)
		}
		return rows.Err()
	})
	return out, err
}

// staleNeighbours finds facts days outside days (within the re-decision window around them)
// that hold a declaration version whose decision rows now fall within days: a re-decision moved
// it, and the old day must be rebuilt too so that the version is counted once.
func (s *Store) staleNeighbours(ctx context.Context, days map[string]bool) ([]string, error) {
	list := make([]string, 0, len(days))
	for d := range days {
		list = append(list, d)
	}
	slices.Sort(list)
	lo, hi := s.dayBounds(list[0], list[len(list)-1])
	w := s.cfg.RedecisionWindow
	tz := s.cfg.TimeZone
	var out []string
	err := s.run(ctx, "rollup_neighbours", time.Duration(s.cfg.RollupSeconds)*time.Second, func(ctx context.Context) error {
		ctx = s.rollupSettings(ctx)
		near := `day >= toDate(?) AND day <= toDate(?) AND NOT has(?, toString(day))`
		nlo, nhi := lo.Add(-w).In(s.loc).Format(dateLayout), hi.Add(w).In(s.loc).Format(dateLayout)
		rows, err := s.conn.Query(ctx, `SELECT DISTINCT toString(day) FROM decision_facts WHERE `+near+`
 AND (declaration_no, version) IN (
  SELECT declaration_no, version FROM decisions
  WHERE decided_at >= ? AND decided_at < ? AND has(?, toString(toDate(decided_at, '`+tz+`')))
   AND (declaration_no, version) IN (SELECT declaration_no, version FROM decision_facts WHERE `+near+`))`,
			nlo, nhi, list, lo, hi, list, nlo, nhi, list)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var d string
			if err := rows.Scan(&d); err != nil {
				return err
			}
			out = append(out, d)
		}
		return rows.Err()
	})
	return out, err
}

// rollupSettings are the server settings of rollup statements: WHERE must filter after FINAL has
// merged (not as PREWHERE before), and the statement may run longer than a dashboard query.
func (s *Store) rollupSettings(ctx context.Context) context.Context {
	return clickhouse.Context(ctx, clickhouse.WithSettings(clickhouse.Settings{
		"optimize_move_to_prewhere": 0,
		"max_execution_time":        s.cfg.RollupSeconds,
	}))
}

const factColumns = `day, decided_at, declaration_no, version, port, importer, declarant, channel,
 selection, random, propensity, probability, score, model_version, rules_fired, rules_selected, hs2,
 hs4, origins, trade_mode, has_result, hit, severity, revenue, inspected_at, enterprise_grade`

// rebuild rebuilds the given facts days (sorted) in chunks of consecutive days, through a
// staging table of this run, and swaps each day into decision_facts and daily_cube.
func (s *Store) rebuild(ctx context.Context, days []string) (uint64, error) {
	if len(days) == 0 {
		return 0, nil // nothing changed: no partition to rebuild (and no wl[0] to index)
	}
	var suffix [6]byte
	_, _ = rand.Read(suffix[:])
	id := hex.EncodeToString(suffix[:])
	factsStage, cubeStage := "rollup_facts_"+id, "rollup_cube_"+id
	long := time.Duration(s.cfg.RollupSeconds) * time.Second
	exec := func(op, q string, args ...any) error {
		return s.run(ctx, op, long, func(ctx context.Context) error {
			return s.conn.Exec(s.rollupSettings(ctx), q, args...)
		})
	}
	if err := exec("rollup_stage", "CREATE TABLE "+factsStage+" AS decision_facts"); err != nil {
		return 0, err
	}
	defer func() {
		// A fresh context: the caller's may be done, and the staging tables must go regardless.
		dctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = s.conn.Exec(dctx, "DROP TABLE IF EXISTS "+factsStage)
		_ = s.conn.Exec(dctx, "DROP TABLE IF EXISTS "+cubeStage)
	}()
	if err := exec("rollup_stage", "CREATE TABLE "+cubeStage+" AS daily_cube"); err != nil {
		return 0, err
	}
	tz := s.cfg.TimeZone
	w := s.cfg.RedecisionWindow
	var total uint64
	for _, chunk := range chunkDays(days) {
		lo, hi := s.dayBounds(chunk[0], chunk[len(chunk)-1])
		// The decisions of the chunk's days, each version once (its latest decision, looking a
		// re-decision window beyond the chunk on both sides), with the latest result version of
		// each; a result still waiting for a laboratory is no result yet. The importer's grade
		// as of the decision is the last grade change at or before it (the arrays of an
		// enterprise's changes, in any order: the latest time not after decided_at picks its
		// grade; none, or no changes at all, picks "").
		q := `INSERT INTO ` + factsStage + ` (` + factColumns + `)
SELECT toDate(decided_at, '` + tz + `') AS day, decided_at, declaration_no, version, port, importer, declarant,
 channel, selection, random, propensity, probability, score, model_version, rules_fired, rules_selected,
 hs2, hs4, origins, trade_mode, has_result, hit, severity, revenue, inspected_at, enterprise_grade
FROM (
 SELECT *, grade_seq[indexOf(grade_at, arrayReduce('max', arrayFilter(t -> t <= decided_at, grade_at)))] AS enterprise_grade
 FROM (
  SELECT * FROM (
   SELECT declaration_no, version, decided_at, port, importer,
    feature_values[indexOf(feature_names, 'declarant')] AS declarant, channel, selection, random,
    propensity, probability, score, model_version, rules_fired, rules_selected, hs2, hs4, origins, trade_mode
   FROM decisions FINAL
   WHERE decided_at >= ? AND decided_at < ?
   ORDER BY declaration_no, version, decided_at DESC
   LIMIT 1 BY declaration_no, version
  ) WHERE has(?, toString(toDate(decided_at, '` + tz + `')))
 ) ANY LEFT JOIN (
  SELECT enterprise AS importer, groupArray(changed_at) AS grade_at, groupArray(to_grade) AS grade_seq
  FROM grade_changes WHERE changed_at < ? GROUP BY enterprise
 ) USING importer
) ANY LEFT JOIN (
 SELECT declaration_no, decl_version AS version, toUInt8(1) AS has_result, hit, severity, revenue, inspected_at
 FROM (
  SELECT declaration_no, decl_version, outcome, hit, severity, revenue, inspected_at
  FROM inspection_results
  WHERE (declaration_no, decl_version) IN (SELECT declaration_no, version FROM decisions WHERE decided_at >= ? AND decided_at < ?)
  ORDER BY declaration_no, decl_version, result_version DESC
  LIMIT 1 BY declaration_no, decl_version
 ) WHERE outcome != 'PENDING_LAB'
) USING (declaration_no, version)`
		if err := exec("rollup_facts", q, lo.Add(-w), hi.Add(w), chunk, hi.Add(w), lo, hi); err != nil {
			return total, fmt.Errorf("build facts %s…%s: %w", chunk[0], chunk[len(chunk)-1], err)
		}
	}
	// The cube of the rebuilt days, from the new facts only.
	cube := `INSERT INTO ` + cubeStage + ` (day, port, channel, selection, random, trade_mode, model_version,
 enterprise_grade, declarations, inspected, results, hits, revenue, w_hit, w_sum, w_sq, no_propensity)
SELECT day, port, toString(channel) AS ch, selection, random, trade_mode, model_version, enterprise_grade, count(),
 countIf(channel IN ('RED', 'YELLOW')), countIf(has_result = 1), countIf(has_result = 1 AND hit = 1),
 sumIf(revenue, has_result = 1 AND hit = 1), sumIf(hit / propensity, has_result = 1 AND propensity > 0),
 sumIf(1 / propensity, has_result = 1 AND propensity > 0),
 sumIf(1 / (propensity * propensity), has_result = 1 AND propensity > 0),
 countIf(has_result = 1 AND propensity <= 0)
FROM ` + factsStage + `
GROUP BY day, port, ch, selection, random, trade_mode, model_version, enterprise_grade`
	if err := exec("rollup_cube", cube); err != nil {
		return 0, fmt.Errorf("build cube: %w", err)
	}
	if err := s.do(ctx, "rollup_count", func(ctx context.Context) error {
		return s.conn.QueryRow(ctx, "SELECT count() FROM "+factsStage).Scan(&total)
	}); err != nil {
		return 0, err
	}
	// Partitions hold a week of facts and a month of cube: the days of those partitions that
	// were not rebuilt are copied as they are, and each partition is swapped in whole.
	weeks, months := map[string]bool{}, map[string]bool{}
	for _, d := range days {
		t := mustDate(d)
		weeks[t.AddDate(0, 0, -((int(t.Weekday())+6)%7)).Format(dateLayout)] = true
		months[t.Format("2006-01")+"-01"] = true
	}
	wl, ml := sortedKeys(weeks), sortedKeys(months)
	if err := exec("rollup_copy", `INSERT INTO `+factsStage+` (`+factColumns+`) SELECT `+factColumns+` FROM decision_facts
WHERE day >= toDate(?) AND day < toDate(?) + 7 AND has(?, toString(toMonday(day))) AND NOT has(?, toString(day))`,
		wl[0], wl[len(wl)-1], wl, days); err != nil {
		return 0, fmt.Errorf("copy facts: %w", err)
	}
	if err := exec("rollup_copy", `INSERT INTO `+cubeStage+` SELECT * FROM daily_cube
WHERE day >= toDate(?) AND day < addMonths(toDate(?), 1) AND has(?, toString(toStartOfMonth(day))) AND NOT has(?, toString(day))`,
		ml[0], ml[len(ml)-1], ml, days); err != nil {
		return 0, fmt.Errorf("copy cube: %w", err)
	}
	for _, w := range wl {
		if err := exec("rollup_swap", "ALTER TABLE decision_facts REPLACE PARTITION "+strings.ReplaceAll(w, "-", "")+" FROM "+factsStage); err != nil {
			return 0, fmt.Errorf("swap facts week %s: %w", w, err)
		}
	}
	for _, m := range ml {
		if err := exec("rollup_swap", "ALTER TABLE daily_cube REPLACE PARTITION "+strings.ReplaceAll(m[:7], "-", "")+" FROM "+cubeStage); err != nil {
			return 0, fmt.Errorf("swap cube month %s: %w", m[:7], err)
		}
	}
	return total, nil
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// chunkDays cuts sorted days into runs of consecutive days of at most maxChunkDays.
func chunkDays(days []string) [][]string {
	var out [][]string
	var cur []string
	var prev time.Time
	for _, d := range days {
		t, err := time.Parse(dateLayout, d)
		if err != nil {
			continue
		}
		if len(cur) > 0 && (t.Sub(prev) != 24*time.Hour || len(cur) == maxChunkDays) {
			out = append(out, cur)
			cur = nil
		}
		cur = append(cur, d)
		prev = t
	}
	if len(cur) > 0 {
		out = append(out, cur)
	}
	return out
}
