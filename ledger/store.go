// Package ledger is ledgerd's book and its store: the SQLite file, the
// schema and its upgrades, the event store with its hash chain, and the
// double-entry ledger that Ingest keeps. It is the only writer of the
// ledger tables; webhooks, the backfill and the sandbox all reach it through
// Ingest. It depends on no other ledgerd package but the root domain types.
package ledger

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/ledgerd/ledgerd"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// Errors callers act on.
var (
	// ErrRejected marks an observation refused for what it says (an
	// unbalanced entry, an amount that would overflow a balance): the same
	// input will always be refused, so it belongs in quarantine, not in a
	// retry loop.
	ErrRejected = errors.New("observation rejected")
	// ErrUnbalanced reports postings that do not sum to zero per currency.
	ErrUnbalanced = errors.New("unbalanced entry")
	// ErrUnavailable reports that the store could not durably record an
	// observation (disk full, file locked, closed): try again later.
	ErrUnavailable = errors.New("ledger storage unavailable")
	// ErrNewerSchema reports a file written by a newer ledgerd.
	ErrNewerSchema = errors.New("database schema is newer than this ledgerd")
	// ErrOlderSchema reports a file opened ReadOnly whose schema is older
	// than this ledgerd's: reading it would need the upgrade that a
	// read-only open must not make.
	ErrOlderSchema = errors.New("database schema is older than this ledgerd")
	// ErrClosed reports use of a closed Ledger.
	ErrClosed = errors.New("ledger closed")
	// ErrDamaged reports a write refused because CheckIntegrity found the
	// file damaged; it comes wrapped in ErrUnavailable.
	ErrDamaged = errors.New("database file damaged")
	// ErrNotCheckpointed reports a Close that did everything but its
	// housekeeping: PRAGMA optimize, or copying the WAL into the database
	// file (a full disk refuses the pages the file must grow by). Nothing
	// is lost: every commit was synced to the WAL, which stays beside the
	// file, and the next open reads it and checkpoints it.
	ErrNotCheckpointed = errors.New("WAL not checkpointed into the database file; kept for the next open")
)

// Options tune Open. The zero value is the production setting.
type Options struct {
	Logger *slog.Logger
	// Now is the ledger's clock for received_at stamps; default time.Now.
	Now func() time.Time
	// MaxBatch caps how many queued writes share one commit; default 256.
	MaxBatch int
	// Readers is the size of the read-only connection pool; default 4.
	Readers int
	// OnBatch, when set, is told the number of units in every committed
	// group commit (for the batch-size metric).
	OnBatch func(n int)
	// ReadOnly opens an existing file only to read it (ledgerd verify: a
	// check must not change what it checks). Nothing is created,
	// upgraded or made private: a missing file is an error, an older
	// schema is refused with ErrOlderSchema, and files readable by others
	// are left so and reported by Verify. Every write fails with
	// ErrUnavailable.
	ReadOnly bool
	// failAfter, when set by tests, is called before each write statement
	// and may return an error to simulate a failure mid-transaction; also
	// before Close's housekeeping statements (PRAGMA optimize, the final
	// checkpoint).
	failAfter func(stmt string) error
	// noBulk, set by tests, applies every observation the usual way
	// (bulk.go), to compare.
	noBulk bool
	// QuarantineMaxBytes caps the quarantine table (quarantineSize); 0
	// means DefaultQuarantineMaxBytes.
	QuarantineMaxBytes int64
	// Metrics, when set, count the transactions the ledger learns of as
	// their rows commit (metrics.go).
	Metrics *Metrics
	// ExternalCheckpoints leaves WAL checkpoints to the replicator that
	// ships the WAL (Litestream, in replica/), which must see every frame
	// before the WAL starts over: no automatic checkpoint on the writer,
	// no background checkpointer, no TRUNCATE at Close. Litestream
	// documents this setting for applications it replicates.
	ExternalCheckpoints bool
	// KeepWALAtClose leaves out Close's TRUNCATE checkpoint only: for a
	// command run while serve may be replicating the file, whose
	// Litestream must not have the WAL cut under it. The command's own
	// PASSIVE checkpoints stay, harmless to Litestream (its open read
	// transaction keeps them from letting the WAL start over), so that a
	// long command with serve stopped does not grow the WAL without end.
	KeepWALAtClose bool
}

// Ledger is an open ledgerd database: one writer connection fed by a
// group-commit queue, and a pool of read-only connections.
type Ledger struct {
	path   string
	log    *slog.Logger
	now    func() time.Time
	writer *sql.DB
	reader *sql.DB
	w      *writer
	ckpt   *checkpointer // nil with ExternalCheckpoints
	// keepWAL is Options.ExternalCheckpoints or KeepWALAtClose: Close
	// does not truncate the WAL.
	keepWAL bool
	// exposed are the database's files that were readable by others when
	// a ReadOnly open found them (Verify reports them); an open that may
	// write makes them private instead.
	exposed []exposedFile
	// integrity is the state of CheckIntegrity.
	integrity integrity
	// quarantine is the quarantine's cap and its last known size.
	quarantine quarantineUse
}

// dsn builds a modernc.org/sqlite DSN. Pragmas go in the DSN so that every
// pooled connection gets them, busy_timeout first so that the others wait
// for a lock instead of failing.
func dsn(path string, readOnly bool) string {
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(10000)")
	if readOnly {
		q.Add("_pragma", "query_only(1)")
	} else {
		q.Add("_pragma", "journal_mode(WAL)")
		q.Add("_pragma", "journal_size_limit(67108864)")
		// Most checkpointing is done in the background (checkpointer.go).
		q.Add("_pragma", fmt.Sprintf("wal_autocheckpoint(%d)", ckptWriterFrames))
		// Every unit of a group commit runs in a savepoint, whose
		// sub-journal is a temp file by default: keep it in memory.
		q.Add("_pragma", "temp_store(2)")
		q.Set("_txlock", "immediate")
	}
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_pragma", "synchronous(FULL)")
	return "file:" + URIPath(path) + "?" + q.Encode()
}

// URIPath is path as the path of a file: URI: SQLite decodes %HH there
// and ends the path at ? or #, so those three are escaped, and a path
// that starts with // would name a host. Without this, "a#b.db" opened
// "a", a file nobody asked for.
func URIPath(path string) string {
	return strings.NewReplacer("%", "%25", "?", "%3F", "#", "%23").Replace(filepath.Clean(path))
}

// Open opens (creating if needed, with mode 0600) the database at path,
// applies pending schema versions, and starts the writer. A file whose
// schema is newer than this binary is refused with ErrNewerSchema.
func Open(ctx context.Context, path string, opts Options) (*Ledger, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.MaxBatch <= 0 {
		opts.MaxBatch = 256
	}
	if opts.Readers <= 0 {
		opts.Readers = 4
	}
	if opts.ReadOnly {
		return openReadOnly(ctx, path, opts)
	}
	// Create the file ourselves so that it is private from the first byte;
	// SQLite gives the -wal and -shm files the same mode.
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	// A file made by someone else (cp, sqlite3) may be readable by all:
	// the ledger is private, and SQLite gives -wal and -shm its mode.
	for _, x := range exposedFiles(path) {
		if err := os.Chmod(x.path, x.mode&0o700); err != nil {
			f.Close()
			return nil, fmt.Errorf("make database %s private: %w", x.path, err)
		}
		opts.Logger.Warn("database file was readable by others: made private", "path", x.path,
			"mode", fmt.Sprintf("%04o", x.mode))
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}

	wdb, err := sql.Open("sqlite", dsn(path, false))
	if err != nil {
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	wdb.SetMaxOpenConns(1)
	wdb.SetMaxIdleConns(1)
	wdb.SetConnMaxLifetime(0)
	wdb.SetConnMaxIdleTime(0)

	var mode string
	if err := wdb.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		wdb.Close()
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	if mode != "wal" {
		wdb.Close()
		return nil, fmt.Errorf("open database %s: journal_mode is %q, want wal", path, mode)
	}
	if err := migrate(ctx, wdb, ledgerd.SchemaSQL); err != nil {
		wdb.Close()
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	// From here on the writer waits for the write lock in steps of
	// lockPoll, answering the units whose time is up in between
	// (writer.begin), instead of one long wait inside SQLite. Opening
	// waited like any reader (a crashed process's WAL may need recovery).
	// The pool keeps this one connection for the Ledger's life.
	if _, err := wdb.ExecContext(ctx, fmt.Sprintf("PRAGMA busy_timeout = %d", lockPoll.Milliseconds())); err != nil {
		wdb.Close()
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	if opts.ExternalCheckpoints {
		// On the one connection, kept for the Ledger's life, like the
		// busy_timeout above.
		if _, err := wdb.ExecContext(ctx, "PRAGMA wal_autocheckpoint = 0"); err != nil {
			wdb.Close()
			return nil, fmt.Errorf("open database %s: %w", path, err)
		}
	}

	rdb, err := sql.Open("sqlite", dsn(path, true))
	if err != nil {
		wdb.Close()
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	rdb.SetMaxOpenConns(opts.Readers)

	l := &Ledger{path: path, log: opts.Logger, now: opts.Now, writer: wdb, reader: rdb,
		quarantine: quarantineUse{max: opts.QuarantineMaxBytes}, keepWAL: opts.ExternalCheckpoints || opts.KeepWALAtClose}
	committed := func() {}
	if !opts.ExternalCheckpoints {
		cdb, err := sql.Open("sqlite", dsn(path, false))
		if err != nil {
			wdb.Close()
			rdb.Close()
			return nil, fmt.Errorf("open database %s: %w", path, err)
		}
		cdb.SetMaxOpenConns(1)
		cdb.SetMaxIdleConns(1)
		cdb.SetConnMaxLifetime(0)
		cdb.SetConnMaxIdleTime(0)
		l.ckpt = newCheckpointer(cdb, opts.Logger)
		committed = l.ckpt.nudge
	}
	l.w, err = newWriter(ctx, wdb, opts, committed)
	if err != nil {
		l.ckpt.close()
		wdb.Close()
		rdb.Close()
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	return l, nil
}

// exposedFile is one of the database's files with access for group or
// others, and its mode.
type exposedFile struct {
	path string
	mode os.FileMode
}

// exposedFiles returns those of the database file and the -wal and -shm
// files beside it that exist with any access for group or others.
func exposedFiles(path string) []exposedFile {
	var xs []exposedFile
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		if fi, err := os.Stat(p); err == nil && fi.Mode().Perm()&0o077 != 0 {
			xs = append(xs, exposedFile{path: p, mode: fi.Mode().Perm()})
		}
	}
	return xs
}

// openReadOnly is Open with opts.ReadOnly: the reader pool alone, on a
// file that must exist and be at this binary's schema version. The files'
// modes are looked at before any connection opens (a reader makes -wal
// and -shm files with the database's mode, and removes them again when it
// closes). SQLite may still do its own housekeeping: fold into the file a
// WAL that a crashed writer left, when the last connection closes; that
// changes no row.
func openReadOnly(ctx context.Context, path string, opts Options) (*Ledger, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("open database %s: not a regular file", path)
	}
	exposed := exposedFiles(path)
	// mode=rw: never create the file, even if it vanished since the Stat.
	rdb, err := sql.Open("sqlite", dsn(path, true)+"&mode=rw")
	if err != nil {
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	rdb.SetMaxOpenConns(opts.Readers)
	var version int
	if err := rdb.QueryRowContext(ctx, "PRAGMA user_version").Scan(&version); err != nil {
		rdb.Close()
		return nil, fmt.Errorf("open database %s: read schema version: %w", path, err)
	}
	if latest := SchemaVersion(); version != latest {
		rdb.Close()
		if version > latest {
			return nil, fmt.Errorf("open database %s: %w", path, newerSchema(version, latest))
		}
		return nil, fmt.Errorf("open database %s: file is at schema version %d, this ledgerd's is %d; `ledgerd migrate` upgrades it: %w",
			path, version, latest, ErrOlderSchema)
	}
	// A writer that is closed from the start: every write is refused.
	w := &writer{closed: true}
	return &Ledger{path: path, log: opts.Logger, now: opts.Now, reader: rdb, w: w, exposed: exposed}, nil
}

// Path returns the database file's path.
func (l *Ledger) Path() string { return l.path }

// Reader returns the read-only connection pool, for the tables another
// package owns in the same file (reconcile's runs and breaks); the
// ledger's own tables are read through its typed reads. Writes through it
// fail (query_only).
func (l *Ledger) Reader() *sql.DB { return l.reader }

// Close drains the write queue, optimizes and checkpoints the file
// (unless Options.ExternalCheckpoints or KeepWALAtClose), and closes every
// connection. When only the optimize or the checkpoint failed, the error
// wraps ErrNotCheckpointed: nothing is lost. Any other failure (a queued
// write that failed while closing, a connection that would not close)
// does not.
func (l *Ledger) Close() error {
	var errs, housekeeping []error
	if err := l.w.close(); err != nil {
		errs = append(errs, err)
	}
	if l.writer == nil { // ReadOnly: nothing to optimize or checkpoint
		if err := l.reader.Close(); err != nil {
			errs = append(errs, err)
		}
		if len(errs) > 0 {
			return fmt.Errorf("close database %s: %w", l.path, errors.Join(errs...))
		}
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := l.ckpt.close(); err != nil {
		errs = append(errs, err)
	}
	// Both are housekeeping that another process writing the file (serve
	// beside a command) may keep from running now: busy is no failure.
	// optimize may write: it keeps out of a Paused.
	l.w.pause.Lock()
	defer l.w.pause.Unlock()
	if err := l.housekeep(ctx, "PRAGMA optimize"); err != nil && !isBusy(err) {
		housekeeping = append(housekeeping, fmt.Errorf("optimize: %w", err))
	}
	// With a replicator, it ships the last frames and checkpoints them
	// itself.
	if !l.keepWAL {
		if err := l.housekeep(ctx, "PRAGMA wal_checkpoint(TRUNCATE)"); err != nil && !isBusy(err) {
			housekeeping = append(housekeeping, fmt.Errorf("checkpoint: %w", err))
		}
	}
	if err := l.reader.Close(); err != nil {
		errs = append(errs, err)
	}
	if err := l.writer.Close(); err != nil {
		errs = append(errs, err)
	}
	switch {
	case len(errs) > 0:
		return fmt.Errorf("close database %s: %w", l.path, errors.Join(append(errs, housekeeping...)...))
	case len(housekeeping) > 0:
		return fmt.Errorf("close database %s: %w: %w", l.path, ErrNotCheckpointed, errors.Join(housekeeping...))
	}
	return nil
}

// Paused runs fn while this Ledger commits nothing: after the batch under
// way, before the next (writes queue meanwhile, and Close's housekeeping
// waits). The replicator (replica/) checkpoints the WAL in it: Litestream
// must be the first to write after a checkpoint has let the WAL start
// over, or it finds frames it has not read overwritten and falls back to
// a full snapshot. Other processes writing the file are not paused.
func (l *Ledger) Paused(fn func() error) error {
	l.w.pause.Lock()
	defer l.w.pause.Unlock()
	return fn()
}

// housekeep runs one of Close's housekeeping statements on the writer's
// connection. Tests can make it fail through Options.failAfter, as a full
// disk does.
func (l *Ledger) housekeep(ctx context.Context, stmt string) error {
	if l.w.failAfter != nil {
		if err := l.w.failAfter(stmt); err != nil {
			return err
		}
	}
	_, err := l.writer.ExecContext(ctx, stmt)
	return err
}

// isBusy reports whether err is SQLite's SQLITE_BUSY (of any extended
// code): another connection holds the lock the statement needed.
func isBusy(err error) bool {
	var se *sqlite.Error
	return errors.As(err, &se) && se.Code()&0xff == sqlite3.SQLITE_BUSY
}

// storageError classifies an error from SQLite: problems of the storage
// itself (busy, full, I/O, read-only, closed) wrap ErrUnavailable so that
// callers answer "try again" instead of blaming the input.
func storageError(err error) error {
	if err == nil || errors.Is(err, ErrRejected) || errors.Is(err, ErrUnavailable) {
		return err
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() & 0xff {
		case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED, sqlite3.SQLITE_FULL, sqlite3.SQLITE_IOERR,
			sqlite3.SQLITE_READONLY, sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_NOMEM, sqlite3.SQLITE_PROTOCOL:
			return fmt.Errorf("%w: %w", ErrUnavailable, err)
		}
		return err
	}
	if errors.Is(err, sql.ErrConnDone) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, ErrClosed) {
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return err
}
