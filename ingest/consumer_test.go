package ingest_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/portguard/portguard/ingest"
)

// TestConsumerReadsMessagesLargerThanOneFetch: the consumer asks for at most 1 MiB per
// partition fetch, yet a message above that (a broker configured for large messages, a third
// party producer) still arrives whole, followed by the next one: nothing gets stuck behind it.
func TestConsumerReadsMessagesLargerThanOneFetch(t *testing.T) {
	topics := ingest.DefaultTopics()
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, topics.All()...),
		kfake.BrokerConfigs(map[string]string{"message.max.bytes": "10000000"}))
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	addr := cluster.ListenAddrs()[0]
	big := bytes.Repeat([]byte("x"), 3<<20)
	w := &kafka.Writer{Addr: kafka.TCP(addr), Topic: topics.Declarations, RequiredAcks: kafka.RequireAll,
		BatchBytes: 8 << 20, BatchTimeout: time.Millisecond}
	defer w.Close()
	if err := w.WriteMessages(context.Background(), kafka.Message{Value: big}, kafka.Message{Value: []byte("next")}); err != nil {
		t.Fatal(err)
	}
	c, err := ingest.NewConsumer(ingest.ConsumerConfig{Brokers: []string{addr}, Topic: topics.Declarations, GroupID: "big"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var got [][]byte
	if err := c.Run(ctx, func(_ context.Context, batch []kafka.Message) error {
		for _, m := range batch {
			got = append(got, m.Value)
		}
		if len(got) >= 2 {
			cancel()
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || !bytes.Equal(got[0], big) || string(got[1]) != "next" {
		sizes := make([]int, len(got))
		for i, v := range got {
			sizes[i] = len(v)
		}
		t.Fatalf("consumed messages of %v bytes, want [%d 4]", sizes, len(big))
	}
}
