package sandbox

import (
	"net/http"
	"time"

	"github.com/ledgerd/ledgerd"
	"github.com/ledgerd/ledgerd/fuse"
)

// Fees from the primary account [model]. A Fuse payment says where its fee
// came from (fee_source): included_in_payment, the fee leaves with the
// payment, or primary_account, a separate fee_debit on the primary
// account names the payment in its fee_target. Fuse does not say when it
// does which. Under Options.FeesFromPrimary, the sandbox takes the fee
// from the primary account when the payment is made from a virtual
// account whose customer has an open primary account in the same currency
// (Fuse's API opens virtual accounts only; a primary one comes from the
// controls, POST /sandbox/accounts). It is off by default: a payment's
// webhooks do not say its fee_source, so a ledger fed by webhooks alone
// books the fee in the payment before the fee debit comes (ledgerd keeps
// that as a fee_source conflict), and the demo and soak would show it.
// Such a payment:
//
//   - shows fee_amount and amount_with_fee (instructed + fee) as any
//     payment does, with fee_source primary_account; its own account
//     gives up the instructed amount alone (Leg.debit);
//   - needs, when it is made, the fee available on the primary account as
//     well as the amount on its own (insufficient_funds otherwise); the
//     fee is not held there while the payment is in flight, so the
//     primary account's available balance keeps following from its own
//     legs;
//   - when it executes, makes a fee_debit of the fee on the primary
//     account, settled at once (current and available), timestamped at
//     the execution, and fee_debited follows
//     outbound_local_payment_executed; should the primary account no
//     longer have the fee by then, the payment fails with
//     insufficient_funds instead;
//   - takes no fee when it fails.
//
// A fee debit has no state in the reference; the listings'
// transaction_state=Settled takes it, as the client reads it settled.

// feePayerLocked returns the primary account that pays the fee of a
// payment of fee from a, or nil when the fee is included in the payment
// (always, unless Options.FeesFromPrimary).
func (s *Sandbox) feePayerLocked(a *account, fee int64) *account {
	if !s.opts.FeesFromPrimary || fee == 0 || a.AccountType != "virtual" || a.customer == nil {
		return nil
	}
	for _, p := range s.acctList {
		if p.customer == a.customer && p.AccountType == "primary" && p.Currency == a.Currency && p.Status == fuse.AccountOpen {
			return p
		}
	}
	return nil
}

// checkFunds refuses a payment of amount with fee from a that a, or the
// primary account payer that pays its fee (nil: none), cannot pay now.
func checkFunds(a, payer *account, amount, fee int64) error {
	own := amount + fee
	if payer != nil {
		own = amount
		if payer.Balance.Available < fee {
			return apiErr(http.StatusBadRequest, "insufficient_funds",
				"primary account %s: available balance %d is less than the fee %d", payer.AccountID, payer.Balance.Available, fee)
		}
	}
	if a.Balance.Available < own {
		return apiErr(http.StatusBadRequest, "insufficient_funds",
			"available balance %d is less than %d", a.Balance.Available, own)
	}
	return nil
}

// payFeeFrom records where payment t's fee comes from: payer, the primary
// account (feePayerLocked), or the payment itself when payer is nil.
func (t *txn) payFeeFrom(payer *account) {
	switch {
	case payer != nil:
		t.FeeSource, t.feePayer = fuse.FeeSourcePrimary, payer
	case t.FeeAmount > 0:
		t.FeeSource = fuse.FeeSourceIncluded
	}
}

// feeDebitLocked takes the fee of payment t, which has just executed,
// from the primary account that pays it: a settled fee_debit naming t,
// and fee_debited. Nothing when t's fee is included in it.
func (s *Sandbox) feeDebitLocked(t *txn, stamp time.Time) {
	p := t.feePayer
	if p == nil {
		return
	}
	d := s.newTxLocked(p, ledgerd.KindFeeDebit, ledgerd.StatusSettled, t.FeeAmount, 0, stamp)
	d.FeeTargetID = t.TransactionID
	p.Balance.Current -= d.InstructedAmount
	p.Balance.Available -= d.InstructedAmount
	s.noteBalanceLocked(p, stamp)
	s.addTxLocked(d)
	s.emitLocked("fee_debited", feeDebited{
		AccountID: p.AccountID, TransactionID: d.TransactionID, Amount: d.InstructedAmount, Currency: d.Currency,
		FeeTarget: feeTarget{Type: "Transaction", Reference: t.TransactionID}, Timestamp: stamp,
	}, stamp)
}
