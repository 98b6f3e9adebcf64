package ledger

import (
	"database/sql"
	"errors"
	"fmt"

	"github.com/ledgerd/ledgerd"
)

// Fees by fee_source (DESIGN.md, Double entry). A payment's fee is booked
// in the payment's own entry (included_in_payment), or by a separate fee
// debit that Fuse takes from the primary account and links to the payment
// through fee_target (primary_account). What Fuse said is kept in
// fuse_transactions.fee_source; NULL when nobody said (webhooks do not),
// and then a payment with a fee is booked with the fee inside, as DESIGN.md
// has it for a webhook that gives fee and amount_with_fee.
//
// A fee debit that names a payment whose source nobody said proves the
// fee was taken apart, and a fee is never booked twice, whichever of the
// two arrives first:
//   - the payment first, its fee booked inside: the payment becomes
//     primary_account and the fee debit's entry gives the fee back to the
//     payment's account (Dr bank:<payment's account>, Cr expense:fees,
//     beside its usual Dr expense:fees, Cr bank:<own>);
//   - the fee debit first: the payment is booked without its fee, as
//     primary_account.
// Postings never change: the correction is the fee debit's own lines, and
// the balances come out the same in either order. A fee debit for a
// payment Fuse said included its fee, or in another currency than the
// payment's, cannot be reconciled with it: the fee stays booked twice and
// the contradiction is kept as evidence (an observation conflict) that
// the reconciler turns into a break.

// FieldFeeSource is the observation_conflicts field of a payment whose fee
// is booked twice, or not at all: subject the payment, kept the source its
// entry was booked with, observed the other. A fee debit that names a
// payment whose entry already books its fee inside records it (kept
// included_in_payment, observed primary_account), as does a later
// observation of the payment's fee_source that contradicts the booking.
// The fee debit is booked all the same (that money did leave the account);
// the reconciler opens a break for the payment.
const FieldFeeSource = "fee_source"

// isPayment reports whether kind is a local payment: the kinds that carry
// a fee.
func isPayment(kind ledgerd.Kind) bool {
	return kind == ledgerd.KindLocalPaymentOut || kind == ledgerd.KindLocalPaymentIn
}

// feeInside reports whether cur's entry books a fee: a payment with a fee
// that Fuse did not say it takes apart.
func feeInside(cur txState) bool {
	return isPayment(cur.Kind) && cur.Fee.Valid && cur.Fee.Int64 > 0 &&
		cur.FeeSource.String != ledgerd.FeeSourcePrimary
}

// bookedFeeSource is the fee_source cur's entry is booked with: what
// Fuse said; else, for a payment with a fee, included_in_payment; else
// nothing.
func bookedFeeSource(cur txState) string {
	if cur.FeeSource.Valid || !feeInside(cur) {
		return cur.FeeSource.String
	}
	return ledgerd.FeeSourceIncluded
}

// nullText is s as a nullable column value, NULL when empty.
func nullText(s string) sql.NullString { return sql.NullString{String: s, Valid: s != ""} }

// feeDebitFor returns the id of a fee debit that names the payment txID
// as its fee_target, "" if none does, when cur's entry books a fee inside
// (feeInside), and whether that fee debit is in cur's currency (so that
// the fee can be left to it). The partial index
// fuse_transactions_fee_target holds fee debits only.
func (t *wtx) feeDebitFor(txID string, cur txState) (id string, sameCurrency bool, err error) {
	if !feeInside(cur) {
		return "", false, nil
	}
	var currency sql.NullString
	err = t.queryRow(`SELECT transaction_id, currency FROM fuse_transactions WHERE fee_target_id = ?
		ORDER BY transaction_id LIMIT 1`, txID).Scan(&id, &currency)
	if errors.Is(err, sql.ErrNoRows) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("look up fee debits of %s: %w", txID, err)
	}
	return id, !currency.Valid || !cur.Currency.Valid || currency.String == cur.Currency.String, nil
}

// checkFeeTarget is run when a fee debit's fee_target is first recorded:
// if it names a payment whose entry already books a fee inside, the fee
// debit's entry will move it (feeToMove) and the payment is recorded as
// primary_account; in another currency than the fee debit's it cannot be
// moved, and the fee booked twice is kept as evidence. A payment not booked
// yet will see the fee debit when it is (feeDebitFor).
func (t *wtx) checkFeeTarget(seq int64, target, debitCurrency string) error {
	var kind string
	var source, cur sql.NullString
	var fee, entry sql.NullInt64
	err := t.queryRow(`SELECT t.kind, t.fee_source, t.fee_amount, e.id, t.currency
		FROM fuse_transactions t LEFT JOIN entries e ON e.transaction_id = t.transaction_id
		WHERE t.transaction_id = ?`, target).Scan(&kind, &source, &fee, &entry, &cur)
	if errors.Is(err, sql.ErrNoRows) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("look up fee target %s: %w", target, err)
	}
	// A NULL source: nobody said, and the fee is inside the entry.
	if entry.Valid && isPayment(ledgerd.Kind(kind)) && fee.Int64 > 0 && source.String != ledgerd.FeeSourcePrimary {
		if source.Valid || (debitCurrency != "" && cur.String != debitCurrency) {
			return t.feeBookedTwice(seq, target)
		}
		// The fee debit's entry moves the fee (feeToMove); the payment
		// is now known to be primary_account.
		if _, err := t.exec(`UPDATE fuse_transactions SET fee_source = ? WHERE transaction_id = ?`,
			ledgerd.FeeSourcePrimary, target); err != nil {
			return fmt.Errorf("record fee source of %s: %w", target, err)
		}
	}
	return nil
}

// feeToMove is what a fee debit's entry gives back to the account of the
// payment it is for (fees.go, above): the fee that payment's entry booked
// inside, in the fee debit's currency, when the payment is now known to be
// primary_account, unless another fee debit of the same payment already
// gave it back or the payment's entry was voided. account is "" when there
// is nothing to move.
func (t *wtx) feeToMove(cur txState, currency ledgerd.Currency) (account string, fee ledgerd.Amount, err error) {
	if cur.Kind != ledgerd.KindFeeDebit || !cur.FeeTargetID.Valid {
		return "", 0, nil
	}
	var acct string
	var amount int64
	err = t.queryRow(`SELECT e.account_id, p.amount FROM entries e JOIN postings p ON p.entry_id = e.id
		JOIN fuse_transactions t ON t.transaction_id = e.transaction_id
		WHERE e.transaction_id = ? AND e.state <> 'voided' AND t.fee_source = 'primary_account'
		  AND p.ledger_account = ? AND p.currency = ? AND p.amount > 0`,
		cur.FeeTargetID.String, AccountFees, string(currency)).Scan(&acct, &amount)
	if errors.Is(err, sql.ErrNoRows) {
		return "", 0, nil
	}
	if err != nil {
		return "", 0, fmt.Errorf("look up the fee of %s: %w", cur.FeeTargetID.String, err)
	}
	var moved int
	err = t.queryRow(`SELECT count(*) FROM fuse_transactions d JOIN entries e ON e.transaction_id = d.transaction_id
		JOIN postings p ON p.entry_id = e.id
		WHERE d.fee_target_id = ? AND p.ledger_account = ? AND p.currency = ?`,
		cur.FeeTargetID.String, BankAccount(acct), string(currency)).Scan(&moved)
	if err != nil {
		return "", 0, fmt.Errorf("look up fee debits of %s: %w", cur.FeeTargetID.String, err)
	}
	if moved > 0 {
		return "", 0, nil
	}
	return acct, ledgerd.Amount(amount), nil
}

// feeBookedTwice records that payment's fee is booked inside its entry and
// again by a fee debit.
func (t *wtx) feeBookedTwice(seq int64, payment string) error {
	return t.conflict(seq, payment, FieldFeeSource, ledgerd.FeeSourceIncluded, ledgerd.FeeSourcePrimary)
}

// FeeDebitThenFailed is the observed value of a FieldFeeSource conflict
// recorded when a payment fails after a fee debit moved its fee.
const FeeDebitThenFailed = "failed after its fee debit"

// feeMovedOfFailed is run when a payment's entry is voided: if a fee debit
// already gave the payment's fee back to its account (feeToMove), those
// lines stay (postings never change) while the fee they moved goes with
// the voided entry, so the payment's account keeps the fee it gave back.
// Fuse takes a fee debit when a payment executes, so a payment that fails
// after one is a contradiction: it is kept as evidence (FieldFeeSource,
// observed "failed after its fee debit"), which the reconciler reports.
func (t *wtx) feeMovedOfFailed(seq int64, txID string, cur txState) error {
	if !isPayment(cur.Kind) || cur.FeeSource.String != ledgerd.FeeSourcePrimary {
		return nil
	}
	var moved int
	err := t.queryRow(`SELECT count(*) FROM fuse_transactions d JOIN entries e ON e.transaction_id = d.transaction_id
		JOIN postings p ON p.entry_id = e.id
		WHERE d.fee_target_id = ? AND p.ledger_account = ?`, txID, BankAccount(cur.AccountID)).Scan(&moved)
	if err != nil {
		return fmt.Errorf("look up fee debits of %s: %w", txID, err)
	}
	if moved == 0 {
		return nil
	}
	return t.conflict(seq, txID, FieldFeeSource, ledgerd.FeeSourcePrimary, FeeDebitThenFailed)
}
