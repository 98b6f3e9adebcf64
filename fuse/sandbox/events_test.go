package sandbox

import (
	"encoding/json"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/ledgerd/ledgerd/fuse"
)

// seedFields lists, per event type, the payload fields of the Fuse webhook
// reference (shared/seeds/002_b028f1691ad76684.txt).
var seedFields = map[string][]string{
	"account_opened":                      {"account_id", "account_type", "account_name", "customer_id", "external_id", "currency"},
	"account_updated":                     {"account_id", "account_name", "external_id"},
	"outbound_local_payment_created":      {"account_id", "transaction_id", "amount_with_fee", "instructed_amount", "fee_amount", "remitter", "beneficiary", "purpose", "currency", "external_reference", "external_id", "timestamp"},
	"outbound_local_payment_submitted":    {"account_id", "transaction_id", "external_id", "timestamp"},
	"outbound_local_payment_executed":     {"account_id", "transaction_id", "external_id", "timestamp"},
	"outbound_local_payment_failed":       {"account_id", "transaction_id", "timestamp", "external_id", "failure_reason"},
	"inbound_local_payment_settled":       {"account_id", "transaction_id", "amount_with_fee", "instructed_amount", "fee_amount", "remitter", "beneficiary", "purpose", "currency", "external_reference", "timestamp"},
	"internal_transfer_created":           {"account_id", "transaction_id", "amount", "to_account_id", "reference", "external_id", "timestamp"},
	"inbound_internal_transfer_settled":   {"account_id", "from_account_id", "transaction_id", "timestamp", "amount", "reference", "external_id"},
	"internal_transfer_settled":           {"account_id", "transaction_id", "external_id", "timestamp"},
	"internal_transfer_failed":            {"account_id", "transaction_id", "timestamp", "failure_reason", "external_id"},
	"outbound_exchange_transfer_created":  {"account_id", "counterpart_account_id", "transaction_id", "currency", "amount", "counterpart_currency", "counterpart_amount", "external_reference", "timestamp", "rate"},
	"outbound_exchange_transfer_executed": {"account_id", "transaction_id", "timestamp"},
	"inbound_exchange_transfer_settled":   {"account_id", "counterpart_account_id", "transaction_id", "currency", "amount", "counterpart_currency", "counterpart_amount", "external_reference", "timestamp", "rate"},
	"outbound_exchange_transfer_failed":   {"account_id", "transaction_id", "timestamp", "failure_reason"},
}

func TestEveryEventTypeIsEmittedWithExactlyTheSeedFields(t *testing.T) {
	e := newEnv(t, Options{Seed: 7, WebhookSecret: "s3cret"})
	a1 := e.account("AED", "Contractors Inc.")
	a2 := e.account("AED", "Payroll")
	u1 := e.account("USD", "Dollar Float")
	e.call("PATCH", "/v1/accounts/"+a1.AccountID, map[string]string{"account_name": "Contractors Ltd."}, 202, nil)
	if got, _ := e.sb.Account(a1.AccountID); got.AccountName != "Contractors Ltd." {
		t.Fatalf("account after PATCH: %q", got.AccountName)
	}
	e.fund(a1.AccountID, 10_000_000)

	p := e.pay(a1.AccountID, 51239)
	e.sb.Advance(PaymentExecuteDelay)
	if got := e.getTx(p.TransactionID).State; got != fuse.StateExecuted {
		t.Fatalf("payment status after %s: %s", PaymentExecuteDelay, got)
	}
	pf := e.pay(a1.AccountID, 1000)
	e.call("POST", "/sandbox/transactions/"+pf.TransactionID+"/fail", map[string]string{"reason": "Manual failure in Portal"}, 200, nil)

	e.transfer(fuse.CreateInternalTransferRequest{FromAccountID: a1.AccountID, ToAccountID: a2.AccountID, Amount: 1_000_000, ExternalReference: "transfer-1", ExternalID: "01JDHZK7QKF0WWQG43WNFQ3YCX"})
	e.sb.Advance(TransferSettleDelay)
	tr := e.transfer(fuse.CreateInternalTransferRequest{FromAccountID: a1.AccountID, ToAccountID: a2.AccountID, Amount: 500, ExternalReference: "transfer-2"})
	e.call("POST", "/sandbox/transactions/"+tr.TransactionID+"/fail", nil, 200, nil)

	e.exchange(a1.AccountID, u1.AccountID, 100_000, "reference-123")
	e.sb.Advance(ExchangeExecuteDelay)
	fx := e.exchange(a1.AccountID, u1.AccountID, 5_000, "")
	e.call("POST", "/sandbox/transactions/"+fx.TransactionID+"/fail", map[string]string{"reason": "rate expired"}, 200, nil)

	wantOrder := []string{
		"account_opened", "account_opened", "account_opened", "account_updated",
		"inbound_local_payment_settled",
		"outbound_local_payment_created", "outbound_local_payment_submitted", "outbound_local_payment_executed",
		"outbound_local_payment_created", "outbound_local_payment_failed",
		"internal_transfer_created", "internal_transfer_settled", "inbound_internal_transfer_settled",
		"internal_transfer_created", "internal_transfer_failed",
		"outbound_exchange_transfer_created", "outbound_exchange_transfer_executed", "inbound_exchange_transfer_settled",
		"outbound_exchange_transfer_created", "outbound_exchange_transfer_failed",
	}
	if got := e.receivedTypes(); !slices.Equal(got, wantOrder) {
		t.Fatalf("webhook types:\n got %v\nwant %v", got, wantOrder)
	}

	seen := map[string]bool{}
	for _, r := range e.rx.all() {
		typ, id, raw := r.fields(t)
		seen[typ] = true
		if _, err := uuid.Parse(id); err != nil {
			t.Errorf("%s: event_id %q is not a UUID", typ, id)
		}
		if got := slices.Sorted(maps.Keys(raw)); !slices.Equal(got, slices.Sorted(slices.Values([]string{"type", "event_id", "event_version", typ}))) {
			t.Errorf("%s: envelope keys %v", typ, got)
		}
		if string(raw["event_version"]) != "1" {
			t.Errorf("%s: event_version %s", typ, raw["event_version"])
		}
		var payload map[string]json.RawMessage
		if err := json.Unmarshal(raw[typ], &payload); err != nil {
			t.Fatalf("%s: payload: %v", typ, err)
		}
		if got, want := slices.Sorted(maps.Keys(payload)), slices.Sorted(slices.Values(seedFields[typ])); !slices.Equal(got, want) {
			t.Errorf("%s: payload fields\n got %v\nwant %v", typ, got, want)
		}
		checkPayloadShapes(t, typ, payload)
		if got := r.Header.Get(fuse.HeaderSignature); got != Sign("s3cret", r.Body) {
			t.Errorf("%s: signature %q", typ, got)
		}
		if ts, err := time.Parse(time.RFC3339, r.Header.Get(fuse.HeaderFuseTimestamp)); err != nil || ts.Nanosecond() != 0 || !strings.HasSuffix(r.Header.Get(fuse.HeaderFuseTimestamp), "Z") {
			t.Errorf("%s: X-Fuse-Timestamp %q", typ, r.Header.Get(fuse.HeaderFuseTimestamp))
		}
		if ct := r.Header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("%s: Content-Type %q", typ, ct)
		}
	}
	if len(seen) != len(seedFields) {
		t.Errorf("saw %d event types, the seed has %d", len(seen), len(seedFields))
	}
}

// checkPayloadShapes checks the nested shapes and encodings the seed shows.
func checkPayloadShapes(t *testing.T, typ string, p map[string]json.RawMessage) {
	t.Helper()
	if ts, ok := p["timestamp"]; ok {
		var s string
		if err := json.Unmarshal(ts, &s); err != nil || !strings.HasSuffix(s, "Z") {
			t.Errorf("%s: timestamp %s is not UTC RFC 3339", typ, ts)
		} else if _, err := time.Parse(time.RFC3339Nano, s); err != nil {
			t.Errorf("%s: timestamp %s: %v", typ, s, err)
		}
	}
	for _, k := range []string{"remitter", "beneficiary"} {
		if raw, ok := p[k]; ok {
			var party struct {
				Name       string            `json:"name"`
				Identifier map[string]string `json:"identifier"`
			}
			if err := json.Unmarshal(raw, &party); err != nil || party.Name == "" || len(party.Identifier) != 1 || len(party.Identifier["iban"]) != 23 {
				t.Errorf("%s: %s is %s, want {name, identifier: {iban}}", typ, k, raw)
			}
		}
	}
	if raw, ok := p["failure_reason"]; ok {
		var fr map[string]string
		if err := json.Unmarshal(raw, &fr); err != nil || len(fr) != 1 || fr["bank_error"] == "" {
			t.Errorf("%s: failure_reason is %s, want {bank_error}", typ, raw)
		}
	}
	if raw, ok := p["rate"]; ok && string(raw) != "0.272294" {
		t.Errorf("%s: rate %s, want the AED→USD table rate written as a number", typ, raw)
	}
	for _, k := range []string{"amount", "counterpart_amount", "instructed_amount", "fee_amount", "amount_with_fee"} {
		if raw, ok := p[k]; ok {
			var n int64
			if err := json.Unmarshal(raw, &n); err != nil {
				t.Errorf("%s: %s %s is not an integer", typ, k, raw)
			}
		}
	}
}

func TestExternalIDIsNullWhenUnsetAndVerbatimWhenSet(t *testing.T) {
	e := newEnv(t, Options{Seed: 1, Instant: true})
	a := e.account("AED", "Main")
	b := e.account("AED", "Other")
	e.fund(a.AccountID, 100_000)
	e.transfer(fuse.CreateInternalTransferRequest{FromAccountID: a.AccountID, ToAccountID: b.AccountID, Amount: 10, ExternalReference: "r"})
	e.waitIdle()
	for _, r := range e.rx.all() {
		typ, _, raw := r.fields(t)
		var p map[string]json.RawMessage
		_ = json.Unmarshal(raw[typ], &p)
		switch typ {
		case "account_opened":
			if !strings.HasPrefix(string(p["external_id"]), `"ext-`) {
				t.Errorf("account_opened external_id %s", p["external_id"])
			}
		case "internal_transfer_created", "internal_transfer_settled", "inbound_internal_transfer_settled":
			if string(p["external_id"]) != "null" {
				t.Errorf("%s external_id %s, want null", typ, p["external_id"])
			}
		}
	}
}
