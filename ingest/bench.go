package ingest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/portguard/portguard/analytics/chserver"
)

// BenchOptions configure Bench.
type BenchOptions struct {
	// Declarations is how many declarations go through each run. Default 50,000.
	Declarations int
	// Partitions of the declarations topic. Default 4.
	Partitions int
	// BatchSize is the most messages a consumer hands over at once, and the rows per raw
	// ClickHouse insert: the same size for the pipeline and both raw figures. Default
	// 10,000, what portguard's consumers use by default.
	BatchSize int
	// OpenStore opens the Store under test (analytics' ClickHouse store, migrated) on the
	// benchmark's private server at addr, database "default". Required: ingest cannot import
	// analytics, so cmd passes it in.
	OpenStore func(ctx context.Context, addr string) (Store, error)
	// Log receives progress; nil discards.
	Log *slog.Logger
}

// BenchResult is what `portguard bench ingest --json` prints.
type BenchResult struct {
	Declarations int `json:"declarations"`
	// DeclarationsPerS: declarations consumed from Kafka, validated, normalized, stored in
	// ClickHouse through the Store and handed on, per second, offsets committed.
	DeclarationsPerS float64 `json:"declarations_per_s"`
	// RawKafkaPerS: the same messages read by a bare consumer group (fetch + commit, nothing else).
	RawKafkaPerS float64 `json:"raw_kafka_per_s"`
	// RawClickHouseRowsPerS: rows of (number, version, raw JSON) inserted with clickhouse-go
	// batches of the same size, nothing else.
	RawClickHouseRowsPerS float64 `json:"raw_clickhouse_rows_per_s"`
	// Ratio is DeclarationsPerS over the slower of the two raw figures: how close the pipeline
	// comes to its slowest component.
	Ratio float64 `json:"ratio"`

	// CPU time per 1,000 declarations (or rows) of each run: this process (which also runs the
	// in-process broker) and the ClickHouse server, background merges of the run included. On
	// a shared machine wall-clock rates move with the load; these hardly do.
	IntakeCPUMsPer1000           float64 `json:"intake_cpu_ms_per_1000"`
	IntakeServerCPUMsPer1000     float64 `json:"intake_clickhouse_cpu_ms_per_1000"`
	RawKafkaCPUMsPer1000         float64 `json:"raw_kafka_cpu_ms_per_1000"`
	RawClickHouseCPUMsPer1000    float64 `json:"raw_clickhouse_cpu_ms_per_1000"`
	RawClickHouseServerMsPer1000 float64 `json:"raw_clickhouse_server_cpu_ms_per_1000"`
	// BatchSize is the consumer batch and raw insert size used; LoadAverage the one-minute
	// load average when the runs ended; Cores the CPUs Go may use.
	BatchSize   int     `json:"batch_size"`
	LoadAverage float64 `json:"load_average"`
	Cores       int     `json:"cores"`
}

// Bench measures the intake pipeline end to end against its own in-process broker (kfake) and
// its own ClickHouse server (Debian's clickhouse-server in a temporary directory), next to the
// raw throughput of each, and writes the result as one JSON object to w.
func Bench(ctx context.Context, w io.Writer, o BenchOptions) (BenchResult, error) {
	if o.Declarations <= 0 {
		o.Declarations = 50_000
	}
	if o.Partitions <= 0 {
		o.Partitions = 4
	}
	if o.BatchSize <= 0 {
		o.BatchSize = defaultConsumerBatchSize
	}
	if o.OpenStore == nil {
		return BenchResult{}, errors.New("ingest: bench needs OpenStore")
	}
	log := o.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	res := BenchResult{Declarations: o.Declarations}

	dir, err := os.MkdirTemp("", "portguard-bench-ingest-")
	if err != nil {
		return res, err
	}
	defer os.RemoveAll(dir)
	log.Info("starting clickhouse-server", "dir", dir)
	srv, err := chserver.Start(ctx, chserver.Options{Dir: dir})
	if err != nil {
		return res, fmt.Errorf("ingest: bench: %w", err)
	}
	defer srv.Stop()
	topics := DefaultTopics()
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(int32(o.Partitions), topics.All()...))
	if err != nil {
		return res, fmt.Errorf("ingest: bench: start broker: %w", err)
	}
	defer cluster.Close()
	brokers := cluster.ListenAddrs()

	store, err := o.OpenStore(ctx, srv.Addr())
	if err != nil {
		return res, fmt.Errorf("ingest: bench: open store: %w", err)
	}
	if c, ok := store.(io.Closer); ok {
		defer c.Close()
	}

	log.Info("producing declarations", "n", o.Declarations)
	values := make([][]byte, o.Declarations)
	for i := range values {
		b, err := json.Marshal(benchDeclaration(i))
		if err != nil {
			return res, err
		}
		values[i] = b
	}
	prod := NewProducer(brokers)
	defer prod.Close()
	for i := 0; i < len(values); i += 5000 {
		msgs := make([]Message, 0, 5000)
		for j := i; j < min(i+5000, len(values)); j++ {
			msgs = append(msgs, Message{Topic: topics.Declarations, Key: strconv.Itoa(j), Value: values[j]})
		}
		if err := prod.Publish(ctx, msgs...); err != nil {
			return res, fmt.Errorf("ingest: bench: %w", err)
		}
	}

	per1000 := func(d time.Duration) float64 { return d.Seconds() * 1000 / float64(o.Declarations) * 1000 }
	const server = "clickhouse"

	// Raw Kafka: a consumer group that only fetches and commits.
	log.Info("raw kafka run")
	var n atomic.Int64
	cpu := ProcessCPU()
	elapsed, err := benchConsume(ctx, brokers, topics.Declarations, "bench-raw", o.BatchSize, o.Declarations, &n,
		func(ctx context.Context, batch []kafka.Message) error { n.Add(int64(len(batch))); return nil })
	if err != nil {
		return res, err
	}
	res.RawKafkaPerS = float64(o.Declarations) / elapsed.Seconds()
	res.RawKafkaCPUMsPer1000 = per1000(ProcessCPU() - cpu)

	// Raw ClickHouse: the same number of rows through clickhouse-go batches.
	log.Info("raw clickhouse run")
	cpu, srvCPU := ProcessCPU(), ChildrenCPU(server)
	if res.RawClickHouseRowsPerS, err = benchRawClickHouse(ctx, srv.Addr(), values, o.BatchSize); err != nil {
		return res, err
	}
	res.RawClickHouseCPUMsPer1000 = per1000(ProcessCPU() - cpu)
	// Its background merges would otherwise run during the intake run.
	waitMerges(ctx, srv.Addr(), log)
	res.RawClickHouseServerMsPer1000 = per1000(ChildrenCPU(server) - srvCPU)

	// The pipeline.
	log.Info("intake run")
	cfg := DefaultConfig()
	cfg.SpoolDir = dir + "/spool"
	cfg.DedupEntries = 2 * o.Declarations
	v := NewValidator(cfg)
	var handed atomic.Int64
	sink := sinkFunc(func(_ context.Context, ds []*Declaration) error { handed.Add(int64(len(ds))); return nil })
	in, err := NewIntake(cfg, v, store, sink, prod, topics, log, prometheus.NewRegistry())
	if err != nil {
		return res, err
	}
	defer in.Close()
	cpu, srvCPU = ProcessCPU(), ChildrenCPU(server)
	elapsed, err = benchConsume(ctx, brokers, topics.Declarations, "bench-intake", o.BatchSize, o.Declarations, &handed, in.Handler())
	if err != nil {
		return res, err
	}
	if d := in.Spool().Depth(); d > 0 {
		return res, fmt.Errorf("ingest: bench: the store failed during the run (%d records spooled)", d)
	}
	res.DeclarationsPerS = float64(o.Declarations) / elapsed.Seconds()
	res.Ratio = res.DeclarationsPerS / min(res.RawKafkaPerS, res.RawClickHouseRowsPerS)
	res.IntakeCPUMsPer1000 = per1000(ProcessCPU() - cpu)
	waitMerges(ctx, srv.Addr(), log)
	res.IntakeServerCPUMsPer1000 = per1000(ChildrenCPU(server) - srvCPU)
	res.BatchSize, res.LoadAverage, res.Cores = o.BatchSize, LoadAverage(), runtime.GOMAXPROCS(0)
	enc := json.NewEncoder(w)
	return res, enc.Encode(res)
}

type sinkFunc func(ctx context.Context, ds []*Declaration) error

func (f sinkFunc) Accept(ctx context.Context, ds []*Declaration) error { return f(ctx, ds) }

// benchConsume runs a consumer group with h until counter reaches n, returning the time taken.
func benchConsume(ctx context.Context, brokers []string, topic, group string, batch, n int, counter *atomic.Int64, h Handler) (time.Duration, error) {
	c, err := NewConsumer(ConsumerConfig{Brokers: brokers, Topic: topic, GroupID: group, BatchSize: batch, BatchWait: 20 * time.Millisecond})
	if err != nil {
		return 0, err
	}
	cctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	start := time.Now()
	go func() { done <- c.Run(cctx, h) }()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for counter.Load() < int64(n) {
		select {
		case <-tick.C:
		case err := <-done:
			cancel()
			return 0, fmt.Errorf("ingest: bench: consumer stopped: %v", err)
		case <-ctx.Done():
			cancel()
			return 0, ctx.Err()
		}
	}
	elapsed := time.Since(start)
	cancel()
	<-done
	return elapsed, nil
}

func benchRawClickHouse(ctx context.Context, addr string, values [][]byte, batch int) (float64, error) {
	conn, err := clickhouse.Open(&clickhouse.Options{Addr: []string{addr}, DialTimeout: 5 * time.Second, ReadTimeout: time.Minute})
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	if err := conn.Exec(ctx, "CREATE TABLE IF NOT EXISTS bench_raw (declaration_no String, version UInt32, raw String) ENGINE = MergeTree ORDER BY declaration_no"); err != nil {
		return 0, fmt.Errorf("ingest: bench: %w", err)
	}
	start := time.Now()
	for i := 0; i < len(values); i += batch {
		b, err := conn.PrepareBatch(ctx, "INSERT INTO bench_raw (declaration_no, version, raw)")
		if err != nil {
			return 0, fmt.Errorf("ingest: bench: %w", err)
		}
		for j := i; j < min(i+batch, len(values)); j++ {
			if err := b.Append(benchNumber(j), uint32(1), string(values[j])); err != nil {
				return 0, err
			}
		}
		if err := b.Send(); err != nil {
			return 0, fmt.Errorf("ingest: bench: %w", err)
		}
	}
	return float64(len(values)) / time.Since(start).Seconds(), nil
}

// waitMerges waits (at most 30 s) until the server has no merge running, so that one run's
// background work is not billed to the next.
func waitMerges(ctx context.Context, addr string, log *slog.Logger) {
	conn, err := clickhouse.Open(&clickhouse.Options{Addr: []string{addr}, DialTimeout: 5 * time.Second})
	if err != nil {
		return
	}
	defer conn.Close()
	deadline := time.Now().Add(30 * time.Second)
	for quiet := 0; quiet < 2 && time.Now().Before(deadline); {
		var n uint64
		if err := conn.QueryRow(ctx, "SELECT count() FROM system.merges").Scan(&n); err != nil {
			log.Warn("cannot see the server's merges", "err", err)
			return
		}
		if n == 0 {
			quiet++
		} else {
			quiet = 0
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func benchNumber(i int) string { return fmt.Sprintf("5301%014d", i) }

// benchDeclaration is a realistic three-item import declaration, distinct per i.
func benchDeclaration(i int) *Declaration {
	at := time.Date(2026, 4, 1, 8, 0, 0, 0, RateZone).Add(time.Duration(i) * time.Second)
	origins := []string{"VNM", "DE", "US", "JPN", "BR", "THA"}
	curs := []string{"USD", "EUR", "JPY", "CNY"}
	d := &Declaration{
		Schema: SchemaDeclarationV1, Number: benchNumber(i), Version: 1, Direction: Import, DeclaredAt: at,
		Port: "5301", TradeMode: "0110", TransportMode: "2",
		Consignee: Enterprise{USCC: "91310115MA1H7QXK0R", CustomsCode: fmt.Sprintf("31222%05d", i%5000), Name: "某进出口有限公司"},
		Consignor: Enterprise{Name: "Overseas Seller " + strconv.Itoa(i%900)},
		Declarant: fmt.Sprintf("31229%05d", i%300), TradingCountry: origins[i%len(origins)], DepartureCountry: origins[i%len(origins)],
		LoadingPort: "VNSGN", BillOfLading: "BENCH" + strconv.Itoa(i), VesselVoyage: "MAERSK SELETAR/612N",
		Containers: []string{"MSKU9070323"},
		Attributes: map[string]string{"payment_type": "TT"}, Measures: map[string]float64{"tax_rate": 0.09},
	}
	hs := []string{"0803901000", "8471300000", "4415100000", "0901210000", "6204430000"}
	for k := 0; k < 3; k++ {
		d.Items = append(d.Items, Item{
			Seq: k + 1, HSCode: hs[(i+k)%len(hs)], Description: "商品", Quantity: float64(100 + i%50), Unit: "035",
			NetWeightKg: float64(1000 + i%700), GrossWeightKg: float64(1100 + i%700), DeclaredValue: float64(5000 + i%10000),
			Currency: curs[(i+k)%len(curs)], OriginCountry: origins[(i+k)%len(origins)],
		})
	}
	return d
}
