package reconcile_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/ledgerd/ledgerd"
	"github.com/ledgerd/ledgerd/fuse/sandbox"
	"github.com/ledgerd/ledgerd/ledger"
	"github.com/ledgerd/ledgerd/reconcile"
	"github.com/ledgerd/ledgerd/webhook"
)

// TestAPaymentInAnotherCurrencyThanItsAccountIsABreakNamingItsEvent: a
// webhook says USD for an inbound payment on an AED account (Fuse has it
// in AED). The ledger books nothing in USD on the account, where it would
// only have shown as drift, and the reconciliation opens a
// currency_mismatch break naming the event; the file verifies.
func TestAPaymentInAnotherCurrencyThanItsAccountIsABreakNamingItsEvent(t *testing.T) {
	t.Parallel()
	w := newWorld(t, 21)
	truth := w.month(4, 60)
	w.ingest(without(truth.Transactions, nil)...)
	// An AED account the ledger knows as AED from its transactions.
	acct := newPicker(t, truth).tx(ledgerd.KindLocalPaymentIn, ledgerd.StatusSettled,
		func(x sandbox.TruthTransaction) bool { return x.Currency == "AED" }).AccountID
	in, err := w.sb.InboundPayment(sandbox.InboundPayment{AccountID: acct, Amount: 250_00, RemitterName: "Client"})
	if err != nil {
		t.Fatal(err)
	}
	const eventID = "0190aaaa-0000-4000-8000-00000000c0de"
	body := fmt.Appendf(nil, `{"type":"inbound_local_payment_settled","event_id":%q,"event_version":1,
"inbound_local_payment_settled":{"account_id":%q,"transaction_id":%q,"instructed_amount":%d,"amount_with_fee":%d,
"fee_amount":0,"external_reference":"r","timestamp":%q,"purpose":"none","currency":"USD"}}`,
		eventID, acct, in.TransactionID, in.InstructedAmount, in.AmountWithFee, in.CreatedAt.Format(time.RFC3339Nano))
	srv := httptest.NewServer(webhook.NewHandler(webhook.Options{Store: w.l}))
	defer srv.Close()
	resp, err := http.Post(srv.URL, "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("webhook: %d", resp.StatusCode)
	}

	w.ahead = time.Hour // past every grace period
	run := w.run(w.reconciler(nil))
	var named []reconcile.Break
	for k, b := range w.seen(run) {
		if k.Category == reconcile.CurrencyMismatch && strings.Contains(b.Detail, eventID) {
			named = append(named, b)
		}
		if k.Category == reconcile.IncompleteData {
			t.Errorf("%s: %s (the payment is held for its currency, not waiting for data)", k, b.Detail)
		}
	}
	if len(named) != 1 || named[0].FuseTransactionID != in.TransactionID || named[0].FuseAccountID != acct ||
		named[0].Currency != "USD" || named[0].State != reconcile.Open {
		t.Errorf("currency_mismatch breaks naming event %s: %+v, want one, open, on %s %s in USD", eventID, named, acct, in.TransactionID)
	}
	var usd int
	if err := w.l.Reader().QueryRow(`SELECT count(*) FROM balances WHERE ledger_account = ? AND currency = 'USD'`,
		ledger.BankAccount(acct)).Scan(&usd); err != nil || usd != 0 {
		t.Errorf("%d USD balances on %s (%v), want none", usd, ledger.BankAccount(acct), err)
	}
	rep, err := w.l.Verify(context.Background())
	if err != nil || !rep.OK() {
		t.Errorf("verify: %v %+v", err, rep.Checks)
	}
}
