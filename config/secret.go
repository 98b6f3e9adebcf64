package config

import (
	"fmt"
	"io"
	"log/slog"
)

// redacted is what every printed form of a non-empty Secret shows.
const redacted = "[redacted]"

// Secret holds a credential read from the environment or from a file. Every
// way of printing, marshalling or logging it shows "[redacted]" (or "" when
// it is empty), so a Secret can sit in a struct that gets logged or dumped
// without leaking; only Reveal gives the value, and only code that hands it
// to the party it is meant for should call it.
type Secret struct {
	value string
}

// NewSecret wraps s as a Secret, for tests and for callers that get a
// credential from somewhere other than the environment.
func NewSecret(s string) Secret {
	return Secret{value: s}
}

// Reveal returns the secret's value.
func (s Secret) Reveal() string {
	return s.value
}

// IsSet reports whether the secret is non-empty.
func (s Secret) IsSet() bool {
	return s.value != ""
}

// String returns "[redacted]", or "" for an empty secret.
func (s Secret) String() string {
	if s.value == "" {
		return ""
	}
	return redacted
}

// GoString returns the same as String, so %#v does not show the value.
func (s Secret) GoString() string {
	return s.String()
}

// Format implements fmt.Formatter so that every verb, not only %v and %s
// (a %d or %x would otherwise print the struct's field), shows the redacted
// form.
func (s Secret) Format(f fmt.State, _ rune) {
	_, _ = io.WriteString(f, s.String())
}

// MarshalText implements encoding.TextMarshaler with the redacted form.
func (s Secret) MarshalText() ([]byte, error) {
	return []byte(s.String()), nil
}

// MarshalJSON implements json.Marshaler with the redacted form as a JSON
// string.
func (s Secret) MarshalJSON() ([]byte, error) {
	return fmt.Appendf(nil, "%q", s.String()), nil
}

// LogValue implements slog.LogValuer with the redacted form.
func (s Secret) LogValue() slog.Value {
	return slog.StringValue(s.String())
}
