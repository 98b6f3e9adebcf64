package reconcile

import (
	"context"
	"database/sql"
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
	rows, err := st.query(ctx, `
		SELECT c.subject, c.kept, c.observed, COALESCE(t.account_id, ''), COALESCE(t.currency, ''), t.fee_amount,
		       COALESCE((SELECT group_concat(d.transaction_id, ', ' ORDER BY d.transaction_id)
		                   FROM fuse_transactions d WHERE d.fee_target_id = c.subject), '')
		  FROM observation_conflicts c LEFT JOIN fuse_transactions t ON t.transaction_id = c.subject
		 WHERE c.field = ? ORDER BY c.subject, c.id`, ledger.FieldFeeSource)
	if err != nil {
		return fmt.Errorf("read fee conflicts: %w", err)
	}
	defer rows.Close()
	var fs []Finding
	for rows.Next() {
		var subject, kept, observed, acct, cur, debits string
		var fee sql.NullInt64
		if err := rows.Scan(&subject, &kept, &observed, &acct, &cur, &fee, &debits); err != nil {
			return fmt.Errorf("read fee conflicts: %w", err)
		}
		if n := len(fs); n > 0 && fs[n-1].Subject == "fee:"+subject {
			continue
		}
		c := ledgerd.Currency(cur)
		var amount *ledgerd.Amount
		if fee.Valid {
			amount = amt(ledgerd.Amount(fee.Int64))
		}
		f := Finding{Category: Duplicate, Subject: "fee:" + subject, Severity: Critical,
			FuseAccountID: acct, FuseTransactionID: subject, Currency: c}
		if observed == ledger.FeeDebitThenFailed {
			f.Category = AmountMismatch
			f.Detail = fmt.Sprintf("payment %s failed after a fee debit took its fee %s apart (fee debits: %s): its account keeps the fee the fee debit gave back",
				subject, fmtAmt(amount, c), orNone(debits))
		} else if kept == ledgerd.FeeSourcePrimary {
			f.Category = AmountMismatch
			f.Detail = fmt.Sprintf("payment %s is booked without its fee %s, which Fuse takes apart (%s), and Fuse also said %s: no fee debit may ever book it (fee debits: %s)",
				subject, fmtAmt(amount, c), kept, observed, orNone(debits))
		} else {
			f.Detail = fmt.Sprintf("the fee %s of payment %s is booked in its entry (%s) and Fuse also said %s: a fee debit books it again (fee debits: %s)",
				fmtAmt(amount, c), subject, kept, observed, orNone(debits))
		}
		fs = append(fs, f)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read fee conflicts: %w", err)
	}
	rows.Close()
	return st.emitAll(ctx, fs)
}

// orNone is s, or "none" when empty.
func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}
