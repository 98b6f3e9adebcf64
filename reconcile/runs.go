package reconcile

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/ledgerd/ledgerd"
	"github.com/ledgerd/ledgerd/ledger"
)

// Store reads and changes what the reconciler records: the tables
// recon_runs, recon_run_accounts, recon_run_breaks and breaks. It is their
// only owner; the admin API, the status page and the commands read runs
// and breaks through it, never by SQL of their own. Reads go through the
// ledger's read-only pool, the one change (AckBreak) through its writer.
type Store struct{ l *ledger.Ledger }

// NewStore returns the store of the reconciler's tables in l.
func NewStore(l *ledger.Ledger) *Store { return &Store{l: l} }

// querier is what the reads need of a pool or of a read transaction.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

const runCols = `id, started_at, finished_at, time_zone, as_of, COALESCE(verdict, ''), accounts_checked,
	transactions_checked, breaks_open, breaks_new, breaks_resolved, pending, detail`

func scanRun(s scanner) (Run, error) {
	var r Run
	var started, asOf string
	var finished sql.NullString
	var verdict string
	if err := s.Scan(&r.ID, &started, &finished, &r.TimeZone, &asOf, &verdict, &r.AccountsChecked,
		&r.TransactionsChecked, &r.BreaksOpen, &r.BreaksNew, &r.BreaksResolved, &r.Pending, &r.Detail); err != nil {
		return r, err
	}
	r.Verdict = Verdict(verdict)
	var err error
	if r.StartedAt, err = parseTS(started); err != nil {
		return r, err
	}
	if r.AsOf, err = parseTS(asOf); err != nil {
		return r, err
	}
	if finished.Valid {
		if r.FinishedAt, err = parseTS(finished.String); err != nil {
			return r, err
		}
	}
	return r, nil
}

// Run returns run id, or the latest finished run when id is 0.
func (s *Store) Run(ctx context.Context, id int64) (Run, error) {
	return getRun(ctx, s.l.Reader(), id)
}

func getRun(ctx context.Context, db querier, id int64) (Run, error) {
	q := `SELECT ` + runCols + ` FROM recon_runs WHERE id = ?`
	args := []any{id}
	if id == 0 {
		q = `SELECT ` + runCols + ` FROM recon_runs WHERE verdict IS NOT NULL ORDER BY id DESC LIMIT 1`
		args = nil
	}
	r, err := scanRun(db.QueryRowContext(ctx, q, args...))
	if errors.Is(err, sql.ErrNoRows) {
		if id == 0 {
			return Run{}, fmt.Errorf("no finished reconciliation run yet: %w", ErrNotFound)
		}
		return Run{}, fmt.Errorf("run %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return Run{}, fmt.Errorf("read run: %w", err)
	}
	return r, nil
}

// Runs returns the latest limit runs, newest first.
func (s *Store) Runs(ctx context.Context, limit int) ([]Run, error) {
	rows, err := s.l.Reader().QueryContext(ctx, `SELECT `+runCols+` FROM recon_runs ORDER BY id DESC LIMIT ?`, limit)
	if err != nil {
		return nil, fmt.Errorf("read runs: %w", err)
	}
	defer rows.Close()
	out := []Run{}
	for rows.Next() {
		r, err := scanRun(rows)
		if err != nil {
			return nil, fmt.Errorf("read runs: %w", err)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// RunAccounts returns what run id saw per account and currency.
func (s *Store) RunAccounts(ctx context.Context, id int64) ([]AccountResult, error) {
	return runAccounts(ctx, s.l.Reader(), id)
}

func runAccounts(ctx context.Context, db querier, id int64) ([]AccountResult, error) {
	rows, err := db.QueryContext(ctx, `SELECT fuse_account_id, COALESCE(name, ''), currency, ledger_posted,
		ledger_pending, fuse_balance, drift, gross_drift FROM recon_run_accounts WHERE run_id = ?
		ORDER BY fuse_account_id, currency`, id)
	if err != nil {
		return nil, fmt.Errorf("read accounts of run %d: %w", id, err)
	}
	defer rows.Close()
	out := []AccountResult{}
	for rows.Next() {
		var a AccountResult
		var cur string
		var posted, pending, d, gross int64
		var fb sql.NullInt64
		if err := rows.Scan(&a.FuseAccountID, &a.Name, &cur, &posted, &pending, &fb, &d, &gross); err != nil {
			return nil, fmt.Errorf("read accounts of run %d: %w", id, err)
		}
		a.Currency = ledgerd.Currency(cur)
		a.LedgerPosted, a.LedgerPending, a.Drift, a.GrossDrift = ledgerd.Amount(posted), ledgerd.Amount(pending),
			ledgerd.Amount(d), ledgerd.Amount(gross)
		if fb.Valid {
			a.FuseBalance = amt(ledgerd.Amount(fb.Int64))
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

// RunBreaks returns the breaks run id saw, in their latest state, most
// urgent first (critical, balance drifts and the cap's summary at the
// top: the order the cap keeps them in), then by category and subject.
func (s *Store) RunBreaks(ctx context.Context, id int64) ([]Break, error) {
	return runBreaks(ctx, s.l.Reader(), id)
}

func runBreaks(ctx context.Context, db querier, id int64) ([]Break, error) {
	return queryBreaks(ctx, db, `SELECT `+breakCols+` FROM breaks
		WHERE id IN (SELECT break_id FROM recon_run_breaks WHERE run_id = ?)
		ORDER BY `+rankSQL()+`, category, subject`, id)
}

// AgeDays is how many whole days a break had been known when a run
// finished.
func AgeDays(b Break, at time.Time) int {
	if at.Before(b.FirstSeen) {
		return 0
	}
	return int(at.Sub(b.FirstSeen) / (24 * time.Hour))
}

// RunDrift is one run's drift in one currency, summed over the accounts
// it saw: Drift is Σ |ledger posted − Fuse balance|, so that two accounts
// drifting in opposite directions do not cancel out; Gross is Σ of their
// gross drifts.
type RunDrift struct {
	RunID    int64
	Currency ledgerd.Currency
	Drift    ledgerd.Amount
	Gross    ledgerd.Amount
}

// DriftByRun returns the drift per currency of every run from run id
// fromRun on, by currency and then run. A run that saw no account in a
// currency has no row for it.
func (s *Store) DriftByRun(ctx context.Context, fromRun int64) ([]RunDrift, error) {
	rows, err := s.l.Reader().QueryContext(ctx, `SELECT run_id, currency, SUM(ABS(drift)), SUM(gross_drift)
		FROM recon_run_accounts WHERE run_id >= ? GROUP BY run_id, currency ORDER BY currency, run_id`, fromRun)
	if err != nil {
		return nil, fmt.Errorf("read drift per run: %w", err)
	}
	defer rows.Close()
	var out []RunDrift
	for rows.Next() {
		var d RunDrift
		var drift, gross int64
		if err := rows.Scan(&d.RunID, &d.Currency, &drift, &gross); err != nil {
			return nil, fmt.Errorf("read drift per run: %w", err)
		}
		d.Drift, d.Gross = ledgerd.Amount(drift), ledgerd.Amount(gross)
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read drift per run: %w", err)
	}
	return out, nil
}
