// Package gbdt trains and scores gradient-boosted decision trees for binary classification:
// logistic loss with second-order (Newton) leaf values, histogram split finding over quantile
// bins, per-sample weights (targeting passes inverse-propensity weights, because only inspected
// consignments carry labels), missing values (NaN) with a learnt default direction, shrinkage,
// row and column subsampling, and early stopping on a time-ordered validation split.
//
// Trees find the interactions of numeric fields with HS code and origin that a linear combiner
// over profile log-odds cannot (see notes/targeting-models.md). Scoring walks trees flattened
// into one array and allocates nothing: a few microseconds for 300 trees of depth 6.
//
// The package does no I/O; a model is saved with MarshalBinary.
package gbdt

import (
	"errors"
	"fmt"
	"runtime"
)

// Config sets the training hyper-parameters. The zero value of a field means its default only
// through DefaultConfig; Train validates the Config it is given.
type Config struct {
	// Trees is the maximum number of boosting rounds. Default 300.
	Trees int
	// Depth is the maximum depth of each tree (1–12). Default 6.
	Depth int
	// LearningRate shrinks each tree's contribution. Default 0.05.
	LearningRate float64
	// MinLeaf is the minimum number of training samples in a leaf. Default 20.
	MinLeaf int
	// L2 regularizes leaf values: a leaf is −ΣG/(ΣH+L2). Default 1.0.
	L2 float64
	// MinGain is the smallest loss reduction a split must bring. Default 0.
	MinGain float64
	// Bins is the number of quantile bins per feature for non-missing values (2–255); missing
	// values have a bin of their own. Default 255.
	Bins int
	// Subsample is the fraction of training rows each tree sees (0 < s ≤ 1). Default 0.8.
	Subsample float64
	// ColSample is the fraction of features each tree may split on (0 < c ≤ 1). Default 0.8.
	ColSample float64
	// EarlyStopping stops training after this many rounds without improvement of the
	// validation loss and keeps the best round; 0 disables it (and the validation split).
	// Default 30.
	EarlyStopping int
	// ValidationFraction is the share of rows, taken from the end in the given order, held out
	// for early stopping: pass rows in time order so that it is a time-ordered split. Used only
	// when EarlyStopping > 0. Default 0.15.
	ValidationFraction float64
	// Seed makes subsampling reproducible. Default 1.
	Seed int64
	// Workers is the number of goroutines that build histograms of large nodes. A model is
	// reproducible for a given Seed and Workers (the order of floating-point sums depends on
	// Workers). Default runtime.GOMAXPROCS(0) at the time DefaultConfig is called; 1 is serial.
	Workers int
}

// DefaultConfig returns the documented defaults.
func DefaultConfig() Config {
	return Config{
		Trees:              300,
		Depth:              6,
		LearningRate:       0.05,
		MinLeaf:            20,
		L2:                 1.0,
		Bins:               255,
		Subsample:          0.8,
		ColSample:          0.8,
		EarlyStopping:      30,
		ValidationFraction: 0.15,
		Seed:               1,
		Workers:            runtime.GOMAXPROCS(0),
	}
}

// Validate reports the first problem with the configuration.
func (c Config) Validate() error {
	switch {
	case c.Trees < 1:
		return fmt.Errorf("gbdt: Trees %d must be at least 1", c.Trees)
	case c.Depth < 1 || c.Depth > maxDepth:
		return fmt.Errorf("gbdt: Depth %d must be 1 to %d", c.Depth, maxDepth)
	case !(c.LearningRate > 0 && c.LearningRate <= 1):
		return fmt.Errorf("gbdt: LearningRate %v must be in (0, 1]", c.LearningRate)
	case c.MinLeaf < 1:
		return fmt.Errorf("gbdt: MinLeaf %d must be at least 1", c.MinLeaf)
	case !(c.L2 >= 0):
		return fmt.Errorf("gbdt: L2 %v must not be negative", c.L2)
	case !(c.MinGain >= 0):
		return fmt.Errorf("gbdt: MinGain %v must not be negative", c.MinGain)
	case c.Bins < 2 || c.Bins > 255:
		return fmt.Errorf("gbdt: Bins %d must be 2 to 255", c.Bins)
	case !(c.Subsample > 0 && c.Subsample <= 1):
		return fmt.Errorf("gbdt: Subsample %v must be in (0, 1]", c.Subsample)
	case !(c.ColSample > 0 && c.ColSample <= 1):
		return fmt.Errorf("gbdt: ColSample %v must be in (0, 1]", c.ColSample)
	case c.EarlyStopping < 0:
		return fmt.Errorf("gbdt: EarlyStopping %d must not be negative", c.EarlyStopping)
	case c.Workers < 0:
		return fmt.Errorf("gbdt: Workers %d must not be negative", c.Workers)
	case c.EarlyStopping > 0 && !(c.ValidationFraction > 0 && c.ValidationFraction < 1):
		return fmt.Errorf("gbdt: ValidationFraction %v must be in (0, 1) with early stopping", c.ValidationFraction)
	}
	return nil
}

const maxDepth = 12

// Errors Train returns for unusable data.
var (
	ErrNoData   = errors.New("gbdt: no training rows")
	ErrBadShape = errors.New("gbdt: inconsistent data shape")
	ErrBadLabel = errors.New("gbdt: labels must be in [0, 1]")
)
