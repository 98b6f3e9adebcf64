package reconcile

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/ledgerd/ledgerd"
	"github.com/ledgerd/ledgerd/ledger"
)

// timeLayout is how ledgerd stores timestamps (ledger/timefmt.go): UTC,
// fixed width, so that text comparison in SQL and in Go is time
// comparison. The merge compares ledger times as text for that reason.
const timeLayout = "2006-01-02T15:04:05.000000000Z"

func ts(t time.Time) string { return t.UTC().Format(timeLayout) }

func parseTS(s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("stored time %q: %w", s, err)
	}
	return t, nil
}

// ledgerTx is a fuse_transactions row with its entry, as the merge reads
// it.
type ledgerTx struct {
	ID, Kind, AccountID                      string
	CPAccountID, Currency, CPCurrency        sql.NullString
	Instructed, Fee, WithFee, CPAmount       sql.NullInt64
	Status                                   string
	StatusAt, CreatedAt                      sql.NullString
	FeeSource                                sql.NullString
	EntryState, EntryPendingAt, EntryFinalAt sql.NullString
}

// ledgerTxCols reads one transaction with its entry (look-ups by id).
const ledgerTxCols = `t.transaction_id, t.kind, t.account_id, t.counterpart_account_id, t.currency,
	t.instructed_amount, t.fee_amount, t.amount_with_fee, t.counterpart_currency, t.counterpart_amount,
	t.status, t.status_at, t.created_at, t.fee_source, e.state, e.pending_at, e.final_at
	FROM fuse_transactions t LEFT JOIN entries e ON e.transaction_id = t.transaction_id`

type scanner interface{ Scan(dest ...any) error }

func scanLedgerTx(s scanner) (ledgerTx, error) {
	var l ledgerTx
	err := s.Scan(&l.ID, &l.Kind, &l.AccountID, &l.CPAccountID, &l.Currency,
		&l.Instructed, &l.Fee, &l.WithFee, &l.CPCurrency, &l.CPAmount,
		&l.Status, &l.StatusAt, &l.CreatedAt, &l.FeeSource, &l.EntryState, &l.EntryPendingAt, &l.EntryFinalAt)
	return l, err
}

// accountTxSQL and accountEntriesSQL read one account's transactions and
// its entries, each from an index that holds every column read, in
// transaction_id order: two sequential stretches of the file, merged by
// ledgerCursor, instead of one random look-up of the entry per row.
const (
	accountTxSQL = `SELECT transaction_id, kind, counterpart_account_id, currency,
	instructed_amount, fee_amount, amount_with_fee, counterpart_currency, counterpart_amount,
	status, status_at, created_at, fee_source
	FROM fuse_transactions INDEXED BY fuse_transactions_account_id
	WHERE account_id = ? ORDER BY transaction_id`
	accountEntriesSQL = `SELECT transaction_id, state, pending_at, final_at
	FROM entries INDEXED BY entries_account WHERE account_id = ? ORDER BY transaction_id`
)

// ledgerCursor walks one account's ledger transactions with their entries
// in transaction_id order.
type ledgerCursor struct {
	accountID    string
	txs, entries *sql.Rows
	// The next entry, read ahead; eok is false once entries are exhausted.
	eID, eState      string
	ePending, eFinal sql.NullString
	eok              bool
}

func openLedgerCursor(ctx context.Context, tx *sql.Tx, accountID string) (*ledgerCursor, error) {
	txs, err := tx.QueryContext(ctx, accountTxSQL, accountID)
	if err != nil {
		return nil, err
	}
	entries, err := tx.QueryContext(ctx, accountEntriesSQL, accountID)
	if err != nil {
		txs.Close()
		return nil, err
	}
	c := &ledgerCursor{accountID: accountID, txs: txs, entries: entries}
	if err := c.nextEntry(); err != nil {
		c.close()
		return nil, err
	}
	return c, nil
}

func (c *ledgerCursor) nextEntry() error {
	if c.eok = c.entries.Next(); !c.eok {
		return c.entries.Err()
	}
	return c.entries.Scan(&c.eID, &c.eState, &c.ePending, &c.eFinal)
}

// next returns the following transaction with its entry; ok is false at
// the end. An entry whose transaction is not on the account (the file was
// written by something else: ledgerd verify says so) is passed over.
func (c *ledgerCursor) next() (l ledgerTx, ok bool, err error) {
	if !c.txs.Next() {
		return l, false, c.txs.Err()
	}
	if err := c.txs.Scan(&l.ID, &l.Kind, &l.CPAccountID, &l.Currency,
		&l.Instructed, &l.Fee, &l.WithFee, &l.CPCurrency, &l.CPAmount,
		&l.Status, &l.StatusAt, &l.CreatedAt, &l.FeeSource); err != nil {
		return l, false, err
	}
	l.AccountID = c.accountID
	for c.eok && c.eID < l.ID {
		if err := c.nextEntry(); err != nil {
			return l, false, err
		}
	}
	if c.eok && c.eID == l.ID {
		l.EntryState = sql.NullString{String: c.eState, Valid: true}
		l.EntryPendingAt, l.EntryFinalAt = c.ePending, c.eFinal
		if err := c.nextEntry(); err != nil {
			return l, false, err
		}
	}
	return l, true, nil
}

func (c *ledgerCursor) close() {
	c.txs.Close()
	c.entries.Close()
}

// stateAt is the ledger's view of the transaction's state at the cut-off
// (asOf as stored text), from Fuse's times as the ledger recorded them. A
// final status counts from the later of its time and the entry's final_at:
// a status seen again with an earlier time (the webhook after the backfill
// that booked it) moves status_at back but never the entry, whose amounts
// totals counts from final_at, and the state must agree with the amounts.
func (l *ledgerTx) stateAt(asOf string) lifeState {
	if l.CreatedAt.Valid && l.CreatedAt.String > asOf {
		return absent
	}
	st := terminalState(l.Status)
	at := l.StatusAt
	if l.EntryFinalAt.Valid && (!at.Valid || l.EntryFinalAt.String > at.String) {
		at = l.EntryFinalAt
	}
	if st != inFlight && at.Valid && at.String > asOf {
		return inFlight
	}
	return st
}

// lastSeen is the latest Fuse time the ledger recorded for it.
func (l *ledgerTx) lastSeen() string {
	return max(l.CreatedAt.String, l.StatusAt.String)
}

// bankAmount is the signed amount its entry posts on bank:<account>, as
// the ledger books it (DESIGN.md's table; a payment's fee by fee_source).
func (l *ledgerTx) bankAmount() (ledgerd.Amount, error) {
	return ledger.BankAmount(ledgerd.Kind(l.Kind), l.FeeSource.String, ledgerd.TxAmounts{
		Instructed: ledgerd.Amount(l.Instructed.Int64), Fee: ledgerd.Amount(l.Fee.Int64),
		WithFee: ledgerd.Amount(l.WithFee.Int64)})
}

// totals are its amounts in the ledger's booking of its bank account: the
// posted amount at the cut-off, and what the running balances (which hold
// the latest state) must be corrected by to stand at the cut-off.
type totals struct {
	effect, postedCorr, pendingCorr ledgerd.Amount
}

func (l *ledgerTx) totals(asOf string) (totals, error) {
	var t totals
	if !l.EntryState.Valid {
		return t, nil
	}
	a, err := l.bankAmount()
	if err != nil {
		return t, err
	}
	var nowPosted, nowPending, thenPosted, thenPending ledgerd.Amount
	switch l.EntryState.String {
	case "posted":
		nowPosted = a
	case "pending":
		nowPending = a
	}
	if l.EntryPendingAt.String <= asOf {
		if l.EntryFinalAt.Valid && l.EntryFinalAt.String <= asOf {
			if l.EntryState.String == "posted" {
				thenPosted = a
			}
		} else {
			thenPending = a
		}
	}
	t.effect = thenPosted
	// Both are differences of two of the same amount or zero: no overflow.
	t.postedCorr = thenPosted - nowPosted
	t.pendingCorr = thenPending - nowPending
	return t, nil
}
