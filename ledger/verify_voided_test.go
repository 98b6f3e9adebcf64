package ledger

import (
	"context"
	"testing"

	"github.com/ledgerd/ledgerd"
)

// Found by the simulation (internal/sim, seed 1795497826943817020): a
// payment first seen already failed is booked voided at once, so the
// payee and fee accounts of a currency never used before get postings but
// no running balance row. That is a zero balance, not a violation.
func TestVoidedOnlyAccountsPassVerify(t *testing.T) {
	var s script
	l := openTest(t, Options{})
	o := ledgerd.TransactionObservation{TransactionID: "b0000000-0000-4000-8000-0000000000f1",
		AccountID: "aaaaaaaa-0000-4000-8000-0000000000f1", Kind: ledgerd.KindLocalPaymentOut,
		Status: ledgerd.StatusFailed, At: at(15), CreatedAt: at(10), Currency: "EUR", Amounts: amounts(114535900, 100)}
	ingestAll(t, l, []ledgerd.Observation{s.tx(o)})
	var state string
	if err := l.Reader().QueryRow(`SELECT state FROM entries`).Scan(&state); err != nil || state != "voided" {
		t.Fatalf("entry %q (%v), want voided", state, err)
	}
	rep, err := l.Verify(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() {
		t.Errorf("verify fails on a file with only a voided entry: %+v", rep)
	}
}
