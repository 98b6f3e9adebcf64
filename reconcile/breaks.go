package reconcile

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/ledgerd/ledgerd"
	"github.com/ledgerd/ledgerd/ledger"
)

// recorder writes a run's findings to the breaks table in batches through
// the ledger's single writer, as they are found: a run never holds its
// breaks in memory beyond the cap. A break is one row per (category,
// subject): the first sighting inserts it (open), later ones update
// last_seen and what it says, a sighting of a resolved break reopens it,
// and an acknowledged one stays acknowledged. New breaks are capped by
// severity (cap.go): critical ones are inserted as they come, the others
// are held until the run ends and the cap takes the most severe of them;
// what it leaves out is counted for one too_many_breaks break.
type recorder struct {
	l     *ledger.Ledger
	runID int64
	now   string
	max   int

	mu       sync.Mutex
	batch    []Finding
	newCount int
	held     heldSet
	counts   map[Category]int
}

const recordBatch = 256

func (rc *recorder) add(ctx context.Context, f Finding) error {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.counts[f.Category]++
	rc.batch = append(rc.batch, f)
	if len(rc.batch) < recordBatch {
		return nil
	}
	return rc.flushLocked(ctx)
}

func (rc *recorder) flush(ctx context.Context) error {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return rc.flushLocked(ctx)
}

// flushLocked records the batch: breaks already recorded are updated and
// new critical ones inserted; new ones below critical are held for the
// cap.
func (rc *recorder) flushLocked(ctx context.Context) error {
	if len(rc.batch) == 0 {
		return nil
	}
	var added int
	var hold []Finding
	err := rc.l.Update(ctx, func(tx *ledger.Tx) error {
		added, hold = 0, hold[:0]
		for _, f := range rc.batch {
			isNew, ok, err := rc.upsert(tx, f, alwaysRecorded(f))
			if err != nil {
				return err
			}
			if !ok {
				hold = append(hold, f)
			} else if isNew {
				added++
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("record breaks: %w", err)
	}
	rc.newCount += added
	for _, f := range hold {
		rc.held.add(f, rc.max-rc.newCount)
	}
	rc.batch = rc.batch[:0]
	return nil
}

func nullAmount(a *ledgerd.Amount) any {
	if a == nil {
		return nil
	}
	return int64(*a)
}

func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// upsert records one sighting. isNew is true when the break was inserted
// or reopened; ok is false when it was new and mayInsert was false.
func (rc *recorder) upsert(tx *ledger.Tx, f Finding, mayInsert bool) (isNew, ok bool, err error) {
	var id int64
	var state string
	err = tx.QueryRow(`SELECT id, state FROM breaks WHERE category = ? AND subject = ?`,
		string(f.Category), f.Subject).Scan(&id, &state)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		if !mayInsert {
			return false, false, nil
		}
		res, err := tx.Exec(`INSERT INTO breaks (category, subject, severity, fuse_account_id, fuse_transaction_id,
			currency, ledger_amount, fuse_amount, difference, detail, state, first_seen, last_seen, first_run, last_run)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'open', ?, ?, ?, ?)`,
			string(f.Category), f.Subject, string(f.Severity), nullString(f.FuseAccountID), nullString(f.FuseTransactionID),
			nullString(string(f.Currency)), nullAmount(f.LedgerAmount), nullAmount(f.FuseAmount), nullAmount(f.Difference),
			f.Detail, rc.now, rc.now, rc.runID, rc.runID)
		if err != nil {
			return false, false, fmt.Errorf("open break %s %s: %w", f.Category, f.Subject, err)
		}
		if id, err = res.LastInsertId(); err != nil {
			return false, false, err
		}
		isNew = true
	case err != nil:
		return false, false, fmt.Errorf("look up break %s %s: %w", f.Category, f.Subject, err)
	default:
		isNew = state == string(Resolved)
		if _, err := tx.Exec(`UPDATE breaks SET severity = ?, fuse_account_id = ?, fuse_transaction_id = ?, currency = ?,
			ledger_amount = ?, fuse_amount = ?, difference = ?, detail = ?, last_seen = ?, last_run = ?,
			state = CASE state WHEN 'resolved' THEN 'open' ELSE state END,
			resolved_at = CASE state WHEN 'resolved' THEN NULL ELSE resolved_at END
			WHERE id = ?`,
			string(f.Severity), nullString(f.FuseAccountID), nullString(f.FuseTransactionID), nullString(string(f.Currency)),
			nullAmount(f.LedgerAmount), nullAmount(f.FuseAmount), nullAmount(f.Difference), f.Detail,
			rc.now, rc.runID, id); err != nil {
			return false, false, fmt.Errorf("update break %d: %w", id, err)
		}
	}
	if _, err := tx.Exec(`INSERT OR IGNORE INTO recon_run_breaks (run_id, break_id) VALUES (?, ?)`, rc.runID, id); err != nil {
		return false, false, fmt.Errorf("link break %d to run %d: %w", id, rc.runID, err)
	}
	return isNew, true, nil
}

// finish records the new breaks below critical the cap leaves room for
// (most severe first) and the cap's summary break, resolves what this run
// no longer sees (unless the run was incomplete: an unread account proves
// nothing), and closes the run row. A break the cap left out was never
// recorded, so there is nothing of it to resolve; one recorded before is
// updated by every run that sees it, cap or not, so it is not resolved
// either.
func (rc *recorder) finish(ctx context.Context, run *Run, accounts []AccountResult) error {
	kept := rc.held.trim(rc.max - rc.newCount)
	if n := rc.held.leftOut(); n > 0 {
		if run.Detail != "" {
			run.Detail += ". "
		}
		run.Detail += fmt.Sprintf("the cap of %d new breaks per run left out %d (%s)", rc.max, n, rc.held.leftOutCounts())
	}
	newBefore := run.BreaksNew
	return rc.l.Update(ctx, func(tx *ledger.Tx) error {
		run.BreaksNew = newBefore // the writer may run this twice (a neighbour's failure)
		for _, f := range kept {
			isNew, _, err := rc.upsert(tx, f, true)
			if err != nil {
				return err
			}
			if isNew {
				run.BreaksNew++
			}
		}
		if n := rc.held.leftOut(); n > 0 {
			f := Finding{Category: TooManyBreaks, Subject: "new_breaks_cap", Severity: Critical,
				Detail: fmt.Sprintf("%d new breaks were not recorded: past the cap of %d new breaks per run, which "+
					"records every critical break and then the most severe of the rest; they open on later runs. "+
					"Left out by severity and category: %s", n, rc.max, rc.held.leftOutCounts())}
			isNew, _, err := rc.upsert(tx, f, true)
			if err != nil {
				return err
			}
			if isNew {
				run.BreaksNew++
			}
		}
		if run.Verdict != Incomplete {
			res, err := tx.Exec(`UPDATE breaks SET state = 'resolved', resolved_at = ?
				WHERE state IN ('open', 'acknowledged') AND last_run < ?`, rc.now, rc.runID)
			if err != nil {
				return fmt.Errorf("resolve cleared breaks: %w", err)
			}
			n, err := res.RowsAffected()
			if err != nil {
				return err
			}
			run.BreaksResolved = int(n)
		}
		if err := tx.QueryRow(`SELECT count(*) FROM recon_run_breaks WHERE run_id = ?`, rc.runID).Scan(&run.BreaksOpen); err != nil {
			return fmt.Errorf("count breaks of run %d: %w", rc.runID, err)
		}
		if run.Verdict == "" {
			switch {
			case run.BreaksOpen > 0:
				run.Verdict = Breaks
			case run.Pending > 0:
				run.Verdict = ReconciledWithPending
			default:
				run.Verdict = Reconciled
			}
		}
		for _, a := range accounts {
			if _, err := tx.Exec(`INSERT INTO recon_run_accounts (run_id, fuse_account_id, name, currency,
				ledger_posted, ledger_pending, fuse_balance, drift, gross_drift) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
				rc.runID, a.FuseAccountID, nullString(a.Name), string(a.Currency), int64(a.LedgerPosted),
				int64(a.LedgerPending), nullAmount(a.FuseBalance), int64(a.Drift), int64(a.GrossDrift)); err != nil {
				return fmt.Errorf("record account %s of run %d: %w", a.FuseAccountID, rc.runID, err)
			}
		}
		if _, err := tx.Exec(`UPDATE recon_runs SET finished_at = ?, verdict = ?, accounts_checked = ?,
			transactions_checked = ?, breaks_open = ?, breaks_new = ?, breaks_resolved = ?, pending = ?, detail = ?
			WHERE id = ?`, ts(run.FinishedAt), string(run.Verdict), run.AccountsChecked, run.TransactionsChecked,
			run.BreaksOpen, run.BreaksNew, run.BreaksResolved, run.Pending, run.Detail, rc.runID); err != nil {
			return fmt.Errorf("close run %d: %w", rc.runID, err)
		}
		return nil
	})
}

// ErrNotFound reports a run or break id that does not exist.
var ErrNotFound = errors.New("not found")

// ErrResolved reports an acknowledgement of a break already resolved.
var ErrResolved = errors.New("break is resolved")

// AckBreak marks break id as seen by a person, with a note saying why it
// is accepted or what is being done. It stays acknowledged (note kept)
// while runs still see it, and resolves when its condition clears. A
// second acknowledgement replaces the note.
func (s *Store) AckBreak(ctx context.Context, id int64, note string, at time.Time) (Break, error) {
	if note == "" {
		return Break{}, errors.New("acknowledge: a note is required")
	}
	err := s.l.Update(ctx, func(tx *ledger.Tx) error {
		var state string
		if err := tx.QueryRow(`SELECT state FROM breaks WHERE id = ?`, id).Scan(&state); err != nil {
			if errors.Is(err, sql.ErrNoRows) {
				return fmt.Errorf("break %d: %w", id, ErrNotFound)
			}
			return err
		}
		if state == string(Resolved) {
			return fmt.Errorf("break %d: %w", id, ErrResolved)
		}
		_, err := tx.Exec(`UPDATE breaks SET state = 'acknowledged', ack_note = ?, ack_at = ? WHERE id = ?`, note, ts(at), id)
		return err
	})
	if err != nil {
		return Break{}, err
	}
	return s.Break(ctx, id)
}

const breakCols = `id, category, subject, severity, COALESCE(fuse_account_id, ''), COALESCE(fuse_transaction_id, ''),
	COALESCE(currency, ''), ledger_amount, fuse_amount, difference, detail, state, first_seen, last_seen,
	first_run, last_run, resolved_at, COALESCE(ack_note, ''), ack_at`

func scanBreak(s scanner) (Break, error) {
	var b Break
	var cat, sev, cur, state, first, last string
	var la, fa, d sql.NullInt64
	var resolved, acked sql.NullString
	if err := s.Scan(&b.ID, &cat, &b.Subject, &sev, &b.FuseAccountID, &b.FuseTransactionID, &cur, &la, &fa, &d,
		&b.Detail, &state, &first, &last, &b.FirstRun, &b.LastRun, &resolved, &b.AckNote, &acked); err != nil {
		return b, err
	}
	b.Category, b.Severity, b.Currency, b.State = Category(cat), Severity(sev), ledgerd.Currency(cur), State(state)
	for _, x := range []struct {
		n *sql.NullInt64
		p **ledgerd.Amount
	}{{&la, &b.LedgerAmount}, {&fa, &b.FuseAmount}, {&d, &b.Difference}} {
		if x.n.Valid {
			*x.p = amt(ledgerd.Amount(x.n.Int64))
		}
	}
	var err error
	if b.FirstSeen, err = parseTS(first); err != nil {
		return b, err
	}
	if b.LastSeen, err = parseTS(last); err != nil {
		return b, err
	}
	for _, x := range []struct {
		s sql.NullString
		p **time.Time
	}{{resolved, &b.ResolvedAt}, {acked, &b.AckAt}} {
		if x.s.Valid {
			t, err := parseTS(x.s.String)
			if err != nil {
				return b, err
			}
			*x.p = &t
		}
	}
	return b, nil
}

// Break returns break id.
func (s *Store) Break(ctx context.Context, id int64) (Break, error) {
	b, err := scanBreak(s.l.Reader().QueryRowContext(ctx, `SELECT `+breakCols+` FROM breaks WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return Break{}, fmt.Errorf("break %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return Break{}, fmt.Errorf("read break %d: %w", id, err)
	}
	return b, nil
}

// Breaks returns the breaks in any of states (none: every break), oldest
// first.
func (s *Store) Breaks(ctx context.Context, states ...State) ([]Break, error) {
	q := `SELECT ` + breakCols + ` FROM breaks`
	var args []any
	for i, s := range states {
		if i == 0 {
			q += ` WHERE state IN (?`
		} else {
			q += `, ?`
		}
		args = append(args, string(s))
	}
	if len(states) > 0 {
		q += `)`
	}
	return queryBreaks(ctx, s.l.Reader(), q+` ORDER BY first_seen, id`, args...)
}

// MostSevereBreaks returns at most limit breaks in state, critical first,
// then warnings, then the rest, each oldest first: a screen that shows the
// first rows only keeps a new critical break from sitting below a flood
// of older warnings.
func (s *Store) MostSevereBreaks(ctx context.Context, state State, limit int) ([]Break, error) {
	return queryBreaks(ctx, s.l.Reader(), `SELECT `+breakCols+` FROM breaks WHERE state = ?
		ORDER BY CASE severity WHEN 'critical' THEN 0 WHEN 'warning' THEN 1 ELSE 2 END, first_seen, id
		LIMIT ?`, string(state), limit)
}

// BreakCounts counts the breaks in each state.
func (s *Store) BreakCounts(ctx context.Context) (map[State]int, error) {
	rows, err := s.l.Reader().QueryContext(ctx, `SELECT state, COUNT(*) FROM breaks GROUP BY state`)
	if err != nil {
		return nil, fmt.Errorf("count breaks: %w", err)
	}
	defer rows.Close()
	counts := map[State]int{}
	for rows.Next() {
		var state string
		var n int
		if err := rows.Scan(&state, &n); err != nil {
			return nil, fmt.Errorf("count breaks: %w", err)
		}
		counts[State(state)] = n
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("count breaks: %w", err)
	}
	return counts, nil
}

func queryBreaks(ctx context.Context, db querier, q string, args ...any) ([]Break, error) {
	rows, err := db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("read breaks: %w", err)
	}
	defer rows.Close()
	out := []Break{}
	for rows.Next() {
		b, err := scanBreak(rows)
		if err != nil {
			return nil, fmt.Errorf("read breaks: %w", err)
		}
		out = append(out, b)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read breaks: %w", err)
	}
	return out, nil
}
