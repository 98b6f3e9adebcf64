package reconcile

import (
	"context"
	"fmt"

	"github.com/ledgerd/ledgerd"
	"github.com/ledgerd/ledgerd/ledger"
)

// feeConflicts turns the ledger's evidence that a payment's fee is booked
// twice, or nowhere, into breaks (ledger.FieldFeeSource), one per payment,
// subject "fee:<payment id>" (apart from the payment's own breaks). The
// payment's entry booked its fee inside and a fee debit in another
// currency books it again (one in the same currency moves it instead,
// ledger/fees.go): a duplicate,
// critical, naming the fee debits. The entry left the fee to a fee debit
// and Fuse then said included_in_payment: an amount_mismatch, critical,
// since nothing may ever book that fee. Like the other conflicts the
// evidence is permanent: the break stays until acknowledged.
func (st *runState) feeConflicts(ctx context.Context) error {
	var fs []Finding
	err := st.checker().FeeConflicts(ctx, func(x ledger.FeeConflict) error {
		subject := x.Subject
		if n := len(fs); n > 0 && fs[n-1].Subject == "fee:"+subject {
			return nil
		}
		c, amount, debits := x.Currency, x.Fee, x.FeeDebits
		f := Finding{Category: Duplicate, Subject: "fee:" + subject, Severity: Critical,
			FuseAccountID: x.AccountID, FuseTransactionID: subject, Currency: c}
		if x.Observed == ledger.FeeDebitThenFailed {
			f.Category = AmountMismatch
			f.Detail = fmt.Sprintf("payment %s failed after a fee debit took its fee %s apart (fee debits: %s): its account keeps the fee the fee debit gave back",
				subject, fmtAmt(amount, c), orNone(debits))
		} else if x.Kept == ledgerd.FeeSourcePrimary {
			f.Category = AmountMismatch
			f.Detail = fmt.Sprintf("payment %s is booked without its fee %s, which Fuse takes apart (%s), and Fuse also said %s: no fee debit may ever book it (fee debits: %s)",
				subject, fmtAmt(amount, c), x.Kept, x.Observed, orNone(debits))
		} else {
			f.Detail = fmt.Sprintf("the fee %s of payment %s is booked in its entry (%s) and Fuse also said %s: a fee debit books it again (fee debits: %s)",
				fmtAmt(amount, c), subject, x.Kept, x.Observed, orNone(debits))
		}
		fs = append(fs, f)
		return nil
	})
	if err != nil {
		return err
	}
	return st.emitAll(ctx, fs)
}

// orNone is s, or "none" when empty.
func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}
