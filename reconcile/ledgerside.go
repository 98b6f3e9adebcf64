package reconcile

import (
	"fmt"
	"time"

	"github.com/ledgerd/ledgerd"
	"github.com/ledgerd/ledgerd/ledger"
)

// ts renders t as the ledger stores times (ledger.FormatTime): UTC,
// fixed width, so that text comparison in SQL and in Go is time
// comparison. The merge compares ledger times as text for that reason, and
// the reconciler's own tables store their times the same way.
func ts(t time.Time) string { return ledger.FormatTime(t) }

func parseTS(s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("stored time %q: %w", s, err)
	}
	return t, nil
}

// ledgerTx is a transaction as the ledger holds it, with its entry, as the
// merge walks it (ledger.StoredTransaction, with the merge's methods).
type ledgerTx ledger.StoredTransaction

type scanner interface{ Scan(dest ...any) error }

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
