package sandbox

import (
	"errors"
	"math/rand/v2"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ledgerd/ledgerd"
	"github.com/ledgerd/ledgerd/fuse"
)

func TestTransferProducesTwoLegsWithDistinctIDsAndPairedAmounts(t *testing.T) {
	e := newEnv(t, Options{Seed: 3})
	a := e.account("AED", "Source")
	b := e.account("AED", "Destination")
	e.fund(a.AccountID, 500_000)
	out := e.transfer(fuse.CreateInternalTransferRequest{FromAccountID: a.AccountID, ToAccountID: b.AccountID, Amount: 120_000, ExternalReference: "rent", ExternalID: "tr-1"})
	if got := e.getTx(out.TransactionID); got.Type != fuse.TypeInternalTransfer || got.Direction != fuse.DirectionOutbound ||
		got.State != fuse.StateCreated || got.CounterpartAccountID != b.AccountID {
		t.Fatalf("created transfer as the API shows it: %+v", got)
	}
	if got := e.balance(a.AccountID); got != (Balance{Current: 500_000, Available: 380_000}) {
		t.Errorf("source balance while in flight: %+v", got)
	}
	e.sb.Advance(TransferSettleDelay)

	tr := e.sb.Truth()
	var legs []TruthTransaction
	for _, x := range tr.Transactions {
		if x.Kind == ledgerd.KindInternalTransferOut || x.Kind == ledgerd.KindInternalTransferIn {
			legs = append(legs, x)
		}
	}
	if len(legs) != 2 {
		t.Fatalf("want 2 legs, got %d", len(legs))
	}
	o, i := legs[0], legs[1]
	if o.TransactionID == i.TransactionID || o.PairedTransactionID != i.TransactionID || i.PairedTransactionID != o.TransactionID {
		t.Errorf("legs not distinct and paired: out %s (pair %s), in %s (pair %s)", o.TransactionID, o.PairedTransactionID, i.TransactionID, i.PairedTransactionID)
	}
	if o.Status != ledgerd.StatusSettled || i.Status != ledgerd.StatusSettled || i.Kind != ledgerd.KindInternalTransferIn {
		t.Errorf("statuses: out %s, in %s %s", o.Status, i.Kind, i.Status)
	}
	if i.AccountID != b.AccountID || i.CounterpartAccountID != a.AccountID || i.InstructedAmount != 120_000 ||
		i.Reference != "rent" || i.ExternalID != "tr-1" {
		t.Errorf("inbound leg: %+v", i.Leg)
	}
	if got := e.getTx(i.TransactionID); got.Type != fuse.TypeInternalTransfer || got.Direction != fuse.DirectionInbound ||
		got.State != fuse.StateSettled || got.SettledAt == nil || got.CounterpartAccountID != a.AccountID {
		t.Errorf("inbound leg as the API shows it: %+v", got)
	}
	checkBalancesFollow(t, tr)
	if got := e.balance(b.AccountID); got != (Balance{Current: 120_000, Available: 120_000}) {
		t.Errorf("destination balance: %+v", got)
	}
}

func TestExchangeConvertsWithFloorAtTheTableRate(t *testing.T) {
	e := newEnv(t, Options{Seed: 4, Instant: true})
	usd := e.account("USD", "USD Float")
	aed := e.account("AED", "AED Float")
	jpy := e.account("JPY", "JPY Float")
	e.fund(usd.AccountID, 1_000_000)
	first := e.exchange(usd.AccountID, aed.AccountID, 10_000, "reference-123")
	out := e.getTx(first.TransactionID)
	if out.Type != fuse.TypeFXTransfer || out.Direction != fuse.DirectionOutbound || out.State != fuse.StateExecuted ||
		out.Rate != "3.6725" || out.CounterpartAmount == nil || *out.CounterpartAmount != 36_725 || out.CounterpartCurrency != "AED" {
		t.Fatalf("exchange as the API shows it: %+v", out)
	}
	// 12.34 USD at 151.25 JPY is 1866.325 JPY: floor to 1866 yen (exponent 0).
	yen := e.exchange(usd.AccountID, jpy.AccountID, 1234, "")
	if out := e.getTx(yen.TransactionID); out.CounterpartAmount == nil || *out.CounterpartAmount != 1866 {
		t.Errorf("USD→JPY counterpart %v, want 1866", out.CounterpartAmount)
	}
	tr := e.sb.Truth()
	for _, x := range tr.Transactions {
		if x.Kind == ledgerd.KindExchangeIn && x.AccountID == aed.AccountID {
			if x.InstructedAmount != 36_725 || *x.CounterpartAmount != 10_000 || x.CounterpartCurrency != "USD" ||
				x.Rate != "3.6725" || x.TransactionID == first.TransactionID || x.ExternalReference != "reference-123" {
				t.Errorf("inbound exchange leg: %+v", x.Leg)
			}
		}
	}
	checkBalancesFollow(t, tr)
	ten := int64(10)
	e.call("POST", "/v1/exchange", fuse.CreateExchangeRequest{ExternalReference: "same",
		From: fuse.ExchangeSide{AccountID: usd.AccountID, Amount: &ten}, To: fuse.ExchangeSide{AccountID: usd.AccountID}}, 400, nil)
}

func TestExchangeWithTheToAmountFixedDeliversItExactlyAtTheQuotedCost(t *testing.T) {
	e := newEnv(t, Options{Seed: 4, Instant: true})
	usd := e.account("USD", "USD Float")
	aed := e.account("AED", "AED Float")
	e.fund(usd.AccountID, 1_000_000)
	// 367.26 AED at 3.6725 costs 100.0027… USD: the ceiling, 100.01 USD.
	var q fuse.ExchangeQuote
	e.call("GET", "/v1/exchange/quote?from_account="+usd.AccountID+"&to_account="+aed.AccountID+"&to_amount=36726", nil, 200, &q)
	want := fuse.ExchangeQuote{ExchangeRate: "3.6725", FromAmount: 10_001, FromCurrency: "USD", ToAmount: 36_726, ToCurrency: "AED"}
	if q != want {
		t.Fatalf("quote %+v, want %+v", q, want)
	}
	to := int64(36_726)
	var out fuse.CreateTransactionResponse
	e.call("POST", "/v1/exchange", fuse.CreateExchangeRequest{ExternalReference: "fx-to",
		From: fuse.ExchangeSide{AccountID: usd.AccountID}, To: fuse.ExchangeSide{AccountID: aed.AccountID, Amount: &to}}, 201, &out)
	x := e.leg(out.TransactionID)
	if x.InstructedAmount != q.FromAmount || x.CounterpartAmount == nil || *x.CounterpartAmount != q.ToAmount || x.Rate != q.ExchangeRate {
		t.Errorf("exchange %+v differs from its quote %+v", x, q)
	}
	if st, _ := e.sb.Account(aed.AccountID); st.Balance.Current != 36_726 {
		t.Errorf("AED balance %+v, want exactly the 367.26 asked for", st.Balance)
	}
	// The same priced the other way: 100.01 USD buys floor(367.286725) AED.
	e.call("GET", "/v1/exchange/quote?from_account="+usd.AccountID+"&to_account="+aed.AccountID+"&from_amount=10001", nil, 200, &q)
	if q.FromAmount != 10_001 || q.ToAmount != 36_728 {
		t.Errorf("quote by from_amount %+v, want 10001 USD → 36728 AED", q)
	}
	// Exactly one side carries the amount.
	for _, c := range []fuse.CreateExchangeRequest{
		{ExternalReference: "both", From: fuse.ExchangeSide{AccountID: usd.AccountID, Amount: &to}, To: fuse.ExchangeSide{AccountID: aed.AccountID, Amount: &to}},
		{ExternalReference: "neither", From: fuse.ExchangeSide{AccountID: usd.AccountID}, To: fuse.ExchangeSide{AccountID: aed.AccountID}},
	} {
		e.call("POST", "/v1/exchange", c, 400, nil)
	}
	for _, query := range []string{"to_amount=1&from_amount=1", "", "from_amount=-3", "from_amount=x"} {
		e.call("GET", "/v1/exchange/quote?from_account="+usd.AccountID+"&to_account="+aed.AccountID+"&"+query, nil, 400, nil)
	}
	e.call("GET", "/v1/exchange/quote?from_account="+usd.AccountID+"&to_account=00000000-0000-4000-8000-000000000000&from_amount=1", nil, 404, nil)
	e.call("GET", "/v1/exchange/quote?from_account="+usd.AccountID+"&to_account="+usd.AccountID+"&from_amount=1", nil, 400, nil)
}

func TestConvertAndFeeRules(t *testing.T) {
	for _, c := range []struct {
		amount   int64
		from, to string
		want     int64
	}{
		{10_000, "USD", "AED", 36_725},
		{100_000, "AED", "USD", 27_229},
		{1, "AED", "USD", 0},
		{1_000_000_000_000_000, "USD", "AED", 0}, // would exceed MaxAmount: refused below
		{500, "JPY", "AED", 1214},                // 500 yen × 0.024283 = 12.1415 AED
		{12_345, "BHD", "AED", 12057},            // 12.345 BHD × 9.7673 = 120.5773185 AED
		{100_00, "AED", "BHD", 10_238},           // 100 AED × 0.102383 = 10.2383 BHD
	} {
		got, _, ok := convert(c.amount, c.from, c.to)
		if c.want == 0 && c.amount > 1 {
			if ok {
				t.Errorf("convert(%d %s→%s) = %d, want refusal", c.amount, c.from, c.to, got)
			}
			continue
		}
		if !ok || got != c.want {
			t.Errorf("convert(%d %s→%s) = %d %v, want %d", c.amount, c.from, c.to, got, ok, c.want)
		}
	}
	if _, _, ok := convert(100, "AED", "GHS"); ok {
		t.Error("AED→GHS has no rate")
	}
	for key, r := range rateTable {
		if _, ok := parseRate(r); !ok {
			t.Errorf("rate %v %q does not parse", key, r)
		}
	}
	for _, c := range []struct {
		amount int64
		cur    string
		fee    int64
	}{{99_999, "AED", 0}, {100_000, "AED", 100}, {999, "JPY", 0}, {1000, "JPY", 1}, {1_000_000, "BHD", 1000}} {
		if got := paymentFee(c.amount, c.cur); got != c.fee {
			t.Errorf("paymentFee(%d %s) = %d, want %d", c.amount, c.cur, got, c.fee)
		}
	}
}

func TestPaymentMovesCreatedSubmittedExecutedOnTheClock(t *testing.T) {
	e := newEnv(t, Options{Seed: 5})
	a := e.account("AED", "Ops")
	e.fund(a.AccountID, 300_000)
	p := e.pay(a.AccountID, 150_000) // fee 100: at or above 1,000.00
	if p.FeeAmount != 100 || p.AmountWithFee != 150_100 || p.Status != ledgerd.StatusCreated {
		t.Fatalf("payment: %+v", p)
	}
	// Each state carries its own time (submitted_at, executed_at), and
	// created_at never moves.
	submittedAt, executedAt := p.CreatedAt.Add(PaymentSubmitDelay), p.CreatedAt.Add(PaymentExecuteDelay)
	steps := []struct {
		advance             time.Duration
		state               string
		submitted, executed *time.Time
		balance             Balance
	}{
		{0, fuse.StateCreated, nil, nil, Balance{Current: 300_000, Available: 149_900}},
		{PaymentSubmitDelay - time.Millisecond, fuse.StateCreated, nil, nil, Balance{Current: 300_000, Available: 149_900}},
		{time.Millisecond, fuse.StateSubmitted, &submittedAt, nil, Balance{Current: 300_000, Available: 149_900}},
		{PaymentExecuteDelay - PaymentSubmitDelay, fuse.StateExecuted, &submittedAt, &executedAt, Balance{Current: 149_900, Available: 149_900}},
	}
	sameTime := func(got, want *time.Time) bool {
		return (got == nil) == (want == nil) && (got == nil || got.Equal(*want))
	}
	for _, st := range steps {
		e.sb.Advance(st.advance)
		got := e.getTx(p.TransactionID)
		if got.State != st.state {
			t.Fatalf("after +%s: state %s, want %s", st.advance, got.State, st.state)
		}
		if b := e.balance(a.AccountID); b != st.balance {
			t.Errorf("after +%s (%s): balance %+v, want %+v", st.advance, st.state, b, st.balance)
		}
		if got.CreatedAt == nil || !got.CreatedAt.Equal(p.CreatedAt) {
			t.Errorf("after +%s: created_at %v, want %s", st.advance, got.CreatedAt, p.CreatedAt)
		}
		if !sameTime(got.SubmittedAt, st.submitted) || !sameTime(got.ExecutedAt, st.executed) {
			t.Errorf("after +%s (%s): submitted_at %v, executed_at %v, want %v and %v",
				st.advance, st.state, got.SubmittedAt, got.ExecutedAt, st.submitted, st.executed)
		}
	}
	checkBalancesFollow(t, e.sb.Truth())
}

func TestPaymentValidation(t *testing.T) {
	e := newEnv(t, Options{Seed: 6})
	a := e.account("AED", "Ops")
	e.fund(a.AccountID, 100_000)
	usd := e.account("USD", "Dollars")
	e.fund(usd.AccountID, 100_000)
	pay := func(amount int64, change func(*fuse.CreatePaymentRequest)) fuse.CreatePaymentRequest {
		req := testPayment(amount)
		if change != nil {
			change(&req)
		}
		return req
	}
	for _, c := range []struct {
		name    string
		account string
		req     fuse.CreatePaymentRequest
		code    string
	}{
		{"zero amount", a.AccountID, pay(0, nil), "invalid_amount"},
		{"negative amount", a.AccountID, pay(-5, nil), "invalid_amount"},
		{"no beneficiary", a.AccountID, pay(5, func(r *fuse.CreatePaymentRequest) { r.Beneficiary = fuse.Beneficiary{} }), "invalid_request"},
		{"purpose not a code", a.AccountID, pay(5, func(r *fuse.CreatePaymentRequest) { r.Purpose = "supplier invoice" }), "invalid_request"},
		{"no external reference", a.AccountID, pay(5, func(r *fuse.CreatePaymentRequest) { r.ExternalReference = "" }), "invalid_request"},
		{"two identifiers", a.AccountID, pay(5, func(r *fuse.CreatePaymentRequest) {
			r.Beneficiary.AccountIdentifier.SCAN = &fuse.SCANDetails{AccountNumber: "12345678", SortCode: "401276"}
		}), "invalid_request"},
		{"USD without a BIC", usd.AccountID, pay(5, func(r *fuse.CreatePaymentRequest) { r.Beneficiary.Bank = nil }), "invalid_request"},
		{"USD without a second address line", usd.AccountID, pay(5, func(r *fuse.CreatePaymentRequest) { r.Beneficiary.Address.Line2 = "" }), "invalid_request"},
		// 1,000.00 carries a 1.00 fee: 100,000 + 100 exceeds the balance.
		{"fee makes it unaffordable", a.AccountID, pay(100_000, nil), "insufficient_funds"},
	} {
		var body fuse.ErrorBody
		e.call("POST", "/v1/accounts/"+c.account+"/payments", c.req, http.StatusBadRequest, &body)
		if body.Code != c.code || body.Message == "" || body.Error != body.Message {
			t.Errorf("%s: error %+v, want code %q with a message", c.name, body, c.code)
		}
	}
	e.call("POST", "/v1/accounts/00000000-0000-4000-8000-000000000000/payments", pay(5, nil), http.StatusNotFound, nil)
	e.call("POST", "/v1/accounts/"+a.AccountID+"/payments", []byte(`{"amount":`), http.StatusBadRequest, nil)
	e.pay(a.AccountID, 99_999) // fee 0: exactly affordable
	if b := e.balance(a.AccountID); b.Available != 1 {
		t.Errorf("available %d, want 1", b.Available)
	}
}

func TestAPaymentToWireDetailsShowsThemAsItsBeneficiary(t *testing.T) {
	e := newEnv(t, Options{Seed: 7})
	usd := e.account("USD", "Dollars")
	e.fund(usd.AccountID, 100_000)
	req := testPayment(5_000)
	req.Beneficiary.AccountIdentifier = fuse.Identifier{Wire: &fuse.WireDetails{AccountNumber: "000123456789", RoutingNumber: "021000021"}}
	var out fuse.CreateTransactionResponse
	e.call("POST", "/v1/accounts/"+usd.AccountID+"/payments", req, http.StatusAccepted, &out)
	got := e.getTx(out.TransactionID)
	if got.Beneficiary == nil || got.Beneficiary.Identifier.Wire == nil || got.Beneficiary.Identifier.IBAN != "" ||
		*got.Beneficiary.Identifier.Wire != *req.Beneficiary.AccountIdentifier.Wire || got.Beneficiary.Name != "Fulan AlFulani" {
		t.Errorf("beneficiary %+v, want the wire details sent", got.Beneficiary)
	}
}

func TestFailedPaymentRestoresAvailableAndIgnoresLaterSteps(t *testing.T) {
	e := newEnv(t, Options{Seed: 8})
	a := e.account("AED", "Ops")
	e.fund(a.AccountID, 10_000)
	p := e.pay(a.AccountID, 4_000)
	e.sb.Advance(PaymentSubmitDelay)
	var failed Leg // the control answers the sandbox's leg
	e.call("POST", "/sandbox/transactions/"+p.TransactionID+"/fail", map[string]string{"reason": "beneficiary bank rejected"}, 200, &failed)
	if failed.Status != ledgerd.StatusFailed || failed.FailureReason != "beneficiary bank rejected" {
		t.Fatalf("failed: %+v", failed)
	}
	e.sb.Advance(time.Hour)
	got := e.getTx(p.TransactionID)
	if got.State != fuse.StateFailed || got.ExecutedAt != nil || got.FailedAt == nil || !got.FailedAt.Equal(p.CreatedAt.Add(PaymentSubmitDelay)) {
		t.Errorf("after the execute time: %s, executed_at %v, failed_at %v", got.State, got.ExecutedAt, got.FailedAt)
	}
	// The reference's PaymentFailure: free text only as the bank's error.
	if string(got.FailureReason) != `{"bank_error":"beneficiary bank rejected"}` {
		t.Errorf("failure_reason %s, want the reason given as the bank's error", got.FailureReason)
	}
	if b := e.balance(a.AccountID); b != (Balance{Current: 10_000, Available: 10_000}) {
		t.Errorf("balance %+v", b)
	}
	var body fuse.ErrorBody
	e.call("POST", "/sandbox/transactions/"+p.TransactionID+"/fail", nil, http.StatusConflict, &body)
	if body.Code != "not_in_flight" {
		t.Errorf("second fail: %q", body.Code)
	}
	if _, err := e.sb.Fail("nope", ""); !errors.As(err, new(*Error)) {
		t.Errorf("Fail(unknown) = %v", err)
	}
	checkBalancesFollow(t, e.sb.Truth())
}

func TestBalancesFollowFromTransactionsAcrossAMixedDay(t *testing.T) {
	e := newEnv(t, Options{Seed: 9})
	var accts []AccountState
	for _, c := range []string{"AED", "AED", "USD", "EUR"} {
		accts = append(accts, e.account(c, "acct-"+c))
	}
	for _, a := range accts {
		e.fund(a.AccountID, 5_000_000)
	}
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 60 {
		a := accts[r.IntN(len(accts))]
		switch i % 4 {
		case 0:
			e.pay(a.AccountID, 1+r.Int64N(200_000))
		case 1:
			e.transfer(fuse.CreateInternalTransferRequest{FromAccountID: accts[0].AccountID, ToAccountID: accts[1].AccountID, Amount: 1 + r.Int64N(50_000)})
		case 2:
			to := accts[2+r.IntN(2)]
			e.exchange(accts[0].AccountID, to.AccountID, 100+r.Int64N(50_000), "")
		case 3:
			e.sb.Advance(time.Duration(r.IntN(3000)) * time.Millisecond)
		}
		checkBalancesFollow(t, e.sb.Truth())
	}
	// Some outbound legs are still in flight: fail every second one.
	tr := e.sb.Truth()
	n := 0
	for _, x := range tr.Transactions {
		if !x.Status.Terminal() {
			if n++; n%2 == 0 {
				if _, err := e.sb.Fail(x.TransactionID, ""); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	if n == 0 {
		t.Fatal("scenario left nothing in flight")
	}
	checkBalancesFollow(t, e.sb.Truth())
	e.sb.Advance(time.Minute)
	tr = e.sb.Truth()
	checkBalancesFollow(t, tr)
	for _, a := range tr.Accounts {
		if a.Balance.Current != a.Balance.Available {
			t.Errorf("%s: nothing in flight, yet current %d != available %d", a.AccountID, a.Balance.Current, a.Balance.Available)
		}
		if got := e.balance(a.AccountID); got != a.Balance {
			t.Errorf("%s: API balance %+v, truth %+v", a.AccountID, got, a.Balance)
		}
	}
}

func TestAdjustmentPlantsADiscrepancyWithoutTransactionOrWebhook(t *testing.T) {
	e := newEnv(t, Options{Seed: 10, Instant: true})
	a := e.account("AED", "Ops")
	e.fund(a.AccountID, 10_000)
	events := len(e.sb.Events())
	txs := len(e.sb.Truth().Transactions)
	var got AccountState // the control answers the sandbox's account
	e.call("POST", "/sandbox/adjustments", map[string]any{"account_id": a.AccountID, "amount": -2_500, "currency": "AED"}, 200, &got)
	if got.Balance != (Balance{Current: 7_500, Available: 7_500}) {
		t.Errorf("balance after adjustment %+v", got.Balance)
	}
	if b := e.balance(a.AccountID); b != got.Balance {
		t.Errorf("API balance after adjustment %+v, want %+v", b, got.Balance)
	}
	tr := e.sb.Truth()
	if len(tr.Transactions) != txs || len(e.sb.Events()) != events {
		t.Errorf("an adjustment created a transaction or an event")
	}
	var fromTxs int64
	for _, x := range tr.Transactions {
		if x.AccountID == a.AccountID {
			fromTxs += x.InstructedAmount
		}
	}
	acct := tr.Accounts[0]
	if acct.Adjustments != -2_500 || acct.Balance.Current-fromTxs != -2_500 {
		t.Errorf("discrepancy: adjustments %d, balance %d vs transactions %d", acct.Adjustments, acct.Balance.Current, fromTxs)
	}
	checkBalancesFollow(t, tr) // recompute counts Adjustments
	e.call("POST", "/sandbox/adjustments", map[string]any{"account_id": a.AccountID, "amount": 1, "currency": "USD"}, 400, nil)
	if !strings.Contains(string(mustBody(e.do("GET", "/sandbox/truth", nil, nil))), `"adjustments":-2500`) {
		t.Error("GET /sandbox/truth does not show the adjustment")
	}
}

func mustBody(_ int, b []byte) []byte { return b }

// An internal transfer is Booked before it settles, as Fuse's transfers
// are (Created → Booked → Settled), with no webhook for Booked; a booked
// transfer can still fail.
func TestInternalTransferIsBookedBeforeItSettlesWithoutAWebhook(t *testing.T) {
	e := newEnv(t, Options{Seed: 12})
	a, b := e.account("AED", "Ops"), e.account("AED", "Payroll")
	e.fund(a.AccountID, 10_000)
	tr := e.transfer(fuse.CreateInternalTransferRequest{FromAccountID: a.AccountID, ToAccountID: b.AccountID, Amount: 1_000, ExternalReference: "rent"})
	doomed := e.transfer(fuse.CreateInternalTransferRequest{FromAccountID: a.AccountID, ToAccountID: b.AccountID, Amount: 500, ExternalReference: "fee"})
	events := len(e.sb.Events())
	e.sb.Advance(TransferBookDelay)
	if got := e.getTx(tr.TransactionID); got.State != fuse.StateBooked || got.SettledAt != nil {
		t.Fatalf("after %s: state %s settled_at %v, want Booked and no settled_at", TransferBookDelay, got.State, got.SettledAt)
	}
	if n := len(e.sb.Events()); n != events {
		t.Errorf("%d events for Booked, want none", n-events)
	}
	var failed Leg
	e.call("POST", "/sandbox/transactions/"+doomed.TransactionID+"/fail", map[string]string{"reason": "limits"}, 200, &failed)
	if failed.Status != ledgerd.StatusFailed {
		t.Errorf("booked transfer after fail: %s, want failed", failed.Status)
	}
	e.sb.Advance(TransferSettleDelay)
	if got := e.getTx(tr.TransactionID); got.State != fuse.StateSettled || got.SettledAt == nil {
		t.Errorf("after %s: state %s settled_at %v, want Settled with its time", TransferSettleDelay, got.State, got.SettledAt)
	}
}
