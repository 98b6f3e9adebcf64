package reconcile

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/ledgerd/ledgerd"
	"github.com/ledgerd/ledgerd/ledger"
)

// The checks below need only the ledger. Each is one SQL statement over
// the whole book whose result is the breaks themselves, so their memory
// does not grow with history either.

// queryRow is query for one row.
func (st *runState) queryRow(ctx context.Context, q string, args ...any) *sql.Row {
	if st.checks != nil {
		return st.checks.conn.QueryRowContext(ctx, q, args...)
	}
	return st.r.opts.Ledger.Reader().QueryRowContext(ctx, q, args...)
}

// query runs a check's query on the run's checks connection, or the pool.
func (st *runState) query(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	if st.checks != nil {
		return st.checks.conn.QueryContext(ctx, q, args...)
	}
	return st.r.opts.Ledger.Reader().QueryContext(ctx, q, args...)
}

// ledgerChecks runs every ledger-only check.
func (st *runState) ledgerChecks(ctx context.Context) error {
	for _, check := range []func(context.Context) error{
		st.unpairedLegs, st.duplicates, st.statusConflicts, st.currencyConflicts, st.feeConflicts, st.unbalancedEntries,
	} {
		if err := check(ctx); err != nil {
			return err
		}
	}
	return nil
}

// unpairedLegsSQL pairs the two legs of every internal transfer and
// exchange that had succeeded at the cut-off, by what DESIGN.md says pairs
// them: external_id (else reference) for transfers, external_reference
// (else external_id) for exchanges, the two accounts, and the amount that
// passes through clearing (an exchange's source amount, which its
// receiving leg carries as counterpart_amount). A group whose sending and
// receiving legs do not cancel leaves money in clearing:internal or
// clearing:fx:<ccy>. Legs are taken by status (the entry is posted exactly
// when the status has succeeded and amounts are known); a group whose
// latest leg is within the ledger's grace period is left alone, its other
// leg may be on the way.
const unpairedLegsSQL = `
SELECT leg_family, leg_currency, leg_key, leg_src, leg_dst, leg_amount, SUM(leg_sign), COUNT(*), MIN(transaction_id)
  FROM fuse_transactions INDEXED BY fuse_transactions_legs
 WHERE kind IN ('internal_transfer_out', 'internal_transfer_in', 'exchange_out', 'exchange_in')
   AND status IN ('executed', 'settled') AND status_at <= :as_of AND leg_amount IS NOT NULL
 GROUP BY leg_family, leg_currency, leg_key, leg_src, leg_dst, leg_amount
HAVING SUM(leg_sign) <> 0 AND MAX(status_at) <= :grace`

// groupLegsSQL lists the legs of one group of unpairedLegsSQL (the rare
// groups that do not pair), in the index's order: building that list for
// every group, paired or not, would cost the walk more than the walk.
const groupLegsSQL = `
SELECT group_concat(transaction_id || ' (' || kind || ')', ', ')
  FROM fuse_transactions INDEXED BY fuse_transactions_legs
 WHERE kind IN ('internal_transfer_out', 'internal_transfer_in', 'exchange_out', 'exchange_in')
   AND leg_family = ? AND leg_currency IS ? AND leg_key = ? AND leg_src IS ? AND leg_dst IS ? AND leg_amount = ?
   AND status IN ('executed', 'settled') AND status_at <= ?`

func (st *runState) unpairedLegs(ctx context.Context) error {
	rows, err := st.query(ctx, unpairedLegsSQL,
		sql.Named("as_of", st.asOfS), sql.Named("grace", st.ledgerGraceS))
	if err != nil {
		return fmt.Errorf("pair transfer legs: %w", err)
	}
	defer rows.Close()
	type group struct {
		family, key, first string
		cur, src, dst      sql.NullString
		amount, sum        int64
	}
	var groups []group
	for rows.Next() {
		var g group
		var n int64
		if err := rows.Scan(&g.family, &g.cur, &g.key, &g.src, &g.dst, &g.amount, &g.sum, &n, &g.first); err != nil {
			return fmt.Errorf("pair transfer legs: %w", err)
		}
		groups = append(groups, g)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("pair transfer legs: %w", err)
	}
	rows.Close()
	var fs []Finding
	for _, g := range groups {
		var legs sql.NullString
		if err := st.queryRow(ctx, groupLegsSQL, g.family, g.cur, g.key, g.src, g.dst, g.amount, st.asOfS).Scan(&legs); err != nil {
			return fmt.Errorf("pair transfer legs: %w", err)
		}
		c := ledgerd.Currency(g.cur.String)
		left := ledgerd.Amount(g.amount * g.sum) // |sum| legs of one amount: bounded by MaxAmount × rows
		missing, acct := "receiving", g.src.String
		if g.sum < 0 {
			missing, acct = "sending", g.dst.String
		}
		f := Finding{Category: UnpairedLeg, Subject: g.first, Severity: Warning,
			FuseAccountID: acct, FuseTransactionID: g.first, Currency: c, LedgerAmount: amt(left), Difference: amt(left)}
		if !g.cur.Valid {
			// Legs on an account whose currency the ledger never
			// learned: a break carries no amounts it cannot name the
			// currency of (the detail tells them in minor units).
			f.LedgerAmount, f.Difference = nil, nil
		}
		f.Detail = fmt.Sprintf("%s of %s from %s to %s (key %q): booked %s; the %s leg is missing, %s stays in clearing",
			g.family, fmtAmt(amt(ledgerd.Amount(g.amount)), c), g.src.String, g.dst.String, g.key, legs.String, missing,
			fmtAmt(&left, c))
		fs = append(fs, f)
	}
	return st.emitAll(ctx, fs)
}

// duplicatesSQL finds one external_id booked more than once as the same
// kind on the same account and not failed: a payment sent twice. The
// groups are found on the covering index fuse_transactions_external_id
// alone, walked in order; only the (rare) groups found go back to the
// table for their transaction ids, in the index's order.
const duplicatesSQL = `
WITH dup AS (
  SELECT external_id, account_id, kind
    FROM fuse_transactions INDEXED BY fuse_transactions_external_id
   WHERE external_id IS NOT NULL AND status <> 'failed'
   GROUP BY external_id, account_id, kind
  HAVING COUNT(*) > 1)
SELECT d.account_id, d.kind, d.external_id, COUNT(*), MIN(t.transaction_id),
       group_concat(t.transaction_id, ', ' ORDER BY t.status, t.rowid)
  FROM dup d
  JOIN fuse_transactions t INDEXED BY fuse_transactions_external_id
    ON t.external_id = d.external_id AND t.account_id = d.account_id AND t.kind = d.kind
 WHERE t.status <> 'failed'
 GROUP BY d.external_id, d.account_id, d.kind
 ORDER BY d.external_id, d.account_id, d.kind`

func (st *runState) duplicates(ctx context.Context) error {
	rows, err := st.query(ctx, duplicatesSQL)
	if err != nil {
		return fmt.Errorf("find duplicates: %w", err)
	}
	defer rows.Close()
	var fs []Finding
	for rows.Next() {
		var acct, kind, ext, first, ids string
		var n int
		if err := rows.Scan(&acct, &kind, &ext, &n, &first, &ids); err != nil {
			return fmt.Errorf("find duplicates: %w", err)
		}
		fs = append(fs, Finding{Category: Duplicate, Subject: acct + "/" + kind + "/" + ext, Severity: Warning,
			FuseAccountID: acct, FuseTransactionID: first,
			Detail: fmt.Sprintf("%d %s transactions with external_id %q on account %s: %s", n, kind, ext, acct, ids)})
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("find duplicates: %w", err)
	}
	rows.Close()
	return st.emitAll(ctx, fs)
}

// statusConflicts turns the ledger's evidence of two terminal statuses
// into breaks; the evidence is permanent, so they stay until acknowledged.
func (st *runState) statusConflicts(ctx context.Context) error {
	rows, err := st.query(ctx, `
		SELECT c.subject, c.kept, c.observed, COALESCE(t.account_id, ''), COALESCE(t.currency, '')
		  FROM observation_conflicts c LEFT JOIN fuse_transactions t ON t.transaction_id = c.subject
		 WHERE c.field = 'status' ORDER BY c.subject, c.id`)
	if err != nil {
		return fmt.Errorf("read status conflicts: %w", err)
	}
	defer rows.Close()
	var fs []Finding
	for rows.Next() {
		var subject, kept, observed, acct, cur string
		if err := rows.Scan(&subject, &kept, &observed, &acct, &cur); err != nil {
			return fmt.Errorf("read status conflicts: %w", err)
		}
		if n := len(fs); n > 0 && fs[n-1].Subject == subject {
			fs[n-1].Detail += ", then " + observed
			continue
		}
		fs = append(fs, Finding{Category: StatusConflict, Subject: subject, Severity: Critical,
			FuseAccountID: acct, FuseTransactionID: subject, Currency: ledgerd.Currency(cur),
			Detail: fmt.Sprintf("observations disagree: the ledger kept %s, and was also told %s", kept, observed)})
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read status conflicts: %w", err)
	}
	rows.Close()
	return st.emitAll(ctx, fs)
}

// currencyConflicts turns the ledger's evidence of transactions in another
// currency than their account's, which it did not book, into breaks
// naming the event that said it (one per event: the subject is
// "event:<seq>", apart from the transaction's own currency_mismatch when
// Fuse disagrees with the ledger). Like status conflicts, they stay until
// acknowledged.
func (st *runState) currencyConflicts(ctx context.Context) error {
	rows, err := st.query(ctx, `
		SELECT c.event_seq, e.event_id, c.subject, c.kept, c.observed, COALESCE(t.account_id, ''),
		       COALESCE(t.kind, ''), COALESCE(t.status, ''), t.instructed_amount
		  FROM observation_conflicts c
		  JOIN events e ON e.seq = c.event_seq
		  LEFT JOIN fuse_transactions t ON t.transaction_id = c.subject
		 WHERE c.field = ? ORDER BY c.event_seq, c.id`, ledger.FieldAccountCurrency)
	if err != nil {
		return fmt.Errorf("read currency conflicts: %w", err)
	}
	defer rows.Close()
	var fs []Finding
	for rows.Next() {
		var seq int64
		var eventID, txID, kept, observed, acct, kind, status string
		var instructed sql.NullInt64
		if err := rows.Scan(&seq, &eventID, &txID, &kept, &observed, &acct, &kind, &status, &instructed); err != nil {
			return fmt.Errorf("read currency conflicts: %w", err)
		}
		c := ledgerd.Currency(observed)
		var fa *ledgerd.Amount
		if instructed.Valid {
			fa = amt(ledgerd.Amount(instructed.Int64))
		}
		fs = append(fs, Finding{Category: CurrencyMismatch, Subject: fmt.Sprintf("event:%d", seq), Severity: Critical,
			FuseAccountID: acct, FuseTransactionID: txID, Currency: c, FuseAmount: fa,
			Detail: fmt.Sprintf("event %s (seq %d) puts %s %s (%s, %s) on account %s, whose currency is %s: the ledger did not book it (nothing in %s on %s)",
				eventID, seq, kind, txID, status, fmtAmt(fa, c), acct, kept, observed, ledger.BankAccount(acct))})
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read currency conflicts: %w", err)
	}
	rows.Close()
	return st.emitAll(ctx, fs)
}

// unbalancedEntries reads v_unbalanced_entries, which must be empty.
func (st *runState) unbalancedEntries(ctx context.Context) error {
	rows, err := st.query(ctx, `
		SELECT u.entry_id, u.currency, u.imbalance, e.transaction_id, t.account_id
		  FROM v_unbalanced_entries u
		  JOIN entries e ON e.id = u.entry_id
		  JOIN fuse_transactions t ON t.transaction_id = e.transaction_id
		 ORDER BY u.entry_id, u.currency`)
	if err != nil {
		return fmt.Errorf("read unbalanced entries: %w", err)
	}
	defer rows.Close()
	var fs []Finding
	for rows.Next() {
		var id, imbalance int64
		var cur, txID, acct string
		if err := rows.Scan(&id, &cur, &imbalance, &txID, &acct); err != nil {
			return fmt.Errorf("read unbalanced entries: %w", err)
		}
		c := ledgerd.Currency(cur)
		fs = append(fs, Finding{Category: UnbalancedEntry, Subject: fmt.Sprintf("entry:%d/%s", id, cur), Severity: Critical,
			FuseAccountID: acct, FuseTransactionID: txID, Currency: c, LedgerAmount: amt(ledgerd.Amount(imbalance)),
			Difference: amt(ledgerd.Amount(imbalance)),
			Detail: fmt.Sprintf("entry %d of transaction %s: postings sum to %s %s, not zero (ledger.Ingest refuses this: the file was written by something else)",
				id, txID, ledgerd.Amount(imbalance).Format(c), c)})
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read unbalanced entries: %w", err)
	}
	rows.Close()
	return st.emitAll(ctx, fs)
}

func (st *runState) emitAll(ctx context.Context, fs []Finding) error {
	for _, f := range fs {
		if err := st.emit(ctx, f); err != nil {
			return err
		}
	}
	return nil
}

// categoryCounts renders counts by category for a run's detail.
func categoryCounts(counts map[Category]int) string {
	var parts []string
	for _, c := range Categories {
		if n := counts[c]; n > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", c, n))
		}
	}
	return strings.Join(parts, ", ")
}
