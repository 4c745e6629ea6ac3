package analytics

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/segmentio/kafka-go"

	"github.com/portguard/portguard/clearance"
	"github.com/portguard/portguard/ingest"
	"github.com/portguard/portguard/targeting"
)

// DefaultRecorderGroup is the consumer group the recorder reads in.
const DefaultRecorderGroup = "portguard-analytics"

// Recorder returns one Kafka handler per topic the recorder stores: decisions, inspection
// results, releases and dead letters. Each handler decodes the batch and inserts it in one call.
// A message that does not decode is logged, counted and skipped (it was published by portguard
// itself, so there is nothing to dead-letter it to that would help); a ClickHouse failure is
// returned, so that the consumer retries the batch without committing. Inserts are idempotent,
// so redelivery never duplicates a row.
//
// Revised decisions (targeting.Decision.Revision > 0, made when a manifest arrives after a GREEN)
// are inserted like any decision: decisions is a ReplacingMergeTree on decided_at, and targeting
// decides every revision in a later second than the decision it replaces, so the highest
// revision is the row that stays, whatever order the messages arrive in, and a redelivered equal
// or lower revision never displaces it.
func (s *Store) Recorder(topics ingest.Topics) map[string]ingest.Handler {
	return map[string]ingest.Handler{
		topics.Decisions: recordHandler(s, topics.Decisions, func(d *targeting.Decision) bool {
			return d.DeclarationNo != "" && validChannel(d.Channel) == nil
		}, s.InsertDecisions),
		topics.InspectionResults: recordHandler(s, topics.InspectionResults, func(r *clearance.InspectionResult) bool {
			switch r.Outcome {
			case clearance.Conforming, clearance.NonConforming, clearance.PendingLab:
				return r.DeclarationNo != ""
			}
			return false
		}, s.InsertResults),
		topics.Releases: recordHandler(s, topics.Releases, func(r *clearance.Release) bool {
			return r.DeclarationNo != ""
		}, s.InsertReleases),
		topics.DeadLetters: recordHandler(s, topics.DeadLetters, func(d *ingest.DeadLetter) bool {
			return d.SourceTopic != ""
		}, s.InsertDeadLetters),
	}
}

func recordHandler[T any](s *Store, topic string, ok func(*T) bool, insert func(context.Context, []T) error) ingest.Handler {
	log := s.log.With("topic", topic)
	return func(ctx context.Context, batch []kafka.Message) error {
		vs := make([]T, 0, len(batch))
		for _, m := range batch {
			var v T
			if err := json.Unmarshal(m.Value, &v); err != nil || !ok(&v) {
				if err == nil {
					err = errors.New("required fields missing or invalid")
				}
				s.m.skipped.WithLabelValues(topic).Inc()
				log.Error("skipping a message that does not decode", "partition", m.Partition, "offset", m.Offset, "err", err)
				continue
			}
			vs = append(vs, v)
		}
		if err := insert(ctx, vs); err != nil {
			return err
		}
		s.m.recorded.WithLabelValues(topic).Add(float64(len(vs)))
		return nil
	}
}

// RecorderGroup is the consumer group the recorder reads topic in: one group per topic. Readers
// of different topics sharing one group rebalance each other at every join and leave, and
// after a crash the group could stay stuck behind its dead members for minutes.
func RecorderGroup(groupID, topic string) string { return groupID + "." + topic }

// RunRecorder consumes the decisions, inspection-results, releases and dead-letters topics, each
// in its own consumer group (RecorderGroup), and stores every message in ClickHouse, until ctx
// ends (then it returns nil) or a consumer fails for good (then it cancels the others and
// returns that error). groupID "" means DefaultRecorderGroup.
func RunRecorder(ctx context.Context, brokers []string, topics ingest.Topics, groupID string, s *Store, log *slog.Logger) error {
	if groupID == "" {
		groupID = DefaultRecorderGroup
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	handlers := s.Recorder(topics)
	consumers := make(map[string]*ingest.Consumer, len(handlers))
	for topic := range handlers {
		c, err := ingest.NewConsumer(ingest.ConsumerConfig{Brokers: brokers, Topic: topic, GroupID: RecorderGroup(groupID, topic), Logger: log})
		if err != nil {
			return fmt.Errorf("analytics: recorder: %w", err)
		}
		consumers[topic] = c
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg    sync.WaitGroup
		once  sync.Once
		first error
	)
	for topic, c := range consumers {
		h := handlers[topic]
		wg.Go(func() {
			if err := c.Run(ctx, h); err != nil {
				once.Do(func() { first = fmt.Errorf("analytics: recorder on %s: %w", topic, err) })
				cancel()
			}
		})
	}
	log.Info("analytics recorder started", "group", groupID, "topics", len(consumers))
	wg.Wait()
	return first
}
