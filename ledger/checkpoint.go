package ledger

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"
)

// Checkpoint is the backfill's record of one Fuse account: when a run
// last finished it and why the last run failed. Where the backfill stands
// in Fuse's listings is its SyncWindow.
type Checkpoint struct {
	AccountID     string
	LastSuccessAt time.Time // when a run last finished this account
	LastError     string    // why the last run of this account failed, "" if it did not
}

// Checkpoint returns the account's record; ok is false when no run has
// recorded anything for it.
func (l *Ledger) Checkpoint(ctx context.Context, accountID string) (cp Checkpoint, ok bool, err error) {
	var success, lastErr sql.NullString
	err = l.reader.QueryRowContext(ctx, `SELECT last_success_at, last_error
		FROM sync_checkpoints WHERE account_id = ?`, accountID).Scan(&success, &lastErr)
	if errors.Is(err, sql.ErrNoRows) {
		return Checkpoint{AccountID: accountID}, false, nil
	}
	if err != nil {
		return cp, false, fmt.Errorf("read checkpoint of %s: %w", accountID, err)
	}
	cp.AccountID, cp.LastError = accountID, lastErr.String
	if cp.LastSuccessAt, err = parseTime(success); err != nil {
		return cp, false, err
	}
	return cp, true, nil
}

// RecordSyncResult notes the end of a backfill run for each account, in
// one transaction: success (errText "") stamps last_success_at and clears
// last_error; a failure records why. An account the ledger has never seen
// gets no row.
func (l *Ledger) RecordSyncResult(ctx context.Context, accountIDs []string, at time.Time, errText string) error {
	return l.w.do(ctx, func(t *wtx) error {
		for _, id := range accountIDs {
			var err error
			if errText == "" {
				_, err = t.exec(`INSERT INTO sync_checkpoints (account_id, last_success_at)
					SELECT ?, ? WHERE EXISTS (SELECT 1 FROM fuse_accounts WHERE account_id = ?)
					ON CONFLICT (account_id) DO UPDATE SET last_success_at = excluded.last_success_at, last_error = NULL`,
					id, formatTime(at), id)
			} else {
				_, err = t.exec(`INSERT INTO sync_checkpoints (account_id, last_error)
					SELECT ?, ? WHERE EXISTS (SELECT 1 FROM fuse_accounts WHERE account_id = ?)
					ON CONFLICT (account_id) DO UPDATE SET last_error = excluded.last_error`,
					id, errText, id)
			}
			if err != nil {
				return fmt.Errorf("record sync result of %s: %w", id, err)
			}
		}
		return nil
	})
}

// Scopes of sync windows: the organisation's listing, or one account's.
const ScopeOrg = "org"

// AccountScope is the scope of one account's listing.
func AccountScope(accountID string) string { return "account:" + accountID }

// SyncWindow is where the backfill stands in one scope's transaction
// listings (schema.sql, sync_windows). Times are Fuse's.
type SyncWindow struct {
	Scope string
	// NextFrom is where the next listing starts, before the overlap;
	// zero: from the start.
	NextFrom time.Time
	// Listing is the listing in progress; nil when there is none.
	Listing *WindowListing
	// UpdatedAt is when the row was last written; zero when there is no
	// row yet.
	UpdatedAt time.Time
}

// WindowListing is a listing in progress: its window, and how far its
// committed pages have gone.
type WindowListing struct {
	From   time.Time // zero: from the start
	To     time.Time
	Latest time.Time // the latest created_at listed so far; zero: none yet
	Cursor string    // pages.next after the last committed page; "": none committed
	Pages  int
}

// ErrWindowMoved reports a sync window that another run changed since
// this one read it: the page is not committed, and the other run carries
// on.
var ErrWindowMoved = errors.New("sync window moved: another backfill is running")

// SyncWindow returns the scope's window; a scope never read has a zero
// one.
func (l *Ledger) SyncWindow(ctx context.Context, scope string) (SyncWindow, error) {
	w := SyncWindow{Scope: scope}
	var next, from, to, latest, cursor, updated sql.NullString
	var pages int
	err := l.reader.QueryRowContext(ctx, `SELECT next_from, run_from, run_to, run_latest, cursor, pages, updated_at
		FROM sync_windows WHERE scope = ?`, scope).Scan(&next, &from, &to, &latest, &cursor, &pages, &updated)
	if errors.Is(err, sql.ErrNoRows) {
		return w, nil
	}
	if err != nil {
		return w, fmt.Errorf("read sync window %s: %w", scope, err)
	}
	var errs [5]error
	w.NextFrom, errs[0] = parseTime(next)
	w.UpdatedAt, errs[1] = parseTime(updated)
	if to.Valid {
		w.Listing = &WindowListing{Cursor: cursor.String, Pages: pages}
		w.Listing.From, errs[2] = parseTime(from)
		w.Listing.To, errs[3] = parseTime(to)
		w.Listing.Latest, errs[4] = parseTime(latest)
	}
	if err := errors.Join(errs[:]...); err != nil {
		return w, fmt.Errorf("read sync window %s: %w", scope, err)
	}
	return w, nil
}

// SaveSyncWindow writes next in place of prev, inside the transaction of
// IngestAll, so that a page's observations and the window's advance
// commit together or not at all. It is a compare-and-set: when the stored
// window is no longer prev (another run moved it), nothing is written and
// the error wraps ErrWindowMoved. next.UpdatedAt is the time written.
func (tx *Tx) SaveSyncWindow(prev, next SyncWindow) error {
	t := tx.t
	if next.Scope == "" || next.Scope != prev.Scope || next.UpdatedAt.IsZero() {
		return fmt.Errorf("save sync window: a scope and a time are required")
	}
	var from, to, latest, cursor sql.NullString
	pages := 0
	if l := next.Listing; l != nil {
		if l.To.IsZero() {
			return fmt.Errorf("save sync window %s: a listing needs its to", next.Scope)
		}
		from, to, latest = formatTime(l.From), formatTime(l.To), formatTime(l.Latest)
		cursor = sql.NullString{String: l.Cursor, Valid: l.Cursor != ""}
		pages = l.Pages
	}
	args := []any{formatTime(next.NextFrom), from, to, latest, cursor, pages, formatTime(next.UpdatedAt), next.Scope}
	var res sql.Result
	var err error
	if prev.UpdatedAt.IsZero() {
		res, err = t.exec(`INSERT INTO sync_windows (next_from, run_from, run_to, run_latest, cursor, pages, updated_at, scope)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (scope) DO NOTHING`, args...)
	} else {
		var pto, pcursor sql.NullString
		if l := prev.Listing; l != nil {
			pto, pcursor = formatTime(l.To), sql.NullString{String: l.Cursor, Valid: l.Cursor != ""}
		}
		res, err = t.exec(`UPDATE sync_windows SET next_from = ?, run_from = ?, run_to = ?, run_latest = ?, cursor = ?,
			pages = ?, updated_at = ? WHERE scope = ? AND next_from IS ? AND run_to IS ? AND cursor IS ?`,
			append(args, formatTime(prev.NextFrom), pto, pcursor)...)
	}
	if err != nil {
		return fmt.Errorf("save sync window %s: %w", next.Scope, err)
	}
	if n, err := res.RowsAffected(); err != nil || n != 1 {
		return fmt.Errorf("save sync window %s: %w", next.Scope, ErrWindowMoved)
	}
	return nil
}

// OpenTransaction is a transaction the ledger does not hold final.
type OpenTransaction struct {
	TransactionID string
	AccountID     string
	CreatedAt     time.Time // zero when the ledger has none
}

// notFinal is the condition on fuse_transactions of a transaction the
// ledger does not hold final: still created, submitted or booked, or
// final without amounts (no entry: the observations so far had none). It
// reads only columns of fuse_transactions_account_id, so that SQLite can
// scan that index rather than the table. There is no index for it: on a
// million transactions the scan takes about 0.7 s (2 cores), once per
// backfill run.
const notFinal = `(status IN ('created', 'submitted', 'booked') OR instructed_amount IS NULL OR currency IS NULL)`

const notFinalSQL = `SELECT transaction_id, account_id, created_at FROM fuse_transactions WHERE ` + notFinal

// OpenTransactions lists the transactions of one Fuse account (all of
// them when accountID is "") that the ledger does not hold final, newest
// first by created_at (those without one last).
func (l *Ledger) OpenTransactions(ctx context.Context, accountID string) ([]OpenTransaction, error) {
	q, args := notFinalSQL, []any{}
	if accountID != "" {
		q += " AND account_id = ?"
		args = append(args, accountID)
	}
	rows, err := l.reader.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list open transactions: %w", err)
	}
	defer rows.Close()
	var out []OpenTransaction
	for rows.Next() {
		var o OpenTransaction
		var created sql.NullString
		if err := rows.Scan(&o.TransactionID, &o.AccountID, &created); err != nil {
			return nil, fmt.Errorf("list open transactions: %w", err)
		}
		if o.CreatedAt, err = parseTime(created); err != nil {
			return nil, fmt.Errorf("list open transactions: %w", err)
		}
		out = append(out, o)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list open transactions: %w", err)
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i].CreatedAt, out[j].CreatedAt
		if a.IsZero() != b.IsZero() {
			return b.IsZero()
		}
		return a.After(b)
	})
	return out, nil
}

// StillOpen returns which of ids the ledger still does not hold final.
func (l *Ledger) StillOpen(ctx context.Context, ids []string) (map[string]bool, error) {
	open := map[string]bool{}
	const chunk = 500
	for len(ids) > 0 {
		part := ids[:min(chunk, len(ids))]
		ids = ids[len(part):]
		args := make([]any, len(part))
		for i, id := range part {
			args[i] = id
		}
		rows, err := l.reader.QueryContext(ctx, `SELECT transaction_id FROM fuse_transactions
			WHERE transaction_id IN (`+strings.TrimSuffix(strings.Repeat("?, ", len(part)), ", ")+`) AND `+notFinal, args...)
		if err != nil {
			return nil, fmt.Errorf("look up open transactions: %w", err)
		}
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return nil, fmt.Errorf("look up open transactions: %w", err)
			}
			open[id] = true
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, fmt.Errorf("look up open transactions: %w", err)
		}
	}
	return open, nil
}

// CreatedSince counts, for each of cuts (newest first), the transactions
// of one Fuse account (all of them when accountID is "") that the ledger
// knows created at or after it: what a listing from that time would
// show, as far as the ledger knows. One pass over the rows created at or
// after the oldest cut.
func (l *Ledger) CreatedSince(ctx context.Context, accountID string, cuts []time.Time) ([]int, error) {
	counts := make([]int, len(cuts))
	if len(cuts) == 0 {
		return counts, nil
	}
	// Stored times are fixed width: text order is time order.
	keys := make([]string, len(cuts))
	for i, c := range cuts {
		keys[i] = formatTime(c).String
		if i > 0 && keys[i] > keys[i-1] {
			return nil, fmt.Errorf("count transactions created since: cuts not newest first")
		}
	}
	q, args := `SELECT created_at FROM fuse_transactions WHERE created_at >= ?`, []any{keys[len(keys)-1]}
	if accountID != "" {
		q += " AND account_id = ?"
		args = append(args, accountID)
	}
	rows, err := l.reader.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("count transactions created since: %w", err)
	}
	defer rows.Close()
	// below[i] counts the rows in [keys[i], keys[i-1]).
	below := make([]int, len(keys))
	var created []byte
	for rows.Next() {
		if err := rows.Scan(&created); err != nil {
			return nil, fmt.Errorf("count transactions created since: %w", err)
		}
		// The first cut the row is at or after.
		i := sort.Search(len(keys), func(i int) bool { return string(created) >= keys[i] })
		if i < len(keys) {
			below[i]++
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("count transactions created since: %w", err)
	}
	n := 0
	for i := range keys {
		n += below[i]
		counts[i] = n
	}
	return counts, nil
}
