package ingest_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"

	"github.com/portguard/portguard/analytics/chtest"
	"github.com/portguard/portguard/ingest"
	"github.com/portguard/portguard/ingest/kafkatest"
)

// TestWithdrawalsAreStoredOnceAndSpooledWhileClickHouseIsDown: every withdrawal (撤单) the
// intake accepts is a row in ClickHouse's withdrawals table — stored at once while ClickHouse is
// up, spooled while it is down (the handler still succeeds, so the offset may be committed) and
// stored when the spool drains — and a redelivered withdrawal adds no row.
func TestWithdrawalsAreStoredOnceAndSpooledWhileClickHouseIsDown(t *testing.T) {
	srv, store := ownStoreThatFailsFast(t, "withdrawals")
	b := kafkatest.Start(t, 1)
	prod := ingest.NewProducer([]string{b.Addr})
	defer prod.Close()
	icfg := ingest.DefaultConfig()
	icfg.SpoolDir, icfg.StoreTimeout = t.TempDir(), 4*time.Second
	reg := prometheus.NewRegistry()
	in, err := ingest.NewIntake(icfg, ingest.NewValidator(icfg), store, &recordingSink{}, prod, b.Topics, nil, reg)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	sink := &recordingSink{}
	in.SetWithdrawalSink(sink)
	h := in.WithdrawalHandler()
	offset := int64(0)
	withdrawal := func(i int) kafka.Message {
		offset++
		return kafka.Message{Topic: b.Topics.Withdrawals, Offset: offset, Key: []byte(declarationNo(i)),
			Value: []byte(fmt.Sprintf(`{"schema":"portguard.withdrawal/v1","declaration_no":%q,"reason":"撤单 %d","at":"2026-03-02T11:00:00+08:00"}`, declarationNo(i), i))}
	}
	ctx := context.Background()
	conn := chtest.MustOpen(t, srv.Addr(), "withdrawals")
	defer func() { conn.Close() }()
	rows := func() uint64 {
		var n uint64
		if err := conn.QueryRow(ctx, "SELECT count() FROM withdrawals").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}

	first := withdrawal(1)
	if err := h(ctx, []kafka.Message{first, withdrawal(2)}); err != nil {
		t.Fatal(err)
	}
	if n := rows(); n != 2 {
		t.Fatalf("%d withdrawals stored while ClickHouse is up, want 2", n)
	}
	if err := h(ingest.WithRedelivery(ctx), []kafka.Message{first}); err != nil {
		t.Fatal(err)
	}
	if n := rows(); n != 2 {
		t.Fatalf("%d withdrawals stored after a redelivery, want 2", n)
	}

	conn.Close()
	srv.Stop()
	if err := h(ctx, []kafka.Message{withdrawal(3), withdrawal(4)}); err != nil {
		t.Fatalf("handler failed while ClickHouse is down (it should spool): %v", err)
	}
	if d := in.Spool().Depth(); d != 2 {
		t.Fatalf("spool holds %d records, want the 2 withdrawals", d)
	}
	if len(sink.withdrawn) != 5 {
		t.Errorf("%d withdrawals handed on to cancel tasks, want 5 (the redelivered one again: the sink is idempotent)", len(sink.withdrawn))
	}
	rctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := srv.Restart(rctx); err != nil {
		t.Fatal(err)
	}
	conn = chtest.MustOpen(t, srv.Addr(), "withdrawals")
	kafkatest.WaitFor(t, 30*time.Second, "the spool drains into ClickHouse", func() bool {
		return in.DrainSpool(ctx) == nil && in.Spool().Depth() == 0
	})
	if n := rows(); n != 4 {
		t.Fatalf("%d withdrawals stored after the spool drained, want 4", n)
	}
	var reason string
	if err := conn.QueryRow(ctx, "SELECT reason FROM withdrawals WHERE declaration_no = ?", declarationNo(3)).Scan(&reason); err != nil {
		t.Fatal(err)
	}
	if reason != "撤单 3" {
		t.Errorf("spooled withdrawal stored with reason %q", reason)
	}
}
