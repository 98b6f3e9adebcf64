package ledger

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/ledgerd/ledgerd"
)

// Balance is the balance of one ledger account in one currency, in minor
// units. Available is Posted plus pending outflows. FuseCurrent and
// FuseAvailable are what Fuse last reported for a bank account (nil for
// other accounts or when Fuse has not been asked). The JSON names are the
// external contract of `ledgerd balances --json` and /api/v1/balances.
type Balance struct {
	LedgerAccount string           `json:"ledger_account"`
	FuseAccountID *string          `json:"fuse_account_id"`
	Currency      ledgerd.Currency `json:"currency"`
	Posted        ledgerd.Amount   `json:"posted"`
	Pending       ledgerd.Amount   `json:"pending"`
	Available     ledgerd.Amount   `json:"available"`
	FuseCurrent   *ledgerd.Amount  `json:"fuse_current"`
	FuseAvailable *ledgerd.Amount  `json:"fuse_available"`
}

// Balances returns every ledger account's current balances, ordered by
// account and currency.
func (l *Ledger) Balances(ctx context.Context) ([]Balance, error) {
	return l.queryBalances(ctx, `SELECT ledger_account, fuse_account_id, currency, posted, pending, available,
		fuse_current, fuse_available FROM v_balances ORDER BY ledger_account, currency`)
}

// asOfSQL computes balances from postings with the entry states as they
// stood at a cut-off: :at is compared with the entry's pending/final
// columns, which are either Fuse times or ingest sequences.
const asOfSQL = `
SELECT p.ledger_account, a.fuse_account_id, p.currency,
       SUM(CASE WHEN e.state = 'posted' AND e.FINAL <= :at THEN p.amount ELSE 0 END),
       SUM(CASE WHEN e.PENDING <= :at AND (e.FINAL IS NULL OR e.FINAL > :at) THEN p.amount ELSE 0 END),
       SUM(CASE WHEN e.state = 'posted' AND e.FINAL <= :at THEN p.amount
                WHEN e.PENDING <= :at AND (e.FINAL IS NULL OR e.FINAL > :at) AND p.amount < 0 THEN p.amount
                ELSE 0 END),
       NULL, NULL
  FROM postings p
  JOIN entries e ON e.id = p.entry_id
  JOIN ledger_accounts a ON a.name = p.ledger_account
 WHERE e.PENDING <= :at
 GROUP BY p.ledger_account, p.currency
 ORDER BY p.ledger_account, p.currency`

// BalancesAsOf returns balances as they stood at Fuse effective time at:
// entries count as pending from their pending_at and as posted (or gone,
// if voided) from their final_at. Fuse balances are not included.
func (l *Ledger) BalancesAsOf(ctx context.Context, at time.Time) ([]Balance, error) {
	q := replaceCols(asOfSQL, "pending_at", "final_at")
	return l.queryBalances(ctx, q, sql.Named("at", formatTime(at)))
}

// BalancesAsOfSeq returns balances as they stood right after ledgerd
// ingested event seq (ingest order rather than Fuse time).
func (l *Ledger) BalancesAsOfSeq(ctx context.Context, seq int64) ([]Balance, error) {
	q := replaceCols(asOfSQL, "created_seq", "final_seq")
	return l.queryBalances(ctx, q, sql.Named("at", seq))
}

func replaceCols(q, pending, final string) string {
	return strings.NewReplacer("PENDING", pending, "FINAL", final).Replace(q)
}

func (l *Ledger) queryBalances(ctx context.Context, q string, args ...any) ([]Balance, error) {
	rows, err := l.reader.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("query balances: %w", err)
	}
	defer rows.Close()
	out := []Balance{}
	for rows.Next() {
		var b Balance
		var fuseID, cur sql.NullString
		var posted, pending, avail int64
		var fc, fa sql.NullInt64
		if err := rows.Scan(&b.LedgerAccount, &fuseID, &cur, &posted, &pending, &avail, &fc, &fa); err != nil {
			return nil, fmt.Errorf("query balances: %w", err)
		}
		b.Currency = ledgerd.Currency(cur.String)
		b.Posted, b.Pending, b.Available = ledgerd.Amount(posted), ledgerd.Amount(pending), ledgerd.Amount(avail)
		if fuseID.Valid {
			s := fuseID.String
			b.FuseAccountID = &s
		}
		if fc.Valid {
			a := ledgerd.Amount(fc.Int64)
			b.FuseCurrent = &a
		}
		if fa.Valid {
			a := ledgerd.Amount(fa.Int64)
			b.FuseAvailable = &a
		}
		out = append(out, b)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("query balances: %w", err)
	}
	return out, nil
}
