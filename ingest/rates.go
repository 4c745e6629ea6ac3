package ingest

import (
	"bytes"
	_ "embed"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

//go:embed data/rates.csv
var defaultRatesCSV []byte

// RateZone is the zone whose calendar day selects a rate: rates tables are published per day in
// China Standard Time (a fixed +08:00, so no tzdata is needed).
var RateZone = time.FixedZone("CST", 8*3600)

// Rates is a dated exchange-rate table: for each currency, the rate to the base currency from a
// given day on. The rate for a declaration is the one of the latest date on or before its
// declaration date. It is safe for concurrent use and can be reloaded from its file while in use.
type Rates struct {
	base string
	path string // "" for tables not read from a file

	mu     sync.RWMutex
	byCur  map[string][]ratePoint // sorted by day
	loaded time.Time
}

type ratePoint struct {
	day  int32 // days since 1970-01-01 in RateZone
	rate float64
}

// DefaultRates returns the embedded development table for base CNY. Production loads its own
// file with LoadRates.
func DefaultRates() *Rates {
	r, err := ParseRates("CNY", bytes.NewReader(defaultRatesCSV))
	if err != nil {
		panic("ingest: embedded rates table: " + err.Error())
	}
	return r
}

// LoadRates reads a CSV file of `date,currency,rate_to_base` rows (a header row and lines
// starting with # are skipped; date is YYYY-MM-DD) for base currency base. Reload re-reads it.
func LoadRates(base, path string) (*Rates, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("ingest: open rates: %w", err)
	}
	defer f.Close()
	r, err := ParseRates(base, f)
	if err != nil {
		return nil, fmt.Errorf("ingest: rates file %s: %w", path, err)
	}
	r.path = path
	return r, nil
}

// ParseRates reads a rates table from r; see LoadRates for the format.
func ParseRates(base string, r io.Reader) (*Rates, error) {
	byCur, err := parseRates(base, r)
	if err != nil {
		return nil, err
	}
	return &Rates{base: base, byCur: byCur, loaded: time.Now()}, nil
}

func parseRates(base string, r io.Reader) (map[string][]ratePoint, error) {
	if !KnownCurrency(base) {
		return nil, fmt.Errorf("base currency %q is not an ISO 4217 code", base)
	}
	cr := csv.NewReader(r)
	cr.Comment = '#'
	cr.FieldsPerRecord = 3
	cr.TrimLeadingSpace = true
	byCur := map[string][]ratePoint{}
	for line := 1; ; line++ {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		if line == 1 && strings.EqualFold(rec[0], "date") {
			continue
		}
		day, err := time.ParseInLocation("2006-01-02", rec[0], RateZone)
		if err != nil {
			return nil, fmt.Errorf("row %q: bad date: %w", strings.Join(rec, ","), err)
		}
		cur := strings.ToUpper(rec[1])
		if !KnownCurrency(cur) {
			return nil, fmt.Errorf("row %q: %q is not an ISO 4217 currency", strings.Join(rec, ","), rec[1])
		}
		rate, err := strconv.ParseFloat(rec[2], 64)
		if err != nil || !(rate > 0) || rate > 1e9 {
			return nil, fmt.Errorf("row %q: rate must be a positive number", strings.Join(rec, ","))
		}
		if cur == base && rate != 1 {
			return nil, fmt.Errorf("row %q: the base currency's rate must be 1", strings.Join(rec, ","))
		}
		byCur[cur] = append(byCur[cur], ratePoint{day: dayNumber(day), rate: rate})
	}
	for cur, pts := range byCur {
		sort.SliceStable(pts, func(i, j int) bool { return pts[i].day < pts[j].day })
		for i := 1; i < len(pts); i++ {
			if pts[i].day == pts[i-1].day {
				return nil, fmt.Errorf("%s has two rates for the same day", cur)
			}
		}
	}
	return byCur, nil
}

// Reload re-reads the file the table was loaded from. On error the table in use is kept.
func (r *Rates) Reload() error {
	if r.path == "" {
		return errors.New("ingest: rates table was not loaded from a file")
	}
	f, err := os.Open(r.path)
	if err != nil {
		return fmt.Errorf("ingest: reload rates: %w", err)
	}
	defer f.Close()
	byCur, err := parseRates(r.base, f)
	if err != nil {
		return fmt.Errorf("ingest: reload rates %s: %w", r.path, err)
	}
	r.mu.Lock()
	r.byCur, r.loaded = byCur, time.Now()
	r.mu.Unlock()
	return nil
}

// Base is the currency every rate converts to.
func (r *Rates) Base() string { return r.base }

// Loaded is when the table was last read.
func (r *Rates) Loaded() time.Time {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.loaded
}

// Rate returns the rate of currency to the base on day at (its calendar day in RateZone): the
// rate of the latest date on or before it. The base currency's rate is always 1. ok is false when
// the table has no rate for currency on or before that day.
func (r *Rates) Rate(currency string, at time.Time) (rate float64, ok bool) {
	if currency == r.base {
		return 1, true
	}
	d := dayNumber(at)
	r.mu.RLock()
	pts := r.byCur[currency]
	r.mu.RUnlock()
	i := sort.Search(len(pts), func(i int) bool { return pts[i].day > d })
	if i == 0 {
		return 0, false
	}
	return pts[i-1].rate, true
}

func dayNumber(t time.Time) int32 {
	y, m, d := t.In(RateZone).Date()
	return int32(time.Date(y, m, d, 0, 0, 0, 0, time.UTC).Unix() / 86400)
}
