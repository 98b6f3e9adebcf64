package sandbox

import (
	"encoding/json"
	"net/http"
	"reflect"
	"testing"

	"github.com/ledgerd/ledgerd"
	"github.com/ledgerd/ledgerd/fuse"
)

// simulate posts to one of Fuse's simulation endpoints, as a client of
// Fuse would: token, no Idempotency-Key.
func (e *env) simulate(what string, body any, want int) []byte {
	e.t.Helper()
	st, b := e.do("POST", "/v1/simulate/"+what, body, nil)
	if st != want {
		e.t.Fatalf("simulate %s: status %d, want %d: %s", what, st, want, b)
	}
	if !json.Valid(b) {
		e.t.Fatalf("simulate %s: answer is not JSON: %s", what, b)
	}
	return b
}

// simulatedID decodes a simulation's answer, the transaction it moved.
func simulatedID(t *testing.T, b []byte) string {
	t.Helper()
	var r simulateResponse
	if err := json.Unmarshal(b, &r); err != nil || r.TransactionID == "" {
		t.Fatalf("simulation answer %s: no transaction_id (%v)", b, err)
	}
	return r.TransactionID
}

// webhooksFor returns the payloads of the webhooks of type typ received
// for transaction id, once the sandbox is idle.
func (e *env) webhooksFor(typ, id string) []map[string]any {
	e.t.Helper()
	e.waitIdle()
	var out []map[string]any
	for _, r := range e.rx.all() {
		got, _, raw := r.fields(e.t)
		if got != typ {
			continue
		}
		var p map[string]any
		if err := json.Unmarshal(raw[typ], &p); err != nil {
			e.t.Fatalf("%s payload: %v", typ, err)
		}
		if p["transaction_id"] == id {
			out = append(out, p)
		}
	}
	return out
}

func truthTx(t *testing.T, tr Truth, id string) TruthTransaction {
	t.Helper()
	for _, x := range tr.Transactions {
		if x.TransactionID == id {
			return x
		}
	}
	t.Fatalf("transaction %s is not in the truth", id)
	return TruthTransaction{}
}

func TestSimulateInboundPaymentCreditsTheAccountAndSendsItsWebhook(t *testing.T) {
	e := newEnv(t, Options{Seed: 161})
	a := e.account("AED", "Receivables")
	first := simulatedID(t, e.simulate("inbound-payment", map[string]any{
		"beneficiary_account_id": a.AccountID, "amount": 2_500, "reference": "INV-7",
		"external_id": "5f0c3b8e-6a51-4c52-9d1e-2f8a3c7b9d10",
		"remitter":    map[string]any{"iban": "AE070331234567890123456"},
	}, http.StatusOK))
	second := simulatedID(t, e.simulate("inbound-payment", map[string]any{
		"beneficiary_account_id": a.AccountID, "amount": 500, "reference": "INV-8", "remitter_name": "Acme Trading",
	}, http.StatusOK))

	tr := e.sb.Truth()
	x := truthTx(t, tr, first)
	if x.Kind != ledgerd.KindLocalPaymentIn || x.Status != ledgerd.StatusSettled || x.InstructedAmount != 2_500 ||
		x.ExternalReference != "INV-7" || x.ExternalID != "5f0c3b8e-6a51-4c52-9d1e-2f8a3c7b9d10" {
		t.Errorf("simulated inbound payment: %+v", x.Leg)
	}
	if x.Remitter == nil || x.Remitter.Name != "topup" || x.Remitter.IBAN != "AE070331234567890123456" {
		t.Errorf("remitter %+v, want topup with the IBAN given", x.Remitter)
	}
	if r := truthTx(t, tr, second).Remitter; r == nil || r.Name != "Acme Trading" || !validIBAN(r.IBAN) {
		t.Errorf("remitter %+v, want Acme Trading with a drawn IBAN", r)
	}
	if got := e.getTx(first); got.Type != fuse.TypeLocalPayment || got.Direction != fuse.DirectionInbound ||
		got.State != fuse.StateSettled || got.Remitter == nil || got.Remitter.Identifier.IBAN != "AE070331234567890123456" {
		t.Errorf("simulated inbound payment as the API shows it: %+v", got)
	}
	if b := e.balance(a.AccountID); b != (Balance{Current: 3_000, Available: 3_000}) {
		t.Errorf("balance %+v after 2500 + 500 in", b)
	}
	checkBalancesFollow(t, tr)
	for _, id := range []string{first, second} {
		if got := e.webhooksFor("inbound_local_payment_settled", id); len(got) != 1 {
			t.Errorf("inbound_local_payment_settled for %s: %d webhooks, want 1", id, len(got))
		}
	}
}

func TestSimulateExecutePaymentExecutesAnOutboundPaymentInFlightOnce(t *testing.T) {
	e := newEnv(t, Options{Seed: 162})
	a := e.account("AED", "Ops")
	e.fund(a.AccountID, 100_000)
	created := e.pay(a.AccountID, 10_000) // the clock stands still: Created
	submitted := e.pay(a.AccountID, 20_000)
	e.sb.Advance(PaymentSubmitDelay)
	created2 := e.pay(a.AccountID, 30_000)
	if st := e.getTx(created2.TransactionID).State; st != fuse.StateCreated {
		t.Fatalf("set-up: payment is %s, want Created", st)
	}
	if st := e.getTx(submitted.TransactionID).State; st != fuse.StateSubmitted {
		t.Fatalf("set-up: payment is %s, want Submitted", st)
	}
	for _, p := range []Leg{created2, submitted} {
		if id := simulatedID(t, e.simulate("execute-payment", map[string]any{"transaction_id": p.TransactionID}, http.StatusOK)); id != p.TransactionID {
			t.Errorf("answer names %s, want %s", id, p.TransactionID)
		}
		if st := truthTx(t, e.sb.Truth(), p.TransactionID).Status; st != ledgerd.StatusExecuted {
			t.Errorf("payment %s is %s after execute-payment", p.TransactionID, st)
		}
	}
	// The clock's own steps find them executed and send nothing more.
	e.sb.Advance(PaymentExecuteDelay)
	for _, p := range []Leg{created, created2, submitted} {
		for _, typ := range []string{"outbound_local_payment_submitted", "outbound_local_payment_executed"} {
			if n := len(e.webhooksFor(typ, p.TransactionID)); n != 1 {
				t.Errorf("%s for %s: %d webhooks, want 1", typ, p.TransactionID, n)
			}
		}
	}
	if b := e.balance(a.AccountID); b != (Balance{Current: 40_000, Available: 40_000}) {
		t.Errorf("balance %+v, want 100000 - 60000 executed", b)
	}
	checkBalancesFollow(t, e.sb.Truth())

	var body fuse.ErrorBody
	if err := json.Unmarshal(e.simulate("execute-payment", map[string]any{"transaction_id": submitted.TransactionID}, http.StatusConflict), &body); err != nil {
		t.Fatal(err)
	}
	if body.Code != "not_in_flight" || body.Message == "" || body.Error != body.Message {
		t.Errorf("executing an executed payment: %+v", body)
	}
}

func TestSimulateFailPaymentFailsAnOutboundPaymentInFlightWithEitherReasonField(t *testing.T) {
	e := newEnv(t, Options{Seed: 163})
	a := e.account("AED", "Ops")
	e.fund(a.AccountID, 100_000)
	p1 := e.pay(a.AccountID, 10_000)
	e.sb.Advance(PaymentSubmitDelay)
	p2 := e.pay(a.AccountID, 20_000)
	e.simulate("fail-payment", map[string]any{"transaction_id": p1.TransactionID, "failure_reason": "beneficiary bank rejected"}, http.StatusOK)
	e.simulate("fail-payment", map[string]any{"transaction_id": p2.TransactionID, "failed_reason": "account closed"}, http.StatusOK)

	tr := e.sb.Truth()
	for id, reason := range map[string]string{p1.TransactionID: "beneficiary bank rejected", p2.TransactionID: "account closed"} {
		if x := truthTx(t, tr, id); x.Status != ledgerd.StatusFailed || x.FailureReason != reason {
			t.Errorf("payment %s: %s %q, want Failed %q", id, x.Status, x.FailureReason, reason)
		}
		got := e.webhooksFor("outbound_local_payment_failed", id)
		if len(got) != 1 {
			t.Errorf("outbound_local_payment_failed for %s: %d webhooks, want 1", id, len(got))
			continue
		}
		if fr, _ := got[0]["failure_reason"].(map[string]any); fr["bank_error"] != reason {
			t.Errorf("webhook failure_reason %v, want %q", got[0]["failure_reason"], reason)
		}
	}
	if b := e.balance(a.AccountID); b != (Balance{Current: 100_000, Available: 100_000}) {
		t.Errorf("balance %+v after both payments failed", b)
	}
	checkBalancesFollow(t, tr)
}

func TestSimulateEndpointsRefuseWhatTheyCannotMoveInFusesErrorShape(t *testing.T) {
	e := newEnv(t, Options{Seed: 164})
	a, b := e.account("AED", "Ops"), e.account("AED", "Payroll")
	in := e.fund(a.AccountID, 100_000)
	out := e.pay(a.AccountID, 1_000)
	transfer := e.transfer(fuse.CreateInternalTransferRequest{FromAccountID: a.AccountID, ToAccountID: b.AccountID, Amount: 500, ExternalReference: "r"})
	e.simulate("fail-payment", map[string]any{"transaction_id": out.TransactionID, "failure_reason": "x"}, http.StatusOK)
	e.waitIdle()
	before, hooks := e.sb.Truth(), len(e.rx.all())

	for _, c := range []struct {
		name, path string
		body       any
		status     int
		code       string
	}{
		{"unknown transaction", "execute-payment", map[string]any{"transaction_id": "9d3c1f0e-0000-4000-8000-000000000000"}, 404, "transaction_not_found"},
		{"unknown transaction", "fail-payment", map[string]any{"transaction_id": "9d3c1f0e-0000-4000-8000-000000000000", "failure_reason": "x"}, 404, "transaction_not_found"},
		{"no transaction_id", "execute-payment", map[string]any{}, 400, "invalid_request"},
		{"malformed body", "fail-payment", []byte(`{"transaction_id":`), 400, "invalid_request"},
		{"an inbound payment", "execute-payment", map[string]any{"transaction_id": in.TransactionID}, 409, "not_outbound_payment"},
		{"an internal transfer", "fail-payment", map[string]any{"transaction_id": transfer.TransactionID, "failure_reason": "x"}, 409, "not_outbound_payment"},
		{"a failed payment", "execute-payment", map[string]any{"transaction_id": out.TransactionID}, 409, "not_in_flight"},
		{"a failed payment", "fail-payment", map[string]any{"transaction_id": out.TransactionID, "failure_reason": "x"}, 409, "not_in_flight"},
		{"unknown account", "inbound-payment", map[string]any{"beneficiary_account_id": "9d3c1f0e-0000-4000-8000-000000000000", "amount": 1, "reference": "r"}, 404, "account_not_found"},
		{"zero amount", "inbound-payment", map[string]any{"beneficiary_account_id": a.AccountID, "amount": 0, "reference": "r"}, 400, "invalid_amount"},
		{"a failed payment", "return-payment", map[string]any{"outbound_transaction_id": out.TransactionID}, 409, "not_executed"},
		{"no outbound_transaction_id", "return-payment", map[string]any{"transaction_id": out.TransactionID}, 400, "invalid_request"},
	} {
		var body fuse.ErrorBody
		if err := json.Unmarshal(e.simulate(c.path, c.body, c.status), &body); err != nil {
			t.Fatalf("%s %s: %v", c.path, c.name, err)
		}
		if body.Code != c.code || body.Message == "" || body.Error != body.Message {
			t.Errorf("%s %s: %+v, want code %s with error and message", c.path, c.name, body, c.code)
		}
	}
	for _, path := range []string{"inbound-payment", "execute-payment", "fail-payment", "return-payment"} {
		st, resp := e.do("POST", "/v1/simulate/"+path, map[string]any{
			"beneficiary_account_id": a.AccountID, "amount": 1, "reference": "r", "transaction_id": transfer.TransactionID,
		}, map[string]string{"Authorization": ""})
		var body fuse.ErrorBody
		if err := json.Unmarshal(resp, &body); st != http.StatusUnauthorized || err != nil || body.Code == "" || body.Message == "" {
			t.Errorf("%s without a token: %d %s, want 401 in the error shape", path, st, resp)
		}
	}
	e.waitIdle()
	if after := e.sb.Truth(); !reflect.DeepEqual(before, after) {
		t.Errorf("a refused simulation changed the truth:\nbefore %+v\nafter  %+v", before, after)
	}
	if n := len(e.rx.all()); n != hooks {
		t.Errorf("refused simulations sent %d webhooks", n-hooks)
	}
}
