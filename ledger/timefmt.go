package ledger

import (
	"database/sql"
	"fmt"
	"time"
)

// timeLayout is how every timestamp is stored: UTC, fixed width, nanosecond
// precision, so that text comparison in SQL is time comparison.
const timeLayout = "2006-01-02T15:04:05.000000000Z"

// formatTime renders t for storage; the zero time is NULL.
func formatTime(t time.Time) sql.NullString {
	if t.IsZero() {
		return sql.NullString{}
	}
	return sql.NullString{String: t.UTC().Format(timeLayout), Valid: true}
}

// FormatTime renders t as the ledger stores times: the text that
// StoredTransaction's times, and a cut-off given to a read, compare with.
func FormatTime(t time.Time) string { return t.UTC().Format(timeLayout) }

// parseTime reads a stored timestamp; NULL or "" is the zero time.
func parseTime(s sql.NullString) (time.Time, error) {
	if !s.Valid || s.String == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s.String)
	if err != nil {
		return time.Time{}, fmt.Errorf("stored time %q: %w", s.String, err)
	}
	return t, nil
}
