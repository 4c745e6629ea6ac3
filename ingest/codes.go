package ingest

import (
	_ "embed"
	"encoding/csv"
	"strings"
)

// The ISO 3166-1 and ISO 4217 tables are embedded from Debian's iso-codes data (generated once
// into data/*.csv) so that validation never depends on the machine it runs on.

//go:embed data/iso3166-1.csv
var iso3166CSV string

//go:embed data/iso4217.csv
var iso4217CSV string

// Country is one ISO 3166-1 entry.
type Country struct {
	Alpha2  string
	Alpha3  string
	Numeric string
	Name    string
}

var (
	countryByA2 map[string]Country
	a3ToA2      map[string]string
	currencies  map[string]string // code → name
)

func init() {
	rows := mustCSV(iso3166CSV)
	countryByA2 = make(map[string]Country, len(rows))
	a3ToA2 = make(map[string]string, len(rows))
	for _, r := range rows {
		c := Country{Alpha2: r[0], Alpha3: r[1], Numeric: r[2], Name: r[3]}
		countryByA2[c.Alpha2] = c
		a3ToA2[c.Alpha3] = c.Alpha2
	}
	rows = mustCSV(iso4217CSV)
	currencies = make(map[string]string, len(rows))
	for _, r := range rows {
		// X-codes for testing and "no currency" are not money a declaration can be valued in.
		if r[0] == "XTS" || r[0] == "XXX" {
			continue
		}
		currencies[r[0]] = r[2]
	}
}

func mustCSV(s string) [][]string {
	rows, err := csv.NewReader(strings.NewReader(s)).ReadAll()
	if err != nil || len(rows) < 2 {
		panic("ingest: embedded code table is corrupt")
	}
	return rows[1:]
}

// NormalizeCountry returns the ISO 3166-1 alpha-2 code for an alpha-2 or alpha-3 code in any
// case, and whether the code is known.
func NormalizeCountry(code string) (string, bool) {
	code = strings.ToUpper(strings.TrimSpace(code))
	switch len(code) {
	case 2:
		_, ok := countryByA2[code]
		return code, ok
	case 3:
		a2, ok := a3ToA2[code]
		return a2, ok
	}
	return code, false
}

// LookupCountry returns the ISO 3166-1 entry for an alpha-2 or alpha-3 code.
func LookupCountry(code string) (Country, bool) {
	a2, ok := NormalizeCountry(code)
	if !ok {
		return Country{}, false
	}
	return countryByA2[a2], true
}

// KnownCurrency reports whether code (upper case) is an ISO 4217 currency.
func KnownCurrency(code string) bool {
	_, ok := currencies[code]
	return ok
}
