// Package syncer is ledgerd's backfill: it lists every Fuse account, pages
// through each account's transactions from a per-account checkpoint, and
// hands every object to ledger.IngestAll, one page per SQLite transaction
// together with the checkpoint's advance. Webhooks are the fast path; the
// backfill is the truth that heals what they missed. The folder is sync/, as
// the design names it; the package is syncer so that it does not shadow the
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
	// N transactions costs about ceil(N/2000) requests per account
	// instead of ceil(N/100).
	DefaultPageSize = fuse.MaxPageLimit
	// DefaultOverlap is how far before its checkpoint an account's listing
	// starts again, so that a transaction whose updated_at Fuse stamped a
	// little in the past (a late status change, clocks that disagree) is
	// still read. Re-read objects that did not change are duplicates and
	// cost nothing but the transfer.
	DefaultOverlap = 10 * time.Minute
	// DefaultConcurrency is how many accounts are paged at once. Pages of
	// different accounts share the ledger's group commits.
	DefaultConcurrency = 4
	// maxEmptyPages bounds a run of consecutive empty pages that still
	// carry a pages.next: Fuse may answer an empty page that is not the
	// last, but not forever.
	maxEmptyPages = 100
)

// Errors callers act on.
var (
	// ErrBrokenListing reports a listing that contradicts fuse-api.md: items
	// out of (updated_at, transaction_id) order or seen twice in one walk,
	// another account's transaction, or empty pages without end. The page
	// is not committed and the checkpoint stays where it was.
	ErrBrokenListing = errors.New("fuse listing is broken")
	// ErrInvalidObject reports a Fuse object the ledger cannot take (an
	// unknown kind, status or currency, inconsistent amounts). Nothing is
	// skipped silently: the account's run stops before the page holding it,
	// and retries it next run.
	ErrInvalidObject = errors.New("fuse object invalid")
	// ErrAccountsFailed is wrapped by Run's error when at least one account
	// could not be backfilled (the others still committed).
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
	// Overlap is how far before the checkpoint a listing restarts (default
	// DefaultOverlap; negative means none).
	Overlap time.Duration
	// Concurrency is how many accounts are paged at once (default 4).
	Concurrency int
	// Now is the clock for received_at and balance stamps (default
	// time.Now).
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
	return &Syncer{
		l: opts.Ledger, c: opts.Client, log: opts.Logger, m: m, cm: opts.ClientMetrics,
		pageSize: opts.PageSize, overlap: opts.Overlap, concurrency: opts.Concurrency, now: opts.Now,
	}, nil
}

// RunOptions select what one run reads.
type RunOptions struct {
	// AccountIDs limits the run to these accounts (read one by one);
	// empty means every account the listing returns.
	AccountIDs []string
	// Since, when set, lists each account from this updated_at instead of
	// from its checkpoint. The checkpoint never moves back.
	Since time.Time
	// Full lists each account from its first transaction.
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

// AccountResult is what a run did for one account.
type AccountResult struct {
	AccountID    string
	Pages        int
	Transactions int
	NewEvents    int
	// Unknown counts transactions of a type or state the reference does
	// not name: stored unbooked and reported.
	Unknown int
	// From is the updated_since the listing started at (zero: the start).
	From time.Time
	// Checkpoint is where the account stands after the run.
	Checkpoint ledger.Checkpoint
	Err        error
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

// Rate is transactions per second over the whole run.
func (s Summary) Rate() float64 {
	d := s.Finished.Sub(s.Started).Seconds()
	if d <= 0 {
		return 0
	}
	return float64(s.Transactions) / d
}

// Run backfills once: it discovers the accounts (listing them, so that an
// account whose account_opened webhook was lost still appears, or reading
// opts.AccountIDs), records each with the balance Fuse reports, and pages
// through each account's transactions, committing every page with its
// checkpoint. An account that fails leaves its checkpoint at its last
// committed page and the others carry on; Run then returns an error
// wrapping ErrAccountsFailed along with the full Summary. A cancelled ctx
// stops the run at a page boundary and returns ctx's error.
func (s *Syncer) Run(ctx context.Context, opts RunOptions) (Summary, error) {
	if opts.Full && !opts.Since.IsZero() {
		return Summary{}, errors.New("backfill: Full and Since are exclusive")
	}
	r := &run{s: s, opts: opts, started: s.now()}
	var retriesBefore map[string]int64
	if s.cm != nil {
		retriesBefore = s.cm.Retries()
	}
	s.log.Info("backfill started", "accounts", accountsArg(opts.AccountIDs), "from", from(opts),
		"page_size", s.pageSize, "overlap", s.overlap)

	accounts := make(chan int)
	var wg gosync.WaitGroup
	for range s.concurrency {
		wg.Go(func() {
			for i := range accounts {
				res := s.syncAccount(ctx, r, r.account(i))
				r.finish(i, res)
			}
		})
	}
	discoveryErr := r.discover(ctx, func(i int) bool {
		select {
		case accounts <- i:
			return true
		case <-ctx.Done():
			return false
		}
	})
	close(accounts)
	wg.Wait()

	sum := r.summary(s.now())
	sum.DiscoveryErr = discoveryErr
	if s.cm != nil {
		sum.Retries = diffCounts(s.cm.Retries(), retriesBefore)
	}
	failed := sum.Failed()
	s.m.run(sum, ctx.Err() != nil)
	attrs := []any{"accounts", len(sum.Accounts), "failed", len(failed), "pages", sum.Pages,
		"transactions", sum.Transactions, "new_events", sum.NewEvents,
		"duration", sum.Finished.Sub(sum.Started).Round(time.Millisecond),
		"rate_per_s", int(sum.Rate())}
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
	for _, a := range failed {
		errs = append(errs, fmt.Errorf("account %s: %w", a.AccountID, a.Err))
	}
	if len(errs) > 0 {
		s.log.Warn("backfill finished with failures", attrs...)
		return sum, fmt.Errorf("%w (%d of %d): %w", ErrAccountsFailed, len(failed), len(sum.Accounts), errors.Join(errs...))
	}
	s.log.Info("backfill finished", attrs...)
	return sum, nil
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
	return "checkpoints"
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
	progress Progress
}

func (r *run) account(i int) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.accounts[i]
}

// add records a discovered account and returns its index.
func (r *run) add(id string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.accounts = append(r.accounts, id)
	r.results = append(r.results, AccountResult{AccountID: id})
	r.progress.AccountsTotal++
	r.report()
	return len(r.accounts) - 1
}

// page records one committed page.
func (r *run) page(txs, fresh int) {
	r.s.m.page(txs, fresh)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.progress.Pages++
	r.progress.Transactions += txs
	r.progress.NewEvents += fresh
	r.report()
}

// finish records an account's result.
func (r *run) finish(i int, res AccountResult) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.results[i] = res
	r.progress.AccountsDone++
	if res.Err != nil {
		r.progress.AccountsFailed++
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
	sum := Summary{Started: r.started, Finished: finished, Accounts: slices.Clone(r.results)}
	for _, a := range sum.Accounts {
		sum.Pages += a.Pages
		sum.Transactions += a.Transactions
		sum.NewEvents += a.NewEvents
	}
	return sum
}
