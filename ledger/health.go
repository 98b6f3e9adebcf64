package ledger

import (
	"context"
	"errors"
	"path/filepath"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// What the ledger can tell about its storage, for readiness: a write probe,
// the writer's own recent failures, and free space.
//
// A probe alone can pass where webhooks fail. On a full disk the WAL,
// reused from its beginning after a checkpoint, takes a one-row commit
// without growing the file, while a batch of webhooks needs new pages the
// checkpoint cannot copy into the database file; a page limit or an I/O
// error on some pages does the same. So the writer remembers the last unit
// that failed for the storage's sake, and only a later commit of real work
// (not a probe) clears it.

// writeFailure is a unit that failed for the storage's sake.
type writeFailure struct {
	at  time.Time
	err error
}

// writeFault reports whether err, the outcome of a unit, is a failure of
// the storage (disk full, I/O error, lock held too long, commit overran,
// damaged pages) rather than of the unit's input or of a closed ledger.
func writeFault(err error) bool {
	if err == nil || errors.Is(err, ErrClosed) || errors.Is(err, ErrDamaged) {
		return false
	}
	if errors.Is(err, ErrUnavailable) {
		return true
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() & 0xff {
		case sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB:
			return true
		}
	}
	return false
}

// noteOutcome records what a finished batch says about the storage: a unit
// that failed for its sake (the first such), or else, if a unit that is
// not a probe committed, that writes work again. While closing, it also
// counts the units that failed that way: they were queued when Close began.
func (w *writer) noteOutcome(batch []*unit, results []error) {
	var fault error
	faults, committed := 0, false
	for i, u := range batch {
		switch err := results[i]; {
		case writeFault(err):
			if fault == nil {
				fault = err
			}
			faults++
		case err == nil && !u.probe:
			committed = true
		}
	}
	switch {
	case fault != nil:
		w.fault.Store(&writeFailure{at: time.Now(), err: fault})
	case committed:
		w.fault.Store(nil)
	}
	if faults > 0 && w.closing.Load() {
		if w.closeFailed == 0 {
			w.closeErr = fault
		}
		w.closeFailed += faults
	}
}

// LastWriteFault returns when a write last failed for the storage's sake
// (disk full, I/O error, lock held too long, damaged pages) and why, or a
// zero time and nil if none has since the ledger opened or a write of real
// work (not a probe) has committed since.
func (l *Ledger) LastWriteFault() (time.Time, error) {
	f := l.w.fault.Load()
	if f == nil {
		return time.Time{}, nil
	}
	return f.at, f.err
}

// probeWriteSQL rewrites the one row of write_probe: a commit that really
// writes a page, as every webhook's does.
const probeWriteSQL = `INSERT INTO write_probe (id, probed_at) VALUES (1, ?)
	ON CONFLICT (id) DO UPDATE SET probed_at = excluded.probed_at`

// ProbeWrite rewrites the write_probe row through the writer and returns
// once that is durably committed, or why it could not be: the file cannot
// take a write now. Its success does not clear LastWriteFault (see above).
// Once queued, the probe is waited for even if ctx ends, like every write.
func (l *Ledger) ProbeWrite(ctx context.Context) error {
	return l.w.submit(&unit{ctx: ctx, probe: true, done: make(chan error, 1), fn: func(t *wtx) error {
		_, err := t.exec(probeWriteSQL, formatTime(time.Now()))
		return err
	}})
}

// ProbeLock runs an empty transaction through the writer: it takes the
// write lock (BEGIN IMMEDIATE) and commits nothing, so it proves that the
// writer's queue moves and the lock can be had, and passes on a full disk.
// That makes it a liveness check (the systemd watchdog's), not readiness.
func (l *Ledger) ProbeLock(ctx context.Context) error {
	return l.w.submit(&unit{ctx: ctx, probe: true, done: make(chan error, 1), fn: func(*wtx) error { return nil }})
}

// FreeSpace returns the bytes an unprivileged process can still write on
// the file system that holds the database file (and its WAL beside it).
// It returns an error wrapping errors.ErrUnsupported where the platform
// cannot tell.
func (l *Ledger) FreeSpace() (uint64, error) {
	return freeSpace(filepath.Dir(l.path))
}
