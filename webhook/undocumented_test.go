package webhook

import (
	"errors"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ledgerd/ledgerd"
)

// The event types of Fuse's catalogue without a published payload
// (testdata/model, events.go): decoded into the API object they announce
// as far as the payload goes, stored unhandled when it does not say which
// transaction, refused only for a value that is wrong.

const (
	returnedPayload = `{"account_id":"018c355c-2413-16df-509f-40e71b142eb3",` +
		`"transaction_id":"018c35c1-6a2d-1e7c-84b5-0f3a9d6c2e11","returned_id":"018c35b3-def2-e645-1d5b-86be6746537b",` +
		`"instructed_amount":51239,"currency":"AED","reason":"closed","timestamp":"2023-12-04T17:02:11Z"}`
	feeFields = `{"account_id":"018bfd91-ea86-a787-9d72-754cddfbc294",` +
		`"transaction_id":"018c35b4-0315-7d21-93aa-2c8e5f1b7d46","amount":100,"currency":"AED",` +
		`"timestamp":"2023-12-04T16:40:38Z","fee_target":`
	feePayload = feeFields + `{"type":"Transaction","reference":"018c35b3-def2-e645-1d5b-86be6746537b"}}`
)

// wantModel is the observation each body of testdata/model decodes to.
func wantModel(t *testing.T, raw []byte, typ string) ledgerd.Observation {
	tx := func(id string, version int, at string, o ledgerd.TransactionObservation) ledgerd.Observation {
		o.At = ts(t, at)
		return ledgerd.Observation{Event: event(raw, typ, id, version, o.At), Transaction: &o}
	}
	switch typ {
	case "outbound_local_payment_returned":
		return tx("018c35c1-6a2e-7b3f-9c41-5d2e8f7a1b90", 9, "2023-12-04T17:02:11.482913377Z", ledgerd.TransactionObservation{
			TransactionID: "018c35c1-6a2d-1e7c-84b5-0f3a9d6c2e11", AccountID: "018c355c-2413-16df-509f-40e71b142eb3",
			Kind: ledgerd.KindReturnIn, Status: ledgerd.StatusSettled, Currency: "AED",
			Amounts: amounts(51239, 0, 51239), ExternalReference: "local*1701708016",
			ReturnedID: "018c35b3-def2-e645-1d5b-86be6746537b"})
	case "fee_debited":
		return tx("018c35b4-0316-4c2a-b7e1-6f0d2a9c4e35", 8, "2023-12-04T16:40:38.931004512Z", ledgerd.TransactionObservation{
			TransactionID: "018c35b4-0315-7d21-93aa-2c8e5f1b7d46", AccountID: "018bfd91-ea86-a787-9d72-754cddfbc294",
			Kind: ledgerd.KindFeeDebit, Status: ledgerd.StatusSettled, Currency: "AED", Amounts: amounts(100, 0, 100),
			FeeTargetID: "018c35b3-def2-e645-1d5b-86be6746537b"})
	case "outbound_exchange_transfer_submitted":
		return tx("019482b0-6a10-7c3e-a0f1-3e5b7d9c1f22", 30, "2024-10-10T07:49:48.102934511Z", ledgerd.TransactionObservation{
			TransactionID: "019482b0-57d7-765c-bd23-2235f5d5aaab", AccountID: "01917542-1b7a-7c0c-a39b-17c96d0c7b53",
			Kind: ledgerd.KindExchangeOut, Status: ledgerd.StatusSubmitted})
	case "onboarding_completed":
		return ledgerd.Observation{Event: event(raw, typ, "018c3590-1f4b-7a62-8d3e-9b5c0e2f7a13", 2, time.Time{})}
	case "onboarding_failed":
		return ledgerd.Observation{Event: event(raw, typ, "018c3592-8e0d-7f14-b2a9-6c3d5e1f0a88", 3, time.Time{})}
	}
	t.Fatalf("no expectation for type %q", typ)
	return ledgerd.Observation{}
}

func TestUndocumentedTypesDecodeIntoTheAPIObjectsTheyAnnounce(t *testing.T) {
	for typ, raw := range seedFiles(t, "testdata/model") {
		t.Run(typ, func(t *testing.T) {
			got, err := Decode(raw, Header{ReceivedAt: receivedAt})
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if want := wantModel(t, raw, typ); !reflect.DeepEqual(got, want) {
				t.Errorf("Decode:\n got %s\nwant %s", dump(got), dump(want))
			}
			if _, ok := decodeFast(raw); !ok {
				t.Error("the fast path gave up on a well-formed body")
			}
			older, err := Decode(respell(t, raw, typ), Header{ReceivedAt: receivedAt})
			if err != nil {
				t.Fatal(err)
			}
			if got.Event.Raw, older.Event.Raw = nil, nil; !reflect.DeepEqual(got, older) {
				t.Errorf("spellings differ:\n%s\n%s", dump(got), dump(older))
			}
		})
	}
}

// TestUndocumentedTypeWithoutTheTransactionIsStoredUnhandled: a payload
// that does not say which transaction, or when, is no observation: the
// event is kept (no error, so no quarantine) and the backfill brings the
// transaction. The onboarding types never give one.
func TestUndocumentedTypeWithoutTheTransactionIsStoredUnhandled(t *testing.T) {
	for name, b := range map[string]string{
		"no payload":        `{"type":"fee_debited","event_id":"` + goodEventID + `","event_version":1}`,
		"null payload":      body("outbound_local_payment_returned", `null`),
		"empty payload":     body("outbound_exchange_transfer_submitted", `{}`),
		"no transaction_id": body("outbound_local_payment_returned", without(returnedPayload, "transaction_id")),
		"no account_id":     body("fee_debited", without(feePayload, "account_id")),
		"no timestamp":      body("fee_debited", without(feePayload, "timestamp")),
		"null timestamp":    body("outbound_local_payment_returned", with(returnedPayload, "timestamp", "null")),
		"onboarding, any payload": `{"type":"onboarding_completed","event_id":"` + goodEventID +
			`","payload":{"customer_id":7,"steps":[1,{"a":null}]}}`,
		"onboarding, no payload": `{"type":"onboarding_failed","event_id":"` + goodEventID + `","version":1}`,
	} {
		t.Run(name, func(t *testing.T) {
			obs, err := Decode([]byte(b), Header{ReceivedAt: receivedAt})
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if obs.Handled() || obs.Event.ID != goodEventID {
				t.Errorf("want a stored, unhandled event: %s", dump(obs))
			}
			checkDecodeIsTheReference(t, []byte(b))
		})
	}
}

// TestUndocumentedTypeWithoutAmountsRecordsTheStatusAndWaits: a return or
// fee debit without its amount is an observation without amounts, as an
// executed event is.
func TestUndocumentedTypeWithoutAmountsRecordsTheStatusAndWaits(t *testing.T) {
	for _, b := range []string{
		body("outbound_local_payment_returned", without(without(returnedPayload, "instructed_amount"), "currency")),
		body("fee_debited", without(feePayload, "amount")),
	} {
		obs, err := Decode([]byte(b), Header{})
		if err != nil {
			t.Fatalf("Decode(%s): %v", b, err)
		}
		if tx := obs.Transaction; tx == nil || tx.Amounts != nil || tx.Status != ledgerd.StatusSettled || tx.TransactionID == "" {
			t.Errorf("%s: want a settled observation without amounts: %s", b, dump(obs))
		}
		checkDecodeIsTheReference(t, []byte(b))
	}
}

// TestFeeTargetOtherThanATransactionLinksNothing: the reference's only
// fee_target type is Transaction; another names no transaction.
func TestFeeTargetOtherThanATransactionLinksNothing(t *testing.T) {
	for target, want := range map[string]string{
		`{"type":"Batch","reference":"018c35b3-def2-e645-1d5b-86be6746537b"}`:      "",
		`{"reference":"018C35B3-DEF2-E645-1D5B-86BE6746537B"}`:                     "018c35b3-def2-e645-1d5b-86be6746537b",
		`{"type":null,"reference":"018c35b3-def2-e645-1d5b-86be6746537b","x":[1]}`: "018c35b3-def2-e645-1d5b-86be6746537b",
		`null`: "",
	} {
		obs, err := Decode([]byte(body("fee_debited", feeWithTarget(target))), Header{})
		if err != nil {
			t.Errorf("fee_target %s: %v", target, err)
			continue
		}
		if got := obs.Transaction.FeeTargetID; got != want {
			t.Errorf("fee_target %s: FeeTargetID %q, want %q", target, got, want)
		}
		checkDecodeIsTheReference(t, []byte(body("fee_debited", feeWithTarget(target))))
	}
}

// feeWithTarget is feePayload with fee_target's value replaced.
func feeWithTarget(target string) string { return feeFields + target + "}" }

func TestUndocumentedTypesRefuseWrongValues(t *testing.T) {
	for _, tc := range []struct {
		name, body, reason, field string
	}{
		{"fractional return amount", body("outbound_local_payment_returned", with(returnedPayload, "instructed_amount", "512.39")),
			ReasonBadAmount, "outbound_local_payment_returned.instructed_amount"},
		{"negative fee", body("fee_debited", with(feePayload, "amount", "-1")),
			ReasonAmountOutOfRange, "fee_debited.amount"},
		{"returned_id not a UUID", body("outbound_local_payment_returned", with(returnedPayload, "returned_id", `"pay-1"`)),
			ReasonBadUUID, "outbound_local_payment_returned.returned_id"},
		{"transaction_id not a UUID", body("outbound_exchange_transfer_submitted",
			`{"account_id":"01917542-1b7a-7c0c-a39b-17c96d0c7b53","transaction_id":"fx-1","timestamp":"2024-10-10T07:49:48Z"}`),
			ReasonBadUUID, "outbound_exchange_transfer_submitted.transaction_id"},
		{"bad timestamp", body("fee_debited", with(feePayload, "timestamp", `"yesterday"`)),
			ReasonBadTimestamp, "fee_debited.timestamp"},
		{"unknown currency", body("outbound_local_payment_returned", with(returnedPayload, "currency", `"XYZ"`)),
			ReasonUnknownCurrency, "outbound_local_payment_returned.currency"},
		{"fee_target a string", body("fee_debited", feeWithTarget(`"018c35b3-def2-e645-1d5b-86be6746537b"`)),
			ReasonWrongType, "fee_debited.fee_target"},
		{"fee_target without reference", body("fee_debited", feeWithTarget(`{"type":"Transaction"}`)),
			ReasonMissingField, "fee_debited.fee_target.reference"},
		{"fee_target reference not a UUID", body("fee_debited", feeWithTarget(`{"type":"Transaction","reference":"tx-1"}`)),
			ReasonBadUUID, "fee_debited.fee_target.reference"},
		{"fee_target type a number", body("fee_debited", feeWithTarget(`{"type":1,"reference":"018c35b3-def2-e645-1d5b-86be6746537b"}`)),
			ReasonWrongType, "fee_debited.fee_target.type"},
		{"fee_target key twice", body("fee_debited", feeWithTarget(`{"reference":"018c35b3-def2-e645-1d5b-86be6746537b","reference":"x"}`)),
			ReasonDuplicateField, "fee_debited.fee_target.reference"},
		{"payload not an object", body("outbound_local_payment_returned", `"returned"`),
			ReasonWrongType, "outbound_local_payment_returned"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			obs, err := Decode([]byte(tc.body), Header{ReceivedAt: receivedAt})
			checkReason(t, err, tc.reason, tc.field)
			if !errors.Is(err, ErrMalformed) || !reflect.DeepEqual(obs, ledgerd.Observation{}) {
				t.Errorf("want a refusal and no observation: %v %s", err, dump(obs))
			}
			checkDecodeIsTheReference(t, []byte(tc.body))
		})
	}
}

// TestRecognisedTypesAreAcceptedAndUnknownOnesUnhandled: the onboarding
// events are Fuse's, known and stored with nothing to book: accepted, each
// under its own type label whatever else arrives. An undocumented type
// that does not say which transaction is stored too, but counted
// unhandled: the backfill has to bring what it announced.
func TestRecognisedTypesAreAcceptedAndUnknownOnesUnhandled(t *testing.T) {
	reg := prometheus.NewRegistry()
	st := &memStore{}
	h := NewHandler(Options{Store: st, Metrics: NewMetrics(reg)})
	model := seedFiles(t, "testdata/model")
	for _, typ := range []string{"onboarding_completed", "onboarding_failed", "fee_debited"} {
		if code := serve(h, model[typ]); code != http.StatusOK {
			t.Fatalf("%s: status %d", typ, code)
		}
	}
	if code := serve(h, []byte(`{"type":"outbound_local_payment_returned","event_id":"`+goodEventID+`","payload":{}}`)); code != http.StatusOK {
		t.Fatalf("returned without ids: status %d", code)
	}
	if n := st.ingested.Load(); n != 4 {
		t.Errorf("%d events stored, want 4", n)
	}
	want := []string{
		"ledgerd_webhook_events_total{result=accepted,type=fee_debited} 1",
		"ledgerd_webhook_events_total{result=accepted,type=onboarding_completed} 1",
		"ledgerd_webhook_events_total{result=accepted,type=onboarding_failed} 1",
		"ledgerd_webhook_events_total{result=unhandled,type=outbound_local_payment_returned} 1",
	}
	var got []string
	for _, s := range series(t, reg) {
		if strings.HasPrefix(s, "ledgerd_webhook_events_total{") {
			got = append(got, s)
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("series:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
