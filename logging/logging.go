// Package logging builds the *slog.Logger every ledgerd component is given:
// tint's human-readable text on a terminal (colour only there), slog's JSON
// for journald and log shippers. Both formats pass every attribute through
// MaskAttr, so IBANs, people's names and credentials are masked by key
// wherever they are logged, without each call site remembering to.
package logging

import (
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/lmittmann/tint"
	"github.com/mattn/go-isatty"
)

// Log formats New accepts.
const (
	// FormatText is tint's key=value text, coloured only on a terminal.
	FormatText = "text"
	// FormatJSON is one JSON object per line (slog.JSONHandler).
	FormatJSON = "json"
)

// ParseFormat returns the canonical form of a log format name (FormatText
// or FormatJSON, in any case), or an error naming the formats accepted.
func ParseFormat(s string) (string, error) {
	switch f := strings.ToLower(strings.TrimSpace(s)); f {
	case FormatText, FormatJSON:
		return f, nil
	}
	return "", fmt.Errorf("unknown log format %q (want %s or %s)", s, FormatText, FormatJSON)
}

// New returns a logger writing to w in the given format (FormatJSON, or
// FormatText for anything else: config validates the name before this is
// called) at level and above. Text is coloured only when w is a terminal.
// Attributes are masked by MaskAttr in both formats.
func New(w io.Writer, format string, level slog.Leveler) *slog.Logger {
	if f, err := ParseFormat(format); err == nil && f == FormatJSON {
		return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{
			Level:       level,
			ReplaceAttr: MaskAttr,
		}))
	}
	return slog.New(tint.NewTextHandler(w, &tint.Options{
		Level:       level,
		ReplaceAttr: MaskAttr,
		TimeFormat:  time.RFC3339,
		NoColor:     !isTTY(w),
	}))
}

// Discard returns a logger that drops everything, for tests.
func Discard() *slog.Logger {
	return slog.New(slog.DiscardHandler)
}

// isTTY reports whether w is a terminal (an *os.File or anything else with
// a file descriptor); pipes, files, journald and buffers are not.
func isTTY(w io.Writer) bool {
	f, ok := w.(interface{ Fd() uintptr })
	if !ok {
		return false
	}
	return isatty.IsTerminal(f.Fd()) || isatty.IsCygwinTerminal(f.Fd())
}
