package reconcile

import (
	"database/sql"
	"fmt"
	"time"

	"github.com/ledgerd/ledgerd"
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
	EntryState, EntryPendingAt, EntryFinalAt sql.NullString
}

const ledgerTxCols = `t.transaction_id, t.kind, t.account_id, t.counterpart_account_id, t.currency,
	t.instructed_amount, t.fee_amount, t.amount_with_fee, t.counterpart_currency, t.counterpart_amount,
	t.status, t.status_at, t.created_at, e.state, e.pending_at, e.final_at
	FROM fuse_transactions t LEFT JOIN entries e INDEXED BY entries_transaction_state ON e.transaction_id = t.transaction_id`

type scanner interface{ Scan(dest ...any) error }

func scanLedgerTx(s scanner) (ledgerTx, error) {
	var l ledgerTx
	err := s.Scan(&l.ID, &l.Kind, &l.AccountID, &l.CPAccountID, &l.Currency,
		&l.Instructed, &l.Fee, &l.WithFee, &l.CPCurrency, &l.CPAmount,
		&l.Status, &l.StatusAt, &l.CreatedAt, &l.EntryState, &l.EntryPendingAt, &l.EntryFinalAt)
	return l, err
}

// stateAt is the ledger's view of the transaction's state at the cut-off
// (asOf as stored text), from Fuse's times as the ledger recorded them.
func (l *ledgerTx) stateAt(asOf string) lifeState {
	if l.CreatedAt.Valid && l.CreatedAt.String > asOf {
		return absent
	}
	st := terminalState(l.Status)
	if st != inFlight && l.StatusAt.Valid && l.StatusAt.String > asOf {
		return inFlight
	}
	return st
}

// lastSeen is the latest Fuse time the ledger recorded for it.
func (l *ledgerTx) lastSeen() string {
	return max(l.CreatedAt.String, l.StatusAt.String)
}

// bankAmount is the signed amount its entry posts on bank:<account>, as
// ledger/postings.go books it (DESIGN.md's table).
func (l *ledgerTx) bankAmount() (ledgerd.Amount, error) {
	in, fee, with := ledgerd.Amount(l.Instructed.Int64), ledgerd.Amount(l.Fee.Int64), ledgerd.Amount(l.WithFee.Int64)
	switch ledgerd.Kind(l.Kind) {
	case ledgerd.KindLocalPaymentOut:
		return with.Neg()
	case ledgerd.KindLocalPaymentIn:
		return in.Sub(fee)
	case ledgerd.KindInternalTransferOut, ledgerd.KindExchangeOut:
		return in.Neg()
	}
	return in, nil
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
