package clearance

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are clearance's Prometheus series, all prefixed portguard_clearance_.
type metrics struct {
	decisions    *prometheus.CounterVec // by what became of them
	tasksCreated *prometheus.CounterVec // by channel
	tasksByState *prometheus.GaugeVec
	overdue      *prometheus.GaugeVec // by port
	overdueAlert prometheus.Counter
	assignments  *prometheus.CounterVec // draw, manual, none_eligible
	results      *prometheus.CounterVec // by outcome
	releases     *prometheus.CounterVec // by source
	overrides    *prometheus.CounterVec // by reason code
	malformed    *prometheus.CounterVec // by topic
	auditRecords prometheus.Counter
	auditErrors  prometheus.Counter
	holds        prometheus.Gauge // releases held for a manifest
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	const ns, sub = "portguard", "clearance"
	m := &metrics{
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "decisions_total",
			Help: "Decisions received, by what became of them (task, release, held, hold_expired, duplicate, stale, withdrawn, invalid, revision_after_release)."}, []string{"result"}),
		tasksCreated: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "tasks_created_total",
			Help: "Inspection tasks created, by channel."}, []string{"channel"}),
		tasksByState: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: "tasks",
			Help: "Tasks held in memory, by state."}, []string{"state"}),
		overdue: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: "tasks_overdue",
			Help: "Open tasks past their due time at the last check, by port."}, []string{"port"}),
		overdueAlert: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "overdue_alerts_total",
			Help: "Tasks that became overdue (each alerted once)."}),
		assignments: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "assignments_total",
			Help: "Officer assignments, by kind (draw, reassign, none_eligible)."}, []string{"kind"}),
		results: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "results_total",
			Help: "Inspection and lab results recorded, by outcome."}, []string{"outcome"}),
		releases: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "releases_total",
			Help: "Release receipts published, by source (green, result, bond, lab, override)."}, []string{"source"}),
		overrides: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "overrides_total",
			Help: "Channel overrides, by reason code."}, []string{"reason"}),
		malformed: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "malformed_messages_total",
			Help: "Kafka messages that could not be decoded and were dead-lettered, by topic."}, []string{"topic"}),
		auditRecords: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "audit_records_total",
			Help: "Audit records appended to the chain."}),
		auditErrors: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "audit_errors_total",
			Help: "Failed audit appends."}),
		holds: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: "release_holds",
			Help: "GREEN releases held until the manifest is cross-checked or the join window passes."}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.decisions, m.tasksCreated, m.tasksByState, m.overdue, m.overdueAlert,
			m.assignments, m.results, m.releases, m.overrides, m.malformed, m.auditRecords, m.auditErrors, m.holds} {
			if err := reg.Register(c); err != nil {
				return nil, fmt.Errorf("clearance: register metrics: %w", err)
			}
		}
	}
	return m, nil
}
