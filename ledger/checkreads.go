package ledger

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/ledgerd/ledgerd"
)

// The typed reads here are what a reconciliation's ledger-only checks read
// (reconcile/checks.go): each is one statement over the whole book whose
// rows are the findings themselves, walked on the BulkReader's connection,
// so their memory does not grow with history either.

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

// UnpairedLegs is a group of transfer or exchange legs, succeeded at the
// cut-off, that should cancel in clearing and do not.
type UnpairedLegs struct {
	// Family is transfer or exchange; Key what pairs the legs (an
	// external id or reference); Src and Dst the sending and receiving
	// accounts ("" when unknown).
	Family, Key, Src, Dst string
	// Currency is what passes through clearing, "" when the ledger never
	// learned the account's currency.
	Currency ledgerd.Currency
	// Amount is one leg's amount through clearing; Sum the legs' signs
	// added (+1 a sending leg, −1 a receiving one): the legs leave
	// Amount × Sum in clearing.
	Amount ledgerd.Amount
	Sum    int64
	// First is the group's lowest transaction id; Legs lists them all as
	// "<id> (<kind>), …" in the index's order.
	First, Legs string
}

// UnpairedLegs returns the groups of legs that do not cancel at the cut-off
// asOf, leaving alone those whose latest leg changed after grace.
func (b *BulkReader) UnpairedLegs(ctx context.Context, asOf, grace time.Time) ([]UnpairedLegs, error) {
	type group struct {
		family, key, first string
		cur, src, dst      sql.NullString
		amount, sum        int64
	}
	const what = "pair transfer legs"
	asOfS := FormatTime(asOf)
	var groups []group
	err := eachRow(ctx, b.q(), what, unpairedLegsSQL, []any{sql.Named("as_of", asOfS), sql.Named("grace", FormatTime(grace))},
		func(rows *sql.Rows) error {
			var g group
			var n int64
			if err := rows.Scan(&g.family, &g.cur, &g.key, &g.src, &g.dst, &g.amount, &g.sum, &n, &g.first); err != nil {
				return fmt.Errorf("%s: %w", what, err)
			}
			groups = append(groups, g)
			return nil
		})
	if err != nil {
		return nil, err
	}
	out := make([]UnpairedLegs, 0, len(groups))
	for _, g := range groups {
		var legs sql.NullString
		if err := b.q().QueryRowContext(ctx, groupLegsSQL, g.family, g.cur, g.key, g.src, g.dst, g.amount, asOfS).Scan(&legs); err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		out = append(out, UnpairedLegs{Family: g.family, Key: g.key, Src: g.src.String, Dst: g.dst.String,
			Currency: ledgerd.Currency(g.cur.String), Amount: ledgerd.Amount(g.amount), Sum: g.sum,
			First: g.first, Legs: legs.String})
	}
	return out, nil
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

// Duplicate is one external_id booked more than once as the same kind on
// the same account, none of them failed.
type Duplicate struct {
	AccountID, Kind, ExternalID string
	Count                       int
	// First is the lowest transaction id; IDs lists them all.
	First, IDs string
}

// Duplicates calls fn for each duplicate, by external_id, account and
// kind.
func (b *BulkReader) Duplicates(ctx context.Context, fn func(Duplicate) error) error {
	const what = "find duplicates"
	return eachRow(ctx, b.q(), what, duplicatesSQL, nil, func(rows *sql.Rows) error {
		var d Duplicate
		if err := rows.Scan(&d.AccountID, &d.Kind, &d.ExternalID, &d.Count, &d.First, &d.IDs); err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		return fn(d)
	})
}

// Conflict is the ledger's evidence that two observations of a
// transaction contradict each other (observation_conflicts): the value it
// kept and the one it was also told, with what it knows of the
// transaction ("" where it knows nothing).
type Conflict struct {
	// Subject is the transaction's id.
	Subject, Kept, Observed string
	AccountID               string
	Currency                ledgerd.Currency
}

// StatusConflicts calls fn for each observation of a terminal status that
// contradicted the one kept, by transaction and in the order recorded.
func (b *BulkReader) StatusConflicts(ctx context.Context, fn func(Conflict) error) error {
	const what = "read status conflicts"
	return eachRow(ctx, b.q(), what, `
		SELECT c.subject, c.kept, c.observed, COALESCE(t.account_id, ''), COALESCE(t.currency, '')
		  FROM observation_conflicts c LEFT JOIN fuse_transactions t ON t.transaction_id = c.subject
		 WHERE c.field = 'status' ORDER BY c.subject, c.id`, nil, func(rows *sql.Rows) error {
		var c Conflict
		if err := rows.Scan(&c.Subject, &c.Kept, &c.Observed, &c.AccountID, &c.Currency); err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		return fn(c)
	})
}

// FeeConflict is a FieldFeeSource conflict: a payment's fee booked twice,
// or where nothing may ever book it.
type FeeConflict struct {
	Conflict
	// Fee is the payment's fee, nil when unknown; FeeDebits lists the
	// fee debits that target the payment ("" when none).
	Fee       *ledgerd.Amount
	FeeDebits string
}

// FeeConflicts calls fn for each FieldFeeSource conflict, by payment and
// in the order recorded.
func (b *BulkReader) FeeConflicts(ctx context.Context, fn func(FeeConflict) error) error {
	const what = "read fee conflicts"
	return eachRow(ctx, b.q(), what, `
		SELECT c.subject, c.kept, c.observed, COALESCE(t.account_id, ''), COALESCE(t.currency, ''), t.fee_amount,
		       COALESCE((SELECT group_concat(d.transaction_id, ', ' ORDER BY d.transaction_id)
		                   FROM fuse_transactions d WHERE d.fee_target_id = c.subject), '')
		  FROM observation_conflicts c LEFT JOIN fuse_transactions t ON t.transaction_id = c.subject
		 WHERE c.field = ? ORDER BY c.subject, c.id`, []any{FieldFeeSource}, func(rows *sql.Rows) error {
		var c FeeConflict
		var fee sql.NullInt64
		if err := rows.Scan(&c.Subject, &c.Kept, &c.Observed, &c.AccountID, &c.Currency, &fee, &c.FeeDebits); err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		if fee.Valid {
			a := ledgerd.Amount(fee.Int64)
			c.Fee = &a
		}
		return fn(c)
	})
}

// CurrencyConflict is a FieldAccountCurrency conflict: an event put a
// transaction in another currency than its account's, and the ledger did
// not book it. Kept is the account's currency, Observed the event's.
type CurrencyConflict struct {
	Conflict
	// Seq and EventID name the event that said it.
	Seq     int64
	EventID string
	// Kind, Status and Instructed are the transaction's as the ledger
	// holds them ("" and nil where it does not know).
	Kind, Status string
	Instructed   *ledgerd.Amount
}

// CurrencyConflicts calls fn for each FieldAccountCurrency conflict, in
// the order of the events that brought them.
func (b *BulkReader) CurrencyConflicts(ctx context.Context, fn func(CurrencyConflict) error) error {
	const what = "read currency conflicts"
	return eachRow(ctx, b.q(), what, `
		SELECT c.event_seq, e.event_id, c.subject, c.kept, c.observed, COALESCE(t.account_id, ''),
		       COALESCE(t.kind, ''), COALESCE(t.status, ''), t.instructed_amount
		  FROM observation_conflicts c
		  JOIN events e ON e.seq = c.event_seq
		  LEFT JOIN fuse_transactions t ON t.transaction_id = c.subject
		 WHERE c.field = ? ORDER BY c.event_seq, c.id`, []any{FieldAccountCurrency}, func(rows *sql.Rows) error {
		var c CurrencyConflict
		var instructed sql.NullInt64
		if err := rows.Scan(&c.Seq, &c.EventID, &c.Subject, &c.Kept, &c.Observed, &c.AccountID, &c.Kind, &c.Status,
			&instructed); err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		c.Currency = ledgerd.Currency(c.Observed)
		if instructed.Valid {
			a := ledgerd.Amount(instructed.Int64)
			c.Instructed = &a
		}
		return fn(c)
	})
}

// UnbalancedEntry is an entry whose postings do not sum to zero in a
// currency (v_unbalanced_entries, which Ingest keeps empty: only
// something else writing the file fills it).
type UnbalancedEntry struct {
	EntryID                  int64
	Currency                 ledgerd.Currency
	Imbalance                ledgerd.Amount
	TransactionID, AccountID string
}

// UnbalancedEntries calls fn for each unbalanced entry and currency.
func (b *BulkReader) UnbalancedEntries(ctx context.Context, fn func(UnbalancedEntry) error) error {
	const what = "read unbalanced entries"
	return eachRow(ctx, b.q(), what, `
		SELECT u.entry_id, u.currency, u.imbalance, e.transaction_id, t.account_id
		  FROM v_unbalanced_entries u
		  JOIN entries e ON e.id = u.entry_id
		  JOIN fuse_transactions t ON t.transaction_id = e.transaction_id
		 ORDER BY u.entry_id, u.currency`, nil, func(rows *sql.Rows) error {
		var u UnbalancedEntry
		if err := rows.Scan(&u.EntryID, &u.Currency, &u.Imbalance, &u.TransactionID, &u.AccountID); err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		return fn(u)
	})
}
