package ledger

import (
	"context"
	"database/sql"
	"log/slog"
	"sync"
	"time"
)

// WAL checkpoints. A checkpoint copies committed pages from the -wal file
// into the database file and syncs it; only then can the WAL start over
// from its beginning. SQLite's automatic checkpoint runs on the connection
// that committed, right after the commit, so with the default threshold
// (1000 frames) the writer paid for a copy and two fsyncs every few group
// commits, with every caller of the next batch waiting.
//
// Here a background goroutine on a connection of its own does that work
// (PASSIVE: it never waits for, or blocks, the writer or a reader), at most
// once per ckptInterval while commits come in. The writer keeps SQLite's
// automatic checkpoint, at ckptWriterFrames: the WAL can only start over
// when a write transaction begins with every frame already copied, which
// under steady load only the writer's own checkpoint can arrange, and it
// also bounds the WAL if the background one falls behind or fails (a
// reader holding an old snapshot, an I/O error). Since the background
// checkpoint has copied nearly everything by then, that last one is short.
// Durability does not depend on any of this: every commit has synced the
// WAL (synchronous=FULL) before its callers are told.
//
// With Options.ExternalCheckpoints none of it runs: Litestream (replica/)
// reads each frame from the WAL before it checkpoints, so it alone may
// decide when the WAL starts over.
const (
	ckptInterval = 50 * time.Millisecond
	// ckptWriterFrames is the writer's wal_autocheckpoint, in pages
	// (4 KiB): a WAL of about 32 MiB at most in steady state, below
	// journal_size_limit.
	ckptWriterFrames = 8000
)

// checkpointer runs PASSIVE checkpoints in the background when nudged.
type checkpointer struct {
	db      *sql.DB
	log     *slog.Logger
	wake    chan struct{}
	stop    chan struct{}
	stopped chan struct{}
	failing bool // the last checkpoint failed (logged once, not every time)
	once    sync.Once
	err     error // of close
}

func newCheckpointer(db *sql.DB, log *slog.Logger) *checkpointer {
	c := &checkpointer{db: db, log: log, wake: make(chan struct{}, 1),
		stop: make(chan struct{}), stopped: make(chan struct{})}
	go c.run()
	return c
}

// nudge says that a commit has added frames to the WAL. It never blocks.
func (c *checkpointer) nudge() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

func (c *checkpointer) run() {
	defer close(c.stopped)
	pause := time.NewTimer(0)
	defer pause.Stop()
	for {
		select {
		case <-c.stop:
			return
		case <-c.wake:
		}
		c.checkpoint()
		pause.Reset(ckptInterval)
		select {
		case <-c.stop:
			return
		case <-pause.C:
		}
	}
}

func (c *checkpointer) checkpoint() {
	ctx, cancel := context.WithTimeout(context.Background(), commitTimeout)
	defer cancel()
	var busy, frames, copied int
	err := c.db.QueryRowContext(ctx, "PRAGMA wal_checkpoint(PASSIVE)").Scan(&busy, &frames, &copied)
	switch {
	case err != nil && !c.failing:
		// The writer's own checkpoint still bounds the WAL.
		c.log.Warn("background WAL checkpoint failed; the writer checkpoints instead", "err", err)
	case err == nil && c.failing:
		c.log.Info("background WAL checkpoint works again")
	}
	c.failing = err != nil
}

// close stops the goroutine (waiting for a checkpoint under way) and closes
// its connection. A nil checkpointer (Options.ExternalCheckpoints) has
// nothing to close.
func (c *checkpointer) close() error {
	if c == nil {
		return nil
	}
	// Ledger.Close may be called again (a deferred Close after an
	// explicit one): the second call returns the first's outcome.
	c.once.Do(func() {
		close(c.stop)
		<-c.stopped
		c.err = c.db.Close()
	})
	return c.err
}
