package targeting

import (
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/portguard/portguard/targeting/gbdt"
)

// DevRandomKey is the random-selection key DefaultConfig uses. It is public and therefore
// INSECURE: anyone can predict the draws made with it. Production must set Config.RandomKey to a
// secret of at least 16 bytes, kept where declarants cannot read it.
var DevRandomKey = []byte("portguard-dev-random-key-INSECURE")

// Objectives a Config may rank consignments by.
const (
	// ObjectiveProbability ranks by the calibrated probability of a hit.
	ObjectiveProbability = "probability"
	// ObjectiveSeverity ranks by probability × the severity weight of the riskiest item's HS
	// range: plant and animal products, whose quarantine risk weighs more, rise.
	ObjectiveSeverity = "severity"
	// ObjectiveRevenue ranks by probability × severity × declared value in the base currency:
	// the expected duty at stake.
	ObjectiveRevenue = "revenue"
)

// Combiner kinds a Config may ask Fit for.
const (
	CombinerAuto     = "auto"     // train the logistic champion and any challenger, keep the best
	CombinerLogistic = "logistic" // regularized logistic regression only
	CombinerGBDT     = "gbdt"     // gradient-boosted trees only (falls back to logistic if unavailable)
)

// Config configures an Engine. DefaultConfig documents every default; the zero value is invalid.
type Config struct {
	// RandomKey is the HMAC-SHA256 key of every keyed draw (random control, rule percentages,
	// exploration). Default DevRandomKey, which is insecure.
	RandomKey []byte

	// RandomRate is the base share of consignments selected at random as the unbiased control
	// group (随机布控). Default 0.02. PortRandomRate overrides it per port code.
	RandomRate     float64
	PortRandomRate map[string]float64
	// GradeMultiplier multiplies the random rate by the importer's enterprise grade (see
	// Engine.SetGrade). Default: advanced-certified 0.2, general 1, dishonest 5, and the
	// analytics grades green 0.5, yellow 1, red 2, black 5. Unknown grades use 1.
	GradeMultiplier map[string]float64
	// MaxRandomRate caps the random rate after multiplication. Default 0.5.
	MaxRandomRate float64

	// TargetInspectRate is the share of consignments a port should send to physical inspection
	// (RED) in total — model, exploration and random control together; rule selections come
	// on top when they exceed it. Default 0.10. PortTargetRate overrides it per port.
	TargetInspectRate float64
	PortTargetRate    map[string]float64
	// PortDailyCapacity sets, for a port, how many physical inspections (RED) its officers can
	// do per day instead of a rate: the target rate is then that capacity over the port's
	// declarations per day, estimated online from its recent decision stream (decayed over
	// VolumeHalfTime). Until an hour of traffic has been seen, the port's rate setting applies.
	// A port has a rate or a capacity, not both.
	PortDailyCapacity map[string]float64
	// VolumeHalfTime is the memory of the per-port volume estimate used by PortDailyCapacity.
	// Default 7 days: long enough to average the week's rhythm, short enough to follow seasons.
	VolumeHalfTime time.Duration
	// ExploreShare is the share of the model's inspection budget spent on exploration rather
	// than on the highest scores, so that the loop keeps learning about what it does not
	// inspect. Exploration prefers consignments whose profiles are uncertain. Default 0.1.
	ExploreShare float64
	// YellowShare is the share of consignments, just below the RED threshold, sent to document
	// review (YELLOW). Default 0.03.
	YellowShare float64
	// ControllerHalfLife is the number of decisions over which a port's capacity controller
	// forgets old scores. Default 2000.
	ControllerHalfLife int
	// ControllerHalfTime also bounds the controller's memory in time, for ports that decide
	// too few consignments for ControllerHalfLife to pass quickly: as profiles learn, the
	// scale of scores drifts, and a threshold set on months-old scores would select too
	// much or too little. Zero disables it. Default 7 days.
	ControllerHalfTime time.Duration

	// Objective ranks consignments: ObjectiveProbability (default), ObjectiveSeverity or
	// ObjectiveRevenue.
	Objective string
	// SeverityWeights maps an HS prefix to a severity weight; the longest matching prefix wins,
	// unlisted codes weigh 1. Default: chapters 01–14 (live animals, animal and plant products)
	// and 44 (wood, pest risk) weigh 2.
	SeverityWeights map[string]float64

	// HalfLife is how fast old labels fade from the risk profiles. Default 365 days.
	HalfLife time.Duration
	// PriorStrength is the weight, in pseudo-labels, of the parent rate a profile shrinks toward
	// (HS6 → HS4 → HS2 → all). Default 10.
	PriorStrength float64
	// EntityPriorStrength is the same for high-cardinality identifiers (importer, consignor,
	// declarant and their crosses), which overfit when a few labels are taken at face value.
	// Default 30.
	EntityPriorStrength float64
	// MinPropensity bounds inverse-propensity weights to 1/MinPropensity. Default 0.02.
	MinPropensity float64
	// RememberLabels bounds how many applied labels are remembered so that a corrected result
	// can replace its earlier label (about 250 bytes each). Default 200,000.
	RememberLabels int

	// Combiner selects the model Fit trains: CombinerAuto (default), CombinerLogistic or
	// CombinerGBDT.
	Combiner string
	// L2 is the ridge penalty of the logistic combiner, per unit of total example weight.
	// Default 0.001.
	L2 float64
	// Folds is the number of out-of-fold partitions Fit uses to encode profiles without target
	// leakage. Default 5.
	Folds int
	// ValidationShare is the most recent share of examples Fit holds out to choose between
	// champion and challenger. Default 0.2.
	ValidationShare float64
	// Trees configures the gradient-boosted-trees combiner. Default gbdt.DefaultConfig() with
	// a learning rate of 0.1 (half the rounds for the same fit on this input: profile log-odds
	// are already strong features) and at most 200 trees.
	Trees gbdt.Config
	// NegativeRatio bounds the misses the combiner trains on to about this many times the
	// hits (by weight): the others are sampled away and the kept ones weigh more, so that Fit
	// costs in proportion to the hits, not to the mostly negative history. Profiles and norms
	// still learn from every label. 0 trains on every example. Default 20: it costs ranking
	// quality (average precision) when it cuts deeper, so it only trims histories of rare hits.
	NegativeRatio float64
	// RetrainGrowth is how much labelled history must have grown since the last Fit, as a
	// share of what that Fit learnt from, before a periodic retrain is due (Engine.RetrainDue):
	// between retrains the profiles learn every label online, and a combiner refitted on a few
	// percent more labels is the same combiner at the price of a full Fit. Default 0.5.
	RetrainGrowth float64

	// MaxReasons bounds the model reasons listed per decision. Default 3.
	MaxReasons int
	// EmergencyApprovalWindow is how long an emergency rule may run before a risk analyst
	// approves it; unapproved, it stops matching when the window ends. Default 24h.
	EmergencyApprovalWindow time.Duration
}

// DefaultConfig returns the configuration an Engine uses when nothing is set. Its RandomKey is
// the public DevRandomKey: fine on a laptop, insecure anywhere else.
func DefaultConfig() Config {
	return Config{
		RandomKey:      DevRandomKey,
		RandomRate:     0.02,
		PortRandomRate: map[string]float64{},
		GradeMultiplier: map[string]float64{
			"advanced": 0.2, "general": 1, "dishonest": 5,
			"green": 0.5, "yellow": 1, "red": 2, "black": 5,
		},
		MaxRandomRate:      0.5,
		TargetInspectRate:  0.10,
		PortTargetRate:     map[string]float64{},
		ExploreShare:       0.1,
		YellowShare:        0.03,
		ControllerHalfLife: 2000,
		ControllerHalfTime: 7 * 24 * time.Hour,
		VolumeHalfTime:     7 * 24 * time.Hour,
		Objective:          ObjectiveProbability,
		SeverityWeights: map[string]float64{
			"01": 2, "02": 2, "03": 2, "04": 2, "05": 2, "06": 2, "07": 2,
			"08": 2, "09": 2, "10": 2, "11": 2, "12": 2, "13": 2, "14": 2, "44": 2,
		},
		HalfLife:                365 * 24 * time.Hour,
		PriorStrength:           10,
		EntityPriorStrength:     30,
		MinPropensity:           0.02,
		RememberLabels:          200_000,
		Combiner:                CombinerAuto,
		L2:                      0.001,
		Folds:                   5,
		ValidationShare:         0.2,
		Trees:                   defaultTrees(),
		NegativeRatio:           20,
		RetrainGrowth:           0.5,
		MaxReasons:              3,
		EmergencyApprovalWindow: 24 * time.Hour,
	}
}

// Validate reports every setting that cannot work, joined.
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf("targeting: config: "+format, a...)) }
	if len(c.RandomKey) == 0 {
		bad("RandomKey is required")
	}
	rate := func(name string, v float64) {
		if !(v >= 0 && v <= 1) {
			bad("%s %v is not a share in [0,1]", name, v)
		}
	}
	rate("RandomRate", c.RandomRate)
	for p, v := range c.PortRandomRate {
		rate("PortRandomRate["+p+"]", v)
	}
	for g, v := range c.GradeMultiplier {
		if !(v >= 0) {
			bad("GradeMultiplier[%s] %v is negative", g, v)
		}
	}
	rate("MaxRandomRate", c.MaxRandomRate)
	rate("TargetInspectRate", c.TargetInspectRate)
	for p, v := range c.PortTargetRate {
		rate("PortTargetRate["+p+"]", v)
	}
	for p, v := range c.PortDailyCapacity {
		if !(v >= 0) || math.IsInf(v, 1) {
			bad("PortDailyCapacity[%s] %v is not a number of inspections per day", p, v)
		}
		if _, both := c.PortTargetRate[p]; both {
			bad("port %s has both a target rate and a daily capacity; set one", p)
		}
	}
	if len(c.PortDailyCapacity) > 0 && !(c.VolumeHalfTime > 0) {
		bad("VolumeHalfTime must be positive when a daily capacity is set")
	}
	rate("ExploreShare", c.ExploreShare)
	rate("YellowShare", c.YellowShare)
	if c.ControllerHalfTime < 0 {
		bad("ControllerHalfTime is negative")
	}
	if c.ControllerHalfLife < 10 {
		bad("ControllerHalfLife %d is below 10 decisions", c.ControllerHalfLife)
	}
	switch c.Objective {
	case ObjectiveProbability, ObjectiveSeverity, ObjectiveRevenue:
	default:
		bad("unknown Objective %q", c.Objective)
	}
	for p, w := range c.SeverityWeights {
		if !(w > 0) {
			bad("SeverityWeights[%s] %v is not positive", p, w)
		}
	}
	if c.HalfLife <= 0 {
		bad("HalfLife must be positive")
	}
	if !(c.PriorStrength > 0) || !(c.EntityPriorStrength > 0) {
		bad("PriorStrength and EntityPriorStrength must be positive")
	}
	if !(c.MinPropensity > 0 && c.MinPropensity <= 1) {
		bad("MinPropensity %v is not in (0,1]", c.MinPropensity)
	}
	if c.RememberLabels < 0 {
		bad("RememberLabels is negative")
	}
	switch c.Combiner {
	case CombinerAuto, CombinerLogistic, CombinerGBDT:
	default:
		bad("unknown Combiner %q", c.Combiner)
	}
	if !(c.L2 >= 0) {
		bad("L2 is negative")
	}
	if c.Folds < 2 {
		bad("Folds %d is below 2", c.Folds)
	}
	if !(c.ValidationShare > 0 && c.ValidationShare < 1) {
		bad("ValidationShare %v is not in (0,1)", c.ValidationShare)
	}
	if err := c.Trees.Validate(); err != nil {
		bad("Trees: %v", err)
	}
	if !(c.NegativeRatio >= 0) {
		bad("NegativeRatio %v is negative", c.NegativeRatio)
	}
	if !(c.RetrainGrowth >= 0) {
		bad("RetrainGrowth %v is negative", c.RetrainGrowth)
	}
	if c.MaxReasons < 0 {
		bad("MaxReasons is negative")
	}
	if c.EmergencyApprovalWindow <= 0 {
		bad("EmergencyApprovalWindow must be positive")
	}
	return errors.Join(errs...)
}

func defaultTrees() gbdt.Config {
	t := gbdt.DefaultConfig()
	t.LearningRate, t.Trees = 0.1, 200
	return t
}

func (c *Config) randomRate(port, grade string) float64 {
	r := c.RandomRate
	if v, ok := c.PortRandomRate[port]; ok {
		r = v
	}
	if grade != "" {
		if m, ok := c.GradeMultiplier[grade]; ok {
			r *= m
		}
	}
	return min(r, c.MaxRandomRate)
}

// targetRate is the port's configured inspection rate; with a daily capacity, see
// Engine.targetRate.
func (c *Config) targetRate(port string) float64 {
	if v, ok := c.PortTargetRate[port]; ok {
		return v
	}
	return c.TargetInspectRate
}
