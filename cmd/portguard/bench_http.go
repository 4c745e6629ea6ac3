package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/portguard/portguard/analytics"
	"github.com/portguard/portguard/analytics/chserver"
	"github.com/portguard/portguard/ingest"
	"github.com/portguard/portguard/ingest/synth"
	"github.com/portguard/portguard/web"
)

// httpBenchResult is what `portguard bench http --json` prints.
type httpBenchResult struct {
	Connections int     `json:"connections"`
	Requests    int     `json:"requests"`
	RPS         float64 `json:"rps"`
	P50ms       float64 `json:"p50_ms"`
	P99ms       float64 `json:"p99_ms"`
	Errors      int     `json:"errors"`
	BaselineRPS float64 `json:"baseline_rps"`
	BaseP50ms   float64 `json:"baseline_p50_ms"`
	BaseP99ms   float64 `json:"baseline_p99_ms"`
	Ratio       float64 `json:"ratio"` // rps / baseline_rps
	// CPU time per request, noisy machines' steadier measure: CPUus is this process (the
	// program, its stand-in broker and the load generator), ClickHouseCPUus its ClickHouse
	// server, BaseCPUus the bare run's process (handler and load generator). CPURatio is
	// BaseCPUus / (CPUus + ClickHouseCPUus): the throughput ratio the two would have on cores
	// they had to themselves and kept busy.
	CPUus           float64 `json:"cpu_us_per_request"`
	ClickHouseCPUus float64 `json:"clickhouse_cpu_us_per_request"`
	BaseCPUus       float64 `json:"baseline_cpu_us_per_request"`
	CPURatio        float64 `json:"cpu_ratio"`
	LoadAverage     float64 `json:"load_average"`
	// Stages are the program's background stages during the run (see serve --stages): by
	// default none, an API instance as a port runs it in front of the electronic-port systems,
	// with the stages that store, clear and record on other instances; "all" measures one
	// process doing everything on the same cores as its ClickHouse and broker.
	Stages string `json:"stages"`
}

// benchHTTP measures POST /v1/decisions of the whole composed program (its own broker and
// ClickHouse, every role running) at a number of concurrent keep-alive connections, and in the same
// run a bare gin handler that only decodes the same JSON: the ceiling the adapter is held against.
func benchHTTP(ctx context.Context, args []string, env func(string) string, stderr io.Writer) (any, error) {
	f := newFlags("bench http", env, stderr)
	conns := f.integer("connections", 64, "concurrent keep-alive connections")
	requests := f.integer("requests", 60000, "requests per run (each a new declaration)")
	stagesFlag := f.str("stages", "none", "background stages the measured program runs besides the API (see serve --stages): none, all, or a list")
	if err := f.parse(args); err != nil {
		return nil, err
	}
	if _, err := parseStages(*stagesFlag); err != nil {
		return nil, fmt.Errorf("--stages: %w", err)
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	fmt.Fprintf(stderr, "bench http: generating %d declarations…\n", *requests)
	bodies := make([][]byte, *requests)
	g := synth.New(synth.Config{Seed: 42, Start: time.Now().UTC().Add(-24 * time.Hour)})
	for i := range bodies {
		bodies[i] = g.JSON(g.Next())
	}

	// The bare baseline first, while the machine is quiet either way.
	gin.SetMode(gin.ReleaseMode)
	bare := gin.New()
	bare.POST("/v1/decisions", func(c *gin.Context) {
		var d ingest.Declaration
		if err := c.ShouldBindJSON(&d); err != nil {
			c.AbortWithStatus(http.StatusBadRequest)
			return
		}
		c.JSON(http.StatusCreated, gin.H{"declaration_no": d.Number})
	})
	bl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	bsrv := &http.Server{Handler: bare}
	go bsrv.Serve(bl)
	fmt.Fprintf(stderr, "bench http: bare gin decode handler, %d connections…\n", *conns)
	base := loadHTTP(ctx, "http://"+bl.Addr().String()+"/v1/decisions", "", bodies, *conns)
	bsrv.Close()

	// The real program.
	kport, err := chserver.FreePort()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "portguard-bench-http-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	topics := ingest.DefaultTopics()
	// The stand-in broker writes its log to files, as Kafka does: kept in memory (its default),
	// every segment grows by copying into ever larger buffers, which cost the measured process
	// more than the broker's real work.
	broker, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.Ports(kport), kfake.SeedTopics(6, topics.All()...),
		kfake.DataDir(filepath.Join(dir, "kafka")))
	if err != nil {
		return nil, err
	}
	defer broker.Close()
	srv, stop, err := privateClickHouse(ctx)
	if err != nil {
		return nil, err
	}
	defer stop()
	chcfg := analytics.DefaultConfig()
	chcfg.Addr = srv.Addr()
	if err := migrate(ctx, chcfg, log); err != nil {
		return nil, err
	}
	users, creds := web.DevUsers()
	key := ""
	for _, c := range creds {
		if c.Kind == "api_key" && slices.Contains(c.Roles, web.RoleSystem) {
			key = c.Secret
		}
	}
	if key == "" {
		return nil, errors.New("no demo API key with the system role")
	}
	a, err := newApp(ctx, appConfig{Listen: "127.0.0.1:0", Brokers: broker.ListenAddrs(), Topics: topics,
		ClickHouse: chcfg, DataDir: dir, RandomKey: "bench-random-key-0123456789", InstanceID: "bench",
		Users: users, Dev: true, Stages: *stagesFlag}, log)
	if err != nil {
		return nil, err
	}
	actx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- a.Run(actx) }()
	defer func() { cancel(); <-done }()
	if err := waitReady(ctx, a.URL()+"/readyz"); err != nil {
		return nil, err
	}
	fmt.Fprintf(stderr, "bench http: POST /v1/decisions on the program (stages: %s), %d connections…\n", *stagesFlag, *conns)
	full := loadHTTP(ctx, a.URL()+"/v1/decisions", key, bodies, *conns)
	if full.ok == 0 {
		return nil, fmt.Errorf("no request succeeded (%d errors; first: %v)", full.errors, full.firstErr)
	}
	r := httpBenchResult{Connections: *conns, Requests: len(bodies), RPS: full.rps, P50ms: full.p50, P99ms: full.p99,
		Errors: full.errors, BaselineRPS: base.rps, BaseP50ms: base.p50, BaseP99ms: base.p99, Stages: *stagesFlag,
		CPUus: full.cpuUs, ClickHouseCPUus: full.chCPUUs, BaseCPUus: base.cpuUs, LoadAverage: ingest.LoadAverage()}
	if base.rps > 0 {
		r.Ratio = full.rps / base.rps
	}
	if c := full.cpuUs + full.chCPUUs; c > 0 {
		r.CPURatio = base.cpuUs / c
	}
	return r, nil
}

type loadResult struct {
	rps, p50, p99  float64
	cpuUs, chCPUUs float64 // CPU time per request: this process, and its clickhouse-server
	ok, errors     int
	firstErr       error
}

// loadHTTP posts every body once from conns workers over keep-alive connections and measures
// each request's latency.
func loadHTTP(ctx context.Context, url, key string, bodies [][]byte, conns int) loadResult {
	tr := &http.Transport{MaxIdleConns: conns, MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns, DisableCompression: true}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	lat := make([]time.Duration, len(bodies))
	var next atomic.Int64
	var mu sync.Mutex
	var res loadResult
	var wg sync.WaitGroup
	start, cpu0, ch0 := time.Now(), ingest.ProcessCPU(), ingest.ChildrenCPU("clickhouse")
	for range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= len(bodies) {
					return
				}
				req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(bodies[i]))
				req.Header.Set("Content-Type", "application/json")
				if key != "" {
					req.Header.Set("Authorization", "Bearer "+key)
				}
				t0 := time.Now()
				resp, err := hc.Do(req)
				if err == nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode >= 300 {
						err = fmt.Errorf("status %d", resp.StatusCode)
					}
				}
				lat[i] = time.Since(t0)
				if err != nil {
					mu.Lock()
					res.errors++
					if res.firstErr == nil {
						res.firstErr = err
					}
					mu.Unlock()
					lat[i] = -1
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	if n := float64(len(bodies)); n > 0 {
		res.cpuUs = float64(ingest.ProcessCPU()-cpu0) / 1e3 / n
		res.chCPUUs = float64(ingest.ChildrenCPU("clickhouse")-ch0) / 1e3 / n
	}
	okLat := lat[:0:0]
	for _, l := range lat {
		if l > 0 {
			okLat = append(okLat, l)
		}
	}
	slices.Sort(okLat)
	res.ok = len(okLat)
	res.rps = float64(res.ok) / elapsed.Seconds()
	if n := len(okLat); n > 0 {
		res.p50 = float64(okLat[n/2]) / 1e6
		res.p99 = float64(okLat[min(n-1, n*99/100)]) / 1e6
	}
	return res
}

func waitReady(ctx context.Context, url string) error {
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := http.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return errors.New("program not ready within 60s")
}
