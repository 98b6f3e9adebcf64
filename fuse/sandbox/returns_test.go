package sandbox

import (
	"bytes"
	"encoding/json"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ledgerd/ledgerd"
	"github.com/ledgerd/ledgerd/fuse"
	"github.com/ledgerd/ledgerd/webhook"
)

// wireKeys returns the keys of the transaction object the API answers
// for id, sorted, and the object decoded.
func (e *env) wireKeys(id string) ([]string, fuse.Transaction) {
	e.t.Helper()
	st, b := e.do("GET", "/v1/transactions/"+id, nil, nil)
	if st != http.StatusOK {
		e.t.Fatalf("GET /v1/transactions/%s: %d %s", id, st, b)
	}
	var m map[string]json.RawMessage
	var tx fuse.Transaction
	if err := json.Unmarshal(b, &m); err != nil {
		e.t.Fatal(err)
	}
	if err := json.Unmarshal(b, &tx); err != nil {
		e.t.Fatal(err)
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys, tx
}

// listed returns the ids of the first page of the transaction listing
// at path.
func (e *env) listed(path string) []string {
	e.t.Helper()
	var page fuse.Page[fuse.Transaction]
	e.call("GET", path, nil, http.StatusOK, &page)
	var ids []string
	for _, tx := range page.Data {
		ids = append(ids, tx.ID)
	}
	return ids
}

// apiBalance is an account's balance as GET /v1/accounts/{id} shows it.
func (e *env) apiBalance(id string) Balance {
	e.t.Helper()
	a := e.getAccount(id)
	if a.CurrentBalance == nil || a.AvailableBalance == nil {
		e.t.Fatalf("account %s: a balance is missing: %+v", id, a)
	}
	return Balance{Current: *a.CurrentBalance, Available: *a.AvailableBalance}
}

// observed decodes the one webhook of type typ sent for transaction id
// as ledgerd's listener does.
func (e *env) observed(typ, id string) ledgerd.TransactionObservation {
	e.t.Helper()
	e.waitIdle()
	var found []ledgerd.TransactionObservation
	for _, r := range e.rx.all() {
		o, err := webhook.Decode(r.Body, webhook.Header{})
		if err != nil {
			e.t.Fatalf("the listener refuses the sandbox's webhook: %v\n%s", err, r.Body)
		}
		if o.Event.Type == typ && o.Transaction != nil && o.Transaction.TransactionID == id {
			found = append(found, *o.Transaction)
		}
	}
	if len(found) != 1 {
		e.t.Fatalf("%s for %s: %d webhooks, want 1", typ, id, len(found))
	}
	return found[0]
}

func TestReturnPaymentCreditsTheAccountWithALocalReturnPaymentOfThePayment(t *testing.T) {
	e := newEnv(t, Options{Seed: 171})
	a, err := e.sb.OpenAccount(AccountSpec{Balance: 100_000})
	if err != nil {
		t.Fatal(err)
	}
	p := e.pay(a.AccountID, 10_000)
	e.simulate("execute-payment", map[string]any{"transaction_id": p.TransactionID}, http.StatusOK)
	id := simulatedID(t, e.simulate("return-payment", map[string]any{
		"outbound_transaction_id": p.TransactionID, "reason": "Beneficiary account closed"}, http.StatusOK))

	tr := e.sb.Truth()
	r, paid := truthTx(t, tr, id), truthTx(t, tr, p.TransactionID)
	if r.Kind != ledgerd.KindReturnIn || r.Status != ledgerd.StatusSettled || r.AccountID != a.AccountID ||
		r.InstructedAmount != 10_000 || r.AmountWithFee != 10_000 || r.ReturnedID != p.TransactionID ||
		r.Reason != "Beneficiary account closed" || r.ExternalReference != paid.ExternalReference {
		t.Errorf("return: %+v", r.Leg)
	}
	if !reflect.DeepEqual(r.Remitter, paid.Beneficiary) || !reflect.DeepEqual(r.Beneficiary, paid.Remitter) {
		t.Errorf("return from %+v to %+v, want the payment's beneficiary back to its remitter", r.Remitter, r.Beneficiary)
	}
	if paid.Status != ledgerd.StatusExecuted {
		t.Errorf("the returned payment is %s, want it left Executed", paid.Status)
	}
	if got := e.apiBalance(a.AccountID); got != (Balance{Current: 100_000, Available: 100_000}) {
		t.Errorf("balance %+v after 10000 out and back", got)
	}
	checkBalancesFollow(t, tr)

	keys, w := e.wireKeys(id)
	want := []string{"account_id", "beneficiary", "created_at", "currency", "direction", "external_reference", "id",
		"instructed_amount", "reason", "remitter", "returned_id", "state", "type"}
	if !slices.Equal(keys, want) {
		t.Errorf("local_return_payment has %v, want exactly %v", keys, want)
	}
	o, err := w.Observation()
	if err != nil {
		t.Fatal(err)
	}
	if o.Kind != ledgerd.KindReturnIn || o.Status != ledgerd.StatusSettled || o.ReturnedID != p.TransactionID ||
		o.Amounts == nil || o.Amounts.Instructed != 10_000 {
		t.Errorf("the client reads the return as %+v", o)
	}

	if got := e.listed("/v1/transactions?payment_type=LocalReturnPayment"); !slices.Equal(got, []string{id}) {
		t.Errorf("payment_type=LocalReturnPayment lists %v, want the return", got)
	}
	hook := e.observed("outbound_local_payment_returned", id)
	if hook.Kind != ledgerd.KindReturnIn || hook.AccountID != a.AccountID || hook.ReturnedID != p.TransactionID ||
		hook.Currency != "AED" || hook.Amounts == nil || hook.Amounts.Instructed != 10_000 || !hook.At.Equal(r.CreatedAt) {
		t.Errorf("outbound_local_payment_returned reads as %+v", hook)
	}

	// The Go helper does the same, with the default reason.
	q := e.pay(a.AccountID, 2_000)
	e.simulate("execute-payment", map[string]any{"transaction_id": q.TransactionID}, http.StatusOK)
	leg, err := e.sb.ReturnPayment(q.TransactionID, "")
	if err != nil || leg.Reason != DefaultReturnReason || leg.ReturnedID != q.TransactionID {
		t.Errorf("ReturnPayment: %+v, %v", leg, err)
	}
}

func TestReturnPaymentRefusesWhatCannotBeReturnedAndChangesNothing(t *testing.T) {
	e := newEnv(t, Options{Seed: 172})
	a, err := e.sb.OpenAccount(AccountSpec{Balance: 100_000})
	if err != nil {
		t.Fatal(err)
	}
	in, err := e.sb.InboundPayment(InboundPayment{AccountID: a.AccountID, Amount: 5_000})
	if err != nil {
		t.Fatal(err)
	}
	inFlight := e.pay(a.AccountID, 1_000)
	done := e.pay(a.AccountID, 1_000)
	e.simulate("execute-payment", map[string]any{"transaction_id": done.TransactionID}, http.StatusOK)
	if _, err := e.sb.ReturnPayment(done.TransactionID, ""); err != nil {
		t.Fatal(err)
	}
	e.waitIdle()
	before, hooks := e.sb.Truth(), len(e.rx.all())
	for _, c := range []struct {
		name   string
		body   any
		status int
		code   string
	}{
		{"unknown payment", map[string]any{"outbound_transaction_id": "9d3c1f0e-0000-4000-8000-000000000000"}, 404, "transaction_not_found"},
		{"no outbound_transaction_id", map[string]any{"transaction_id": done.TransactionID}, 400, "invalid_request"},
		{"a payment in flight", map[string]any{"outbound_transaction_id": inFlight.TransactionID}, 409, "not_executed"},
		{"an inbound payment", map[string]any{"outbound_transaction_id": in.TransactionID}, 409, "not_outbound_payment"},
		{"returned already", map[string]any{"outbound_transaction_id": done.TransactionID}, 409, "already_returned"},
	} {
		var body fuse.ErrorBody
		if err := json.Unmarshal(e.simulate("return-payment", c.body, c.status), &body); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if body.Code != c.code || body.Message == "" {
			t.Errorf("%s: %+v, want code %s", c.name, body, c.code)
		}
	}
	e.simulate("execute-payment", map[string]any{"transaction_id": inFlight.TransactionID}, http.StatusOK)
	if _, err := e.sb.ReturnPayment(inFlight.TransactionID, strings.Repeat("é", 141)); err == nil {
		t.Error("a reason over 140 characters was taken")
	}
	e.waitIdle()
	after := e.sb.Truth()
	if n := len(after.Transactions); n != len(before.Transactions) {
		t.Errorf("refused returns made %d transactions", n-len(before.Transactions))
	}
	if n := len(e.rx.all()) - hooks; n != 2 { // inFlight's submitted and executed
		t.Errorf("refused returns sent %d webhooks", n-2)
	}
}

// feeAccounts opens a customer's primary AED account with primary minor
// units and a virtual AED account of the same customer with virtual.
func feeAccounts(t *testing.T, e *env, primary, virtual int64) (AccountState, AccountState) {
	t.Helper()
	p, err := e.sb.OpenAccount(AccountSpec{Type: "primary", Name: "Operating", Balance: primary})
	if err != nil {
		t.Fatal(err)
	}
	v, err := e.sb.OpenAccount(AccountSpec{Type: "virtual", Name: "Suppliers", CustomerID: p.CustomerID, Balance: virtual})
	if err != nil {
		t.Fatal(err)
	}
	return p, v
}

func TestPrimaryAccountPaysTheFeeOfAVirtualAccountsPaymentByAFeeDebit(t *testing.T) {
	e := newEnv(t, Options{Seed: 173, FeesFromPrimary: true})
	primary, virtual := feeAccounts(t, e, 5_000, 300_000)
	p := e.pay(virtual.AccountID, 150_000) // 1,500.00: a fee of 1.00
	if p.FeeAmount != 100 || p.AmountWithFee != 150_100 || p.FeeSource != fuse.FeeSourcePrimary {
		t.Fatalf("payment %+v, want a fee of 100 from the primary account", p)
	}
	if got := e.apiBalance(virtual.AccountID); got != (Balance{Current: 300_000, Available: 150_000}) {
		t.Errorf("virtual account %+v while the payment is in flight, want the fee not held there", got)
	}
	_, w := e.wireKeys(p.TransactionID)
	if w.FeeSource == nil || w.FeeSource.Type != fuse.FeeSourcePrimary || *w.FeeAmount != 100 || *w.AmountWithFee != 150_100 {
		t.Errorf("the payment shows fee_source %+v, fee %v, with fee %v", w.FeeSource, *w.FeeAmount, *w.AmountWithFee)
	}
	e.simulate("execute-payment", map[string]any{"transaction_id": p.TransactionID}, http.StatusOK)

	tr := e.sb.Truth()
	var debits []TruthTransaction
	for _, x := range tr.Transactions {
		if x.Kind == ledgerd.KindFeeDebit {
			debits = append(debits, x)
		}
	}
	if len(debits) != 1 {
		t.Fatalf("%d fee debits, want 1", len(debits))
	}
	d := debits[0]
	if d.AccountID != primary.AccountID || d.Status != ledgerd.StatusSettled || d.InstructedAmount != 100 ||
		d.AmountWithFee != 100 || d.FeeTargetID != p.TransactionID || !d.CreatedAt.Equal(truthTx(t, tr, p.TransactionID).FinalAt) {
		t.Errorf("fee debit %+v", d.Leg)
	}
	for id, want := range map[string]Balance{
		primary.AccountID: {Current: 4_900, Available: 4_900},
		virtual.AccountID: {Current: 150_000, Available: 150_000},
	} {
		if got := e.apiBalance(id); got != want {
			t.Errorf("account %s: %+v, want %+v", id, got, want)
		}
	}
	checkBalancesFollow(t, tr)

	keys, fw := e.wireKeys(d.TransactionID)
	if want := []string{"account_id", "amount", "currency", "fee_target", "id", "timestamp", "type"}; !slices.Equal(keys, want) {
		t.Errorf("fee_debit has %v, want exactly %v", keys, want)
	}
	if fw.Type != fuse.TypeFeeDebit || fw.FeeTarget == nil || *fw.FeeTarget != (fuse.FeeTarget{Type: "Transaction", Reference: p.TransactionID}) {
		t.Errorf("fee_debit %+v", fw)
	}
	if got := e.listed("/v1/transactions?payment_type=Fee"); !slices.Equal(got, []string{d.TransactionID}) {
		t.Errorf("payment_type=Fee lists %v, want the fee debit", got)
	}
	if got := e.listed("/v1/accounts/" + primary.AccountID + "/transactions?transaction_state=Settled"); !slices.Contains(got, d.TransactionID) {
		t.Errorf("the primary account's settled transactions %v leave out the fee debit", got)
	}
	hook := e.observed("fee_debited", d.TransactionID)
	if hook.Kind != ledgerd.KindFeeDebit || hook.AccountID != primary.AccountID || hook.FeeTargetID != p.TransactionID ||
		hook.Amounts == nil || hook.Amounts.Instructed != 100 || hook.Currency != "AED" {
		t.Errorf("fee_debited reads as %+v", hook)
	}
	types := e.receivedTypes()
	if i := slices.Index(types, "outbound_local_payment_executed"); i < 0 || i+1 >= len(types) || types[i+1] != "fee_debited" {
		t.Errorf("webhooks %v: want fee_debited right after the payment executed", types)
	}

	// The primary account's own payments, and those of a virtual account
	// of a customer without a primary one, keep their fee inside.
	other, err := e.sb.OpenAccount(AccountSpec{Type: "virtual", Balance: 300_000})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.sb.InboundPayment(InboundPayment{AccountID: primary.AccountID, Amount: 200_000}); err != nil {
		t.Fatal(err)
	}
	for _, acct := range []string{primary.AccountID, other.AccountID} {
		if q := e.pay(acct, 150_000); q.FeeSource != fuse.FeeSourceIncluded || q.AmountWithFee != 150_100 {
			t.Errorf("payment from %s: fee_source %q, with fee %d, want the fee included", acct, q.FeeSource, q.AmountWithFee)
		}
	}
}

// TestAFeeThePrimaryAccountCannotPayStopsThePayment: the primary account
// must have the fee when the payment is made, and still have it when it
// executes; otherwise the payment is refused, or fails, with no fee taken.
func TestAFeeThePrimaryAccountCannotPayStopsThePayment(t *testing.T) {
	e := newEnv(t, Options{Seed: 174, FeesFromPrimary: true})
	primary, virtual := feeAccounts(t, e, 50, 300_000)
	var body fuse.ErrorBody
	st, b := e.do("POST", "/v1/accounts/"+virtual.AccountID+"/payments", testPayment(150_000),
		map[string]string{fuse.HeaderIdempotencyKey: "5d1c0b7e-3f2a-4c55-9e61-0a7b8c9d0e1f"})
	if err := json.Unmarshal(b, &body); st != http.StatusBadRequest || err != nil || body.Code != "insufficient_funds" {
		t.Errorf("a fee the primary account cannot pay: %d %s, want 400 insufficient_funds", st, b)
	}
	if _, err := e.sb.Adjust(Adjustment{AccountID: primary.AccountID, Amount: 50}); err != nil {
		t.Fatal(err)
	}
	p := e.pay(virtual.AccountID, 150_000)
	if _, err := e.sb.Adjust(Adjustment{AccountID: primary.AccountID, Amount: -60}); err != nil {
		t.Fatal(err)
	}
	e.simulate("execute-payment", map[string]any{"transaction_id": p.TransactionID}, http.StatusOK)
	tr := e.sb.Truth()
	if x := truthTx(t, tr, p.TransactionID); x.Status != ledgerd.StatusFailed || x.FailureReason != "insufficient_funds" {
		t.Errorf("payment %s %q, want Failed insufficient_funds", x.Status, x.FailureReason)
	}
	for _, x := range tr.Transactions {
		if x.Kind == ledgerd.KindFeeDebit {
			t.Errorf("a fee was taken for a failed payment: %+v", x.Leg)
		}
	}
	if got := e.apiBalance(virtual.AccountID); got != (Balance{Current: 300_000, Available: 300_000}) {
		t.Errorf("virtual account %+v after the payment failed", got)
	}
	checkBalancesFollow(t, tr)
}

// TestReturnsAndFeeDebitsTakeTheEncodersFastPath: listings serve a
// return, a fee debit and a payment whose fee the primary account paid as
// encoding/json writes their wire form, through the hand encoder.
func TestReturnsAndFeeDebitsTakeTheEncodersFastPath(t *testing.T) {
	e := newEnv(t, Options{Seed: 175, FeesFromPrimary: true, Instant: true})
	_, virtual := feeAccounts(t, e, 5_000, 300_000)
	p := e.pay(virtual.AccountID, 150_000)
	if _, err := e.sb.ReturnPayment(p.TransactionID, "Beneficiary account closed <&>"); err != nil {
		t.Fatal(err)
	}
	e.sb.mu.Lock()
	defer e.sb.mu.Unlock()
	kinds := map[ledgerd.Kind]bool{}
	for _, leg := range e.sb.txnList {
		w := leg.Wire()
		want, err := json.Marshal(w)
		if err != nil {
			t.Fatal(err)
		}
		if got, ok := appendTransactionJSON(nil, &w); !ok || !bytes.Equal(got, want) {
			t.Errorf("%s (fast path %v):\n got %s\nwant %s", leg.Kind, ok, got, want)
		}
		kinds[leg.Kind] = true
	}
	if !kinds[ledgerd.KindReturnIn] || !kinds[ledgerd.KindFeeDebit] {
		t.Errorf("legs of kinds %v, want a return and a fee debit among them", kinds)
	}
}

// TestReturnsAndFeeDebitsMoveTheAccountHistory: a fee debit and a return
// change the day's closing balance as they change the current balance.
func TestReturnsAndFeeDebitsMoveTheAccountHistory(t *testing.T) {
	e := newEnv(t, Options{Seed: 176, FeesFromPrimary: true})
	primary, virtual := feeAccounts(t, e, 5_000, 300_000)
	p := e.pay(virtual.AccountID, 150_000)
	e.simulate("execute-payment", map[string]any{"transaction_id": p.TransactionID}, http.StatusOK)
	e.simulate("return-payment", map[string]any{"outbound_transaction_id": p.TransactionID}, http.StatusOK)
	day := t0.Format(time.DateOnly)
	for id, want := range map[string]int64{primary.AccountID: 4_900, virtual.AccountID: 300_000} {
		h := e.history(id, day, day)
		if len(h.History) != 1 || h.History[0].ClosingBalance != want || e.apiBalance(id).Current != want {
			t.Errorf("account %s: history %s, current %d; want both %d", id, days(h), e.apiBalance(id).Current, want)
		}
	}
}

// TestFeesStayInTheirPaymentsByDefault: without Options.FeesFromPrimary a
// virtual account's payment carries its fee, primary account or not.
func TestFeesStayInTheirPaymentsByDefault(t *testing.T) {
	e := newEnv(t, Options{Seed: 177})
	_, virtual := feeAccounts(t, e, 5_000, 300_000)
	p := e.pay(virtual.AccountID, 150_000)
	e.simulate("execute-payment", map[string]any{"transaction_id": p.TransactionID}, http.StatusOK)
	tr := e.sb.Truth()
	if x := truthTx(t, tr, p.TransactionID); x.FeeSource != fuse.FeeSourceIncluded || x.AmountWithFee != 150_100 {
		t.Errorf("payment: fee_source %q, with fee %d; want the fee included", x.FeeSource, x.AmountWithFee)
	}
	for _, x := range tr.Transactions {
		if x.Kind == ledgerd.KindFeeDebit {
			t.Errorf("a fee debit without FeesFromPrimary: %+v", x.Leg)
		}
	}
	if got := e.apiBalance(virtual.AccountID); got != (Balance{Current: 149_900, Available: 149_900}) {
		t.Errorf("virtual account %+v, want the payment and its fee gone", got)
	}
}
