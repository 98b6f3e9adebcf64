package ledger

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/ledgerd/ledgerd"
)

// The typed reads here are what the journal export (ledger/journal)
// reads of the book: the names it declares and every posting in date
// order, streamed.

// JournalPosting is one posting with its entry and the Fuse transaction
// the entry books: one line of a journal.
type JournalPosting struct {
	EntryID       int64
	TransactionID string
	Kind          string
	// EntryState is the entry's state: pending, posted or voided.
	EntryState string
	// At is when the entry counts: its final time once posted (or
	// voided), its pending time while pending.
	At time.Time
	// Reference, ExternalReference and ExternalID are the transaction's,
	// "" when it has none.
	Reference, ExternalReference, ExternalID string
	LedgerAccount                            string
	Currency                                 ledgerd.Currency
	Amount                                   ledgerd.Amount
}

// LedgerAccountNames returns the name of every ledger account, sorted.
func (l *Ledger) LedgerAccountNames(ctx context.Context) ([]string, error) {
	return readColumn[string](ctx, l.reader, "read ledger accounts", `SELECT name FROM ledger_accounts ORDER BY name`)
}

// BalanceCurrencies returns every currency a balance is kept in, sorted.
func (l *Ledger) BalanceCurrencies(ctx context.Context) ([]ledgerd.Currency, error) {
	return readColumn[ledgerd.Currency](ctx, l.reader, "read currencies", `SELECT DISTINCT currency FROM balances ORDER BY currency`)
}

// JournalPostings calls fn for every posting in date order (the entry's
// At, then entry, then posting), voided entries' postings only when
// withVoided is set. It streams: fn is handed the same JournalPosting,
// refilled, for each row, so memory does not grow with the journal; an
// error from fn stops the walk and is returned as is.
func (l *Ledger) JournalPostings(ctx context.Context, withVoided bool, fn func(*JournalPosting) error) error {
	where := `WHERE e.state <> 'voided'`
	if withVoided {
		where = ``
	}
	const what = "read postings"
	var p JournalPosting
	var pendingAt, at string
	var parsed bool
	var finalAt, ref, extRef, extID sql.NullString
	var cur string
	var amount int64
	return eachRow(ctx, l.reader, what, `SELECT e.id, e.transaction_id, e.state, e.pending_at, e.final_at, t.kind,
		t.reference, t.external_reference, t.external_id, p.ledger_account, p.currency, p.amount
		FROM entries e
		JOIN fuse_transactions t ON t.transaction_id = e.transaction_id
		JOIN postings p ON p.entry_id = e.id `+where+`
		ORDER BY COALESCE(e.final_at, e.pending_at), e.id, p.id`, nil, func(rows *sql.Rows) error {
		if err := rows.Scan(&p.EntryID, &p.TransactionID, &p.EntryState, &pendingAt, &finalAt, &p.Kind,
			&ref, &extRef, &extID, &p.LedgerAccount, &cur, &amount); err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		when := pendingAt
		if finalAt.Valid {
			when = finalAt.String
		}
		// An entry's postings share its time: parse it once per entry.
		if !parsed || when != at {
			var err error
			if p.At, err = time.Parse(time.RFC3339Nano, when); err != nil {
				return fmt.Errorf("%s: entry %d: stored time %q: %w", what, p.EntryID, when, err)
			}
			at, parsed = when, true
		}
		p.Reference, p.ExternalReference, p.ExternalID = ref.String, extRef.String, extID.String
		p.Currency, p.Amount = ledgerd.Currency(cur), ledgerd.Amount(amount)
		return fn(&p)
	})
}
