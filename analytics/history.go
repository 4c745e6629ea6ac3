package analytics

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/portguard/portguard/ingest"
	"github.com/portguard/portguard/targeting"
)

// Past is one stored declaration version with what happened to it: the decision made then and
// the latest inspection result, when there were any. Backtests replay these.
type Past struct {
	Decl       *ingest.Declaration
	Decided    bool
	Channel    targeting.Channel
	Random     bool // selected by the random control: its result is an unbiased sample
	Propensity float64
	HasResult  bool // a final result exists (not waiting for a laboratory)
	Hit        bool
	Revenue    float64
}

// pastQuery reads declarations in a declared_at range, oldest first, with their decision and
// latest final result. ClickHouse 18.16 allows one JOIN per SELECT, hence the nesting.
const pastQuery = `SELECT raw, d_found, d_channel, d_random, d_propensity, r_found, r_hit, r_revenue
FROM (
 SELECT declaration_no, version, declared_at, raw, d_found, d_channel, d_random, d_propensity
 FROM (
  SELECT declaration_no, version, declared_at, raw FROM declarations FINAL
  WHERE declared_at >= ? AND declared_at < ?
 ) ANY LEFT JOIN (
  SELECT declaration_no, version, toUInt8(1) AS d_found, toString(channel) AS d_channel,
   random AS d_random, propensity AS d_propensity
  FROM decisions FINAL
 ) USING (declaration_no, version)
) ANY LEFT JOIN (
 SELECT declaration_no, decl_version AS version, toUInt8(1) AS r_found, hit AS r_hit, revenue AS r_revenue
 FROM (` + latestResults + `)
 WHERE outcome != 'PENDING_LAB'
) USING (declaration_no, version)
ORDER BY declared_at, declaration_no, version`

// Declarations streams the declaration versions declared in [from, to), oldest first, each with
// its decision and latest final result. It does not hold them all in memory.
func (s *Store) Declarations(ctx context.Context, from, to time.Time, fn func(Past) error) error {
	err := s.stream(ctx, "declarations_between", func(ctx context.Context) error {
		rows, err := s.conn.Query(ctx, pastQuery, ts(from), ts(to))
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var (
				raw, channel              string
				dFound, random, rFound, h uint8
				prop, revenue             float64
			)
			if err := rows.Scan(&raw, &dFound, &channel, &random, &prop, &rFound, &h, &revenue); err != nil {
				return err
			}
			var d ingest.Declaration
			if err := json.Unmarshal([]byte(raw), &d); err != nil {
				return fmt.Errorf("stored declaration does not decode: %w", err)
			}
			p := Past{Decl: &d, Decided: dFound == 1, HasResult: rFound == 1}
			if p.Decided {
				p.Channel, p.Random, p.Propensity = targeting.Channel(channel), random == 1, prop
			}
			if p.HasResult {
				p.Hit, p.Revenue = h == 1, revenue
			}
			if err := fn(p); err != nil {
				return callback(err)
			}
		}
		return rows.Err()
	})
	if err != nil {
		return fmt.Errorf("analytics: declarations %s to %s: %w", from.Format(time.DateOnly), to.Format(time.DateOnly), err)
	}
	return nil
}

// labelledQuery reads inspected declaration versions decided at or after a time with their
// decision's propensity and the latest final result, oldest decision first.
const labelledQuery = `SELECT raw, d_prop, d_decided, r_hit, r_revenue
FROM (
 SELECT declaration_no, version, raw, d_prop, d_decided
 FROM (
  SELECT declaration_no, version, raw FROM declarations FINAL
  WHERE declaration_no IN (SELECT declaration_no FROM inspection_results)
 ) ANY INNER JOIN (
  SELECT declaration_no, version, propensity AS d_prop, decided_at AS d_decided
  FROM decisions FINAL WHERE decided_at >= ?
 ) USING (declaration_no, version)
) ANY INNER JOIN (
 SELECT declaration_no, decl_version AS version, hit AS r_hit, revenue AS r_revenue
 FROM (` + latestResults + `)
 WHERE outcome != 'PENDING_LAB'
) USING (declaration_no, version)
ORDER BY d_decided, declaration_no, version`

// Labelled implements targeting.LabelledHistory: every inspected declaration version decided at
// or after since that has a final result, oldest decision first, as it was decided, with the
// latest result's verdict and the propensity recorded at decision time (for inverse-propensity
// weights). It streams; nothing is held in memory.
func (s *Store) Labelled(ctx context.Context, since time.Time, fn func(targeting.Labelled) error) error {
	err := s.stream(ctx, "labelled", func(ctx context.Context) error {
		rows, err := s.conn.Query(ctx, labelledQuery, ts(since))
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var (
				raw           string
				prop, revenue float64
				decided       time.Time
				hit           uint8
			)
			if err := rows.Scan(&raw, &prop, &decided, &hit, &revenue); err != nil {
				return err
			}
			var d ingest.Declaration
			if err := json.Unmarshal([]byte(raw), &d); err != nil {
				return fmt.Errorf("stored declaration does not decode: %w", err)
			}
			if err := fn(targeting.Labelled{Decl: &d, Hit: hit == 1, Revenue: revenue, Propensity: prop, At: decided}); err != nil {
				return callback(err)
			}
		}
		return rows.Err()
	})
	if err != nil {
		return fmt.Errorf("analytics: labelled since %s: %w", since.Format(time.RFC3339), err)
	}
	return nil
}
