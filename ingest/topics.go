package ingest

import (
	"errors"
	"strings"
)

// Topics names the Kafka topics portguard reads and writes. Every message is JSON with a
// "schema" field naming its kind and version.
type Topics struct {
	Declarations string // electronic port → ingest
	// Accepted carries declarations an API instance validated and decided synchronously, from
	// its outbox to the ingest stage that stores them (they are never decided again).
	Accepted          string
	Manifests         string // electronic port → ingest
	Withdrawals       string // electronic port → ingest (撤单)
	Decisions         string // targeting → electronic port, clearance, analytics
	InspectionResults string // clearance → targeting (feedback), analytics
	Releases          string // clearance → electronic port, analytics
	LabResults        string // laboratories → clearance (results of sampling, days later)
	Alerts            string // analytics → analysts' systems: early-warning alerts (风险预警)
	DeadLetters       string // anything that could not be accepted, with the reason
}

// DefaultTopics returns the topic names used when none are configured.
func DefaultTopics() Topics {
	return Topics{
		Declarations:      "portguard.declarations",
		Accepted:          "portguard.declarations.accepted",
		Manifests:         "portguard.manifests",
		Withdrawals:       "portguard.withdrawals",
		Decisions:         "portguard.decisions",
		InspectionResults: "portguard.inspection-results",
		Releases:          "portguard.releases",
		LabResults:        "portguard.lab-results",
		Alerts:            "portguard.alerts",
		DeadLetters:       "portguard.dead-letters",
	}
}

// WithPrefix returns t with every name prefixed, so that tests sharing one broker don't meet.
func (t Topics) WithPrefix(p string) Topics {
	return Topics{
		Declarations:      p + t.Declarations,
		Accepted:          p + t.Accepted,
		Manifests:         p + t.Manifests,
		Withdrawals:       p + t.Withdrawals,
		Decisions:         p + t.Decisions,
		InspectionResults: p + t.InspectionResults,
		Releases:          p + t.Releases,
		LabResults:        p + t.LabResults,
		Alerts:            p + t.Alerts,
		DeadLetters:       p + t.DeadLetters,
	}
}

// All lists the topic names.
func (t Topics) All() []string {
	return []string{t.Declarations, t.Accepted, t.Manifests, t.Withdrawals, t.Decisions, t.InspectionResults, t.Releases, t.LabResults, t.Alerts, t.DeadLetters}
}

// Validate reports an empty or duplicated topic name.
func (t Topics) Validate() error {
	seen := map[string]bool{}
	for _, n := range t.All() {
		if strings.TrimSpace(n) == "" {
			return errors.New("ingest: every topic needs a name")
		}
		if seen[n] {
			return errors.New("ingest: topic " + n + " is configured twice")
		}
		seen[n] = true
	}
	return nil
}
