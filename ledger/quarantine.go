package ledger

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/ledgerd/ledgerd"
)

// MaxQuarantineBody is the most of one body the quarantine keeps. A longer
// body keeps its first MaxQuarantineBody bytes, with the length and SHA-256
// of the whole (Quarantined.Truncated), and cannot be replayed. Fuse's
// payloads are under 2 KiB: a real event, even one thirty times larger
// than any Fuse sends today, is kept whole and can be replayed after a
// fix, while junk up to the listener's 1 MiB limit costs 64 KiB, not 1 MiB.
const MaxQuarantineBody = 64 << 10

// DefaultQuarantineMaxBytes is the quarantine's cap when
// Options.QuarantineMaxBytes is 0: 4,096 bodies of the largest size kept,
// or about 100,000 refused bodies of Fuse's size.
const DefaultQuarantineMaxBytes = 256 << 20

// quarantineRowOverhead is what a quarantine row counts for beyond its
// body and detail: its times, addresses, reason, state and SQLite's own
// bookkeeping, rounded up, so that a flood of empty bodies fills the cap
// too instead of growing the file row by row for free.
const quarantineRowOverhead = 256

// Quarantined is a body ledgerd could not accept, kept with the reason.
// Quarantine reads ReceivedAt through Raw and derives the rest.
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
	// Length is the size of the body as received; Kept the bytes of it in
	// Raw, fewer when Truncated (a body over MaxQuarantineBody).
	Length    int64 `json:"length"`
	Kept      int64 `json:"kept"`
	Truncated bool  `json:"truncated"`
	// SHA256 is the hex SHA-256 of the whole body as received, so that a
	// truncated body can still be matched against a copy from elsewhere.
	SHA256 string `json:"sha256"`
}

// Errors of the quarantine.
var (
	// ErrNotFound reports a quarantine id that does not exist.
	ErrNotFound = errors.New("not found")
	// ErrQuarantineFull reports a body refused because keeping it would
	// take the quarantine past its cap (Options.QuarantineMaxBytes).
	// Nothing was kept: the sender must be told to try again (503).
	ErrQuarantineFull = errors.New("quarantine full")
	// ErrTruncated reports a replay of a body kept only in part.
	ErrTruncated = errors.New("body kept truncated: cannot be replayed")
)

// quarantineUse is the quarantine's cap and its size as last seen
// committed. Rows are never deleted and their bodies and details never
// change (schema triggers), so the size only grows and the rows past the
// last id seen are all that can be new, whichever process wrote them. The
// check inside the write transaction therefore reads only those rows (one
// scan of the table the first time), and a body that does not fit in the
// last size seen will not fit now either: it is refused without queuing
// for the writer, so a flood of junk past the cap costs no writes.
type quarantineUse struct {
	max     int64 // 0: DefaultQuarantineMaxBytes
	mu      sync.Mutex
	counted bool  // the whole table has been counted since the ledger opened
	id      int64 // the newest row counted in bytes
	bytes   int64
}

func (u *quarantineUse) limit() int64 {
	if u.max <= 0 {
		return DefaultQuarantineMaxBytes
	}
	return u.max
}

func (u *quarantineUse) get() (id, bytes int64) {
	id, bytes, _ = u.usage()
	return id, bytes
}

// usage is get, and whether the whole table has been counted.
func (u *quarantineUse) usage() (id, bytes int64, counted bool) {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.id, u.bytes, u.counted
}

// saw records the committed size up to row id, unless a newer one is known.
func (u *quarantineUse) saw(id, bytes int64) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if id > u.id {
		u.id, u.bytes = id, bytes
	}
}

func (u *quarantineUse) full(used, size int64) error {
	return fmt.Errorf("%w: it holds %d bytes of its %d, no room for %d more", ErrQuarantineFull, used, u.limit(), size)
}

// quarantineSizeSQL is the size of the quarantine's rows past an id, as
// the cap counts them, and the newest id. length() of a blob reads the
// record header, not the overflow pages that hold a large body.
const quarantineSizeSQL = `SELECT coalesce(sum(length(raw) + octet_length(detail)), 0) + ? * count(*), max(id)
	FROM quarantine WHERE id > ?`

// quarantineSize returns the newest row id and the quarantine's size in
// bytes, given both as of row id.
func (t *wtx) quarantineSize(id, bytes int64) (int64, int64, error) {
	var add int64
	var newest sql.NullInt64
	if err := t.queryRow(quarantineSizeSQL, quarantineRowOverhead, id).Scan(&add, &newest); err != nil {
		return 0, 0, fmt.Errorf("quarantine size: %w", err)
	}
	if newest.Valid {
		id = newest.Int64
	}
	return id, bytes + add, nil
}

// countQuarantine counts the whole quarantine once, on the reader pool (a
// committed snapshot), so that the one scan of the table does not hold up
// the writer: 0.4 s warm, 0.85 s cold for 100,000 rows of 1.5 KB.
func (l *Ledger) countQuarantine(ctx context.Context) error {
	u := &l.quarantine
	if _, _, counted := u.usage(); counted {
		return nil
	}
	var bytes int64
	var newest sql.NullInt64
	if err := l.reader.QueryRowContext(ctx, quarantineSizeSQL, quarantineRowOverhead, 0).Scan(&bytes, &newest); err != nil {
		return fmt.Errorf("quarantine size: %w", err)
	}
	if newest.Valid {
		u.saw(newest.Int64, bytes)
	}
	u.mu.Lock()
	u.counted = true
	u.mu.Unlock()
	return nil
}

// QuarantineUsage is how full the quarantine is, as its cap counts.
type QuarantineUsage struct {
	Bodies   int64 // rows, in every state (none is ever deleted)
	Bytes    int64 // what the cap counts of them
	MaxBytes int64 // the cap (Options.QuarantineMaxBytes)
}

// QuarantineUsage returns how full the quarantine is, from memory (the
// size the cap is checked against); ok is false until the quarantine has
// been counted since the ledger opened (CountQuarantine, or the first body
// quarantined), so that a caller that must not wait for the read pool
// (a metrics scrape) need not.
func (l *Ledger) QuarantineUsage() (u QuarantineUsage, ok bool) {
	id, bytes, counted := l.quarantine.usage()
	// Rows are never deleted, so the newest id is their number.
	return QuarantineUsage{Bodies: id, Bytes: bytes, MaxBytes: l.quarantine.limit()}, counted
}

// CountQuarantine counts the whole quarantine on the read pool, once
// after the ledger opened (later calls return at once): 0.4 s warm, 0.85 s
// cold for 100,000 rows of 1.5 KB.
func (l *Ledger) CountQuarantine(ctx context.Context) error {
	return l.countQuarantine(ctx)
}

// ErrEventIDReused reports a replayed body whose event_id is stored with
// another body: it cannot be ingested under that id, and stays held.
var ErrEventIDReused = errors.New("event_id stored with another body")

// Quarantine keeps a refused body durably (it has committed when Quarantine
// returns nil), so that nothing Fuse sent is ever lost: a body over
// MaxQuarantineBody is kept truncated with its length and SHA-256, and a
// body that would take the quarantine past its cap is not kept at all but
// refused with ErrQuarantineFull, for the sender to try again.
func (l *Ledger) Quarantine(ctx context.Context, q Quarantined) (int64, error) {
	if q.ReceivedAt.IsZero() {
		q.ReceivedAt = l.now()
	}
	if !q.Source.Valid() {
		q.Source = ledgerd.SourceWebhook
	}
	raw, length, sum := q.Raw, sql.NullInt64{}, []byte(nil)
	if len(raw) > MaxQuarantineBody {
		h := sha256.Sum256(raw)
		raw, length, sum = raw[:MaxQuarantineBody], sql.NullInt64{Int64: int64(len(raw)), Valid: true}, h[:]
	}
	size := int64(len(raw)+len(q.Detail)) + quarantineRowOverhead
	if err := l.countQuarantine(ctx); err != nil {
		return 0, storageError(err)
	}
	u := &l.quarantine
	if _, used := u.get(); used+size > u.limit() {
		return 0, u.full(used, size)
	}
	var id, seenID, used int64
	err := l.w.do(ctx, func(t *wtx) error {
		id = 0
		var err error
		if seenID, used, err = t.quarantineSize(u.get()); err != nil || used+size > u.limit() {
			return err
		}
		res, err := t.exec(`INSERT INTO quarantine (received_at, source, remote_addr, reason, detail, raw, raw_length, raw_sha256)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, formatTime(q.ReceivedAt), string(q.Source), q.RemoteAddr, q.Reason, q.Detail,
			raw, length, sum)
		if err != nil {
			return fmt.Errorf("quarantine: %w", err)
		}
		id, err = res.LastInsertId()
		return err
	})
	if err != nil {
		return 0, err
	}
	// The transaction has committed: what it saw is committed state.
	u.saw(seenID, used)
	if id == 0 {
		return 0, u.full(used, size)
	}
	u.saw(id, used+size)
	return id, nil
}

// QuarantineList returns quarantined bodies, newest first; state "" means
// every state.
func (l *Ledger) QuarantineList(ctx context.Context, state string) ([]Quarantined, error) {
	rows, err := l.reader.QueryContext(ctx, `SELECT id, received_at, source, remote_addr, reason, detail, raw, state, replayed_seq,
		raw_length, raw_sha256 FROM quarantine WHERE ? = '' OR state = ? ORDER BY id DESC`, state, state)
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
	rows, err := l.reader.QueryContext(ctx, `SELECT id, received_at, source, remote_addr, reason, detail, raw, state, replayed_seq,
		raw_length, raw_sha256 FROM quarantine WHERE id = ?`, id)
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
	var replayed, length sql.NullInt64
	var sum []byte
	if err := rows.Scan(&q.ID, &received, &src, &q.RemoteAddr, &q.Reason, &q.Detail, &q.Raw, &q.State, &replayed,
		&length, &sum); err != nil {
		return q, err
	}
	q.Kept, q.Length = int64(len(q.Raw)), int64(len(q.Raw))
	if length.Valid {
		q.Length, q.Truncated = length.Int64, true
	} else {
		h := sha256.Sum256(q.Raw)
		sum = h[:]
	}
	q.SHA256 = hex.EncodeToString(sum)
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
// after a fix) and marks the body replayed, in one transaction. A body kept
// truncated is refused with ErrTruncated: what it decodes to is not what
// was sent. A body whose event_id is stored with another body (an
// event_id_reused one) changes nothing, stays held, and is reported with
// ErrEventIDReused.
func (l *Ledger) ReplayQuarantined(ctx context.Context, id int64, obs ledgerd.Observation) (Result, error) {
	var res Result
	err := l.w.do(ctx, func(t *wtx) error {
		var state string
		var truncated bool
		if err := t.queryRow("SELECT state, raw_length IS NOT NULL FROM quarantine WHERE id = ?", id).Scan(&state, &truncated); err != nil {
			if errors.Is(err, sql.ErrNoRows) {
				return fmt.Errorf("quarantine %d: %w", id, ErrNotFound)
			}
			return err
		}
		if truncated {
			return fmt.Errorf("quarantine %d: %w", id, ErrTruncated)
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
