package ingest

import (
	"errors"
	"fmt"
	"sync"
	"time"
)

// Config configures validation and the intake pipeline. DefaultConfig runs on one laptop; cmd
// maps flags and environment onto it.
type Config struct {
	// BaseCurrency is the ISO 4217 currency every declared value is converted to. Default "CNY".
	BaseCurrency string
	// Rates is the dated exchange-rate table. Nil means the embedded development table
	// (DefaultRates), which is only valid with BaseCurrency CNY.
	Rates *Rates
	// MaxMessageBytes rejects larger messages (code "too_large"). Default 1 MiB.
	MaxMessageBytes int
	// JoinWindow is how long a declaration waits for its manifest and a manifest for its
	// declarations, counted from when portguard received them. Default 72h.
	JoinWindow time.Duration
	// DedupEntries bounds the in-memory set of declaration versions already seen (and the other
	// bounded indexes). Storage is idempotent anyway; the set saves work. Default 1,000,000.
	DedupEntries int

	// SpoolDir is where batches wait when the Store is down. Default "data/spool/ingest".
	SpoolDir string
	// SpoolSegmentBytes rolls a spool segment file after this size. Default 64 MiB.
	SpoolSegmentBytes int64
	// BatchSize is the most declarations the background writer stores at once. Default 1000.
	BatchSize int
	// FlushInterval is the longest a submitted declaration waits in memory before being written.
	// Default 200ms.
	FlushInterval time.Duration
	// QueueSize bounds the submitted declarations waiting for the writer. Default 10,000.
	QueueSize int
	// DrainInterval is how often the spool is offered back to the Store. Default 5s.
	DrainInterval time.Duration
	// StoreTimeout bounds one Store call before the batch goes to the spool. Default 10s.
	StoreTimeout time.Duration

	// Now returns the current time; nil means time.Now. Tests set it to move through the join
	// window.
	Now func() time.Time
}

// DefaultConfig returns the documented defaults.
func DefaultConfig() Config {
	return Config{
		BaseCurrency:      "CNY",
		MaxMessageBytes:   1 << 20,
		JoinWindow:        72 * time.Hour,
		DedupEntries:      1_000_000,
		SpoolDir:          "data/spool/ingest",
		SpoolSegmentBytes: 64 << 20,
		BatchSize:         1000,
		FlushInterval:     200 * time.Millisecond,
		QueueSize:         10_000,
		DrainInterval:     5 * time.Second,
		StoreTimeout:      10 * time.Second,
	}
}

// withDefaults fills zero fields with the defaults, so a partly filled Config works.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.BaseCurrency == "" {
		c.BaseCurrency = d.BaseCurrency
	}
	if c.MaxMessageBytes == 0 {
		c.MaxMessageBytes = d.MaxMessageBytes
	}
	if c.JoinWindow == 0 {
		c.JoinWindow = d.JoinWindow
	}
	if c.DedupEntries == 0 {
		c.DedupEntries = d.DedupEntries
	}
	if c.SpoolDir == "" {
		c.SpoolDir = d.SpoolDir
	}
	if c.SpoolSegmentBytes == 0 {
		c.SpoolSegmentBytes = d.SpoolSegmentBytes
	}
	if c.BatchSize == 0 {
		c.BatchSize = d.BatchSize
	}
	if c.FlushInterval == 0 {
		c.FlushInterval = d.FlushInterval
	}
	if c.QueueSize == 0 {
		c.QueueSize = d.QueueSize
	}
	if c.DrainInterval == 0 {
		c.DrainInterval = d.DrainInterval
	}
	if c.StoreTimeout == 0 {
		c.StoreTimeout = d.StoreTimeout
	}
	if c.Rates == nil && c.BaseCurrency == "CNY" {
		c.Rates = defaultRates()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// Validate reports a configuration that cannot work. Zero values are replaced by defaults first.
func (c Config) Validate() error {
	c = c.withDefaults()
	var errs []error
	if !KnownCurrency(c.BaseCurrency) {
		errs = append(errs, fmt.Errorf("ingest: base currency %q is not an ISO 4217 code", c.BaseCurrency))
	}
	if c.Rates == nil {
		errs = append(errs, errors.New("ingest: a rates table is required when the base currency is not CNY"))
	} else if c.Rates.Base() != c.BaseCurrency {
		errs = append(errs, fmt.Errorf("ingest: rates table converts to %s, base currency is %s", c.Rates.Base(), c.BaseCurrency))
	}
	if c.MaxMessageBytes < 1024 {
		errs = append(errs, errors.New("ingest: MaxMessageBytes must be at least 1024"))
	}
	if c.JoinWindow < 0 || c.DedupEntries < 0 || c.SpoolSegmentBytes < 0 || c.BatchSize < 0 ||
		c.FlushInterval < 0 || c.QueueSize < 0 || c.DrainInterval < 0 || c.StoreTimeout < 0 {
		errs = append(errs, errors.New("ingest: sizes and durations must not be negative"))
	}
	return errors.Join(errs...)
}

// defaultRates shares one parsed embedded table between validators.
var defaultRates = sync.OnceValue(DefaultRates)
