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
	err := s.stream(ctx, "recent_manifests", func(ctx context.Context) error {
		rows, err := s.conn.Query(ctx, `SELECT raw FROM manifests FINAL WHERE received_at >= ? ORDER BY received_at`, ts(since))
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var raw string
			if err := rows.Scan(&raw); err != nil {
				return err
			}
			var m ingest.Manifest
			if err := json.Unmarshal([]byte(raw), &m); err != nil {
				return fmt.Errorf("stored manifest does not decode: %w", err)
			}
			if err := fn(&m); err != nil {
				return callback(err)
			}
		}
		return rows.Err()
	})
	if err != nil {
		return fmt.Errorf("analytics: recent manifests: %w", err)
	}
	return nil
}

// RecentUnjoined streams the declarations received since that carry a bill of lading but were
// stored without their manifest, oldest first (ingest.JoinHistory).
func (s *Store) RecentUnjoined(ctx context.Context, since time.Time, fn func(*ingest.Declaration) error) error {
	err := s.stream(ctx, "recent_unjoined", func(ctx context.Context) error {
		rows, err := s.conn.Query(ctx, `SELECT raw FROM declarations FINAL
WHERE received_at >= ? AND manifest_joined = 0 AND bill_of_lading != '' ORDER BY received_at`, ts(since))
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var raw string
			if err := rows.Scan(&raw); err != nil {
				return err
			}
			var d ingest.Declaration
			if err := json.Unmarshal([]byte(raw), &d); err != nil {
				return fmt.Errorf("stored declaration does not decode: %w", err)
			}
			if err := fn(&d); err != nil {
				return callback(err)
			}
		}
		return rows.Err()
	})
	if err != nil {
		return fmt.Errorf("analytics: recent unjoined declarations: %w", err)
	}
	return nil
}
