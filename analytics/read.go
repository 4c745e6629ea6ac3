package analytics

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/portguard/portguard/ingest"
	"github.com/portguard/portguard/targeting"
)

// DeclarationByID returns one version of a declaration as it was stored (its normalized JSON,
// attributes and measures included); version 0 means the latest version. It returns an error
// wrapping ErrNotFound when there is none.
func (s *Store) DeclarationByID(ctx context.Context, number string, version int) (*ingest.Declaration, error) {
	q := "SELECT raw, attr_keys, attr_values, measure_keys, measure_values FROM declarations WHERE declaration_no = ?"
	args := []any{number}
	if version > 0 {
		q += " AND version = ?"
		args = append(args, uint32(version))
	}
	q += " ORDER BY version DESC LIMIT 1"
	var (
		raw    string
		ak, av []string
		mk     []string
		mv     []float64
	)
	err := s.do(ctx, "declaration_by_id", func(ctx context.Context) error {
		rows, err := s.conn.Query(ctx, q, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		if !rows.Next() {
			if err := rows.Err(); err != nil {
				return err
			}
			return callback(fmt.Errorf("declaration %s version %d: %w", number, version, ErrNotFound))
		}
		if err := rows.Scan(&raw, &ak, &av, &mk, &mv); err != nil {
			return err
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("analytics: %w", err)
	}
	d := new(ingest.Declaration)
	if err := json.Unmarshal([]byte(raw), d); err != nil {
		return nil, fmt.Errorf("analytics: declaration %s: stored JSON does not decode: %w", number, err)
	}
	// The wire form may or may not carry attributes (ingest owns its JSON); the columns always do.
	if len(d.Attributes) == 0 && len(ak) > 0 {
		d.Attributes = make(map[string]string, len(ak))
		for i, k := range ak {
			d.Attributes[k] = av[i]
		}
	}
	if len(d.Measures) == 0 && len(mk) > 0 {
		d.Measures = make(map[string]float64, len(mk))
		for i, k := range mk {
			d.Measures[k] = mv[i]
		}
	}
	return d, nil
}

// latestResults selects, per declaration version, the highest result version: corrections win.
const latestResults = `SELECT declaration_no, decl_version, result_version, outcome, hit, severity,
 revenue, inspected_at, decided_at AS r_decided_at, label
FROM inspection_results
ORDER BY declaration_no, decl_version, result_version DESC
LIMIT 1 BY declaration_no, decl_version`

// outcomesQuery joins the latest result of each inspected declaration version with its decision.
// The decision, when recorded, is the authority on decision context; the result's label fills in
// when the decision has not been recorded (yet).
const outcomesQuery = `SELECT declaration_no, version, result_version, hit, severity, revenue,
 inspected_at, label, d_found, d_channel, d_selection, d_random, d_propensity, d_model_version,
 d_rules, d_fn, d_fv, d_decided_at
FROM (
 SELECT declaration_no, decl_version AS version, result_version, outcome, hit, severity, revenue,
  inspected_at, r_decided_at, label
 FROM (` + latestResults + `)
) ANY LEFT JOIN (
 SELECT declaration_no, version, toUInt8(1) AS d_found, toString(channel) AS d_channel,
  selection AS d_selection, random AS d_random, propensity AS d_propensity,
  model_version AS d_model_version, rules_fired AS d_rules, feature_names AS d_fn,
  feature_values AS d_fv, decided_at AS d_decided_at
 FROM decisions FINAL
 WHERE declaration_no IN (SELECT declaration_no FROM inspection_results)
) USING (declaration_no, version)
WHERE outcome != 'PENDING_LAB' AND if(d_found = 1, d_decided_at, r_decided_at) >= ?
ORDER BY if(d_found = 1, d_decided_at, r_decided_at), declaration_no, version`

// Outcomes implements targeting.History: it streams the latest result version of every inspected
// declaration version decided at or after since, oldest decision first. Results still waiting for
// a laboratory are not outcomes yet and are left out.
func (s *Store) Outcomes(ctx context.Context, since time.Time, fn func(targeting.Outcome) error) error {
	err := s.stream(ctx, "outcomes", func(ctx context.Context) error {
		rows, err := s.conn.Query(ctx, outcomesQuery, ts(since))
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var (
				no, label, dChannel, dSel, dModel string
				ver, rver                         uint32
				hit, sev, dFound, dRandom         uint8
				revenue, dProp                    float64
				inspected, dDecided               time.Time
				dRules, dFn, dFv                  []string
			)
			if err := rows.Scan(&no, &ver, &rver, &hit, &sev, &revenue, &inspected, &label, &dFound,
				&dChannel, &dSel, &dRandom, &dProp, &dModel, &dRules, &dFn, &dFv, &dDecided); err != nil {
				return err
			}
			var o targeting.Outcome
			if label != "" {
				// A label that does not decode still leaves the columns to build from.
				_ = json.Unmarshal([]byte(label), &o)
			}
			o.DeclarationNo, o.Version, o.ResultVersion = no, int(ver), int(rver)
			o.Hit, o.Severity, o.Revenue, o.InspectedAt = hit == 1, int(sev), revenue, inspected
			if dFound == 1 {
				o.Channel, o.Selection = targeting.Channel(dChannel), targeting.Selection(dSel)
				o.Random, o.Propensity, o.ModelVersion = dRandom == 1, dProp, dModel
				o.RulesFired, o.DecidedAt = dRules, dDecided
				if len(dFn) > 0 {
					o.Features = make([]targeting.Feature, len(dFn))
					for i := range dFn {
						o.Features[i] = targeting.Feature{Name: dFn[i], Value: dFv[i]}
					}
				}
			}
			if err := fn(o); err != nil {
				return callback(err)
			}
		}
		return rows.Err()
	})
	if err != nil {
		return fmt.Errorf("analytics: outcomes since %s: %w", since.Format(time.RFC3339), err)
	}
	return nil
}

// SaveRuleVersion records one state of a targeting rule version (draft, approved, active,
// retired …) with its JSON body. Every call adds to the history in rule_versions; the rules table
// keeps the latest per id for analysts. The body is opaque here so that targeting's rule type can
// evolve without a migration.
func (s *Store) SaveRuleVersion(ctx context.Context, id string, version int, state string, body []byte, actor string, at time.Time) error {
	if id == "" || version <= 0 {
		return fmt.Errorf("analytics: save rule version: %w: id and a positive version are required", ErrInvalid)
	}
	if !json.Valid(body) {
		return fmt.Errorf("analytics: save rule %s v%d: %w: body is not JSON", id, version, ErrInvalid)
	}
	at = ts(at)
	for _, table := range []string{"rule_versions", "rules"} {
		err := s.insert(ctx, "save_rule_version", "INSERT INTO "+table+" (id, version, state, body, actor, changed_at, changed_ns)",
			1, func(b driver.Batch, _ int) error {
				return b.Append(id, uint32(version), state, string(body), actor, at, uint64(at.UnixNano()))
			})
		if err != nil {
			return fmt.Errorf("analytics: save rule %s v%d: %w", id, version, err)
		}
	}
	return nil
}

// RuleVersions calls fn with the latest version of every rule (highest version; among equal
// versions, the latest change), in id order.
func (s *Store) RuleVersions(ctx context.Context, fn func(id string, version int, state string, body []byte) error) error {
	err := s.stream(ctx, "rule_versions", func(ctx context.Context) error {
		rows, err := s.conn.Query(ctx, `SELECT id, version, state, body FROM rule_versions
ORDER BY id, version DESC, changed_ns DESC LIMIT 1 BY id`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var id, state, body string
			var v uint32
			if err := rows.Scan(&id, &v, &state, &body); err != nil {
				return err
			}
			if err := fn(id, int(v), state, []byte(body)); err != nil {
				return callback(err)
			}
		}
		return rows.Err()
	})
	if err != nil {
		return fmt.Errorf("analytics: rule versions: %w", err)
	}
	return nil
}

var _ targeting.History = (*Store)(nil)
