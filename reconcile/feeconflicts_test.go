package reconcile_test

import (
	"strings"
	"testing"
	"time"

	"github.com/ledgerd/ledgerd"
	"github.com/ledgerd/ledgerd/reconcile"
)

// TestAFeeBookedTwiceOrNowhereIsABreakOnThePayment: a payment booked with
// its fee inside, then a fee debit for it in another currency (which the
// ledger cannot move out of the payment's entry), is a critical duplicate
// on "fee:<payment>" naming the fee debit; a payment booked without its fee
// (primary_account) that Fuse then says included it is a critical
// amount_mismatch on "fee:<payment>".
func TestAFeeBookedTwiceOrNowhereIsABreakOnThePayment(t *testing.T) {
	t.Parallel()
	w := newWorld(t, 31)
	const acct, primary = "aaaaaaaa-0000-4000-8000-0000000000f1", "aaaaaaaa-0000-4000-8000-0000000000f2"
	const twice, nowhere, debit = "20000000-0000-4000-8000-0000000000f1", "20000000-0000-4000-8000-0000000000f2",
		"50000000-0000-4000-8000-0000000000f1"
	at := t0.Add(-72 * time.Hour)
	pay := func(id, source string) ledgerd.TransactionObservation {
		return ledgerd.TransactionObservation{TransactionID: id, AccountID: acct, Kind: ledgerd.KindLocalPaymentOut,
			Status: ledgerd.StatusExecuted, Currency: "AED", At: at, CreatedAt: at, FeeSource: source,
			Amounts: &ledgerd.TxAmounts{Instructed: 200_00, Fee: 1_00, WithFee: 201_00}}
	}
	w.ingestObs(pay(twice, ""), pay(nowhere, ledgerd.FeeSourcePrimary),
		// In another currency than the payment: a fee the ledger cannot
		// move out of the payment's entry (ledger/fees.go).
		ledgerd.TransactionObservation{TransactionID: debit, AccountID: primary, Kind: ledgerd.KindFeeDebit,
			Status: ledgerd.StatusSettled, Currency: "USD", At: at, CreatedAt: at, FeeTargetID: twice,
			Amounts: &ledgerd.TxAmounts{Instructed: 1_00, WithFee: 1_00}},
		pay(nowhere, ledgerd.FeeSourceIncluded))
	w.ahead = time.Hour
	seen := w.seen(w.run(w.reconciler(nil)))
	for _, c := range []struct {
		category reconcile.Category
		payment  string
		says     []string
	}{
		{reconcile.Duplicate, twice, []string{"1.00 AED", debit, "booked in its entry"}},
		{reconcile.AmountMismatch, nowhere, []string{"1.00 AED", "without its fee", "fee debits: none"}},
	} {
		b, ok := seen[key{c.category, "fee:" + c.payment}]
		if !ok {
			t.Errorf("no %s break on fee:%s; breaks: %v", c.category, c.payment, seen)
			continue
		}
		if b.Severity != reconcile.Critical || b.FuseTransactionID != c.payment || b.FuseAccountID != acct ||
			b.Currency != "AED" || b.State != reconcile.Open {
			t.Errorf("%s fee:%s: %+v", c.category, c.payment, b)
		}
		for _, s := range c.says {
			if !strings.Contains(b.Detail, s) {
				t.Errorf("%s fee:%s detail %q does not say %q", c.category, c.payment, b.Detail, s)
			}
		}
	}
}
