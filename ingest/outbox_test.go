package ingest_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/portguard/portguard/ingest"
	"github.com/portguard/portguard/ingest/kafkatest"
)

// openTestOutbox opens an outbox in dir that forwards to addr; the test closes it.
func openTestOutbox(t *testing.T, addr, dir string) *ingest.Outbox {
	t.Helper()
	p := ingest.NewProducer([]string{addr})
	t.Cleanup(func() { p.Close() })
	o, err := ingest.OpenOutbox(dir, p, nil)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

func TestOutboxPublishIsDurableBeforeKafkaAndForwardsLater(t *testing.T) {
	b := kafkatest.Start(t, 3)
	dir := t.TempDir()

	// First process: 200 concurrent publishes, then it "dies" before forwarding anything.
	o := openTestOutbox(t, b.Addr, dir)
	var wg sync.WaitGroup
	for i := range 200 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := o.Publish(context.Background(), ingest.Message{Topic: b.Topics.Decisions, Key: fmt.Sprint(i), Value: map[string]int{"n": i}}); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if got := o.Pending(); got != 200 {
		t.Fatalf("pending %d, want 200 journaled before any forwarding", got)
	}
	if err := o.Close(); err != nil {
		t.Fatal(err)
	}
	if got := b.Consume(t, b.Topics.Decisions, 1, 300*time.Millisecond); len(got) != 0 {
		t.Fatalf("%d messages reached Kafka although nothing forwarded them", len(got))
	}

	// Second process on the same directory forwards every message exactly as journaled.
	o2 := openTestOutbox(t, b.Addr, dir)
	defer o2.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- o2.Run(ctx) }()
	got := b.Consume(t, b.Topics.Decisions, 200, 20*time.Second)
	// Consumers can see the messages before the producer's acknowledgement returns; only then is
	// the journal trimmed. Stopping earlier would rightly keep them for the next run.
	kafkatest.WaitFor(t, 20*time.Second, "the journal is empty after forwarding", func() bool { return o2.Pending() == 0 })
	cancel()
	<-done
	seen := map[int]bool{}
	for _, m := range got {
		var v struct{ N int }
		if err := json.Unmarshal(m.Value, &v); err != nil {
			t.Fatal(err)
		}
		if string(m.Key) != fmt.Sprint(v.N) {
			t.Errorf("key %q carries value %d", m.Key, v.N)
		}
		seen[v.N] = true
	}
	if len(seen) != 200 {
		t.Fatalf("%d distinct messages forwarded, want 200", len(seen))
	}
}

func TestOutboxKeepsMessagesWhileKafkaIsDown(t *testing.T) {
	b := kafkatest.Start(t, 1)
	addr := b.Addr
	b.Cluster.Close() // Kafka is down from the start.
	o := openTestOutbox(t, addr, t.TempDir())
	defer o.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- o.Run(ctx) }()
	start := time.Now()
	if err := o.Publish(context.Background(), ingest.Message{Topic: "portguard.decisions", Key: "k", Value: []byte(`{}`)}); err != nil {
		t.Fatalf("publish with Kafka down: %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("publish waited %v for an unreachable Kafka", d)
	}
	time.Sleep(300 * time.Millisecond)
	if o.Pending() != 1 {
		t.Fatalf("pending %d, want the message kept while Kafka is down", o.Pending())
	}
	cancel()
	<-done
}

// Values reach Kafka as the same JSON whatever form the caller gave them in, keys with quotes and
// non-ASCII text survive the journal, and a value that is not JSON is refused before anything is
// journaled.
func TestOutboxEncodesEveryValueFormFaithfully(t *testing.T) {
	b := kafkatest.Start(t, 1)
	p := ingest.NewProducer([]string{b.Addr})
	defer p.Close()
	o, err := ingest.OpenOutbox(t.TempDir(), p, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	ctx := context.Background()
	if err := o.Publish(ctx, ingest.Message{Topic: b.Topics.Decisions, Key: "bad", Value: []byte(`{"n":`)}); err == nil {
		t.Fatal("a value that is not JSON was accepted")
	}
	want := map[string]string{
		`a"b\c`:  `{"n":1,"s":"line\nbreak"}`,
		"进口商-01": `{"n":2,"zh":"查验"}`,
		"pretty": `{"n":3,"list":[1,2]}`,
	}
	msgs := []ingest.Message{
		{Topic: b.Topics.Decisions, Key: `a"b\c`, Value: map[string]any{"n": 1, "s": "line\nbreak"}},
		{Topic: b.Topics.Decisions, Key: "进口商-01", Value: json.RawMessage(`{"n":2,"zh":"查验"}`)},
		{Topic: b.Topics.Decisions, Key: "pretty", Value: []byte("{\n  \"n\": 3,\n  \"list\": [ 1, 2 ]\n}\n")},
	}
	if err := o.Publish(ctx, msgs...); err != nil {
		t.Fatal(err)
	}
	if got := o.Pending(); got != 3 {
		t.Fatalf("pending %d, want 3 (the refused value must not be journaled)", got)
	}
	if err := o.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	got := b.Consume(t, b.Topics.Decisions, 3, 20*time.Second)
	if len(got) != 3 {
		t.Fatalf("%d messages forwarded, want 3", len(got))
	}
	for _, m := range got {
		w, ok := want[string(m.Key)]
		if !ok {
			t.Errorf("unexpected key %q", m.Key)
			continue
		}
		var a, e any
		if err := json.Unmarshal(m.Value, &a); err != nil {
			t.Fatalf("key %q: forwarded value %q is not JSON: %v", m.Key, m.Value, err)
		}
		_ = json.Unmarshal([]byte(w), &e)
		if fmt.Sprint(a) != fmt.Sprint(e) {
			t.Errorf("key %q: forwarded %s, want %s", m.Key, m.Value, w)
		}
	}
}

// TestOutboxEnqueueKeepsOrderSoOneWaitCoversTwo: what a caller enqueues before publishing is
// committed no later than what it publishes — the HTTP path journals a declaration, decides,
// publishes the decision and only then asks whether the declaration is on disk, which must
// then be known without waiting — and the journal forwards them in that order.
func TestOutboxEnqueueKeepsOrderSoOneWaitCoversTwo(t *testing.T) {
	b := kafkatest.Start(t, 1)
	o := openTestOutbox(t, b.Addr, t.TempDir())
	defer o.Close()
	ctx := context.Background()
	const n = 300
	var wg sync.WaitGroup
	for g := range 8 { // concurrent pairs, as from concurrent requests
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := g; i < n; i += 8 {
				first, err := o.Enqueue(ctx, ingest.Message{Topic: b.Topics.Decisions, Key: "k", Value: map[string]any{"i": i, "part": "declaration"}})
				if err != nil {
					t.Error(err)
					return
				}
				if err := o.Publish(ctx, ingest.Message{Topic: b.Topics.Decisions, Key: "k", Value: map[string]any{"i": i, "part": "decision"}}); err != nil {
					t.Error(err)
					return
				}
				done, cancel := context.WithCancel(ctx)
				cancel() // the first must be known to be committed: no waiting allowed
				if err := first(done); err != nil {
					t.Errorf("pair %d: the first message is not known committed after the second: %v", i, err)
				}
				if err := first(done); err != nil { // asked again, the same answer
					t.Errorf("pair %d: asked twice: %v", i, err)
				}
			}
		}()
	}
	wg.Wait()
	if got := o.Pending(); got != 2*n {
		t.Fatalf("pending %d, want %d", got, 2*n)
	}
	rctx, stop := context.WithCancel(ctx)
	ran := make(chan error, 1)
	go func() { ran <- o.Run(rctx) }()
	got := b.Consume(t, b.Topics.Decisions, 2*n, 20*time.Second)
	stop()
	<-ran
	seenDecl := map[int]bool{}
	for _, m := range got {
		var v struct {
			I    int
			Part string
		}
		if err := json.Unmarshal(m.Value, &v); err != nil {
			t.Fatal(err)
		}
		switch v.Part {
		case "declaration":
			seenDecl[v.I] = true
		case "decision":
			if !seenDecl[v.I] {
				t.Fatalf("pair %d: the decision was forwarded before the declaration enqueued ahead of it", v.I)
			}
		}
	}
	if len(seenDecl) != n {
		t.Fatalf("%d declarations forwarded, want %d", len(seenDecl), n)
	}
}
