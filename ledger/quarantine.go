package ledger

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/ledgerd/ledgerd"
)

// Quarantined is a body ledgerd could not accept, kept with the reason.
type Quarantined struct {
	ID          int64          `json:"id"`
	ReceivedAt  time.Time      `json:"received_at"`
	Source      ledgerd.Source `json:"source"`
	RemoteAddr  string         `json:"remote_addr"`
	Reason      string         `json:"reason"`
	Detail      string         `json:"detail"`
	Raw         []byte         `json:"-"`
	State       string         `json:"state"` // held, replayed or discarded
	ReplayedSeq *int64         `json:"replayed_seq,omitempty"`
}

// ErrNotFound reports a quarantine id that does not exist.
var ErrNotFound = errors.New("not found")

// ErrEventIDReused reports a replayed body whose event_id is stored with
// another body: it cannot be ingested under that id, and stays held.
var ErrEventIDReused = errors.New("event_id stored with another body")

// Quarantine keeps a refused body durably (it has committed when Quarantine
// returns nil), so that nothing Fuse sent is ever lost.
func (l *Ledger) Quarantine(ctx context.Context, q Quarantined) (int64, error) {
	if q.ReceivedAt.IsZero() {
		q.ReceivedAt = l.now()
	}
	if !q.Source.Valid() {
		q.Source = ledgerd.SourceWebhook
	}
	var id int64
	err := l.w.do(ctx, func(t *wtx) error {
		res, err := t.exec(`INSERT INTO quarantine (received_at, source, remote_addr, reason, detail, raw)
			VALUES (?, ?, ?, ?, ?, ?)`, formatTime(q.ReceivedAt), string(q.Source), q.RemoteAddr, q.Reason, q.Detail, q.Raw)
		if err != nil {
			return fmt.Errorf("quarantine: %w", err)
		}
		id, err = res.LastInsertId()
		return err
	})
	return id, err
}

// QuarantineList returns quarantined bodies, newest first; state "" means
// every state.
func (l *Ledger) QuarantineList(ctx context.Context, state string) ([]Quarantined, error) {
	rows, err := l.reader.QueryContext(ctx, `SELECT id, received_at, source, remote_addr, reason, detail, raw, state, replayed_seq
		FROM quarantine WHERE ? = '' OR state = ? ORDER BY id DESC`, state, state)
	if err != nil {
		return nil, fmt.Errorf("list quarantine: %w", err)
	}
	defer rows.Close()
	var out []Quarantined
	for rows.Next() {
		q, err := scanQuarantined(rows)
		if err != nil {
			return nil, fmt.Errorf("list quarantine: %w", err)
		}
		out = append(out, q)
	}
	return out, rows.Err()
}

// QuarantineGet returns one quarantined body, or ErrNotFound.
func (l *Ledger) QuarantineGet(ctx context.Context, id int64) (Quarantined, error) {
	rows, err := l.reader.QueryContext(ctx, `SELECT id, received_at, source, remote_addr, reason, detail, raw, state, replayed_seq
		FROM quarantine WHERE id = ?`, id)
	if err != nil {
		return Quarantined{}, fmt.Errorf("read quarantine %d: %w", id, err)
	}
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return Quarantined{}, err
		}
		return Quarantined{}, fmt.Errorf("quarantine %d: %w", id, ErrNotFound)
	}
	return scanQuarantined(rows)
}

func scanQuarantined(rows *sql.Rows) (Quarantined, error) {
	var q Quarantined
	var received sql.NullString
	var src string
	var replayed sql.NullInt64
	if err := rows.Scan(&q.ID, &received, &src, &q.RemoteAddr, &q.Reason, &q.Detail, &q.Raw, &q.State, &replayed); err != nil {
		return q, err
	}
	q.Source = ledgerd.Source(src)
	t, err := parseTime(received)
	if err != nil {
		return q, err
	}
	q.ReceivedAt = t
	if replayed.Valid {
		q.ReplayedSeq = &replayed.Int64
	}
	return q, nil
}

// ReplayQuarantined ingests obs (decoded again from quarantined body id,
// after a fix) and marks the body replayed, in one transaction. A body
// whose event_id is stored with another body (an event_id_reused one)
// changes nothing, stays held, and is reported with ErrEventIDReused.
func (l *Ledger) ReplayQuarantined(ctx context.Context, id int64, obs ledgerd.Observation) (Result, error) {
	var res Result
	err := l.w.do(ctx, func(t *wtx) error {
		var state string
		if err := t.queryRow("SELECT state FROM quarantine WHERE id = ?", id).Scan(&state); err != nil {
			if errors.Is(err, sql.ErrNoRows) {
				return fmt.Errorf("quarantine %d: %w", id, ErrNotFound)
			}
			return err
		}
		if state != "held" {
			return fmt.Errorf("quarantine %d is %s already", id, state)
		}
		var err error
		if res, err = t.ingest(obs); err != nil {
			return err
		}
		if res.OtherBody {
			return fmt.Errorf("quarantine %d: event %s (seq %d): %w", id, obs.Event.ID, res.Seq, ErrEventIDReused)
		}
		_, err = t.exec(`UPDATE quarantine SET state = 'replayed', replayed_seq = ?, resolved_at = ? WHERE id = ?`,
			res.Seq, formatTime(t.now), id)
		return err
	})
	return res, err
}
