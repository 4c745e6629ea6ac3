package main

import (
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// flags wraps a FlagSet so that every flag falls back to an environment variable
// PORTGUARD_<NAME> (upper case, '-' → '_') and then to its default.
type flags struct {
	*flag.FlagSet
	env func(string) string
}

func newFlags(name string, env func(string) string, stderr io.Writer) *flags {
	fs := flag.NewFlagSet("portguard "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return &flags{FlagSet: fs, env: env}
}

func envName(flagName string) string {
	return "PORTGUARD_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

func (f *flags) str(name, def, usage string) *string {
	if v := f.env(envName(name)); v != "" {
		def = v
	}
	return f.String(name, def, usage+" ($"+envName(name)+")")
}

func (f *flags) integer(name string, def int, usage string) *int {
	if v := f.env(envName(name)); v != "" {
		if n, err := strconv.Atoi(v); err == nil {
			def = n
		}
	}
	return f.Int(name, def, usage+" ($"+envName(name)+")")
}

func (f *flags) float(name string, def float64, usage string) *float64 {
	if v := f.env(envName(name)); v != "" {
		if n, err := strconv.ParseFloat(v, 64); err == nil {
			def = n
		}
	}
	return f.Float64(name, def, usage+" ($"+envName(name)+")")
}

func (f *flags) duration(name string, def time.Duration, usage string) *time.Duration {
	if v := f.env(envName(name)); v != "" {
		if d, err := time.ParseDuration(v); err == nil {
			def = d
		}
	}
	return f.Duration(name, def, usage+" ($"+envName(name)+")")
}

func (f *flags) boolean(name string, def bool, usage string) *bool {
	if v := f.env(envName(name)); v != "" {
		if b, err := strconv.ParseBool(v); err == nil {
			def = b
		}
	}
	return f.Bool(name, def, usage+" ($"+envName(name)+")")
}

// parse parses args and rejects stray positional arguments, which are always a mistake here.
func (f *flags) parse(args []string) error {
	if err := f.Parse(args); err != nil {
		return err
	}
	if f.NArg() > 0 {
		return fmt.Errorf("%s: unexpected argument %q", f.Name(), f.Arg(0))
	}
	return nil
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
