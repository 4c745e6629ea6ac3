// Package kafkatest gives tests a real Kafka wire-protocol broker: franz-go's in-process kfake,
// listening on a loopback TCP port, which the project's kafka-go code talks to exactly as to
// Apache Kafka. Each test gets its own broker, so topics never collide.
package kafkatest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/portguard/portguard/ingest"
)

// Broker is a started in-process broker with portguard's topics created.
type Broker struct {
	Cluster *kfake.Cluster
	Addr    string // host:port of the single broker
	Topics  ingest.Topics
}

// Start starts a one-broker cluster whose topics (ingest.DefaultTopics) have the given number of
// partitions (1 if partitions < 1), and closes it when the test ends. Extra kfake options are
// passed through, e.g. kfake.DataDir for restart tests.
func Start(tb testing.TB, partitions int32, opts ...kfake.Opt) *Broker {
	tb.Helper()
	if partitions < 1 {
		partitions = 1
	}
	topics := ingest.DefaultTopics()
	all := append([]kfake.Opt{
		kfake.NumBrokers(1),
		kfake.AllowAutoTopicCreation(),
		kfake.DefaultNumPartitions(int(partitions)),
		kfake.SeedTopics(partitions, topics.All()...),
	}, opts...)
	c, err := kfake.NewCluster(all...)
	if err != nil {
		tb.Fatalf("kafkatest: start broker: %v", err)
	}
	tb.Cleanup(c.Close)
	return &Broker{Cluster: c, Addr: c.ListenAddrs()[0], Topics: topics}
}

// Produce writes values (each JSON or raw bytes) to topic, keyed by key(i) when key is non-nil,
// waiting for the broker's acknowledgement.
func (b *Broker) Produce(tb testing.TB, topic string, values [][]byte, key func(i int) []byte) {
	tb.Helper()
	w := &kafka.Writer{Addr: kafka.TCP(b.Addr), Topic: topic, RequiredAcks: kafka.RequireAll,
		BatchTimeout: 5 * time.Millisecond, BatchSize: 1000, Balancer: &kafka.Hash{}}
	defer w.Close()
	msgs := make([]kafka.Message, len(values))
	for i, v := range values {
		msgs[i].Value = v
		if key != nil {
			msgs[i].Key = key(i)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		tb.Fatalf("kafkatest: produce to %s: %v", topic, err)
	}
}

// Consume reads topic from the beginning, across all partitions, until n messages arrived or
// timeout passed, and returns what it read. It uses no consumer group, so it never disturbs the
// offsets of the code under test.
func (b *Broker) Consume(tb testing.TB, topic string, n int, timeout time.Duration) []kafka.Message {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	conn, err := kafka.DialContext(ctx, "tcp", b.Addr)
	if err != nil {
		tb.Fatalf("kafkatest: dial: %v", err)
	}
	parts, err := conn.ReadPartitions(topic)
	conn.Close()
	if err != nil {
		tb.Fatalf("kafkatest: partitions of %s: %v", topic, err)
	}
	out := make(chan kafka.Message, 1024)
	for _, p := range parts {
		r := kafka.NewReader(kafka.ReaderConfig{Brokers: []string{b.Addr}, Topic: topic, Partition: p.ID, MaxWait: 50 * time.Millisecond})
		go func() {
			defer r.Close()
			for {
				m, err := r.ReadMessage(ctx)
				if err != nil {
					return
				}
				select {
				case out <- m:
				case <-ctx.Done():
					return
				}
			}
		}()
	}
	var got []kafka.Message
	for len(got) < n {
		select {
		case m := <-out:
			got = append(got, m)
		case <-ctx.Done():
			return got
		}
	}
	return got
}

// WaitFor polls cond every 20 ms until it is true or timeout passes, then fails the test with msg.
func WaitFor(tb testing.TB, timeout time.Duration, msg string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out after %v: %s", timeout, msg)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// ErrTimeout is returned by helpers that give up waiting.
var ErrTimeout = errors.New("kafkatest: timed out")
