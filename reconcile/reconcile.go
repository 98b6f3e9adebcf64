// Package reconcile proves that ledgerd's book agrees with Fuse, or says
// exactly where and by how much it does not. A run, as of a cut-off, reads
// every Fuse account (with the balance Fuse reports) and every Fuse
// transaction through the API client, merges them with the ledger's own
// record account by account in transaction_id order, and runs the checks
// that need only the ledger (unpaired transfer legs, duplicates, conflicting
// observations, unbalanced entries). Each difference is a break: one row per
// category and subject across runs, opened by the first run that sees it,
// resolved by the first complete run that no longer does, acknowledged by a
// person with a note. A run ends with a verdict; a run that could not read
// Fuse completely is INCOMPLETE, never green. The package also turns runs
// into finance reports (CSV, JSON, XLSX). It reads the ledger's tables
// only through the ledger's typed reads (ledger.BulkReader, Snapshot) and
// owns its own: recon_runs, recon_run_accounts, recon_run_breaks, breaks.
//
// Beside them, a daily check compares each account's closing balance of
// recent days, as Fuse's account history gives it, with the ledger's
// balance at the end of each day in LEDGERD_TZ (closing.go).
//
// A run compares the whole history up to its cut-off, both sides read as
// they stood at it: a Fuse transaction updated after the cut-off was in
// flight at it (a terminal status is a transaction's last change), and
// Fuse's balance is rolled back by what succeeded between the cut-off and
// the moment it was read. Memory does not grow with history: one account
// at a time per worker is held (sorted in memory up to
// Options.SpillThreshold transactions, spooled to a scratch SQLite file
// beyond), the ledger side is one indexed scan per account in
// transaction_id order, the ledger-only checks are single SQL statements,
// and breaks are written as they are found. Grace periods keep what is
// seconds old from being a break: the ledger may lag Fuse by LedgerGrace
// (webhooks in flight), Fuse's listings may lag the ledger by FuseGrace.
//
// The reconciler writes no ledger table itself: Fuse's account balances
// reach fuse_accounts as observations through ledger.Ingest, and its own
// tables (recon_runs, recon_run_accounts, recon_run_breaks, breaks) are
// written through ledger.Update, serialized with every ingest.
package reconcile

import (
	"context"
	"errors"
	"iter"
	"log/slog"
	"time"

	"github.com/ledgerd/ledgerd/fuse"
	"github.com/ledgerd/ledgerd/ledger"
)

// Verdict is how a run ended.
type Verdict string

// Verdicts, as stored in recon_runs.verdict.
const (
	// Reconciled: every account balance and every transaction agrees and
	// nothing is in flight.
	Reconciled Verdict = "RECONCILED"
	// ReconciledWithPending: everything agrees; some transactions were in
	// flight at the cut-off on both sides (or moved seconds ago, within
	// the grace period).
	ReconciledWithPending Verdict = "RECONCILED_WITH_PENDING"
	// Breaks: at least one break was seen (acknowledged ones included: an
	// acknowledgement records that a person knows, it does not make the
	// books agree).
	Breaks Verdict = "BREAKS"
	// Incomplete: Fuse could not be read completely. Never green, whatever
	// the part that was read says, and it resolves no break.
	Incomplete Verdict = "INCOMPLETE"
)

// OK reports whether v is one of the two green verdicts.
func (v Verdict) OK() bool { return v == Reconciled || v == ReconciledWithPending }

// Fuse is what a run reads from Fuse; *fuse.Client implements it.
type Fuse interface {
	AccountPages(ctx context.Context, limit int) iter.Seq2[fuse.CursorPage[fuse.Account], error]
	TransactionPages(ctx context.Context, accountID string, params fuse.ListTransactionsParams) iter.Seq2[fuse.CursorPage[fuse.Transaction], error]
	GetTransaction(ctx context.Context, transactionID string) (fuse.Transaction, error)
	AccountHistory(ctx context.Context, accountID string, from, to fuse.Date) (fuse.AccountHistory, error)
}

// Defaults of Options.
const (
	DefaultLedgerGrace       = 20 * time.Minute
	DefaultFuseGrace         = 5 * time.Minute
	DefaultStalePendingAfter = 24 * time.Hour
	DefaultMaxNewBreaks      = 1000
	DefaultMaxLookups        = 200
	DefaultLookupTime        = 10 * time.Second
	DefaultWorkers           = 8
	DefaultSpillThreshold    = 100_000
	DefaultReadCacheMiB      = 8
	DefaultHistoryDays       = 31
)

// Options configure a Reconciler. Ledger and Fuse are required; zero values
// of the rest take the defaults above.
type Options struct {
	Ledger *ledger.Ledger
	Fuse   Fuse
	Logger *slog.Logger
	// Now is the reconciler's clock: the default cut-off, and the time
	// stamped on runs and breaks. Default time.Now.
	Now func() time.Time
	// Location is the time zone recorded with each run and used by
	// reports (LEDGERD_TZ). Default UTC.
	Location *time.Location

	// LedgerGrace is how long the ledger may lag Fuse before a difference
	// counts: a transaction Fuse changed less than LedgerGrace before the
	// cut-off is not missing_in_ledger, not status_mismatch, not
	// incomplete, and its effect on a balance is not drift, because its
	// webhook may still be on the way (backfill runs every 15 minutes by
	// default). Default 20 minutes.
	LedgerGrace time.Duration
	// FuseGrace is how long Fuse's listings may lag the ledger: a
	// transaction the ledger learned of less than FuseGrace before the
	// cut-off is not missing_at_fuse. Default 5 minutes.
	FuseGrace time.Duration
	// StalePendingAfter is how long a transaction may stay in flight on
	// both sides before it is a stale_pending break. Default 24 hours.
	StalePendingAfter time.Duration
	// MaxNewBreaks caps the new breaks one run records, by severity:
	// every critical break is recorded whatever the cap (balance drifts
	// first), and the cap takes the most severe of the rest. One
	// too_many_breaks break, and the run's detail, count what it left out
	// by severity and category (those open on later runs, once the first
	// ones are dealt with). Breaks already recorded are always updated.
	// Default 1000.
	MaxNewBreaks int
	// MaxLookups and LookupTime are a run's budget for GET
	// /transactions/{id}: a transaction the ledger has and Fuse's listing
	// of its account does not is looked up alone, to tell one missing at
	// Fuse from one that moved. The run stops looking up after MaxLookups
	// calls or once they have taken LookupTime in all (a call under way
	// finishes). A transaction left without its lookup is not reported
	// missing_at_fuse (its effect still shows in its account's
	// balance_drift), and the run is INCOMPLETE, its detail saying how
	// many were left. Defaults 200 and 10 seconds.
	MaxLookups int
	LookupTime time.Duration
	// HistoryDays is how many days the daily check compares (closing.go):
	// Fuse's closing balance of each day against the ledger's posted
	// balance at the day's end in Location, for the last HistoryDays
	// days that ended LedgerGrace before the cut-off, one request per
	// account. Default 31, at most 366.
	HistoryDays int
	// Workers is how many accounts are read and merged at once. Default 8.
	Workers int
	// PageLimit is the page size of Fuse listings. Default 500 (the most
	// Fuse allows).
	PageLimit int
	// SpillThreshold is how many of one account's Fuse transactions are
	// sorted in memory; an account with more is spooled to a scratch
	// SQLite file in ScratchDir and merged from there, so memory does not
	// grow with an account's history. Default 100,000.
	SpillThreshold int
	// ReadCacheMiB is the page cache of each of the two ledger connections
	// a run holds (one the merges share, one for the ledger-only checks;
	// SQLite's default is 2 MiB). Resident memory grows by about twice
	// the setting per connection (each page takes an 8 KiB allocation).
	// Default 8 MiB.
	ReadCacheMiB int
	// ScratchDir holds the scratch files (default os.TempDir()); they are
	// removed when the account is done.
	ScratchDir string
	// Metrics receives the run's outcome (nil: none).
	Metrics *Metrics
}

// Reconciler runs reconciliations. It is safe for concurrent use, but runs
// are serialized: a second Run waits for the first.
type Reconciler struct {
	opts Options
	log  *slog.Logger
	sem  chan struct{}
}

// New checks opts and returns a Reconciler.
func New(opts Options) (*Reconciler, error) {
	if opts.Ledger == nil {
		return nil, errors.New("reconcile: a ledger is required")
	}
	if opts.Fuse == nil {
		return nil, errors.New("reconcile: a Fuse client is required")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Location == nil {
		opts.Location = time.UTC
	}
	if opts.LedgerGrace <= 0 {
		opts.LedgerGrace = DefaultLedgerGrace
	}
	if opts.FuseGrace <= 0 {
		opts.FuseGrace = DefaultFuseGrace
	}
	if opts.StalePendingAfter <= 0 {
		opts.StalePendingAfter = DefaultStalePendingAfter
	}
	if opts.MaxNewBreaks <= 0 {
		opts.MaxNewBreaks = DefaultMaxNewBreaks
	}
	if opts.MaxLookups <= 0 {
		opts.MaxLookups = DefaultMaxLookups
	}
	if opts.LookupTime <= 0 {
		opts.LookupTime = DefaultLookupTime
	}
	if opts.HistoryDays <= 0 {
		opts.HistoryDays = DefaultHistoryDays
	}
	opts.HistoryDays = min(opts.HistoryDays, maxHistoryDays)
	if opts.Workers <= 0 {
		opts.Workers = DefaultWorkers
	}
	if opts.PageLimit <= 0 || opts.PageLimit > fuse.MaxPageLimit {
		opts.PageLimit = fuse.MaxPageLimit
	}
	if opts.SpillThreshold <= 0 {
		opts.SpillThreshold = DefaultSpillThreshold
	}
	if opts.ReadCacheMiB <= 0 {
		opts.ReadCacheMiB = DefaultReadCacheMiB
	}
	opts.Metrics.watch(opts.Ledger)
	return &Reconciler{opts: opts, log: opts.Logger, sem: make(chan struct{}, 1)}, nil
}

// Run is one reconciliation run as recorded in recon_runs.
type Run struct {
	ID                  int64     `json:"id"`
	StartedAt           time.Time `json:"started_at"`
	FinishedAt          time.Time `json:"finished_at"`
	TimeZone            string    `json:"time_zone"`
	AsOf                time.Time `json:"as_of"`
	Verdict             Verdict   `json:"verdict"`
	AccountsChecked     int       `json:"accounts_checked"`
	TransactionsChecked int       `json:"transactions_checked"`
	// BreaksOpen counts the breaks this run saw (open or acknowledged);
	// BreaksNew those it opened or reopened; BreaksResolved those it
	// closed because their condition cleared.
	BreaksOpen     int `json:"breaks_open"`
	BreaksNew      int `json:"breaks_new"`
	BreaksResolved int `json:"breaks_resolved"`
	// Pending counts transactions in flight at the cut-off on both sides,
	// or changed at Fuse within the ledger's grace period.
	Pending int `json:"pending"`
	// Detail says why a run is INCOMPLETE (a part of Fuse not read, the
	// transactions the lookup budget left unchecked), counts breaks by
	// category, and what the cap on new breaks left out.
	Detail string `json:"detail"`
}
