package ledger

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// commitTimeout bounds one group commit. It is not derived from any
// caller's context: shutdown must not cancel a commit half-way.
const commitTimeout = 30 * time.Second

// Waiting for the write lock. Another process (a command run from the
// shell beside serve) may hold it. The writer's connection waits in
// SQLite's busy handler for at most lockPoll per attempt (its
// busy_timeout, set by Open); between attempts each unit whose own deadline
// has passed is answered ErrUnavailable at once, so that a webhook gets its
// 503 in time while units with time left keep the batch waiting. A unit
// without a deadline waits lockWait, as long as the single long busy wait
// of earlier versions.
const (
	lockPoll = 100 * time.Millisecond
	lockWait = 10 * time.Second
)

// unit is one caller's work: a function run inside the shared transaction,
// in its own savepoint, so that a refused unit leaves its neighbours
// untouched.
type unit struct {
	ctx    context.Context
	fn     func(*wtx) error
	done   chan error
	queued time.Time // when submitted: a unit without a deadline waits lockWait from then
	// ing is set for Ingest and IngestAll (fn then applies it): the
	// optimistic pass applies consecutive ones together (bulk.go).
	ing *ingestUnit
	// probe marks a readiness or liveness probe: its commit does not
	// prove that real writes work again (health.go).
	probe bool
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
	noBulk    bool // tests: every unit the usual way
	onBatch   func(n int)
	metrics   *Metrics
	committed func() // after each commit that wrote something

	mu     sync.RWMutex
	closed bool
	reqs   chan *unit
	wg     sync.WaitGroup
	// pause is held by the loop while it runs a batch, and by
	// Ledger.Paused while nothing may commit.
	pause sync.Mutex

	// fault is the last unit that failed for the storage's sake, nil once
	// real work has committed since (health.go); read by readiness.
	fault atomic.Pointer[writeFailure]
	// damaged, once set, refuses every unit with its error: the integrity
	// check found the file damaged (integrity.go).
	damaged atomic.Pointer[error]
	// closing is set when close begins; the units that then fail for the
	// storage's sake are counted (closeFailed, the first's error in
	// closeErr), owned by the loop until it ends.
	closing     atomic.Bool
	closeFailed int
	closeErr    error

	// dataVersion is the connection's PRAGMA data_version when the loop
	// last looked (known: it has looked). It changes when another
	// connection, such as a command run beside serve, commits: then
	// every cache is stale (catchUp). schema is the
	// newest schema version this binary knows; reloads counts catch-ups
	// (tests).
	dataVersion int64
	known       bool
	schema      int
	reloads     int
	// stmts caches prepared write-path statements by SQL text; wanted
	// collects statements seen unprepared, prepared between batches (never
	// while a transaction holds the one connection). Owned by the loop.
	stmts  map[string]*sql.Stmt
	wanted map[string]bool
	// rowsSQL holds the texts of the multi-row INSERTs by table and row
	// count (insertRows), built once each. Owned by the loop.
	rowsSQL map[rowsKey]string
	// cache is the committed state the hot path reads; owned by the loop.
	cache writeCache
}

func newWriter(ctx context.Context, db *sql.DB, opts Options, committed func()) (*writer, error) {
	w := &writer{
		db:        db,
		log:       opts.Logger,
		now:       opts.Now,
		maxBatch:  opts.MaxBatch,
		failAfter: opts.failAfter,
		noBulk:    opts.noBulk,
		onBatch:   opts.OnBatch,
		metrics:   opts.Metrics,
		committed: committed,
		reqs:      make(chan *unit, opts.MaxBatch*4),
		stmts:     map[string]*sql.Stmt{},
		wanted:    map[string]bool{},
		rowsSQL:   map[rowsKey]string{},
		schema:    SchemaVersion(),
	}
	// lastHash is loaded again by the first batch (catchUp); reading it
	// here checks the file early.
	h, err := readLastHash(db.QueryRowContext(ctx, lastHashSQL))
	if err != nil {
		return nil, err
	}
	w.cache.reset(h)
	w.wg.Add(1)
	go w.loop()
	return w, nil
}

// genesisHash is the prev_hash of the first event.
var genesisHash = make([]byte, sha256.Size)

const lastHashSQL = "SELECT hash FROM events ORDER BY seq DESC LIMIT 1"

// readLastHash reads row, the answer to lastHashSQL.
func readLastHash(row *sql.Row) ([]byte, error) {
	var h []byte
	err := row.Scan(&h)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return genesisHash, nil
	case err != nil:
		return nil, fmt.Errorf("read last event hash: %w", err)
	}
	return h, nil
}

// do queues fn and waits until its transaction has committed (durably:
// synchronous=FULL) or failed. Once queued, a unit is waited for even if ctx
// ends, so the caller never reports failure for something that committed.
func (w *writer) do(ctx context.Context, fn func(*wtx) error) error {
	return w.submit(&unit{ctx: ctx, fn: fn, done: make(chan error, 1)})
}

// doIngest is do for observations.
func (w *writer) doIngest(ctx context.Context, iu *ingestUnit) error {
	return w.submit(&unit{ctx: ctx, fn: func(t *wtx) error { return t.apply(iu) }, done: make(chan error, 1), ing: iu})
}

func (w *writer) submit(u *unit) error {
	ctx := u.ctx
	if err := w.damaged.Load(); err != nil {
		return *err
	}
	u.queued = time.Now()
	w.mu.RLock()
	if w.closed {
		w.mu.RUnlock()
		return fmt.Errorf("%w: %w", ErrUnavailable, ErrClosed)
	}
	select {
	case w.reqs <- u:
	case <-ctx.Done():
		w.mu.RUnlock()
		return fmt.Errorf("%w: the write queue is full: %w", ErrUnavailable, ctx.Err())
	}
	w.mu.RUnlock()
	return <-u.done
}

// close stops accepting units, lets the loop finish what is queued, and
// waits for it. It reports the units that failed for the storage's sake
// meanwhile: their callers were told, but they were queued and are not in
// the file.
func (w *writer) close() error {
	w.mu.Lock()
	if !w.closed {
		w.closed = true
		w.closing.Store(true)
		close(w.reqs)
	}
	w.mu.Unlock()
	w.wg.Wait()
	if w.closeFailed > 0 {
		return fmt.Errorf("%d queued writes failed while closing: %w", w.closeFailed, w.closeErr)
	}
	return nil
}

func (w *writer) loop() {
	defer w.wg.Done()
	last := 0 // units in the previous batch
	for u := range w.reqs {
		batch := w.drain([]*unit{u})
		if last > 1 {
			batch = w.linger(batch)
		}
		last = len(batch)
		w.pause.Lock()
		w.commit(batch)
		w.pause.Unlock()
		w.prepareWanted()
	}
	for _, st := range w.stmts {
		st.Close()
	}
}

// drain adds what is queued to batch, up to maxBatch, without waiting.
func (w *writer) drain(batch []*unit) []*unit {
	for len(batch) < w.maxBatch {
		select {
		case u, ok := <-w.reqs:
			if !ok {
				return batch
			}
			batch = append(batch, u)
		default:
			return batch
		}
	}
	return batch
}

// lingerYields bounds how many times the writer yields to let the callers
// of the last batch queue their next units before it starts a batch.
const lingerYields = 8

// linger gives goroutines that are ready to run (typically the callers the
// last commit released, about to send their next unit) the processor
// before the batch closes, for as long as each yield brings more units.
// Yielding, rather than waiting on the queue, lets them queue without
// waking the writer once per unit; and it costs nothing when no one else
// is ready to run. Larger batches share one commit (one fsync, and the
// index pages every batch rewrites) among more units.
func (w *writer) linger(batch []*unit) []*unit {
	for range lingerYields {
		n := len(batch)
		if n >= w.maxBatch {
			break
		}
		runtime.Gosched()
		if batch = w.drain(batch); len(batch) == n {
			break
		}
	}
	return batch
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
// went. Optimistically the units run back to back (consecutive ingest
// units together, bulk.go); if one fails, the whole transaction is rolled
// back and the batch runs once more with each unit in its own savepoint
// (the failed unit left out), so that a refused unit never takes its
// neighbours down and the common case pays for no savepoints. A unit's fn
// may therefore run twice; it must derive its result from the transaction
// alone.
func (w *writer) commit(batch []*unit) {
	g := &group{units: batch, results: make([]error, len(batch)), told: make([]bool, len(batch))}
	defer func() {
		w.noteOutcome(g.units, g.results)
		for i, u := range g.units {
			if !g.told[i] {
				u.done <- g.results[i]
			}
		}
	}()
	if w.runBatch(g, false) {
		w.runBatch(g, true)
	}
}

// group is the batch of one group commit and what each unit is told.
type group struct {
	units   []*unit
	results []error
	told    []bool // answered already, by begin
}

// join adds the units queued meanwhile to g, without waiting.
func (g *group) join(reqs <-chan *unit) {
	for {
		select {
		case u, ok := <-reqs:
			if !ok {
				return
			}
			g.units = append(g.units, u)
			g.results = append(g.results, nil)
			g.told = append(g.told, false)
		default:
			return
		}
	}
}

// begin starts the group's write transaction (BEGIN IMMEDIATE: it takes
// the write lock). While another connection holds the lock, each attempt
// waits lockPoll; between attempts the units queued meanwhile join the
// group, and every unit whose time is up (its context's deadline, or
// lockWait after it was queued without one) is answered at once. begin
// gives up when no unit is left waiting.
func (w *writer) begin(g *group) (*sql.Tx, error) {
	return beginImmediate(w.db, func(busy error) bool {
		g.join(w.reqs)
		waiting := false
		for i, u := range g.units {
			if g.results[i] != nil {
				continue
			}
			err := u.ctx.Err()
			if err == nil {
				deadline, ok := u.ctx.Deadline()
				if !ok {
					deadline = u.queued.Add(lockWait)
				}
				if time.Now().After(deadline) {
					err = context.DeadlineExceeded
				}
			}
			if err == nil {
				waiting = true
				continue
			}
			g.results[i] = fmt.Errorf("%w: the write lock is held by another connection (%w): %w", ErrUnavailable, busy, err)
			u.done <- g.results[i]
			g.told[i] = true
		}
		return waiting
	})
}

// beginImmediate begins a transaction on db, whose DSN has
// _txlock=immediate, trying again while SQLite answers busy (after the
// connection's busy_timeout) and again(the busy error) says so.
func beginImmediate(db *sql.DB, again func(busy error) bool) (*sql.Tx, error) {
	for {
		// Background: no goroutine watching a context for the
		// transaction's life (see open); the deadlines are again's.
		tx, err := db.BeginTx(context.Background(), nil)
		if err == nil || !isBusy(err) || !again(err) {
			return tx, err
		}
	}
}

// catchUp makes the writer's view of the file current at the start of a
// batch, with the write lock held (nobody else can commit until this
// transaction ends). PRAGMA data_version on this connection changes only
// when another connection has committed: a command run from the shell
// beside serve, another ledgerd, sqlite3. Then the hash of the newest
// event and every cache (running balances, known accounts) may be stale,
// and writing from them would break the hash chain and the balances:
// reload the one, drop the others. A file moved to a schema newer than
// this binary (`ledgerd migrate` of a newer ledgerd) is not written to.
// One small statement per batch when nothing changed.
func (w *writer) catchUp(t *wtx) error {
	var v int64
	if err := t.queryRow("PRAGMA data_version").Scan(&v); err != nil {
		return fmt.Errorf("read data_version: %w", err)
	}
	if w.known && v == w.dataVersion {
		return nil
	}
	var schema int
	if err := t.queryRow("PRAGMA user_version").Scan(&schema); err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	if schema > w.schema {
		return fmt.Errorf("%w: another process moved the file to schema version %d, this ledgerd knows up to %d; restart with the newer ledgerd: %w",
			ErrUnavailable, schema, w.schema, ErrNewerSchema)
	}
	h, err := readLastHash(t.queryRow(lastHashSQL))
	if err != nil {
		return err
	}
	w.cache.reset(h)
	if w.known {
		w.reloads++
		w.log.Debug("another connection wrote the file: writer state reloaded")
	}
	w.dataVersion, w.known = v, true
	return nil
}

// errRetry ends the optimistic pass: a unit failed (its result says why,
// unless a multi-row write failed and the unit at fault is not known), and
// the batch is to run again, isolated.
var errRetry = errors.New("run the batch again, one unit at a time")

// runBatch runs the units that have no result yet in one transaction, in
// the optimistic pass or the isolated one, and commits. It reports whether
// the batch is to run again, isolated.
func (w *writer) runBatch(g *group, isolate bool) (retry bool) {
	tx, err := w.begin(g)
	if err != nil {
		g.fail(fmt.Errorf("begin: %w", err))
		return false
	}
	ctx, cancel := context.WithTimeout(context.Background(), commitTimeout)
	defer cancel()
	t, err := w.open(ctx, tx)
	if err != nil {
		g.fail(err)
		return false
	}
	pass := w.optimistic
	if isolate {
		pass = w.isolated
	}
	applied, err := pass(t, g)
	if err == nil {
		err = t.commit()
	}
	if err != nil {
		t.abort()
		if errors.Is(err, errRetry) {
			return true
		}
		g.fail(err)
		return false
	}
	w.cache.commit()
	if applied > 0 {
		w.committed()
		if w.onBatch != nil {
			w.onBatch(applied)
		}
	}
	w.metrics.record(t.facts)
	return false
}

// open makes tx the batch's transaction as units see it, with the writer's
// view of the file brought up to date (catchUp).
func (w *writer) open(ctx context.Context, tx *sql.Tx) (*wtx, error) {
	// The transaction and the writer's own statements run under a context
	// that is never done, so that neither database/sql nor the driver
	// starts a goroutine per statement to watch it; the deadline is
	// checked between statements instead (wtx.sctx). Statements from
	// Update's callers keep ctx itself, interruptible mid-statement.
	bg := context.WithoutCancel(ctx)
	t := &wtx{tx: tx, ctx: ctx, bg: bg, w: w, now: w.now(), stmts: map[string]*sql.Stmt{}}
	if err := w.catchUp(t); err != nil {
		_ = tx.Rollback()
		w.known = false // look again next time
		return nil, err
	}
	t.start = w.cache.mark()
	return t, nil
}

// optimistic runs the units back to back, without savepoints, consecutive
// ingest units together (bulk.go). The first failure is put on its unit,
// when known, and ends the pass with errRetry.
func (w *writer) optimistic(t *wtx, g *group) (applied int, err error) {
	for i, end := 0, 0; i < len(g.units); i = end {
		end = i + 1
		if !g.ready(i) {
			continue
		}
		if j, obs := g.ingestRun(i); obs >= bulkMin && !w.noBulk {
			end = j
			if failed, err := t.ingestGroup(g.ingestUnits(i, j)); err != nil {
				if failed >= 0 {
					g.results[i+failed] = storageError(err)
				}
				return applied, errRetry
			}
			applied += j - i
			continue
		}
		if err := g.units[i].fn(t); err != nil {
			g.results[i] = storageError(err)
			return applied, errRetry
		}
		applied++
	}
	return applied, nil
}

// isolated runs each unit in its own savepoint, the usual way: a unit that
// fails is rolled back alone. A savepoint that cannot be rolled back or
// released fails the batch.
func (w *writer) isolated(t *wtx, g *group) (applied int, err error) {
	for i, u := range g.units {
		if !g.ready(i) {
			continue
		}
		unitErr, err := t.inSavepoint(u.fn)
		if unitErr != nil {
			g.results[i] = storageError(unitErr)
		} else {
			applied++
		}
		if err != nil {
			return applied, err
		}
	}
	return applied, nil
}

// inSavepoint runs fn in a savepoint. unitErr is why fn's unit failed: its
// writes and its changes to the cache are then rolled back. err is a
// savepoint that could not be rolled back or released.
func (t *wtx) inSavepoint(fn func(*wtx) error) (unitErr, err error) {
	if _, err := t.tx.ExecContext(t.ctx, "SAVEPOINT unit"); err != nil {
		return fmt.Errorf("savepoint: %w", err), nil
	}
	saved, facts := t.w.cache.mark(), len(t.facts)
	if unitErr = fn(t); unitErr != nil {
		t.w.cache.rollback(saved)
		t.facts = t.facts[:facts]
		if _, err := t.tx.ExecContext(t.ctx, "ROLLBACK TO unit"); err != nil {
			return unitErr, fmt.Errorf("rollback to savepoint: %w", err)
		}
	}
	if _, err := t.tx.ExecContext(t.ctx, "RELEASE unit"); err != nil {
		return unitErr, fmt.Errorf("release savepoint: %w", err)
	}
	return unitErr, nil
}

// commit writes the running balances and commits, unless the batch's
// deadline has passed.
func (t *wtx) commit() error {
	if err := t.flushBalances(); err != nil {
		return err
	}
	if err := t.ctx.Err(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	if err := t.tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// abort rolls the transaction back, if it is still open, and drops the
// caches: they may hold what it wrote.
func (t *wtx) abort() {
	_ = t.tx.Rollback()
	t.w.cache.reset(t.start.lastHash)
}

// ready reports whether unit i is still to run: it has no result yet (it
// did not fail in the optimistic pass, begin did not answer it), and its
// context has not ended (else it is answered ErrUnavailable).
func (g *group) ready(i int) bool {
	if g.results[i] != nil {
		return false
	}
	if err := g.units[i].ctx.Err(); err != nil {
		g.results[i] = fmt.Errorf("%w: %w", ErrUnavailable, err)
		return false
	}
	return true
}

// fail gives err to every unit without a result: those not run, and those
// whose work is not committed.
func (g *group) fail(err error) {
	for i := range g.results {
		if g.results[i] == nil {
			g.results[i] = storageError(err)
		}
	}
}

// ingestRun is the end (exclusive) of the run of ingest units that starts
// at unit i, and the number of observations they carry.
func (g *group) ingestRun(i int) (end, obs int) {
	for end = i; end < len(g.units); end++ {
		u := g.units[end]
		if u.ing == nil || g.results[end] != nil || u.ctx.Err() != nil {
			break
		}
		obs += len(u.ing.obs)
	}
	return end, obs
}

// ingestUnits is the work of units i to j (exclusive), all ingest units.
func (g *group) ingestUnits(i, j int) []*ingestUnit {
	units := make([]*ingestUnit, 0, j-i)
	for _, u := range g.units[i:j] {
		units = append(units, u.ing)
	}
	return units
}

// wtx is the write transaction as units see it.
type wtx struct {
	tx    *sql.Tx
	ctx   context.Context // the batch's deadline
	bg    context.Context // ctx without its deadline, for the writer's own statements
	w     *writer
	now   time.Time
	stmts map[string]*sql.Stmt // the writer's prepared statements bound to tx
	start cacheMark            // the cache when the transaction began
	// known is the id of a transaction the unit applying an observation
	// of it knows to be in the file (bulk.go looked it up): no insert is
	// tried first.
	known string
	// facts is what the transaction taught the ledger, for the metrics
	// once it commits (metrics.go); a unit rolled back to its savepoint
	// takes its own back. Kept only when the writer has metrics.
	facts []learned
}

// stmt returns query prepared and bound to the transaction, or nil (and a
// note to prepare it after this batch) when it is not prepared yet.
func (t *wtx) stmt(query string) *sql.Stmt {
	if st, ok := t.stmts[query]; ok {
		return st
	}
	if ps, ok := t.w.stmts[query]; ok {
		st := t.tx.StmtContext(t.bg, ps)
		t.stmts[query] = st
		return st
	}
	t.w.wanted[query] = true
	return nil
}

// sctx is the context of one of the writer's own statements: one that is
// never done while the batch's deadline has not passed (no watcher
// goroutine), the expired one after it, so that the statement fails at
// once, as everything in a batch that overran does.
func (t *wtx) sctx() context.Context {
	if t.ctx.Err() != nil {
		return t.ctx
	}
	return t.bg
}

// exec runs a write statement. Tests can make any statement fail through
// Options.failAfter, to prove that a failure mid-unit leaves nothing behind.
func (t *wtx) exec(query string, args ...any) (sql.Result, error) {
	return t.execCtx(t.sctx(), query, args...)
}

func (t *wtx) execCtx(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if t.w.failAfter != nil {
		if err := t.w.failAfter(query); err != nil {
			return nil, err
		}
	}
	if st := t.stmt(query); st != nil {
		return st.ExecContext(ctx, args...)
	}
	return t.tx.ExecContext(ctx, query, args...)
}

func (t *wtx) queryRow(query string, args ...any) *sql.Row {
	return t.queryRowCtx(t.sctx(), query, args...)
}

func (t *wtx) queryRowCtx(ctx context.Context, query string, args ...any) *sql.Row {
	if st := t.stmt(query); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return t.tx.QueryRowContext(ctx, query, args...)
}

func (t *wtx) query(query string, args ...any) (*sql.Rows, error) {
	return t.queryCtx(t.sctx(), query, args...)
}

func (t *wtx) queryCtx(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if st := t.stmt(query); st != nil {
		return st.QueryContext(ctx, args...)
	}
	return t.tx.QueryContext(ctx, query, args...)
}
