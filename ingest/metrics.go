package ingest

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics of the intake pipeline, registered on the Registerer passed to NewIntake. Every counter
// has a "kind" label: declaration, manifest or withdrawal.
type metrics struct {
	consumed     *prometheus.CounterVec   // messages read (Kafka) or submitted (HTTP)
	valid        *prometheus.CounterVec   // messages that passed validation
	invalid      *prometheus.CounterVec   // rejected messages, by kind and first reason code
	deadLettered *prometheus.CounterVec   // dead letters published
	duplicates   *prometheus.CounterVec   // already seen: skipped
	stale        *prometheus.CounterVec   // older versions and withdrawn declarations: stored, not forwarded
	spooled      *prometheus.CounterVec   // records written to the spool because the store failed
	stored       *prometheus.CounterVec   // records the store accepted (directly or from the spool)
	retargeted   prometheus.Counter       // declarations handed back to targeting after a late manifest
	batch        *prometheus.HistogramVec // time to make one batch durable
}

func newMetrics(reg prometheus.Registerer, depth func() float64) (*metrics, error) {
	const ns, sub = "portguard", "ingest"
	counter := func(name, help string, labels ...string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: name, Help: help}, labels)
	}
	m := &metrics{
		consumed:     counter("consumed_total", "Messages read from Kafka or submitted over HTTP.", "kind"),
		valid:        counter("valid_total", "Messages that passed validation.", "kind"),
		invalid:      counter("invalid_total", "Messages rejected by validation, by the code of each problem.", "kind", "code"),
		deadLettered: counter("dead_lettered_total", "Messages published to the dead-letter topic.", "kind"),
		duplicates:   counter("duplicates_total", "Messages already processed (same declaration number and version), skipped.", "kind"),
		stale:        counter("stale_total", "Declarations stored but not forwarded: an older version than one seen, or withdrawn.", "kind"),
		spooled:      counter("spooled_total", "Records written to the local spool because the store failed.", "kind"),
		stored:       counter("stored_total", "Records the store accepted, directly or drained from the spool.", "kind"),
		retargeted: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "retargeted_total",
			Help: "Declarations handed back to targeting because their manifest arrived after them."}),
		batch: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: ns, Subsystem: sub, Name: "batch_seconds",
			Help: "Time to validate a batch and make it durable (store or spool) and forwarded.", Buckets: prometheus.ExponentialBuckets(0.001, 2, 14)}, []string{"kind"}),
	}
	depthGauge := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: "spool_depth",
		Help: "Records waiting in the local spool for the store to come back."}, depth)
	for _, c := range []prometheus.Collector{m.consumed, m.valid, m.invalid, m.deadLettered, m.duplicates, m.stale,
		m.spooled, m.stored, m.retargeted, m.batch, depthGauge} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("ingest: register metrics: %w", err)
		}
	}
	return m, nil
}

// countInvalid counts each problem's code once per message.
func (m *metrics) countInvalid(kind string, err error) {
	var ve *ValidationError
	if !errors.As(err, &ve) {
		m.invalid.WithLabelValues(kind, "internal").Inc()
		return
	}
	seen := map[string]bool{}
	for _, f := range ve.Fields {
		if !seen[f.Code] {
			seen[f.Code] = true
			m.invalid.WithLabelValues(kind, f.Code).Inc()
		}
	}
}
