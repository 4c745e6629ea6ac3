// Package chserver starts a private, throwaway ClickHouse server (Debian's clickhouse-server
// package) with its own data directory and ports. `portguard dev` and the tests use it; production
// points at a real cluster instead.
package chserver

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
)

// Binary is the server executable looked up on PATH and in /usr/bin.
var Binary = "clickhouse-server"

// ErrNotInstalled is returned when no clickhouse-server binary can be found.
var ErrNotInstalled = errors.New("chserver: clickhouse-server is not installed (apt-get install clickhouse-server)")

// Server is a running private ClickHouse instance.
type Server struct {
	Dir      string // data directory root
	TCPPort  int    // native protocol port
	HTTPPort int
	cmd      *exec.Cmd
	done     chan struct{}
	errOut   *bytes.Buffer
}

// Addr is the native-protocol address, host:port.
func (s *Server) Addr() string { return "127.0.0.1:" + strconv.Itoa(s.TCPPort) }

// Options configure Start. Zero ports pick free ones.
type Options struct {
	Dir      string // required: where data lives; created if missing
	TCPPort  int
	HTTPPort int
	Stderr   *os.File // where the server's console log goes; nil keeps it in memory for errors
}

const configTemplate = `<?xml version="1.0"?>
<yandex>
    <logger><level>warning</level><console>1</console></logger>
    <listen_host>127.0.0.1</listen_host>
    <tcp_port>%d</tcp_port>
    <http_port>%d</http_port>
    <path>%s/data/</path>
    <tmp_path>%s/data/tmp/</tmp_path>
    <user_files_path>%s/data/user_files/</user_files_path>
    <format_schema_path>%s/data/format_schemas/</format_schema_path>
    <users_config>/etc/clickhouse-server/users.xml</users_config>
    <default_profile>default</default_profile>
    <default_database>default</default_database>
    <mark_cache_size>268435456</mark_cache_size>
    <uncompressed_cache_size>268435456</uncompressed_cache_size>
    <max_concurrent_queries>100</max_concurrent_queries>
</yandex>
`

// Installed returns the path of the clickhouse-server binary, or ErrNotInstalled. Debian puts it
// in /usr/sbin, which is not on every user's PATH.
func Installed() (string, error) {
	if bin, err := exec.LookPath(Binary); err == nil {
		return bin, nil
	}
	for _, dir := range []string{"/usr/sbin/", "/usr/bin/"} {
		if _, err := os.Stat(dir + Binary); err == nil {
			return dir + Binary, nil
		}
	}
	return "", ErrNotInstalled
}

// Start launches the server and waits until it answers SELECT 1, or ctx ends.
func Start(ctx context.Context, o Options) (*Server, error) {
	bin, err := Installed()
	if err != nil {
		return nil, err
	}
	if o.Dir == "" {
		return nil, errors.New("chserver: Options.Dir is required")
	}
	dir, err := filepath.Abs(o.Dir)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Join(dir, "data", "tmp"), 0o755); err != nil {
		return nil, fmt.Errorf("chserver: %w", err)
	}
	if o.TCPPort == 0 {
		if o.TCPPort, err = FreePort(); err != nil {
			return nil, err
		}
	}
	if o.HTTPPort == 0 {
		if o.HTTPPort, err = FreePort(); err != nil {
			return nil, err
		}
	}
	cfg := filepath.Join(dir, "config.xml")
	if err := os.WriteFile(cfg, fmt.Appendf(nil, configTemplate, o.TCPPort, o.HTTPPort, dir, dir, dir, dir), 0o644); err != nil {
		return nil, fmt.Errorf("chserver: %w", err)
	}
	s := &Server{Dir: dir, TCPPort: o.TCPPort, HTTPPort: o.HTTPPort, done: make(chan struct{}), errOut: &bytes.Buffer{}}
	s.cmd = exec.Command(bin, "--config-file="+cfg)
	s.cmd.Dir = dir
	if o.Stderr != nil {
		s.cmd.Stdout, s.cmd.Stderr = o.Stderr, o.Stderr
	} else {
		s.cmd.Stdout, s.cmd.Stderr = s.errOut, s.errOut
	}
	s.cmd.SysProcAttr = childProcAttr()
	if err := s.cmd.Start(); err != nil {
		return nil, fmt.Errorf("chserver: start %s: %w", bin, err)
	}
	go func() { _ = s.cmd.Wait(); close(s.done) }()
	if err := s.waitReady(ctx); err != nil {
		s.Stop()
		return nil, err
	}
	return s, nil
}

func (s *Server) waitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	for {
		select {
		case <-s.done:
			return fmt.Errorf("chserver: clickhouse-server exited during start: %s", tail(s.errOut.String()))
		default:
		}
		if err := Ping(ctx, s.Addr()); err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("chserver: not ready on %s: %w (%s)", s.Addr(), ctx.Err(), tail(s.errOut.String()))
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Ping opens a connection to addr and runs SELECT 1.
func Ping(ctx context.Context, addr string) error {
	conn, err := clickhouse.Open(&clickhouse.Options{Addr: []string{addr}, DialTimeout: time.Second})
	if err != nil {
		return err
	}
	defer conn.Close()
	pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	return conn.Ping(pctx)
}

// Stop sends SIGTERM and waits for the server to exit (it takes a few seconds), killing it after 15 s.
func (s *Server) Stop() {
	if s == nil || s.cmd == nil || s.cmd.Process == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(15 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
	}
}

// Kill stops the server at once with SIGKILL, as a crash would (fault tests).
func (s *Server) Kill() {
	if s == nil || s.cmd == nil || s.cmd.Process == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	<-s.done
}

// Restart starts the server again on the same directory and ports after Stop or Kill.
func (s *Server) Restart(ctx context.Context) error {
	n, err := Start(ctx, Options{Dir: s.Dir, TCPPort: s.TCPPort, HTTPPort: s.HTTPPort})
	if err != nil {
		return err
	}
	*s = *n
	return nil
}

// FreePort asks the kernel for a free TCP port on the loopback interface.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("chserver: free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func tail(s string) string {
	if len(s) > 2000 {
		return s[len(s)-2000:]
	}
	return s
}
