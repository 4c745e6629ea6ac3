package analytics

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/portguard/portguard/ingest"
)

// RecentManifests streams the manifests received since, oldest first (ingest.JoinHistory).
func (s *Store) RecentManifests(ctx context.Context, since time.Time, fn func(*ingest.Manifest) error) error {
	return streamRaw(ctx, s, "recent_manifests", "manifest",
		`SELECT raw FROM manifests FINAL WHERE received_at >= ? ORDER BY received_at`, since, fn)
}

// RecentUnjoined streams the declarations received since that carry a bill of lading but were
// stored without their manifest, oldest first (ingest.JoinHistory).
func (s *Store) RecentUnjoined(ctx context.Context, since time.Time, fn func(*ingest.Declaration) error) error {
	return streamRaw(ctx, s, "recent_unjoined", "declaration", `SELECT raw FROM declarations FINAL
WHERE received_at >= ? AND manifest_joined = 0 AND bill_of_lading != '' ORDER BY received_at`, since, fn)
}

// streamRaw runs query (one time parameter, one raw JSON column) and hands each row, decoded
// as a T, to fn.
func streamRaw[T any](ctx context.Context, s *Store, op, what, query string, since time.Time, fn func(*T) error) error {
	err := s.stream(ctx, op, func(ctx context.Context) error {
		rows, err := s.conn.Query(ctx, query, ts(since))
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var raw string
			if err := rows.Scan(&raw); err != nil {
				return err
			}
			v := new(T)
			if err := json.Unmarshal([]byte(raw), v); err != nil {
				return fmt.Errorf("stored %s does not decode: %w", what, err)
			}
			if err := fn(v); err != nil {
				return callback(err)
			}
		}
		return rows.Err()
	})
	if err != nil {
		return fmt.Errorf("analytics: %s: %w", op, err)
	}
	return nil
}
