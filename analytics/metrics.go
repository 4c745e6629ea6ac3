package analytics

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the store's Prometheus series. They exist even when no Registerer is given, so the
// code never checks for nil.
type metrics struct {
	breakerState prometheus.Gauge
	calls        *prometheus.CounterVec
	recorded     *prometheus.CounterVec
	skipped      *prometheus.CounterVec
	rollupDays   prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		breakerState: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "portguard", Subsystem: "analytics", Name: "breaker_state",
			Help: "State of the ClickHouse circuit breaker: 0 closed, 1 half-open, 2 open.",
		}),
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "portguard", Subsystem: "analytics", Name: "calls_total",
			Help: "Calls to ClickHouse by operation and result (ok, error, rejected by the open breaker, caller: cancelled or the caller's own error).",
		}, []string{"op", "result"}),
		recorded: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "portguard", Subsystem: "analytics", Name: "recorded_messages_total",
			Help: "Kafka messages the recorder stored in ClickHouse, by topic.",
		}, []string{"topic"}),
		skipped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "portguard", Subsystem: "analytics", Name: "skipped_messages_total",
			Help: "Kafka messages the recorder could not decode and skipped, by topic.",
		}, []string{"topic"}),
		rollupDays: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "portguard", Subsystem: "analytics", Name: "rollup_days_total",
			Help: "Days of decision_facts and daily_cube rebuilt by rollups.",
		}),
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.breakerState, m.calls, m.recorded, m.skipped, m.rollupDays} {
		if err := reg.Register(c); err != nil {
			var are prometheus.AlreadyRegisteredError
			if errors.As(err, &are) {
				continue // a second store on the same registry shares nothing but must not fail
			}
			return nil, err
		}
	}
	return m, nil
}
