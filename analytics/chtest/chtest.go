// Package chtest gives tests a real ClickHouse: one throwaway server per test binary (started on
// first use by Main) and one fresh database per test, dropped on cleanup.
//
//	func TestMain(m *testing.M) { chtest.Main(m) }
//
//	func TestX(t *testing.T) {
//		db := chtest.New(t) // db.Conn is a clickhouse-go/v2 driver.Conn on db.Database
//	}
//
// When clickhouse-server is not installed the tests are skipped with that reason, except under
// CI=true, where a missing server fails the run.
package chtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/portguard/portguard/analytics/chserver"
)

var (
	mu      sync.Mutex
	server  *chserver.Server
	tmpDir  string
	startEr error
)

// Main runs the package's tests and stops the shared server afterwards. Call it from TestMain.
func Main(m *testing.M) {
	code := m.Run()
	mu.Lock()
	if server != nil {
		server.Stop()
		server = nil
	}
	if tmpDir != "" {
		os.RemoveAll(tmpDir)
	}
	mu.Unlock()
	os.Exit(code)
}

// Server returns the shared server, starting it on first use.
func Server(tb testing.TB) *chserver.Server {
	tb.Helper()
	mu.Lock()
	defer mu.Unlock()
	if server == nil && startEr == nil {
		dir, err := os.MkdirTemp("", "portguard-chtest-")
		if err != nil {
			tb.Fatal(err)
		}
		tmpDir = dir
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		server, startEr = chserver.Start(ctx, chserver.Options{Dir: dir})
		cancel()
	}
	if startEr != nil {
		if startEr == chserver.ErrNotInstalled && os.Getenv("CI") != "true" {
			tb.Skipf("skipped: %v; ./deploy/test.sh installs it", startEr)
		}
		tb.Fatalf("chtest: %v", startEr)
	}
	return server
}

// DB is a fresh database on the shared server.
type DB struct {
	Addr     string
	Database string
	Conn     driver.Conn
}

// New creates a database with a unique name for this test, returns a connection whose default
// database it is, and drops it when the test ends.
func New(tb testing.TB) *DB {
	tb.Helper()
	s := Server(tb)
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "t_" + hex.EncodeToString(b[:])
	admin := MustOpen(tb, s.Addr(), "default")
	ctx := context.Background()
	if err := admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		tb.Fatalf("chtest: create database: %v", err)
	}
	conn := MustOpen(tb, s.Addr(), name)
	tb.Cleanup(func() {
		conn.Close()
		if os.Getenv("PORTGUARD_KEEP_TEST_DB") == "" {
			_ = admin.Exec(context.Background(), "DROP DATABASE IF EXISTS "+name)
		}
		admin.Close()
	})
	return &DB{Addr: s.Addr(), Database: name, Conn: conn}
}

// MustOpen opens a native-protocol connection to addr on database db and pings it.
func MustOpen(tb testing.TB, addr, db string) driver.Conn {
	tb.Helper()
	conn, err := clickhouse.Open(&clickhouse.Options{
		Addr: []string{addr}, Auth: clickhouse.Auth{Database: db}, DialTimeout: 5 * time.Second,
		// A hang against 18.16 (e.g. INSERT … VALUES through Exec) should fail fast, not in 5 min.
		ReadTimeout: 30 * time.Second,
	})
	if err != nil {
		tb.Fatalf("chtest: open %s/%s: %v", addr, db, err)
	}
	if err := conn.Ping(context.Background()); err != nil {
		tb.Fatalf("chtest: ping %s/%s: %v", addr, db, err)
	}
	return conn
}

// Count returns SELECT count() FROM table [WHERE where] on db.
func (db *DB) Count(tb testing.TB, table, where string) uint64 {
	tb.Helper()
	q := "SELECT count() FROM " + table
	if where != "" {
		q += " WHERE " + where
	}
	var n uint64
	if err := db.Conn.QueryRow(context.Background(), q).Scan(&n); err != nil {
		tb.Fatalf("chtest: %s: %v", q, err)
	}
	return n
}

// String formats the database for messages.
func (db *DB) String() string { return fmt.Sprintf("%s/%s", db.Addr, db.Database) }
