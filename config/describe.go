package config

import (
	"reflect"
	"strings"
)

// Var describes one environment variable ledgerd reads.
type Var struct {
	// Name is the variable's name, e.g. "LEDGERD_LISTEN".
	Name string
	// Default is the value used when the variable is unset; "" when there
	// is none.
	Default string
	// Description says what the variable does, in one line.
	Description string
}

// Describe lists every variable Load reads, in a stable order, with its
// default and a one-line description, for `ledgerd --help` and the README.
// It is derived from the same struct tags Load decodes with, so the two
// cannot disagree.
func Describe() []Var {
	t := reflect.TypeFor[env]()
	vars := make([]Var, 0, t.NumField())
	for f := range t.Fields() {
		name, def := parseEnvTag(f.Tag.Get("env"))
		vars = append(vars, Var{Name: name, Default: def, Description: f.Tag.Get("desc")})
	}
	return vars
}

// parseEnvTag returns the name and default of a go-envconfig tag such as
// `LEDGERD_TZ, default=UTC`. As in go-envconfig, "default=" takes the rest of
// the tag, commas included.
func parseEnvTag(tag string) (name, def string) {
	name, opts, _ := strings.Cut(tag, ",")
	for opts != "" {
		opts = strings.TrimLeft(opts, " ")
		if d, ok := strings.CutPrefix(opts, "default="); ok {
			return strings.TrimSpace(name), d
		}
		_, opts, _ = strings.Cut(opts, ",")
	}
	return strings.TrimSpace(name), ""
}
