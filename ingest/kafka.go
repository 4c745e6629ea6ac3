package ingest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/segmentio/kafka-go"
)

// KafkaConfig says where the brokers are. The zero value is invalid; DefaultKafkaConfig runs on
// one laptop against `portguard dev`'s broker.
type KafkaConfig struct {
	Brokers []string
	Topics  Topics
}

// DefaultKafkaConfig is the configuration portguard uses when nothing is set.
func DefaultKafkaConfig() KafkaConfig {
	return KafkaConfig{Brokers: []string{"127.0.0.1:19092"}, Topics: DefaultTopics()}
}

// Validate reports a configuration that cannot work.
func (c KafkaConfig) Validate() error {
	if len(c.Brokers) == 0 {
		return errors.New("ingest: kafka: at least one broker address is required")
	}
	return c.Topics.Validate()
}

// Producer writes JSON messages to Kafka and waits for every in-sync replica to acknowledge them:
// nothing portguard publishes may be lost silently. It is safe for concurrent use.
type Producer struct {
	w *kafka.Writer
}

// NewProducer returns a producer for the brokers. Messages with the same key go to the same
// partition (murmur2, as the Java client does), so per-declaration order holds.
func NewProducer(brokers []string) *Producer {
	return &Producer{w: &kafka.Writer{
		Addr:         kafka.TCP(brokers...),
		RequiredAcks: kafka.RequireAll,
		BatchTimeout: 2 * time.Millisecond,
		// kafka-go gives every new batch room for BatchSize messages up front (~220 bytes
		// each): at 1000, small batches — an HTTP instance forwards a few messages per
		// partition at a time — made a fifth of all the process allocated. A larger
		// WriteMessages call is split into batches of this size.
		BatchSize:    128,
		Balancer:     kafka.Murmur2Balancer{},
		MaxAttempts:  3,
		WriteTimeout: 10 * time.Second,
	}}
}

// Message is one record to publish.
type Message struct {
	Topic string
	Key   string
	Value any // JSON-encoded; a []byte or json.RawMessage is sent as it is
}

// Publish encodes and writes msgs, returning only when all are acknowledged or an error occurred.
// An encoding failure is a programming error and returned before anything is written.
func (p *Producer) Publish(ctx context.Context, msgs ...Message) error {
	km := make([]kafka.Message, len(msgs))
	for i, m := range msgs {
		var b []byte
		switch v := m.Value.(type) {
		case []byte:
			b = v
		case json.RawMessage:
			b = v
		default:
			var err error
			if b, err = json.Marshal(v); err != nil {
				return fmt.Errorf("ingest: encode message for %s: %w", m.Topic, err)
			}
		}
		km[i] = kafka.Message{Topic: m.Topic, Key: []byte(m.Key), Value: b}
	}
	if err := p.w.WriteMessages(ctx, km...); err != nil {
		return fmt.Errorf("ingest: publish %d message(s): %w", len(km), err)
	}
	return nil
}

// Close flushes and closes the producer.
func (p *Producer) Close() error { return p.w.Close() }

// ConsumerConfig configures a Consumer.
type ConsumerConfig struct {
	Brokers []string
	Topic   string
	GroupID string
	// BatchSize is the most messages handed to the handler at once; default 10,000. Handlers
	// that insert into ClickHouse want large batches: every INSERT into a wide MergeTree table
	// creates a part of two files per column, and background merges rewrite them, so fewer,
	// larger inserts cost the server far less per row. BatchWait bounds the latency this adds
	// when traffic is light.
	BatchSize int
	BatchWait time.Duration // longest wait to fill a batch; default 50ms
	// RetryBackoff is the first wait after a failed batch; it doubles up to 5 s. Default 100ms.
	RetryBackoff time.Duration
	Logger       *slog.Logger
}

// defaultConsumerBatchSize is ConsumerConfig.BatchSize when it is not set.
const defaultConsumerBatchSize = 10_000

// Handler processes one batch. It must make its effects durable before returning nil; only then
// are the offsets committed. A message that can never be processed (bad input) must be dealt with
// inside the handler — sent to dead letters — and not reported as an error: an error means
// "transient, try the whole batch again", and the consumer retries it until it succeeds or the
// context ends, without committing. Handlers must therefore be idempotent. The Consumer marks
// ctx WithRedelivery when the batch may hold messages handled before (see MayBeRedelivered), so
// that stores can leave out what they hold already.
type Handler func(ctx context.Context, batch []kafka.Message) error

// Consumer reads a topic in a consumer group with at-least-once delivery: FetchMessage, handle,
// then CommitMessages.
type Consumer struct {
	cfg ConsumerConfig
	r   *kafka.Reader
	log *slog.Logger
	// next is, per partition, the offset after the last message handed to the handler by this
	// process: a batch that does not start there may hold messages stored before.
	next map[int]int64
	// suspect is, per partition, the offset below which messages may have been handled before:
	// the partition's high-water mark when this process found it discontinuous.
	suspect map[int]int64
	// committed reports whether the group has ever committed an offset of partition p (nil:
	// ask the broker); asked once per partition per process.
	committed func(ctx context.Context, p int) (bool, error)
	fresh     map[int]bool
}

// neverCommitted reports whether the group had no committed offset for partition p when this
// process first read it. When the broker cannot tell, it answers false (the careful side).
func (c *Consumer) neverCommitted(ctx context.Context, p int) bool {
	if v, ok := c.fresh[p]; ok {
		return v
	}
	ask := c.committed
	if ask == nil {
		ask = c.askCommitted
	}
	has, err := ask(ctx, p)
	c.fresh[p] = err == nil && !has
	return c.fresh[p]
}

// askCommitted asks the group coordinator for the group's committed offset of partition p.
func (c *Consumer) askCommitted(ctx context.Context, p int) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	cl := &kafka.Client{Addr: kafka.TCP(c.cfg.Brokers...)}
	resp, err := cl.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: c.cfg.GroupID, Topics: map[string][]int{c.cfg.Topic: {p}}})
	if err != nil {
		return false, err
	}
	if resp.Error != nil {
		return false, resp.Error
	}
	for _, pp := range resp.Topics[c.cfg.Topic] {
		if pp.Partition == p {
			if pp.Error != nil {
				return false, pp.Error
			}
			return pp.CommittedOffset >= 0, nil
		}
	}
	return false, fmt.Errorf("ingest: no committed offset answer for %s/%d", c.cfg.Topic, p)
}

// NewConsumer validates cfg and creates the group reader.
func NewConsumer(cfg ConsumerConfig) (*Consumer, error) {
	if len(cfg.Brokers) == 0 || cfg.Topic == "" || cfg.GroupID == "" {
		return nil, errors.New("ingest: consumer needs brokers, a topic and a group id")
	}
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = defaultConsumerBatchSize
	}
	if cfg.BatchWait <= 0 {
		cfg.BatchWait = 50 * time.Millisecond
	}
	if cfg.RetryBackoff <= 0 {
		cfg.RetryBackoff = 100 * time.Millisecond
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers:  cfg.Brokers,
		Topic:    cfg.Topic,
		GroupID:  cfg.GroupID,
		MinBytes: 1,
		// 1 MiB per partition fetch (kafka-go's default). A larger value made each fetch a
		// multi-megabyte response that the broker assembles and the reader drains in one go:
		// 16 MiB measured 5–15× slower than 1 MiB against kfake. A record batch larger than this
		// is still returned whole (fetch v3+), so no message is ever stuck.
		MaxBytes:       1 << 20,
		MaxWait:        cfg.BatchWait,
		StartOffset:    kafka.FirstOffset,
		CommitInterval: 0, // synchronous commits: we commit only what is durable
		// The next batch is fetched while the handler works on this one.
		QueueCapacity: cfg.BatchSize,
	})
	return &Consumer{cfg: cfg, r: r, log: log.With("topic", cfg.Topic, "group", cfg.GroupID), next: map[int]int64{}, suspect: map[int]int64{}, fresh: map[int]bool{}}, nil
}

// Run consumes until ctx ends, then closes the reader. It returns nil on cancellation and an
// error only when the reader itself fails for good.
func (c *Consumer) Run(ctx context.Context, h Handler) error {
	defer c.r.Close()
	batch := make([]kafka.Message, 0, c.cfg.BatchSize)
	for {
		batch = batch[:0]
		m, err := c.r.FetchMessage(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("ingest: fetch from %s: %w", c.cfg.Topic, err)
		}
		batch = append(batch, m)
		fill, cancel := context.WithTimeout(ctx, c.cfg.BatchWait)
		for len(batch) < c.cfg.BatchSize {
			m, err := c.r.FetchMessage(fill)
			if err != nil {
				break
			}
			batch = append(batch, m)
		}
		cancel()
		if err := c.handle(ctx, h, batch); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
	}
}

func (c *Consumer) handle(ctx context.Context, h Handler, batch []kafka.Message) error {
	wait := c.cfg.RetryBackoff
	hctx := ctx
	if c.mayBeRedelivered(ctx, batch) {
		hctx = WithRedelivery(ctx)
	}
	for attempt := 1; ; attempt++ {
		err := h(hctx, batch)
		if err == nil {
			break
		}
		// The failed attempt may have stored part of the batch.
		hctx = WithRedelivery(ctx)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		c.log.Warn("batch failed, will retry without committing", "attempt", attempt, "messages", len(batch), "err", err)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
		wait = min(wait*2, 5*time.Second)
	}
	if err := c.r.CommitMessages(ctx, batch...); err != nil {
		return fmt.Errorf("ingest: commit offsets on %s: %w", c.cfg.Topic, err)
	}
	return nil
}

// mayBeRedelivered reports whether batch may hold messages that were handled before — by an
// earlier process, another group member or a failed attempt: messages of a partition below the
// high-water mark it had when this process found it not continuing where it left it (first
// read, or a jump); and records where each partition now ends.
func (c *Consumer) mayBeRedelivered(ctx context.Context, batch []kafka.Message) bool {
	again := false
	for i := range batch {
		m := &batch[i]
		if next, ok := c.next[m.Partition]; !ok || next != m.Offset {
			// Everything up to the partition's end as of now may have been handled by the
			// process or member that read here before: after a crash the uncommitted range can
			// be longer than one batch. Not so when the group never committed here — a new
			// group reading a backlog from its start (a process that died inside its very first
			// batch is the one case this misses: its rows collapse at the next merge).
			if ok || !c.neverCommitted(ctx, m.Partition) {
				c.suspect[m.Partition] = max(c.suspect[m.Partition], m.HighWaterMark, m.Offset+1)
			}
		}
		if m.Offset < c.suspect[m.Partition] {
			again = true
		}
		c.next[m.Partition] = m.Offset + 1
	}
	return again
}

// Lag returns the reader's last known lag (messages behind the end of the partitions).
func (c *Consumer) Lag() int64 { return c.r.Stats().Lag }
