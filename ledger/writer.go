package ledger

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// commitTimeout bounds one group commit. It is not derived from any
// caller's context: shutdown must not cancel a commit half-way.
const commitTimeout = 30 * time.Second

// unit is one caller's work: a function run inside the shared transaction,
// in its own savepoint, so that a refused unit leaves its neighbours
// untouched.
type unit struct {
	ctx  context.Context
	fn   func(*wtx) error
	done chan error
}

// writer owns the single write connection. Callers queue units; the loop
// takes everything queued (up to maxBatch), runs it in one transaction and
// commits once: concurrent webhooks share one fsync (group commit).
type writer struct {
	db        *sql.DB
	log       *slog.Logger
	now       func() time.Time
	maxBatch  int
	failAfter func(string) error
	onBatch   func(n int)

	mu     sync.RWMutex
	closed bool
	reqs   chan *unit
	wg     sync.WaitGroup

	// lastHash is the hash of the newest event row; owned by the loop.
	lastHash []byte
	// stmts caches prepared write-path statements by SQL text; wanted
	// collects statements seen unprepared, prepared between batches (never
	// while a transaction holds the one connection). Owned by the loop.
	stmts  map[string]*sql.Stmt
	wanted map[string]bool
	// Caches of committed state, so the hot path reads less: ledger
	// accounts that exist, and running balances. A unit that rolls back
	// undoes its changes to them; a failed commit drops them whole.
	ledgerAccounts map[string]bool
	balances       map[balanceKey]balanceRow
	accounts       map[string]sql.NullString // Fuse account → its currency, if known
}

type balanceKey struct{ account, currency string }

// balanceRow is one row of the balances table.
type balanceRow struct{ posted, pendingDebits, pendingCredits int64 }

func (w *writer) resetCaches() {
	w.ledgerAccounts = map[string]bool{}
	w.balances = map[balanceKey]balanceRow{}
	w.accounts = map[string]sql.NullString{}
}

func newWriter(ctx context.Context, db *sql.DB, opts Options) (*writer, error) {
	w := &writer{
		db:        db,
		log:       opts.Logger,
		now:       opts.Now,
		maxBatch:  opts.MaxBatch,
		failAfter: opts.failAfter,
		onBatch:   opts.OnBatch,
		reqs:      make(chan *unit, opts.MaxBatch*4),
		stmts:     map[string]*sql.Stmt{},
		wanted:    map[string]bool{},
	}
	w.resetCaches()
	if err := w.loadLastHash(ctx); err != nil {
		return nil, err
	}
	w.wg.Add(1)
	go w.loop()
	return w, nil
}

// genesisHash is the prev_hash of the first event.
var genesisHash = make([]byte, sha256.Size)

func (w *writer) loadLastHash(ctx context.Context) error {
	var h []byte
	err := w.db.QueryRowContext(ctx, "SELECT hash FROM events ORDER BY seq DESC LIMIT 1").Scan(&h)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		w.lastHash = genesisHash
	case err != nil:
		return fmt.Errorf("read last event hash: %w", err)
	default:
		w.lastHash = h
	}
	return nil
}

// do queues fn and waits until its transaction has committed (durably:
// synchronous=FULL) or failed. Once queued, a unit is waited for even if ctx
// ends, so the caller never reports failure for something that committed.
func (w *writer) do(ctx context.Context, fn func(*wtx) error) error {
	u := &unit{ctx: ctx, fn: fn, done: make(chan error, 1)}
	w.mu.RLock()
	if w.closed {
		w.mu.RUnlock()
		return fmt.Errorf("%w: %w", ErrUnavailable, ErrClosed)
	}
	select {
	case w.reqs <- u:
	case <-ctx.Done():
		w.mu.RUnlock()
		return ctx.Err()
	}
	w.mu.RUnlock()
	return <-u.done
}

// close stops accepting units, lets the loop finish what is queued, and
// waits for it.
func (w *writer) close() {
	w.mu.Lock()
	if !w.closed {
		w.closed = true
		close(w.reqs)
	}
	w.mu.Unlock()
	w.wg.Wait()
}

func (w *writer) loop() {
	defer w.wg.Done()
	for u := range w.reqs {
		batch := []*unit{u}
	fill:
		for len(batch) < w.maxBatch {
			select {
			case u, ok := <-w.reqs:
				if !ok {
					break fill
				}
				batch = append(batch, u)
			default:
				break fill
			}
		}
		w.commit(batch)
		w.prepareWanted()
	}
	for _, st := range w.stmts {
		st.Close()
	}
}

// prepareWanted prepares the statements the last batch ran unprepared. A
// statement that fails to prepare (a test's one-off DDL) stays unprepared.
func (w *writer) prepareWanted() {
	if len(w.wanted) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), commitTimeout)
	defer cancel()
	for q := range w.wanted {
		delete(w.wanted, q)
		if st, err := w.db.PrepareContext(ctx, q); err == nil {
			w.stmts[q] = st
		}
	}
}

// commit runs a batch in one transaction and tells every unit how it
// went. Optimistically the units run back to back; if one fails, the whole
// transaction is rolled back and the batch runs once more with each unit in
// its own savepoint (the failed unit left out), so that a refused unit
// never takes its neighbours down and the common case pays for no
// savepoints. A unit's fn may therefore run twice; it must derive its
// result from the transaction alone.
func (w *writer) commit(batch []*unit) {
	results := make([]error, len(batch))
	defer func() {
		for i, u := range batch {
			u.done <- results[i]
		}
	}()
	if w.runBatch(batch, results, false) {
		w.runBatch(batch, results, true)
	}
}

// runBatch runs the units that have no result yet in one transaction. In
// optimistic mode (isolate false) the first failing unit gets its error and
// runBatch rolls back and returns true: run again, isolated. Isolated, each
// unit runs in a savepoint and a failure rolls back only that unit.
func (w *writer) runBatch(batch []*unit, results []error, isolate bool) (retry bool) {
	fail := func(err error) {
		for i := range results {
			if results[i] == nil {
				results[i] = storageError(err)
			}
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), commitTimeout)
	defer cancel()
	tx, err := w.db.BeginTx(ctx, nil)
	if err != nil {
		fail(fmt.Errorf("begin: %w", err))
		return false
	}
	t := &wtx{tx: tx, ctx: ctx, w: w, now: w.now(), stmts: map[string]*sql.Stmt{}, dirty: map[balanceKey]bool{}}
	startHash := w.lastHash
	abort := func() {
		_ = tx.Rollback()
		w.lastHash = startHash
		w.resetCaches()
	}
	applied := 0
	for i, u := range batch {
		if results[i] != nil {
			continue // failed in the optimistic pass
		}
		if err := u.ctx.Err(); err != nil {
			results[i] = err
			continue
		}
		if !isolate {
			if err := u.fn(t); err != nil {
				results[i] = storageError(err)
				abort()
				return true
			}
			applied++
			continue
		}
		saved, undoMark := w.lastHash, len(t.undo)
		if _, err := tx.ExecContext(ctx, "SAVEPOINT unit"); err != nil {
			results[i] = storageError(fmt.Errorf("savepoint: %w", err))
			continue
		}
		if err := u.fn(t); err != nil {
			results[i] = storageError(err)
			w.lastHash = saved
			t.rollbackCaches(undoMark)
			if _, rerr := tx.ExecContext(ctx, "ROLLBACK TO unit"); rerr != nil {
				abort()
				fail(fmt.Errorf("rollback to savepoint: %w", rerr))
				return false
			}
		} else {
			applied++
		}
		if _, err := tx.ExecContext(ctx, "RELEASE unit"); err != nil {
			abort()
			fail(fmt.Errorf("release savepoint: %w", err))
			return false
		}
	}
	if err := t.flushBalances(); err != nil {
		abort()
		fail(err)
		return false
	}
	if err := tx.Commit(); err != nil {
		w.lastHash = startHash
		w.resetCaches()
		fail(fmt.Errorf("commit: %w", err))
		return false
	}
	if w.onBatch != nil && applied > 0 {
		w.onBatch(applied)
	}
	return false
}

// wtx is the write transaction as units see it.
type wtx struct {
	tx    *sql.Tx
	ctx   context.Context
	w     *writer
	now   time.Time
	stmts map[string]*sql.Stmt // the writer's prepared statements bound to tx
	undo  []func()             // how to take back cache changes, newest last
	dirty map[balanceKey]bool  // running balances to write before commit
}

// rollbackCaches undoes the cache changes made since mark, newest first.
func (t *wtx) rollbackCaches(mark int) {
	for i := len(t.undo) - 1; i >= mark; i-- {
		t.undo[i]()
	}
	t.undo = t.undo[:mark]
}

// stmt returns query prepared and bound to the transaction, or nil (and a
// note to prepare it after this batch) when it is not prepared yet.
func (t *wtx) stmt(query string) *sql.Stmt {
	if st, ok := t.stmts[query]; ok {
		return st
	}
	if ps, ok := t.w.stmts[query]; ok {
		st := t.tx.StmtContext(t.ctx, ps)
		t.stmts[query] = st
		return st
	}
	t.w.wanted[query] = true
	return nil
}

// exec runs a write statement. Tests can make any statement fail through
// Options.failAfter, to prove that a failure mid-unit leaves nothing behind.
func (t *wtx) exec(query string, args ...any) (sql.Result, error) {
	if t.w.failAfter != nil {
		if err := t.w.failAfter(query); err != nil {
			return nil, err
		}
	}
	if st := t.stmt(query); st != nil {
		return st.ExecContext(t.ctx, args...)
	}
	return t.tx.ExecContext(t.ctx, query, args...)
}

func (t *wtx) queryRow(query string, args ...any) *sql.Row {
	if st := t.stmt(query); st != nil {
		return st.QueryRowContext(t.ctx, args...)
	}
	return t.tx.QueryRowContext(t.ctx, query, args...)
}

func (t *wtx) query(query string, args ...any) (*sql.Rows, error) {
	if st := t.stmt(query); st != nil {
		return st.QueryContext(t.ctx, args...)
	}
	return t.tx.QueryContext(t.ctx, query, args...)
}
