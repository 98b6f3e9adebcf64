package ledger

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/ledgerd/ledgerd"
)

// The typed reads here are what the status page, the demo and the
// certification run count in the ledger's tables, so that no package
// outside the ledger writes SQL against them.

// AccountNames returns the names Fuse gave its accounts, by account id;
// accounts without a name are left out.
func (l *Ledger) AccountNames(ctx context.Context) (map[string]string, error) {
	const what = "read account names"
	names := map[string]string{}
	err := eachRow(ctx, l.reader, what, `SELECT account_id, name FROM fuse_accounts WHERE name IS NOT NULL`, nil,
		func(rows *sql.Rows) error {
			var id, name string
			if err := rows.Scan(&id, &name); err != nil {
				return fmt.Errorf("%s: %w", what, err)
			}
			names[id] = name
			return nil
		})
	if err != nil {
		return nil, err
	}
	return names, nil
}

// SyncProgress is the backfill's progress over the Fuse accounts it pages
// through (one sync checkpoint each).
type SyncProgress struct {
	// LastSuccess is the latest time a backfill of any account succeeded;
	// zero if none ever did.
	LastSuccess time.Time
	// Accounts counts the accounts with a checkpoint, Failing those whose
	// last backfill failed.
	Accounts, Failing int64
}

// SyncProgress reads the backfill's progress.
func (l *Ledger) SyncProgress(ctx context.Context) (SyncProgress, error) {
	var last sql.NullString
	var accounts, failing sql.NullInt64
	err := l.reader.QueryRowContext(ctx, `SELECT MAX(last_success_at), COUNT(*),
		SUM(last_error IS NOT NULL AND last_error <> '') FROM sync_checkpoints`).Scan(&last, &accounts, &failing)
	if err != nil {
		return SyncProgress{}, fmt.Errorf("read backfill checkpoints: %w", err)
	}
	p := SyncProgress{Accounts: accounts.Int64, Failing: failing.Int64}
	if p.LastSuccess, err = parseTime(last); err != nil {
		return SyncProgress{}, fmt.Errorf("read backfill checkpoints: %w", err)
	}
	return p, nil
}

// SourceEvents counts the events stored from one source (webhook,
// backfill, …).
type SourceEvents struct {
	Source ledgerd.Source
	Events int64
	// Last is when the newest of them was received.
	Last time.Time
}

// EventsBySource counts the stored events per source, by source name.
func (l *Ledger) EventsBySource(ctx context.Context) ([]SourceEvents, error) {
	const what = "count events"
	var out []SourceEvents
	err := eachRow(ctx, l.reader, what,
		`SELECT source, COUNT(*), MAX(received_at) FROM events GROUP BY source ORDER BY source`, nil,
		func(rows *sql.Rows) error {
			var s SourceEvents
			var last string
			if err := rows.Scan(&s.Source, &s.Events, &last); err != nil {
				return fmt.Errorf("%s: %w", what, err)
			}
			var err error
			if s.Last, err = parseTime(sql.NullString{String: last, Valid: true}); err != nil {
				return fmt.Errorf("events from %s: %w", s.Source, err)
			}
			out = append(out, s)
			return nil
		})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// HourEvents counts the events received in one UTC hour.
type HourEvents struct {
	Hour   time.Time // its start, UTC
	Events int64
}

// EventsPerHour counts the events received per UTC hour, from the hour
// that holds since on; hours without events are left out.
func (l *Ledger) EventsPerHour(ctx context.Context, since time.Time) ([]HourEvents, error) {
	const hourKey = "2006-01-02T15" // the prefix of a stored time up to the hour
	const what = "count events per hour"
	var out []HourEvents
	err := eachRow(ctx, l.reader, what, `SELECT substr(received_at, 1, 13), COUNT(*) FROM events
		WHERE received_at >= ? GROUP BY 1 ORDER BY 1`, []any{since.UTC().Format(hourKey)},
		func(rows *sql.Rows) error {
			var h HourEvents
			var hour string
			if err := rows.Scan(&hour, &h.Events); err != nil {
				return fmt.Errorf("%s: %w", what, err)
			}
			var err error
			if h.Hour, err = time.Parse(hourKey, hour); err != nil {
				return fmt.Errorf("%s: stored hour %q: %w", what, hour, err)
			}
			out = append(out, h)
			return nil
		})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// StoredEvent is where an event sits in the events table.
type StoredEvent struct {
	Seq int64
	// ReceivedAt is the stored text (UTC, RFC 3339, fixed width), as an
	// audit record quotes it.
	ReceivedAt string
}

// StoredEvents returns every stored event by its event id.
func (l *Ledger) StoredEvents(ctx context.Context) (map[string]StoredEvent, error) {
	const what = "read the events table"
	out := map[string]StoredEvent{}
	err := eachRow(ctx, l.reader, what, `SELECT seq, event_id, received_at FROM events`, nil, func(rows *sql.Rows) error {
		var id string
		var e StoredEvent
		if err := rows.Scan(&e.Seq, &id, &e.ReceivedAt); err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		out[id] = e
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// QuarantineCount counts the bodies in quarantine, in every state.
func (l *Ledger) QuarantineCount(ctx context.Context) (int64, error) {
	var n int64
	if err := l.reader.QueryRowContext(ctx, `SELECT count(*) FROM quarantine`).Scan(&n); err != nil {
		return 0, fmt.Errorf("count quarantine: %w", err)
	}
	return n, nil
}

// TransactionState is where a Fuse transaction stands: its status at Fuse
// and the state of its entry in the ledger (none, pending, posted, …).
type TransactionState struct {
	Status, Entry string
}

// TransactionStates returns the state of every Fuse transaction the
// ledger knows, by transaction id.
func (l *Ledger) TransactionStates(ctx context.Context) (map[string]TransactionState, error) {
	const what = "read transactions"
	m := map[string]TransactionState{}
	err := eachRow(ctx, l.reader, what, `SELECT transaction_id, status, entry_state FROM v_transactions`, nil,
		func(rows *sql.Rows) error {
			var id string
			var st TransactionState
			if err := rows.Scan(&id, &st.Status, &st.Entry); err != nil {
				return fmt.Errorf("%s: %w", what, err)
			}
			m[id] = st
			return nil
		})
	if err != nil {
		return nil, err
	}
	return m, nil
}
