package ledger

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
)

// IntegrityState is where the integrity check stands.
type IntegrityState string

// The states of the integrity check.
const (
	IntegrityUnchecked IntegrityState = "unchecked" // not run (yet), or stopped before the end
	IntegrityChecking  IntegrityState = "checking"
	IntegrityOK        IntegrityState = "ok"
	IntegrityFailed    IntegrityState = "failed" // the file is damaged: writes are refused
)

// Integrity is the outcome of CheckIntegrity, or its progress while it
// runs.
type Integrity struct {
	State IntegrityState
	// Problems says what failed, at most maxDetails lines: quick_check's
	// findings, events whose hash does not match, or a read that failed.
	Problems []string
	Started  time.Time
	Finished time.Time // zero while checking
	Events   int64     // events whose hash was checked
}

// integrityChunk is how many events one read transaction of the hash-chain
// walk reads: a few MiB of bodies, so that no snapshot is held long enough
// to keep the WAL from starting over.
const integrityChunk = 2000

// integrity is the Ledger's record of its check; the zero value is
// unchecked.
type integrity struct {
	mu  sync.Mutex
	cur Integrity
}

func (i *integrity) set(v Integrity) {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.cur = v
}

// Integrity returns the state of the integrity check: unchecked until
// CheckIntegrity runs.
func (l *Ledger) Integrity() Integrity {
	l.integrity.mu.Lock()
	defer l.integrity.mu.Unlock()
	v := l.integrity.cur
	if v.State == "" {
		v.State = IntegrityUnchecked
	}
	v.Problems = slices.Clone(v.Problems)
	return v
}

// CheckIntegrity checks the file while it is in use: SQLite's quick_check
// (every page and b-tree well formed; cheaper than the integrity_check of
// Verify, which also matches every index against its table) in one read
// transaction, then the events hash chain, walked in chunks of
// integrityChunk events each in a short read transaction of its own (events
// are append-only, so the chunks add up to one walk up to the last event
// when the walk began). Writes go on meanwhile.
//
// If it finds damage, every later write through this Ledger is refused with
// ErrDamaged (wrapped in ErrUnavailable): a damaged b-tree can be made worse
// by writing into it, and new events would extend a chain that no longer
// verifies. Reads go on. A read that fails counts as damage too. The error
// is ctx's, when it ends first; the check then counts as not run.
func (l *Ledger) CheckIntegrity(ctx context.Context) (Integrity, error) {
	res := Integrity{State: IntegrityChecking, Started: time.Now()}
	l.integrity.set(res)
	problems, qerr := l.quickCheck(ctx)
	chain, events, cerr := l.walkChain(ctx, integrityChunk)
	if ctx.Err() != nil {
		l.integrity.set(Integrity{State: IntegrityUnchecked})
		return Integrity{State: IntegrityUnchecked, Started: res.Started}, ctx.Err()
	}
	for _, p := range chain {
		problems = append(problems, "events hash chain: "+p)
	}
	for _, err := range []error{qerr, cerr} {
		if err != nil {
			problems = append(problems, err.Error())
		}
	}
	res.Events = events
	if len(problems) > maxDetails {
		problems = append(problems[:maxDetails], fmt.Sprintf("… and %d more", len(problems)-maxDetails))
	}
	res.State, res.Problems, res.Finished = IntegrityOK, problems, time.Now()
	if len(problems) > 0 {
		res.State = IntegrityFailed
		refusal := fmt.Errorf("%w: %w (the integrity check found: %s)", ErrUnavailable, ErrDamaged, problems[0])
		l.w.damaged.Store(&refusal)
	}
	l.integrity.set(res)
	return res, nil
}

// quickCheck runs PRAGMA quick_check and returns its findings, nil when
// it answers "ok". A read that fails on a damaged page is a finding.
func (l *Ledger) quickCheck(ctx context.Context) ([]string, error) {
	rows, err := l.reader.QueryContext(ctx, fmt.Sprintf("PRAGMA quick_check(%d)", maxDetails))
	if err != nil {
		return nil, fmt.Errorf("quick_check: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			return nil, fmt.Errorf("quick_check: %w", err)
		}
		if line != "ok" {
			// One finding per line of the log and the status page.
			line = strings.ReplaceAll(strings.TrimPrefix(line, "*** in database main ***\n"), "\n", " ")
			out = append(out, "quick_check: "+line)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("quick_check: %w", err)
	}
	return out, nil
}

// walkChain walks the events hash chain up to the newest event when it
// starts, chunk events per read transaction.
func (l *Ledger) walkChain(ctx context.Context, chunk int) (bad []string, events int64, err error) {
	var end sql.NullInt64
	if err := l.reader.QueryRowContext(ctx, "SELECT max(seq) FROM events").Scan(&end); err != nil {
		return nil, 0, fmt.Errorf("events hash chain: %w", err)
	}
	var c chainWalk
	for end.Valid && c.last < end.Int64 {
		from := c.last
		rows, err := l.reader.QueryContext(ctx, `SELECT seq, raw, prev_hash, hash FROM events
			WHERE seq > ? AND seq <= ? ORDER BY seq LIMIT ?`, from, end.Int64, chunk)
		if err == nil {
			err = c.scan(rows)
		}
		if err != nil {
			return c.bad, c.n, fmt.Errorf("events hash chain after event %d: %w", c.last, err)
		}
		if c.last == from {
			return c.bad, c.n, fmt.Errorf("events hash chain: events %d to %d are missing", from+1, end.Int64)
		}
	}
	return c.bad, c.n, nil
}
