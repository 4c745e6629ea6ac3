package targeting

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

var (
	metricChannels   = [...]Channel{Red, Yellow, Green}
	metricSelections = [...]Selection{SelectedByRule, SelectedByModel, SelectedByRandom, SelectedByExplore, NotSelected}
)

// metrics are the service's Prometheus collectors. Counters for every channel × selection are
// created up front so the decision path does no label lookup.
type metrics struct {
	decisions      *prometheus.CounterVec
	byCS           [len(metricChannels)][len(metricSelections)]prometheus.Counter
	decideSeconds  prometheus.Histogram
	publishFailed  prometheus.Counter
	publishPending prometheus.Gauge
	auditFailed    prometheus.Counter
	feedback       *prometheus.CounterVec
	fbApplied      prometheus.Counter
	fbDuplicate    prometheus.Counter
	fbMalformed    prometheus.Counter
	degraded       prometheus.Gauge
	warmLabels     prometheus.Counter
	// model lifecycle
	retrains        *prometheus.CounterVec
	shadowPrecision *prometheus.GaugeVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "portguard_targeting_decisions_total",
			Help: "Decisions made, by channel and by what selected the consignment.",
		}, []string{"channel", "selection"}),
		decideSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "portguard_targeting_decide_seconds",
			Help:    "Time to decide one declaration in the engine (excluding publication).",
			Buckets: []float64{5e-6, 10e-6, 20e-6, 50e-6, 100e-6, 200e-6, 500e-6, 1e-3, 5e-3, 20e-3},
		}),
		publishFailed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "portguard_targeting_publish_failures_total",
			Help: "Attempts to publish decisions to Kafka that failed (the decisions are kept for retry).",
		}),
		publishPending: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "portguard_targeting_publish_pending",
			Help: "Decisions waiting to be published because Kafka was unavailable.",
		}),
		auditFailed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "portguard_targeting_audit_failures_total",
			Help: "Attempts to append decisions to the audit chain that failed (kept for retry).",
		}),
		feedback: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "portguard_targeting_feedback_total",
			Help: "Inspection results received on the feedback topic, by what became of them.",
		}, []string{"result"}),
		degraded: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "portguard_targeting_degraded",
			Help: "1 while targeting runs without ClickHouse-backed state.",
		}),
		warmLabels: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "portguard_targeting_warm_start_labels_total",
			Help: "Labels replayed from history at warm start.",
		}),
		retrains: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "portguard_targeting_retrains_total",
			Help: "Model lifecycle steps: installed, shadowed, waiting, skipped, expired, failed, promoted, rejected.",
		}, []string{"result"}),
		shadowPrecision: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "portguard_targeting_shadow_ipw_precision",
			Help: "Inverse-propensity-weighted precision at the target rate on labels of decisions made while a challenger is in shadow, by model (champion, challenger).",
		}, []string{"model"}),
	}
	for i, c := range metricChannels {
		for j, s := range metricSelections {
			m.byCS[i][j] = m.decisions.WithLabelValues(string(c), string(s))
		}
	}
	m.fbApplied = m.feedback.WithLabelValues("applied")
	m.fbDuplicate = m.feedback.WithLabelValues("duplicate")
	m.fbMalformed = m.feedback.WithLabelValues("malformed")
	if reg != nil {
		for _, c := range []prometheus.Collector{m.decisions, m.decideSeconds, m.publishFailed, m.publishPending,
			m.auditFailed, m.feedback, m.degraded, m.warmLabels, m.retrains, m.shadowPrecision} {
			if err := reg.Register(c); err != nil {
				return nil, fmt.Errorf("targeting: register metrics: %w", err)
			}
		}
	}
	return m, nil
}

func (m *metrics) decided(d *Decision) {
	for i, c := range metricChannels {
		if c != d.Channel {
			continue
		}
		for j, s := range metricSelections {
			if s == d.Selection {
				m.byCS[i][j].Inc()
				return
			}
		}
	}
}
