package clearance

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/portguard/portguard/targeting"
)

// Draw is the record of one random officer assignment (双随机: random consignments, random
// officers). Given the draw key, anyone can recompute Seed from the task ID and Attempt and
// check that Chosen = Candidates[Seed mod len(Candidates)].
type Draw struct {
	Attempt    int               `json:"attempt"` // 1 for the first draw, +1 per redraw
	Seed       string            `json:"seed"`    // hex of the first 8 bytes of HMAC-SHA256(key, "taskID#attempt")
	Candidates []string          `json:"candidates"`
	Chosen     string            `json:"chosen"`
	Excluded   map[string]string `json:"excluded,omitempty"` // officer → why not a candidate
	At         time.Time         `json:"at"`
}

// DrawSeed returns the seed of draw attempt for taskID under key: the first 8 bytes, big-endian,
// of HMAC-SHA256(key, taskID + "#" + attempt). Keyed, so that nobody without the key can predict
// or steer who inspects what; deterministic, so that an auditor with the key can re-check it.
func DrawSeed(key []byte, taskID string, attempt int) uint64 {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(taskID))
	m.Write([]byte{'#'})
	m.Write([]byte(strconv.Itoa(attempt)))
	return binary.BigEndian.Uint64(m.Sum(nil)[:8])
}

// DrawOfficer picks one of candidates (sorted by the caller) with the seed of DrawSeed: index
// seed mod len(candidates); the modulo bias is below len/2⁶⁴. It returns "" when there is no
// candidate.
func DrawOfficer(key []byte, taskID string, attempt int, candidates []string) (chosen string, seed uint64) {
	seed = DrawSeed(key, taskID, attempt)
	if len(candidates) == 0 {
		return "", seed
	}
	return candidates[seed%uint64(len(candidates))], seed
}

// Reasons an officer is not a candidate.
const (
	exclOffDuty  = "off_duty"
	exclPort     = "not_at_port"
	exclQual     = "not_qualified"
	exclConflict = "conflict_of_interest"
	exclLoad     = "workload"
	exclCurrent  = "current_officer"
)

// drawFor draws an officer for t among the roster. loads holds every officer's open tasks; avoid
// is excluded (the officer being replaced). It returns nil when nobody is eligible.
func (s *Service) drawFor(t *Task, loads map[string]int, avoid string, attempt int, now time.Time) *Draw {
	d := &Draw{Attempt: attempt, Excluded: map[string]string{}, At: now}
	codes := s.conflictCodes(&t.Decision)
	var eligible []string
	for id, o := range s.officers {
		switch {
		case id == avoid:
			d.Excluded[id] = exclCurrent
		case !o.OnDuty:
			d.Excluded[id] = exclOffDuty
		case len(o.Ports) > 0 && !contains(o.Ports, t.Port):
			d.Excluded[id] = exclPort
		case t.Qualification != "" && !contains(o.Qualifications, t.Qualification):
			d.Excluded[id] = exclQual
		case conflicts(o.Conflicts, codes):
			d.Excluded[id] = exclConflict
		case s.cfg.MaxOpenPerOfficer > 0 && loads[id] >= s.cfg.MaxOpenPerOfficer:
			d.Excluded[id] = exclLoad
		default:
			eligible = append(eligible, id)
		}
	}
	if len(eligible) == 0 {
		return nil
	}
	least := loads[eligible[0]]
	for _, id := range eligible {
		least = min(least, loads[id])
	}
	for _, id := range eligible {
		if loads[id] <= least+s.cfg.WorkloadSlack {
			d.Candidates = append(d.Candidates, id)
		} else {
			d.Excluded[id] = exclLoad
		}
	}
	sort.Strings(d.Candidates)
	var seed uint64
	d.Chosen, seed = DrawOfficer(s.key, t.ID, attempt, d.Candidates)
	d.Seed = strconv.FormatUint(seed, 16)
	return d
}

// conflictCodes lists the enterprise codes of a decision an officer may be conflicted with.
func (s *Service) conflictCodes(d *targeting.Decision) []string {
	codes := []string{d.Importer}
	for _, f := range d.Features {
		if contains(s.cfg.ConflictFeatures, f.Name) && f.Value != "" {
			codes = append(codes, f.Value)
		}
	}
	return codes
}

func conflicts(officer, codes []string) bool {
	for _, c := range officer {
		if c != "" && contains(codes, c) {
			return true
		}
	}
	return false
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// qualificationFor returns the qualification a decision's goods need: the most specific HS range
// of the configuration that one of its HS features falls in (features named hs, hs2 … hs10 or
// hs_code) — longer prefixes first, then narrower ranges — else the default.
func (c Config) qualificationFor(d *targeting.Decision) string {
	best, bestLen, bestSpan := c.DefaultQualification, 0, 0
	for _, f := range d.Features {
		if !strings.HasPrefix(f.Name, "hs") || !digits(f.Value) {
			continue
		}
		for _, q := range c.Qualifications {
			if !q.matches(f.Value) {
				continue
			}
			span := q.span()
			if len(q.From) > bestLen || len(q.From) == bestLen && span < bestSpan {
				best, bestLen, bestSpan = q.Qualification, len(q.From), span
			}
		}
	}
	return best
}

func (q HSQualification) span() int {
	a, _ := strconv.Atoi(q.From)
	b, _ := strconv.Atoi(q.To)
	return b - a
}

// loads counts every officer's open tasks (s.mu held).
func (s *Service) loads() map[string]int {
	l := make(map[string]int, len(s.officers))
	for _, t := range s.tasks {
		if t.Officer != "" && !t.State.Final() {
			l[t.Officer]++
		}
	}
	return l
}

// priority orders the officer's queue: RED before YELLOW, then rule selections, then the model's
// probability of a hit (0–100 points).
func priority(d *targeting.Decision) int {
	p := 100
	if d.Channel == targeting.Red {
		p = 200
	}
	for _, r := range d.RulesFired {
		if r.Selected {
			p += 20
			break
		}
	}
	pr := d.Probability
	if pr < 0 || pr != pr {
		pr = 0
	}
	return p + int(min(pr, 1)*100)
}
