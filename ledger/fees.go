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
// fuse_transactions.fee_source. A payment that has a fee and whose source
// nobody said (webhooks do not say) is booked with the fee inside, as
// DESIGN.md has it for a webhook that gives fee and amount_with_fee, and
// records that source, so that a later observation that says the other is
// evidence (an observation conflict), not a silent change of what the
// entry booked. A fee debit for a payment whose entry books its fee inside
// is the fee booked twice: the fee debit is booked all the same, and the
// payment gets an observation conflict, whichever of the two came first
// (the book does not depend on the order they arrive in).

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
// (feeInside). The partial index fuse_transactions_fee_target holds fee
// debits only.
func (t *wtx) feeDebitFor(txID string, cur txState) (string, error) {
	if !feeInside(cur) {
		return "", nil
	}
	var id string
	err := t.queryRow(`SELECT transaction_id FROM fuse_transactions WHERE fee_target_id = ?
		ORDER BY transaction_id LIMIT 1`, txID).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("look up fee debits of %s: %w", txID, err)
	}
	return id, nil
}

// checkFeeTarget is run when a fee debit's fee_target is first recorded:
// if it names a payment whose entry already books a fee inside, the fee is
// now booked twice, and that is kept as evidence. A payment not booked
// yet will see the fee debit when it is (feeDebitFor).
func (t *wtx) checkFeeTarget(seq int64, target string) error {
	var kind string
	var source sql.NullString
	var fee, entry sql.NullInt64
	err := t.queryRow(`SELECT t.kind, t.fee_source, t.fee_amount, e.id
		FROM fuse_transactions t LEFT JOIN entries e ON e.transaction_id = t.transaction_id
		WHERE t.transaction_id = ?`, target).Scan(&kind, &source, &fee, &entry)
	if errors.Is(err, sql.ErrNoRows) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("look up fee target %s: %w", target, err)
	}
	// A NULL source on a booked payment is one booked before fee_source
	// existed (schema version 7 records the rest), with its fee inside.
	if entry.Valid && isPayment(ledgerd.Kind(kind)) && fee.Int64 > 0 && source.String != ledgerd.FeeSourcePrimary {
		return t.feeBookedTwice(seq, target)
	}
	return nil
}

// feeBookedTwice records that payment's fee is booked inside its entry and
// again by a fee debit.
func (t *wtx) feeBookedTwice(seq int64, payment string) error {
	return t.conflict(seq, payment, FieldFeeSource, ledgerd.FeeSourceIncluded, ledgerd.FeeSourcePrimary)
}
