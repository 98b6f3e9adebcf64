package reconcile

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ledgerd/ledgerd"
	"github.com/ledgerd/ledgerd/fuse"
	"github.com/ledgerd/ledgerd/ledger"
)

// runState is what the goroutines of one run share.
type runState struct {
	r   *Reconciler
	rec *recorder

	asOf         time.Time
	asOfS        string // asOf as stored text
	ledgerGrace  time.Time
	ledgerGraceS string // changes after this are within the ledger's grace
	fuseGraceS   string // ledger records after this are within Fuse's grace

	checked, pending atomic.Int64
	// The lookup budget: calls made, the time they took (nanoseconds),
	// and the transactions left without one.
	lookups, lookupTime, unlooked atomic.Int64
	listed                        map[string]bool // accounts Fuse lists; read-only once workers start

	// The ledger connections the run holds (ledger.BulkReader): the
	// merges take turns on those in ledger (a worker takes one and gives
	// it back), the ledger-only checks use checks. Empty and nil when the
	// pool is too small to lend them: then each query takes a pool
	// connection.
	ledger chan *ledger.BulkReader
	checks *ledger.BulkReader

	mu       sync.Mutex
	problems []string
	accounts []AccountResult
}

func (st *runState) emit(ctx context.Context, f Finding) error { return st.rec.add(ctx, f) }

// lookUp gets one transaction from Fuse if the run's lookup budget
// (Options.MaxLookups, Options.LookupTime) allows it; looked is false
// when it does not.
func (st *runState) lookUp(ctx context.Context, id string) (t fuse.Transaction, looked bool, err error) {
	o := st.r.opts
	if time.Duration(st.lookupTime.Load()) >= o.LookupTime {
		return t, false, nil
	}
	if st.lookups.Add(1) > int64(o.MaxLookups) {
		st.lookups.Add(-1)
		return t, false, nil
	}
	start := o.Now()
	t, err = o.Fuse.GetTransaction(ctx, id)
	st.lookupTime.Add(int64(o.Now().Sub(start)))
	return t, true, err
}

// incomplete records that part of Fuse could not be read: the run will be
// INCOMPLETE.
func (st *runState) incomplete(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	st.r.log.Warn("reconcile: fuse not read completely", "problem", msg)
	st.mu.Lock()
	st.problems = append(st.problems, msg)
	st.mu.Unlock()
}

func (st *runState) addAccount(a AccountResult) {
	st.mu.Lock()
	st.accounts = append(st.accounts, a)
	st.mu.Unlock()
}

// Run reconciles the ledger with Fuse as of asOf (zero: now) and records
// the run and its breaks. It returns the run with its verdict; an error
// means the run could not be carried out (the ledger failed, ctx ended),
// and the run row, if created, is closed as INCOMPLETE with the reason.
// Fuse failing is not an error: it makes the verdict INCOMPLETE.
func (r *Reconciler) Run(ctx context.Context, asOf time.Time) (Run, error) {
	select {
	case r.sem <- struct{}{}:
	case <-ctx.Done():
		return Run{}, ctx.Err()
	}
	defer func() { <-r.sem }()

	start := r.opts.Now()
	if asOf.IsZero() {
		asOf = start
	}
	asOf = asOf.UTC()
	run := Run{StartedAt: start, TimeZone: r.opts.Location.String(), AsOf: asOf}
	l := r.opts.Ledger
	err := l.Update(ctx, func(tx *ledger.Tx) error {
		res, err := tx.Exec(`INSERT INTO recon_runs (started_at, time_zone, as_of) VALUES (?, ?, ?)`,
			ts(start), run.TimeZone, ts(asOf))
		if err != nil {
			return err
		}
		run.ID, err = res.LastInsertId()
		return err
	})
	if err != nil {
		return Run{}, fmt.Errorf("start reconciliation run: %w", err)
	}
	log := r.log.With("run", run.ID)
	log.Info("reconcile: run started", "as_of", asOf)

	st := &runState{
		r:            r,
		rec:          &recorder{l: l, runID: run.ID, now: ts(start), max: r.opts.MaxNewBreaks, counts: map[Category]int{}},
		asOf:         asOf,
		asOfS:        ts(asOf),
		ledgerGrace:  asOf.Add(-r.opts.LedgerGrace),
		ledgerGraceS: ts(asOf.Add(-r.opts.LedgerGrace)),
		fuseGraceS:   ts(asOf.Add(-r.opts.FuseGrace)),
	}
	runErr := r.run(ctx, st, &run)

	// Close the run whatever happened, on a context shutdown does not
	// cancel: a run row left without a verdict would read as running.
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if runErr == nil {
		runErr = st.rec.flush(fctx)
	}
	if runErr != nil {
		st.problems = append(st.problems, "run failed: "+runErr.Error())
	}
	if n := st.unlooked.Load(); n > 0 {
		// First among the problems, so that the detail's first five show it.
		msg := fmt.Sprintf("the lookup budget (%d lookups or %s) ran out after %d lookups in %s: %d transactions "+
			"the ledger has and Fuse's listings do not were not looked up one by one, so none of them is reported "+
			"missing_at_fuse", r.opts.MaxLookups, r.opts.LookupTime, st.lookups.Load(),
			time.Duration(st.lookupTime.Load()).Round(time.Millisecond), n)
		st.problems = append([]string{msg}, st.problems...)
		log.Warn("reconcile: lookup budget ran out", "not_looked_up", n, "lookups", st.lookups.Load())
	}
	run.FinishedAt = r.opts.Now()
	run.TransactionsChecked = int(st.checked.Load())
	run.Pending = int(st.pending.Load())
	run.BreaksNew = st.rec.newCount
	var detail []string
	if len(st.problems) > 0 {
		run.Verdict = Incomplete
		detail = append(detail, "Fuse could not be read completely: "+strings.Join(firstN(st.problems, 5), "; "))
	}
	if c := categoryCounts(st.rec.counts); c != "" {
		detail = append(detail, "breaks seen: "+c)
	}
	run.Detail = strings.Join(detail, ". ")
	slices.SortFunc(st.accounts, func(a, b AccountResult) int {
		return strings.Compare(a.FuseAccountID+"/"+string(a.Currency), b.FuseAccountID+"/"+string(b.Currency))
	})
	if err := st.rec.finish(fctx, &run, st.accounts); err != nil {
		return run, errors.Join(runErr, fmt.Errorf("finish reconciliation run %d: %w", run.ID, err))
	}
	if runErr != nil {
		return run, runErr
	}
	r.opts.Metrics.observe(run, st.accounts)
	log.Info("reconcile: run finished", "verdict", run.Verdict, "accounts", run.AccountsChecked,
		"transactions", run.TransactionsChecked, "breaks", run.BreaksOpen, "new", run.BreaksNew,
		"resolved", run.BreaksResolved, "pending", run.Pending, "duration", run.FinishedAt.Sub(run.StartedAt))
	return run, nil
}

func firstN(s []string, n int) []string {
	if len(s) <= n {
		return s
	}
	return append(s[:n:n], fmt.Sprintf("and %d more", len(s)-n))
}

// run does the work: Fuse's accounts and their balances, then every
// account merged by a pool of workers while the ledger-only checks run
// beside them.
func (r *Reconciler) run(ctx context.Context, st *runState, run *Run) error {
	jobs, err := r.accountJobs(ctx, st)
	if err != nil {
		return err
	}
	run.AccountsChecked = 0
	for _, j := range jobs {
		if j.fuse != nil {
			run.AccountsChecked++
		}
	}
	if err := r.holdConnections(ctx, st); err != nil {
		return err
	}
	defer st.releaseConnections()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errs := make([]error, r.opts.Workers+1)
	wg.Go(func() {
		if errs[0] = st.ledgerChecks(ctx); errs[0] != nil {
			cancel()
		}
	})
	next := make(chan accountJob)
	for w := range r.opts.Workers {
		wg.Go(func() {
			for j := range next {
				if errs[w+1] != nil {
					continue
				}
				if errs[w+1] = st.mergeAccount(ctx, j); errs[w+1] != nil {
					cancel()
				}
			}
		})
	}
feed:
	for _, j := range jobs {
		select {
		case next <- j:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	return ctx.Err()
}

// mergeConns is how many ledger connections the merges share: two, so
// that one account's ledger side is read while the previous one's is
// compared, on machines with a core to spare for it.
const mergeConns = 2

// holdConnections takes the ledger connections the run keeps (one for the
// checks, up to mergeConns for the merges), leaving at least one of the
// pool to everyone else; none when the pool is too small.
func (r *Reconciler) holdConnections(ctx context.Context, st *runState) error {
	l := r.opts.Ledger
	n := mergeConns
	if limit := l.ReadConns(); limit > 0 {
		n = min(n, limit-2)
	}
	st.ledger = make(chan *ledger.BulkReader, max(n, 0))
	if n < 1 {
		return nil
	}
	var err error
	if st.checks, err = l.HoldReader(ctx, r.opts.ReadCacheMiB); err != nil {
		return err
	}
	for range n {
		b, err := l.HoldReader(ctx, r.opts.ReadCacheMiB)
		if err != nil {
			st.releaseConnections()
			return err
		}
		st.ledger <- b
	}
	return nil
}

// releaseConnections gives the held connections back; the merges are done.
func (st *runState) releaseConnections() {
	held := []*ledger.BulkReader{st.checks}
	for len(st.ledger) > 0 {
		held = append(held, <-st.ledger)
	}
	for _, b := range held {
		if b != nil {
			if err := b.Close(); err != nil {
				st.r.log.Warn("reconcile: release ledger connection", slog.Any("err", err))
			}
		}
	}
	st.checks = nil
}

// accountJobs lists Fuse's accounts (with their balances), records the
// balances in the ledger as observations, and adds the accounts only the
// ledger has transactions on.
func (r *Reconciler) accountJobs(ctx context.Context, st *runState) ([]accountJob, error) {
	known, err := r.opts.Ledger.KnownAccounts(ctx)
	if err != nil {
		return nil, err
	}
	ledgerAccts := make(map[string]ledger.KnownAccount, len(known))
	for _, a := range known {
		ledgerAccts[a.ID] = a
	}

	var jobs []accountJob
	var obs []ledgerd.Observation
	listed := map[string]bool{}
	st.listed = listed
	for page, err := range r.opts.Fuse.AccountPages(ctx, r.opts.PageLimit) {
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			st.incomplete("list accounts: %v", err)
			break
		}
		readAt := r.opts.Now()
		for _, a := range page.Data {
			if listed[a.ID] {
				continue
			}
			listed[a.ID] = true
			o, err := accountObservation(ctx, r.opts.Ledger, a, readAt)
			if errors.Is(err, ledger.ErrUnavailable) {
				return nil, err
			}
			if err != nil {
				st.incomplete("account %s: %v", a.ID, err)
				continue
			}
			obs = append(obs, o)
			k := ledgerAccts[a.ID]
			jobs = append(jobs, accountJob{id: a.ID, fuse: &a, readAt: readAt, ledgerName: k.Name, ledgerCurrency: k.Currency})
		}
	}
	if err := r.recordBalances(ctx, obs); err != nil {
		return nil, err
	}
	// Accounts the ledger has transactions on that Fuse does not list. An
	// account known only as a counterpart (another customer's) is not
	// ours and is left alone. Without a complete listing, absence proves
	// nothing.
	if len(st.problems) == 0 {
		ids, err := r.opts.Ledger.AccountsWithTransactions(ctx)
		if err != nil {
			return nil, err
		}
		for _, id := range ids {
			if !listed[id] {
				k := ledgerAccts[id]
				jobs = append(jobs, accountJob{id: id, ledgerName: k.Name, ledgerCurrency: k.Currency})
			}
		}
	}
	return jobs, nil
}

// accountObservation turns an account Fuse listed into the observation
// that records its balance: event source backfill, type
// "reconcile.account", the account object as raw body, and an id derived
// from that body: the same balance read twice is one event, a balance that
// comes back to an earlier value a new one (ledger.BalanceReadDigest).
func accountObservation(ctx context.Context, l *ledger.Ledger, a fuse.Account, readAt time.Time) (ledgerd.Observation, error) {
	ao, err := a.Observation(readAt)
	if err != nil {
		return ledgerd.Observation{}, err
	}
	raw, err := json.Marshal(a)
	if err != nil {
		return ledgerd.Observation{}, err
	}
	digest, err := l.BalanceReadDigest(ctx, raw, ao)
	if err != nil {
		return ledgerd.Observation{}, err
	}
	return ledgerd.Observation{
		Event: ledgerd.Event{
			ID: "reconcile:" + digest, Type: "reconcile.account",
			Source: ledgerd.SourceBackfill, FuseTime: readAt, ReceivedAt: readAt, Raw: raw,
		},
		Account: &ao,
	}, nil
}

// recordBalances ingests Fuse's account balances in one commit; if the
// ledger refuses one, each is retried alone so that one bad account does
// not keep the others' balances out.
func (r *Reconciler) recordBalances(ctx context.Context, obs []ledgerd.Observation) error {
	if len(obs) == 0 {
		return nil
	}
	_, err := r.opts.Ledger.IngestAll(ctx, obs, nil)
	if err == nil || !errors.Is(err, ledger.ErrRejected) {
		if err != nil {
			return fmt.Errorf("record fuse balances: %w", err)
		}
		return nil
	}
	for _, o := range obs {
		if _, err := r.opts.Ledger.Ingest(ctx, o); err != nil {
			if errors.Is(err, ledger.ErrRejected) {
				r.log.Warn("reconcile: ledger refused an account balance", "account", o.Account.AccountID, slog.Any("err", err))
				continue
			}
			return fmt.Errorf("record fuse balance of %s: %w", o.Account.AccountID, err)
		}
	}
	return nil
}
