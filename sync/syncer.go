// Package syncer is ledgerd's backfill: it lists every Fuse account and
// records each with its balance, then reads the organisation's
// transactions (GET /v1/transactions; one account's with --account) in a
// creation-time window that starts where the last complete listing
// ended, and re-reads every transaction the ledger does not hold final,
// by widening the window or one by one, whichever costs fewer requests.
// Each page goes to ledger.IngestAll in one SQLite transaction together
// with the window's advance (sync_windows), so an interrupted listing
// resumes from its saved cursor. Webhooks are the fast path; the backfill
// is the truth that heals what they missed. The folder is sync/, as the
// design names it; the package is syncer so that it does not shadow the
// standard library's sync where both are imported.
package syncer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	gosync "sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ledgerd/ledgerd/fuse"
	"github.com/ledgerd/ledgerd/ledger"
)

// Defaults of Options.
const (
	// DefaultPageSize is the listing page size: the largest Fuse accepts
	// (page_size up to 2000 [spec]), since requests, not bytes, are what
	// a backfill waits on (rate limit, round trips): a first backfill of
	// N transactions costs about ceil(N/2000) requests instead of
	// ceil(N/100).
	DefaultPageSize = fuse.MaxPageLimit
	// DefaultOverlap is how far before the end of the last complete
	// listing the next one starts, so that a transaction Fuse shows a
	// little late (stamped before it was listable) or stamped by a clock
	// that disagrees with this host's is still read. Re-read objects that
	// did not change are duplicates and cost nothing but the transfer.
	DefaultOverlap = 10 * time.Minute
	// DefaultConcurrency is how many accounts are paged at once by a run
	// of chosen accounts, and how many transactions are read one by one
	// at once. Pages of different accounts share the ledger's group
	// commits.
	DefaultConcurrency = 4
	// rereadBatch is how many transactions read one by one commit
	// together.
	rereadBatch = 100
	// maxStalePages bounds a run of consecutive pages that bring nothing
	// new (empty, or only the items of the page before) and still carry a
	// pages.next: Fuse may answer an empty page that is not the last, or
	// show an item again, but not forever.
	maxStalePages = 100
)

// Errors callers act on.
var (
	// ErrBrokenListing reports a listing that contradicts fuse-api.md:
	// another account's transaction on an account's listing, or empty
	// pages without end. The page is not committed and the window stays
	// where it was. (Order is undocumented: nothing depends on it, and an
	// item listed twice is one event.)
	ErrBrokenListing = errors.New("fuse listing is broken")
	// ErrInvalidObject reports a Fuse object the ledger cannot take (an
	// unknown kind, status or currency, inconsistent amounts). Nothing is
	// skipped silently: the listing stops before the page holding it, and
	// the next run resumes there.
	ErrInvalidObject = errors.New("fuse object invalid")
	// ErrAccountsFailed is wrapped by Run's error when at least one account
	// could not be backfilled (what was read is still committed). When the
	// organisation's listing fails, every account fails with it.
	ErrAccountsFailed = errors.New("backfill failed for some accounts")
)

// Options configure a Syncer.
type Options struct {
	// Ledger receives every observation; required.
	Ledger *ledger.Ledger
	// Client reads Fuse; required. Its rate limit, retries with backoff
	// and Retry-After, timeouts and shared token are the backfill's.
	Client *fuse.Client
	// Logger receives one line per account run and one per run; nil
	// discards.
	Logger *slog.Logger
	// Metrics registers the backfill's Prometheus collectors; nil records
	// nothing.
	Metrics prometheus.Registerer
	// ClientMetrics, when it is also the client's fuse.Config.Metrics, lets
	// a run's summary say how many calls were retried and why.
	ClientMetrics *ClientMetrics
	// PageSize is the listing page_size, 1..fuse.MaxPageLimit (default
	// DefaultPageSize).
	PageSize int
	// Overlap is how far before the end of the last complete listing the
	// next one starts (default DefaultOverlap; negative means none).
	Overlap time.Duration
	// Concurrency is how many accounts are paged at once by a run of
	// chosen accounts, and how many transactions are read one by one at
	// once (default 4).
	Concurrency int
	// Now is the clock for received_at and balance stamps and the end of
	// each new listing window (default time.Now). It should agree with
	// Fuse's within the overlap.
	Now func() time.Time
}

// Syncer runs backfills. It is safe for concurrent use, but runs are meant
// to be serialized (the scheduler skips a run while one is still going).
type Syncer struct {
	l           *ledger.Ledger
	c           *fuse.Client
	log         *slog.Logger
	m           *metrics
	cm          *ClientMetrics
	pageSize    int
	overlap     time.Duration
	concurrency int
	now         func() time.Time
}

// New checks opts and returns a Syncer.
func New(opts Options) (*Syncer, error) {
	if opts.Ledger == nil || opts.Client == nil {
		return nil, errors.New("syncer: a ledger and a fuse client are required")
	}
	switch {
	case opts.PageSize == 0:
		opts.PageSize = DefaultPageSize
	case opts.PageSize < 0 || opts.PageSize > fuse.MaxPageLimit:
		return nil, fmt.Errorf("syncer: page size %d not in 1..%d", opts.PageSize, fuse.MaxPageLimit)
	}
	switch {
	case opts.Overlap == 0:
		opts.Overlap = DefaultOverlap
	case opts.Overlap < 0:
		opts.Overlap = 0
	}
	if opts.Concurrency <= 0 {
		opts.Concurrency = DefaultConcurrency
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	m, err := newMetrics(opts.Metrics)
	if err != nil {
		return nil, err
	}
	m.watch(opts.Ledger)
	return &Syncer{
		l: opts.Ledger, c: opts.Client, log: opts.Logger, m: m, cm: opts.ClientMetrics,
		pageSize: opts.PageSize, overlap: opts.Overlap, concurrency: opts.Concurrency, now: opts.Now,
	}, nil
}

// RunOptions select what one run reads.
type RunOptions struct {
	// AccountIDs limits the run to these accounts, each read by its own
	// listing (GET /v1/accounts/{id}/transactions) in its own window;
	// empty means every account, by the organisation's listing.
	AccountIDs []string
	// Since, when set, starts a new listing from this time instead of
	// from where the last one ended (or resuming one in progress). The
	// window moves on afterwards only if Since left no gap behind it.
	Since time.Time
	// Full starts a new listing from the start, ignoring the window.
	Full bool
	// Progress, when set, is called after every committed page and every
	// finished account, never concurrently.
	Progress func(Progress)
}

// Progress is how far a run has got.
type Progress struct {
	AccountsTotal  int // accounts discovered so far
	AccountsDone   int // finished, successfully or not
	AccountsFailed int
	Pages          int // transaction pages committed
	Transactions   int // transaction objects read and committed
	NewEvents      int // of which changed the ledger (not duplicates)
	Elapsed        time.Duration
}

// AccountResult is what a run did for one account. In a run over every
// account, the organisation's listing is the account's: its counts are
// its transactions in it, and its error the listing's.
type AccountResult struct {
	AccountID string
	// Pages counts the listing pages committed: the account's own
	// listing's; zero in a run over every account (Summary.Pages).
	Pages        int
	Transactions int // transaction objects read and committed
	NewEvents    int // of which changed the ledger (not duplicates)
	// Unknown counts transactions of a type or state the reference does
	// not name: stored unbooked and reported.
	Unknown int
	// Reread counts transactions read one by one (GET
	// /v1/transactions/{id}) because the ledger did not hold them final
	// and the listing did not show them; NotFound those Fuse answered 404.
	Reread, NotFound int
	// From and To are the window listed (From zero: the start).
	From, To time.Time
	// Resumed is true when the listing continued one an earlier run left
	// unfinished.
	Resumed bool
	Err     error
}

// Summary is what a run did.
type Summary struct {
	Started, Finished time.Time
	Accounts          []AccountResult // in discovery order
	// DiscoveryErr is why the account listing stopped early, if it did;
	// the accounts found before still ran.
	DiscoveryErr error
	Pages        int
	Transactions int
	NewEvents    int
	Unknown      int
	Reread       int
	NotFound     int
	// Retries counts the Fuse calls retried during the run, by reason
	// (fuse.Reason*), when Options.ClientMetrics was given.
	Retries map[string]int64
}

// Failed returns the accounts whose run failed.
func (s Summary) Failed() []AccountResult {
	var out []AccountResult
	for _, a := range s.Accounts {
		if a.Err != nil {
			out = append(out, a)
		}
	}
	return out
}

// FailureGroup is accounts that failed with the same error: every
// account of a listing that failed, or one account.
type FailureGroup struct {
	AccountIDs []string
	Err        error
}

// Accounts names the group's accounts for a message: "account ID", or
// "N accounts".
func (g FailureGroup) Accounts() string {
	if len(g.AccountIDs) == 1 {
		return "account " + g.AccountIDs[0]
	}
	return fmt.Sprintf("%d accounts", len(g.AccountIDs))
}

// FailureGroups returns the failed accounts grouped by their error's
// message, in discovery order, so that a listing's failure is told once
// rather than once per account.
func (s Summary) FailureGroups() []FailureGroup {
	var out []FailureGroup
	at := map[string]int{}
	for _, a := range s.Failed() {
		msg := a.Err.Error()
		if i, ok := at[msg]; ok {
			out[i].AccountIDs = append(out[i].AccountIDs, a.AccountID)
			continue
		}
		at[msg] = len(out)
		out = append(out, FailureGroup{AccountIDs: []string{a.AccountID}, Err: a.Err})
	}
	return out
}

// Rate is transactions per second over the whole run.
func (s Summary) Rate() float64 {
	d := s.Finished.Sub(s.Started).Seconds()
	if d <= 0 {
		return 0
	}
	return float64(s.Transactions) / d
}

// Run backfills once. It discovers the accounts (listing them, so that an
// account whose account_opened webhook was lost still appears, or reading
// opts.AccountIDs) and records each with the balance Fuse reports; then it
// lists the transactions of the organisation (or of each account asked
// for) in the scope's window, committing every page with the window's
// advance, and re-reads what the ledger does not hold final. A failure
// leaves the window at its last committed page; Run then returns an error
// wrapping ErrAccountsFailed along with the full Summary. A cancelled ctx
// stops the run at a page boundary and returns ctx's error.
func (s *Syncer) Run(ctx context.Context, opts RunOptions) (Summary, error) {
	if opts.Full && !opts.Since.IsZero() {
		return Summary{}, errors.New("backfill: Full and Since are exclusive")
	}
	r := &run{s: s, opts: opts, started: s.now(), index: map[string]int{}}
	var retriesBefore map[string]int64
	if s.cm != nil {
		retriesBefore = s.cm.Retries()
	}
	s.log.Info("backfill started", "accounts", accountsArg(opts.AccountIDs), "from", from(opts),
		"page_size", s.pageSize, "overlap", s.overlap)

	var discoveryErr error
	if len(opts.AccountIDs) > 0 {
		discoveryErr = s.runAccounts(ctx, r)
	} else {
		discoveryErr = s.runOrg(ctx, r)
	}

	sum := r.summary(s.now())
	sum.DiscoveryErr = discoveryErr
	if s.cm != nil {
		sum.Retries = diffCounts(s.cm.Retries(), retriesBefore)
	}
	failed := sum.Failed()
	s.m.run(sum, ctx.Err() != nil)
	attrs := []any{"accounts", len(sum.Accounts), "failed", len(failed), "pages", sum.Pages,
		"transactions", sum.Transactions, "new_events", sum.NewEvents, "unknown", sum.Unknown,
		"reread", sum.Reread, "duration", sum.Finished.Sub(sum.Started).Round(time.Millisecond),
		"rate_per_s", int(sum.Rate())}
	if sum.NotFound > 0 {
		attrs = append(attrs, "not_found", sum.NotFound)
	}
	if len(sum.Retries) > 0 {
		attrs = append(attrs, "retries", sum.Retries)
	}
	if err := ctx.Err(); err != nil {
		s.log.Warn("backfill interrupted", append(attrs, "err", err)...)
		return sum, fmt.Errorf("backfill interrupted: %w", err)
	}
	var errs []error
	if discoveryErr != nil {
		errs = append(errs, discoveryErr)
	}
	for _, g := range sum.FailureGroups() {
		errs = append(errs, fmt.Errorf("%s: %w", g.Accounts(), g.Err))
	}
	if len(errs) > 0 {
		s.log.Warn("backfill finished with failures", attrs...)
		return sum, fmt.Errorf("%w (%d of %d): %w", ErrAccountsFailed, len(failed), len(sum.Accounts), errors.Join(errs...))
	}
	s.log.Info("backfill finished", attrs...)
	return sum, nil
}

// runAccounts backfills the accounts of opts.AccountIDs, each in its own
// scope, Concurrency at a time.
func (s *Syncer) runAccounts(ctx context.Context, r *run) error {
	accounts := make(chan int)
	var wg gosync.WaitGroup
	for range s.concurrency {
		wg.Go(func() {
			for i := range accounts {
				id := r.account(i)
				start := time.Now()
				err := s.syncScope(ctx, r, ledger.AccountScope(id), id)
				if err == nil {
					err = s.succeeded(ctx, []string{id})
				}
				if err != nil {
					s.failed(ctx, r, []string{id}, err)
					r.done(i)
					continue
				}
				res := r.result(i)
				s.log.Info("backfill account done", "account_id", id, "pages", res.Pages,
					"transactions", res.Transactions, "new_events", res.NewEvents, "unknown", res.Unknown,
					"reread", res.Reread, "from", startOr(res.From), "to", timeOrNone(res.To),
					"resumed", res.Resumed, "duration", time.Since(start).Round(time.Millisecond))
				r.done(i)
			}
		})
	}
	err := r.discover(ctx, func(i int) bool {
		select {
		case accounts <- i:
			return true
		case <-ctx.Done():
			return false
		}
	})
	close(accounts)
	wg.Wait()
	return err
}

// runOrg backfills every account: discovery first, then the
// organisation's listing. Each account discovered shares the listing's
// outcome.
func (s *Syncer) runOrg(ctx context.Context, r *run) error {
	discoveryErr := r.discover(ctx, func(int) bool { return true })
	if ctx.Err() != nil {
		return discoveryErr
	}
	// The listing runs even when the account listing stopped early: it
	// reads every account's transactions all the same.
	err := s.syncScope(ctx, r, ledger.ScopeOrg, "")
	// The accounts the listing showed that discovery did not (opened
	// since, or the account listing stopped early) share its outcome too.
	ids := r.pendingAccounts()
	if err == nil {
		err = s.succeeded(ctx, ids)
	}
	if err != nil {
		s.failed(ctx, r, ids, err)
		r.doneAll()
		if len(ids) == 0 && ctx.Err() == nil {
			// No account carries the error: the run's does.
			return errors.Join(discoveryErr, fmt.Errorf("list transactions: %w", err))
		}
		return discoveryErr
	}
	r.doneAll()
	return discoveryErr
}

func accountsArg(ids []string) any {
	if len(ids) == 0 {
		return "all"
	}
	return ids
}

// from says where a run starts reading, for the log.
func from(opts RunOptions) string {
	switch {
	case opts.Full:
		return "start"
	case !opts.Since.IsZero():
		return opts.Since.UTC().Format(time.RFC3339Nano)
	}
	return "window"
}

// timeOrNone renders a time for the log; the zero time is "none".
func timeOrNone(t time.Time) string {
	if t.IsZero() {
		return "none"
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// startOr renders where a listing started; the zero time is the start.
func startOr(t time.Time) string {
	if t.IsZero() {
		return "start"
	}
	return t.UTC().Format(time.RFC3339Nano)
}

func diffCounts(after, before map[string]int64) map[string]int64 {
	out := map[string]int64{}
	for k, v := range after {
		if d := v - before[k]; d > 0 {
			out[k] = d
		}
	}
	return out
}

// run is the state of one Run shared by its workers.
type run struct {
	s       *Syncer
	opts    RunOptions
	started time.Time

	mu       gosync.Mutex
	accounts []string
	results  []AccountResult
	finished []bool
	index    map[string]int // account id → its index
	progress Progress
}

func (r *run) account(i int) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.accounts[i]
}

func (r *run) result(i int) AccountResult {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.results[i]
}

// add records an account and returns its index; an account already
// recorded keeps its own.
func (r *run) add(id string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.addLocked(id)
}

func (r *run) addLocked(id string) int {
	if i, ok := r.index[id]; ok {
		return i
	}
	r.accounts = append(r.accounts, id)
	r.results = append(r.results, AccountResult{AccountID: id})
	r.finished = append(r.finished, false)
	r.index[id] = len(r.accounts) - 1
	r.progress.AccountsTotal++
	r.report()
	return len(r.accounts) - 1
}

// update changes the result of account id (added if new).
func (r *run) update(id string, f func(*AccountResult)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	f(&r.results[r.addLocked(id)])
}

// updateAll changes the result of every account not finished yet.
func (r *run) updateAll(f func(*AccountResult)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := range r.results {
		if !r.finished[i] {
			f(&r.results[i])
		}
	}
}

// pendingAccounts are the accounts not finished yet.
func (r *run) pendingAccounts() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var ids []string
	for i, id := range r.accounts {
		if !r.finished[i] {
			ids = append(ids, id)
		}
	}
	return ids
}

// page records one committed page, or one batch of transactions read one
// by one (pages 0).
func (r *run) page(pages, txs, fresh int) {
	r.s.m.page(txs, fresh)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.progress.Pages += pages
	r.progress.Transactions += txs
	r.progress.NewEvents += fresh
	r.report()
}

// done marks account i finished, with the result it has.
func (r *run) done(i int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.doneLocked(i)
	r.report()
}

func (r *run) doneLocked(i int) {
	if r.finished[i] {
		return
	}
	r.finished[i] = true
	r.progress.AccountsDone++
	if r.results[i].Err != nil {
		r.progress.AccountsFailed++
	}
}

// doneAll marks every account finished.
func (r *run) doneAll() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := range r.results {
		r.doneLocked(i)
	}
	r.report()
}

// report calls the progress callback; r.mu is held, so calls never overlap.
func (r *run) report() {
	if r.opts.Progress != nil {
		p := r.progress
		p.Elapsed = r.s.now().Sub(r.started)
		r.opts.Progress(p)
	}
}

func (r *run) summary(finished time.Time) Summary {
	r.mu.Lock()
	defer r.mu.Unlock()
	sum := Summary{Started: r.started, Finished: finished, Accounts: slices.Clone(r.results), Pages: r.progress.Pages}
	for _, a := range sum.Accounts {
		sum.Transactions += a.Transactions
		sum.NewEvents += a.NewEvents
		sum.Unknown += a.Unknown
		sum.Reread += a.Reread
		sum.NotFound += a.NotFound
	}
	return sum
}
