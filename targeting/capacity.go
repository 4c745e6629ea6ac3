package targeting

import (
	"math"
	"sync"
	"sync/atomic"
	"time"
)

// The capacity controller keeps, per port, an exponentially decayed histogram of recent scores
// (in log space, so probabilities and expected values share one scale) and sets the RED and
// YELLOW thresholds at the quantiles that give the model its share of the inspection budget.
// The budget share itself is corrected by what rules, random control and exploration already
// inspect, so that the total RED rate tracks the port's target.
const (
	ctrlBins   = 2048
	ctrlLo     = -25.0
	ctrlWidth  = 0.02
	ctrlEvery  = 16 // recompute thresholds every this many observations
	ctrlWarmup = 20 // below this many observations the model selects nothing
	// ctrlGain is the integral gain of the share correction per decision: small enough that
	// the noise of single selections averages out over a few hundred decisions.
	ctrlGain = 0.005
)

// tieBreak spreads equal scores across one bin (in log space) using a uniform u, so that a
// threshold falling inside a crowd of equal scores (before any label, every score is the prior)
// selects the right share of them rather than all or none.
func tieBreak(score, u float64) float64 {
	return score * math.Exp(ctrlWidth*(u-0.5))
}

func ctrlBin(score float64) int {
	lg := math.Log(max(score, 1e-11))
	b := int((lg - ctrlLo) / ctrlWidth)
	return min(max(b, 0), ctrlBins-1)
}

// binLow is the smallest score of bin b.
func binLow(b int) float64 { return math.Exp(ctrlLo + ctrlWidth*float64(b)) }

// controller tracks one port.
type controller struct {
	mu   sync.Mutex
	hist [ctrlBins]float64
	// lo and hi are the smallest and largest log-scores seen in each bin, so that interpolation
	// spreads a bin's mass over where scores really fell, not over the whole bin.
	lo, hi [ctrlBins]float32
	total  float64
	inc    float64 // weight of the next observation; grows instead of decaying every bin
	grow   float64 // 1/decay per observation
	// other is the decayed share of decisions inspected by rules, random control or
	// exploration while below the model's RED threshold.
	other, otherN float64
	count         int
	// lambdaT is the extra decay per second (ln 2 / ControllerHalfTime; 0: none) and last the
	// time of the latest observation, unix seconds: a quiet port forgets old scores in days,
	// not only after ControllerHalfLife decisions, so that it follows a drifting score scale.
	lambdaT float64
	last    int64
	// corr is the integral term that closes the loop: the histogram predicts which threshold
	// selects the wanted share, but while the scale of scores drifts (profiles learn from
	// inspected, mostly risky consignments, and every score moves) it lags; corr accumulates
	// the gap between the wanted share and what the thresholds really selected, and is added
	// to the share asked of the histogram.
	corr float64

	red, yellow atomic.Uint64 // thresholds, float64 bits; +Inf selects nothing

	// The port's decision volume, for a daily capacity (Config.PortDailyCapacity): a count of
	// decisions decayed in time with rate volLambda (ln 2 / VolumeHalfTime), from volFirst to
	// volLast (unix seconds). It describes the stream, not the model, so prime keeps it.
	volLambda         float64
	volN              float64
	volFirst, volLast int64
	perDay            atomic.Uint64 // float64 bits: estimated decisions per day; 0 while unknown
}

// volumeMinSpan is how much traffic (seconds) the volume estimate needs before it is used.
const volumeMinSpan = 3600

// countVolume adds one decision at t (unix seconds) to the volume estimate; the caller holds mu.
func (c *controller) countVolume(t int64) {
	if t <= 0 || c.volLambda == 0 {
		return
	}
	if c.volFirst == 0 || t < c.volFirst {
		c.volFirst = t
	}
	if t > c.volLast {
		if c.volLast != 0 {
			c.volN *= math.Exp(-c.volLambda * float64(t-c.volLast))
		}
		c.volLast = t
	}
	c.volN++
	c.publishVolume()
}

// publishVolume recomputes perDay; the caller holds mu. For a constant rate r over a span S
// the decayed count is r(1-e^{-λS})/λ, so dividing by that factor keeps the estimate unbiased
// while the span is still short against the half-time.
func (c *controller) publishVolume() {
	span := float64(c.volLast - c.volFirst)
	if span < volumeMinSpan || c.volN <= 0 {
		return
	}
	perSec := c.volN * c.volLambda / -math.Expm1(-c.volLambda*span)
	c.perDay.Store(math.Float64bits(perSec * 86400))
}

// decisionsPerDay is the port's estimated decisions per day, 0 while fewer than
// volumeMinSpan seconds of traffic have been seen.
func (c *controller) decisionsPerDay() float64 { return math.Float64frombits(c.perDay.Load()) }

func newController(halfLife int, halfTime, volumeHalfTime time.Duration) *controller {
	c := &controller{inc: 1, grow: math.Exp(math.Ln2 / float64(halfLife))}
	if volumeHalfTime > 0 {
		c.volLambda = math.Ln2 / volumeHalfTime.Seconds()
	}
	if halfTime > 0 {
		c.lambdaT = math.Ln2 / halfTime.Seconds()
	}
	for i := range c.lo {
		c.lo[i], c.hi[i] = float32(math.Inf(1)), float32(math.Inf(-1))
	}
	c.red.Store(math.Float64bits(math.Inf(1)))
	c.yellow.Store(math.Float64bits(math.Inf(1)))
	return c
}

// thresholds returns the current RED and YELLOW score thresholds (RED ≥ YELLOW).
func (c *controller) thresholds() (red, yellow float64) {
	return math.Float64frombits(c.red.Load()), math.Float64frombits(c.yellow.Load())
}

// observe records a score decided at t (unix seconds; 0: unknown) and whether something other
// than the model inspected it, and refreshes the thresholds for target (RED share) and
// yellowShare.
func (c *controller) observe(score float64, t int64, otherInspected bool, target, exploreShare, randomRate, yellowShare float64) {
	c.mu.Lock()
	c.add(score, 1, t)
	c.countVolume(t)
	o := 0.0
	if otherInspected {
		o = 1
	}
	c.other = c.other*0.999 + o*0.001
	c.otherN = c.otherN*0.999 + 0.001
	if c.count >= ctrlWarmup {
		sel := 0.0
		if score >= math.Float64frombits(c.red.Load()) {
			sel = 1
		}
		c.corr = min(max(c.corr+ctrlGain*(c.want(target, exploreShare, randomRate)-sel), -target), target)
	}
	c.count++
	if c.count >= ctrlWarmup && c.count%ctrlEvery == 0 || c.count == ctrlWarmup {
		c.refresh(target, exploreShare, randomRate, yellowShare)
	}
	c.mu.Unlock()
}

// add puts a score of weight w (in decisions) into the decayed histogram; the caller holds mu.
// The decay is per decision, so a weighted score ages the histogram by w decisions.
func (c *controller) add(score, w float64, t int64) {
	if t > c.last {
		if c.lambdaT > 0 && c.last != 0 {
			c.inc *= math.Exp(c.lambdaT * float64(t-c.last))
		}
		c.last = t
	}
	b := ctrlBin(score)
	c.hist[b] += c.inc * w
	lg := float32(math.Log(max(score, 1e-11)))
	c.lo[b], c.hi[b] = min(c.lo[b], lg), max(c.hi[b], lg)
	c.total += c.inc * w
	if w == 1 {
		c.inc *= c.grow
	} else {
		c.inc *= math.Pow(c.grow, w)
	}
	if c.inc > 1e200 {
		// Renormalize before overflow; only ratios matter.
		for i := range c.hist {
			c.hist[i] /= c.inc
		}
		c.total /= c.inc
		c.inc = 1
	}
}

// refresh recomputes the thresholds; the caller holds mu.
func (c *controller) refresh(target, exploreShare, randomRate, yellowShare float64) {
	share := c.want(target, exploreShare, randomRate)
	ask := max(share+c.corr, 0)
	if share == 0 {
		ask = 0
	}
	c.red.Store(math.Float64bits(c.quantile(ask)))
	c.yellow.Store(math.Float64bits(c.quantile(ask + yellowShare)))
}

// want is the share of decisions the model should send to RED: the target less what rules,
// random control and exploration inspect below the model's threshold. The caller holds mu.
func (c *controller) want(target, exploreShare, randomRate float64) float64 {
	// Before the decayed share is meaningful, assume random control and exploration take
	// their nominal shares.
	other := randomRate + exploreShare*target
	if c.otherN > 0.5 {
		other = c.other / c.otherN
	}
	return max(target-other, 0)
}

// quantile returns the score above which the top share of the decayed mass lies, interpolating
// within the bin so that shares finer than a bin are honoured on average.
func (c *controller) quantile(share float64) float64 {
	if share <= 0 {
		return math.Inf(1)
	}
	want := share * c.total
	var cum float64
	for b := ctrlBins - 1; b >= 0; b-- {
		h := c.hist[b]
		if cum+h >= want && h > 0 {
			frac := (want - cum) / h // share of this bin to take, from its top
			lo := max(ctrlLo+ctrlWidth*float64(b), float64(c.lo[b]))
			hi := min(ctrlLo+ctrlWidth*float64(b+1), float64(c.hi[b]))
			if hi < lo {
				hi = lo
			}
			return math.Exp(hi - frac*(hi-lo))
		}
		cum += h
	}
	return 0
}

// prime replaces the controller's score history with scores (oldest first), as after a model
// swap: the new model's scores may sit on another scale than the old one's. Each score stands
// for weights[i] decisions: labelled examples are a biased sample of the decisions (after the
// warm-up only the inspected ones carry labels, and those are the high scores), and weighting
// each by its inverse propensity makes the histogram estimate the score distribution of all
// decisions again (Horvitz–Thompson). Priming with unweighted labelled examples would put the
// thresholds among the inspected scores and under-inspect. The share inspected by rules,
// random control and exploration is a property of the decision stream, not of the model, and
// is kept.
func (c *controller) prime(scores, weights []float64, times []int64, target, exploreShare, randomRate, yellowShare float64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.hist = [ctrlBins]float64{}
	for i := range c.lo {
		c.lo[i], c.hi[i] = float32(math.Inf(1)), float32(math.Inf(-1))
	}
	c.total, c.inc, c.count, c.last = 0, 1, 0, 0
	var n float64
	for i, s := range scores {
		w := 1.0
		if weights != nil {
			w = weights[i]
		}
		var t int64
		if times != nil {
			t = times[i]
		}
		c.add(s, w, t)
		n += w
	}
	c.count = int(n)
	if c.count >= ctrlWarmup {
		c.refresh(target, exploreShare, randomRate, yellowShare)
	} else {
		c.red.Store(math.Float64bits(math.Inf(1)))
		c.yellow.Store(math.Float64bits(math.Inf(1)))
	}
}
