package webhook

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ledgerd/ledgerd"
)

// seedReference is the Fuse webhook reference the seed examples come from.
const seedReference = "../../shared/seeds/002_b028f1691ad76684.txt"

// trailingComma lists the two seed examples that are not valid JSON.
var trailingComma = []string{"inbound_internal_transfer_settled", "internal_transfer_failed"}

var receivedAt = time.Date(2024, 10, 10, 8, 0, 0, 123, time.UTC)

func ts(t *testing.T, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatal(err)
	}
	return v.UTC()
}

func amt(a ledgerd.Amount) *ledgerd.Amount { return &a }

func amounts(instructed, fee, withFee ledgerd.Amount) *ledgerd.TxAmounts {
	return &ledgerd.TxAmounts{Instructed: instructed, Fee: fee, WithFee: withFee}
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// dump renders an observation for a failure message, pointers followed.
func dump(o ledgerd.Observation) string {
	o.Event.Raw = nil
	b, _ := json.MarshalIndent(o, "", "  ")
	return string(b)
}

// event is what every seed example's Event must be, given the file.
func event(raw []byte, typ, id string, version int, fuseTime time.Time) ledgerd.Event {
	return ledgerd.Event{ID: id, Type: typ, Version: version, Source: ledgerd.SourceWebhook,
		FuseTime: fuseTime, ReceivedAt: receivedAt, Raw: raw}
}

// wantSeed returns the exact observation each valid seed example (and each
// corrected trailing-comma example) decodes to, keyed by type.
func wantSeed(t *testing.T, raw []byte, typ string) ledgerd.Observation {
	const (
		lpAcct  = "018c355c-2413-16df-509f-40e71b142eb3"
		lpTx    = "018c35b3-def2-e645-1d5b-86be6746537b"
		extID   = "01JDHZK7QKF0WWQG43WNFQ3YCX"
		merch   = "018bfd91-ea86-a787-9d72-754cddfbc294"
		itTx    = "018c35ad-e939-eea5-d179-495d3fe1a783"
		usdAcct = "01917542-1b7a-7c0c-a39b-17c96d0c7b53"
		aedAcct = "019342ec-af92-7470-9af9-7543cc6daf71"
		fxOut   = "019482b0-57d7-765c-bd23-2235f5d5aaab"
		portal  = "bank_error: Manual failure in Portal"
	)
	tx := func(id string, version int, at string, o ledgerd.TransactionObservation) ledgerd.Observation {
		o.At = ts(t, at)
		return ledgerd.Observation{Event: event(raw, typ, id, version, o.At), Transaction: &o}
	}
	switch typ {
	case "account_opened":
		return ledgerd.Observation{
			Event: event(raw, typ, "018c35aa-4279-83e7-a90f-4b2901246c51", 1, time.Time{}),
			Account: &ledgerd.AccountObservation{AccountID: "018c35aa-4279-83e7-a90f-4b2901246c51",
				Name: "Contractors Inc.", Type: "payment", ExternalID: "01H2ZZV055MFPM8FD9RCJWM6R0", Currency: "AED"},
		}
	case "account_updated":
		return ledgerd.Observation{
			Event: event(raw, typ, "018c35ab-98bf-4390-bd51-858e61a87859", 3, time.Time{}),
			Account: &ledgerd.AccountObservation{AccountID: "018c35aa-4279-83e7-a90f-4b2901246c51",
				Name: "Contractors Ltd.", ExternalID: "01H2ZZV055MFPM8FD9RCJWM6R0"},
		}
	case "outbound_local_payment_created":
		return tx("018c35b3-def3-a3bb-792d-f79534562555", 4, "2023-12-04T16:40:29.683099191Z", ledgerd.TransactionObservation{
			TransactionID: lpTx, AccountID: lpAcct, Kind: ledgerd.KindLocalPaymentOut, Status: ledgerd.StatusCreated,
			Currency: "AED", Amounts: amounts(51239, 0, 51239), ExternalReference: "local*1701708016",
			ExternalID: extID, Purpose: "goods_bought"})
	case "outbound_local_payment_submitted":
		return tx("018c35b3-e005-fd7b-ea42-aec8c20e521f", 6, "2023-12-04T16:40:29.957851510Z", ledgerd.TransactionObservation{
			TransactionID: lpTx, AccountID: lpAcct, Kind: ledgerd.KindLocalPaymentOut, Status: ledgerd.StatusSubmitted,
			ExternalID: extID})
	case "outbound_local_payment_executed":
		return tx("018c35b4-030f-a403-dfe2-7c757e94f00b", 7, "2023-12-04T16:40:38.927642874Z", ledgerd.TransactionObservation{
			TransactionID: lpTx, AccountID: lpAcct, Kind: ledgerd.KindLocalPaymentOut, Status: ledgerd.StatusExecuted,
			ExternalID: extID})
	case "outbound_local_payment_failed":
		return tx("018c35b9-fbdc-8081-969a-bc591888d2e6", 12, "2023-12-04T16:47:10.300679370Z", ledgerd.TransactionObservation{
			TransactionID: "018c35b9-8f58-9b36-370d-b5e3f00705ff", AccountID: "018c0027-a9b0-1f65-54ea-fe723844940f",
			Kind: ledgerd.KindLocalPaymentOut, Status: ledgerd.StatusFailed, ExternalID: extID, FailureReason: portal})
	case "inbound_local_payment_settled":
		return tx("018c35bc-9019-34b2-5210-ff9900d349bd", 40, "2023-12-04T16:49:59.325104057Z", ledgerd.TransactionObservation{
			TransactionID: "018c35bc-9086-638d-0e9a-f1f46ea6146a", AccountID: merch,
			Kind: ledgerd.KindLocalPaymentIn, Status: ledgerd.StatusSettled, Currency: "AED",
			Amounts: amounts(100000000, 0, 100000000), ExternalReference: "funding*1701708590", Purpose: "none"})
	case "internal_transfer_created":
		return tx("018c35ad-e939-11e1-b8ac-0896580ef2f6", 38, "2023-12-04T16:33:59.155913761Z", ledgerd.TransactionObservation{
			TransactionID: itTx, AccountID: merch, Kind: ledgerd.KindInternalTransferOut, Status: ledgerd.StatusCreated,
			Amounts: amounts(1000000, 0, 1000000), CounterpartAccountID: lpAcct,
			Reference: "transfer-1701707629", ExternalID: extID})
	case "inbound_internal_transfer_settled":
		return tx("018c35ad-e9ab-ae02-28a0-ebc9d3b70a89", 3, "2023-12-04T16:33:59.211640Z", ledgerd.TransactionObservation{
			TransactionID: "018c35ad-e9ab-ae02-28a0-ebc9d3b70a89", AccountID: lpAcct,
			Kind: ledgerd.KindInternalTransferIn, Status: ledgerd.StatusSettled,
			Amounts: amounts(1000000, 0, 1000000), CounterpartAccountID: merch,
			Reference: "transfer-1701707629", ExternalID: extID})
	case "internal_transfer_settled":
		return tx("018c35ad-ea8e-031c-55ec-86af02893c79", 39, "2023-12-04T16:33:59.211640Z", ledgerd.TransactionObservation{
			TransactionID: itTx, AccountID: merch, Kind: ledgerd.KindInternalTransferOut, Status: ledgerd.StatusSettled,
			ExternalID: extID})
	case "internal_transfer_failed":
		return tx("697cc542-aa22-4ee3-a278-949d59f24b15", 44, "2023-12-04T16:33:59.211640Z", ledgerd.TransactionObservation{
			TransactionID: itTx, AccountID: merch, Kind: ledgerd.KindInternalTransferOut, Status: ledgerd.StatusFailed,
			ExternalID: extID, FailureReason: portal})
	case "outbound_exchange_transfer_created":
		return tx(fxOut, 29, "2024-10-10T07:49:42.487717774Z", ledgerd.TransactionObservation{
			TransactionID: fxOut, AccountID: usdAcct, Kind: ledgerd.KindExchangeOut, Status: ledgerd.StatusCreated,
			Currency: "USD", Amounts: amounts(10000, 0, 10000), CounterpartAccountID: aedAcct,
			CounterpartCurrency: "AED", CounterpartAmount: amt(36615), Rate: "3.6615", ExternalReference: "reference-123"})
	case "outbound_exchange_transfer_executed":
		return tx("019482b0-871d-7d54-8346-a066ecc69221", 31, "2024-10-10T07:49:54.649511283Z", ledgerd.TransactionObservation{
			TransactionID: fxOut, AccountID: usdAcct, Kind: ledgerd.KindExchangeOut, Status: ledgerd.StatusExecuted})
	case "outbound_exchange_transfer_failed":
		return tx("019482c7-c58d-7240-9850-9c76883b54cf", 35, "2024-10-10T08:15:17.983389023Z", ledgerd.TransactionObservation{
			TransactionID: "019482c7-b534-7e55-a2f8-37ddb441866f", AccountID: usdAcct,
			Kind: ledgerd.KindExchangeOut, Status: ledgerd.StatusFailed, FailureReason: portal})
	case "inbound_exchange_transfer_settled":
		return tx("019482b0-8772-7a46-8792-73d9990dabd1", 20, "2024-10-10T07:49:54.747094304Z", ledgerd.TransactionObservation{
			TransactionID: "019482b0-873e-7f40-9ffe-1e3e298cbb10", AccountID: aedAcct,
			Kind: ledgerd.KindExchangeIn, Status: ledgerd.StatusSettled, Currency: "AED",
			Amounts: amounts(36615, 0, 36615), CounterpartAccountID: usdAcct, CounterpartCurrency: "USD",
			CounterpartAmount: amt(10000), Rate: "3.6615", ExternalReference: "reference-123"})
	}
	t.Fatalf("no expectation for type %q", typ)
	return ledgerd.Observation{}
}

// seedFiles returns the seed examples by type, from dir.
func seedFiles(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	files := make(map[string][]byte)
	for _, p := range paths {
		files[strings.TrimSuffix(filepath.Base(p), ".json")] = readFile(t, p)
	}
	return files
}

func TestSeedFilesAreVerbatimFromTheReference(t *testing.T) {
	files := seedFiles(t, "testdata/seed")
	if len(files) != 15 {
		t.Errorf("testdata/seed has %d examples, want 15", len(files))
	}
	ref, err := os.ReadFile(seedReference)
	if errors.Is(err, os.ErrNotExist) {
		t.Skipf("%s not present", seedReference)
	}
	if err != nil {
		t.Fatal(err)
	}
	for typ, body := range files {
		if !bytes.Contains(ref, body) {
			t.Errorf("testdata/seed/%s.json does not occur verbatim in the reference", typ)
		}
		if !bytes.Contains(body, []byte(`"type": "`+typ+`"`)) {
			t.Errorf("testdata/seed/%s.json is not an example of type %s", typ, typ)
		}
	}
}

// TestTypesAreTheSeedTypesAndTheUndocumentedOnes: ledgerd handles the 15
// types of Fuse's webhook reference and the three of its catalogue whose
// payload is undocumented, and recognises the two onboarding types; each
// of the latter five has its body in testdata/model.
func TestTypesAreTheSeedTypesAndTheUndocumentedOnes(t *testing.T) {
	var seeds []string
	for typ := range seedFiles(t, "testdata/seed") {
		seeds = append(seeds, typ)
	}
	undocumented := []string{"fee_debited", "outbound_exchange_transfer_submitted", "outbound_local_payment_returned"}
	want := slices.Sorted(slices.Values(append(seeds, undocumented...)))
	if got := Types(); !slices.Equal(got, want) {
		t.Errorf("Types() = %v\nwant %v", got, want)
	}
	for _, typ := range undocumented {
		if !handlers[typ].undocumented {
			t.Errorf("%s is not marked undocumented", typ)
		}
	}
	if got, want := recognisedTypes(), []string{"onboarding_completed", "onboarding_failed"}; !slices.Equal(got, want) {
		t.Errorf("recognisedTypes() = %v, want %v", got, want)
	}
	var models []string
	for typ := range seedFiles(t, "testdata/model") {
		models = append(models, typ)
	}
	if want := slices.Sorted(slices.Values(append(undocumented, recognisedTypes()...))); !slices.Equal(slices.Sorted(slices.Values(models)), want) {
		t.Errorf("testdata/model has %v, want one body for each of %v", slices.Sorted(slices.Values(models)), want)
	}
}

func TestSeedExamplesDecodeExactly(t *testing.T) {
	for typ, raw := range seedFiles(t, "testdata/seed") {
		if slices.Contains(trailingComma, typ) {
			continue
		}
		t.Run(typ, func(t *testing.T) { checkSeed(t, typ, raw) })
	}
}

func TestCorrectedTrailingCommaExamplesDecodeExactly(t *testing.T) {
	files := seedFiles(t, "testdata/seed-fixed")
	for _, typ := range trailingComma {
		raw, ok := files[typ]
		if !ok {
			t.Fatalf("testdata/seed-fixed/%s.json missing", typ)
		}
		t.Run(typ, func(t *testing.T) { checkSeed(t, typ, raw) })
	}
}

func checkSeed(t *testing.T, typ string, raw []byte) {
	t.Helper()
	got, err := Decode(raw, Header{ReceivedAt: receivedAt})
	if err != nil {
		t.Fatalf("Decode: %v", err)
	}
	want := wantSeed(t, raw, typ)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Decode:\n got %s\nwant %s", dump(got), dump(want))
	}
	if !bytes.Equal(got.Event.Raw, raw) {
		t.Errorf("Event.Raw differs from the body")
	}
	if !got.Handled() {
		t.Errorf("Handled() = false for %s", typ)
	}
}

func TestTrailingCommaExamplesAreMalformedJSON(t *testing.T) {
	files := seedFiles(t, "testdata/seed")
	for _, typ := range trailingComma {
		t.Run(typ, func(t *testing.T) {
			obs, err := Decode(files[typ], Header{ReceivedAt: receivedAt})
			checkReason(t, err, ReasonMalformedJSON, "")
			if !reflect.DeepEqual(obs, ledgerd.Observation{}) {
				t.Errorf("observation not zero on error: %s", dump(obs))
			}
		})
	}
}

// respell rewrites a seed body from the event_version + type-key spelling
// to the version + payload spelling.
func respell(t *testing.T, raw []byte, typ string) []byte {
	t.Helper()
	s := strings.Replace(string(raw), `"event_version":`, `"version":`, 1)
	s = strings.Replace(s, `"`+typ+`": {`, `"payload": {`, 1)
	if s == string(raw) || !strings.Contains(s, `"payload": {`) || !strings.Contains(s, `"version":`) {
		t.Fatalf("could not respell %s", typ)
	}
	return []byte(s)
}

func TestBothEnvelopeSpellingsGiveTheSameObservation(t *testing.T) {
	files := seedFiles(t, "testdata/seed")
	for typ, raw := range seedFiles(t, "testdata/seed-fixed") {
		files[typ] = raw
	}
	for typ, raw := range files {
		t.Run(typ, func(t *testing.T) {
			newer, err := Decode(raw, Header{ReceivedAt: receivedAt})
			if err != nil {
				t.Fatal(err)
			}
			older, err := Decode(respell(t, raw, typ), Header{ReceivedAt: receivedAt})
			if err != nil {
				t.Fatal(err)
			}
			newer.Event.Raw, older.Event.Raw = nil, nil
			if !reflect.DeepEqual(newer, older) {
				t.Errorf("spellings differ:\nevent_version+%s: %s\nversion+payload: %s", typ, dump(newer), dump(older))
			}
		})
	}
}

func TestUnknownTypeIsStoredUnhandled(t *testing.T) {
	raw := []byte(`{"type":"customer_onboarding_completed","event_id":"018c35aa-4279-83e7-a90f-4b2901246c51",` +
		`"event_version":2,"customer_onboarding_completed":{"customer_id":42,"anything":[1,2]}}`)
	got, err := Decode(raw, Header{FuseTimestamp: "2023-06-19T12:44:47Z", ReceivedAt: receivedAt})
	if err != nil {
		t.Fatalf("Decode: %v", err)
	}
	want := ledgerd.Observation{Event: ledgerd.Event{
		ID: "018c35aa-4279-83e7-a90f-4b2901246c51", Type: "customer_onboarding_completed", Version: 2,
		Source: ledgerd.SourceWebhook, FuseTime: ts(t, "2023-06-19T12:44:47Z"), ReceivedAt: receivedAt, Raw: raw,
	}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Decode:\n got %s\nwant %s", dump(got), dump(want))
	}
	if got.Handled() {
		t.Error("Handled() = true for an unknown type")
	}
}

func TestUnknownTypeStillNeedsAValidEnvelope(t *testing.T) {
	raw := []byte(`{"type":"customer_onboarding_completed","event_id":"42"}`)
	_, err := Decode(raw, Header{})
	checkReason(t, err, ReasonBadUUID, "event_id")
}

func TestHeaderTimestampWinsOverPayloadTimestamp(t *testing.T) {
	raw := seedFiles(t, "testdata/seed")["outbound_local_payment_executed"]
	got, err := Decode(raw, Header{FuseTimestamp: "2023-12-04T16:40:39Z", ReceivedAt: receivedAt})
	if err != nil {
		t.Fatal(err)
	}
	if want := ts(t, "2023-12-04T16:40:39Z"); !got.Event.FuseTime.Equal(want) {
		t.Errorf("FuseTime = %v, want the header's %v", got.Event.FuseTime, want)
	}
	if want := ts(t, "2023-12-04T16:40:38.927642874Z"); !got.Transaction.At.Equal(want) {
		t.Errorf("Transaction.At = %v, want the payload's %v", got.Transaction.At, want)
	}
}

func TestUnparseableHeaderTimestampFallsBackToPayload(t *testing.T) {
	raw := seedFiles(t, "testdata/seed")["outbound_local_payment_executed"]
	got, err := Decode(raw, Header{FuseTimestamp: "Mon, 04 Dec 2023 16:40:39 GMT"})
	if err != nil {
		t.Fatal(err)
	}
	if want := ts(t, "2023-12-04T16:40:38.927642874Z"); !got.Event.FuseTime.Equal(want) {
		t.Errorf("FuseTime = %v, want the payload's %v", got.Event.FuseTime, want)
	}
}

func TestHeaderTimestampInAnotherZoneIsStoredInUTC(t *testing.T) {
	raw := seedFiles(t, "testdata/seed")["account_opened"]
	got, err := Decode(raw, Header{FuseTimestamp: "2023-06-19T16:44:47+04:00"})
	if err != nil {
		t.Fatal(err)
	}
	if want := time.Date(2023, 6, 19, 12, 44, 47, 0, time.UTC); got.Event.FuseTime != want {
		t.Errorf("FuseTime = %v, want %v", got.Event.FuseTime, want)
	}
}

func TestSourceDefaultsToWebhookAndIsKept(t *testing.T) {
	raw := seedFiles(t, "testdata/seed")["account_updated"]
	for _, tc := range []struct{ in, want ledgerd.Source }{
		{"", ledgerd.SourceWebhook},
		{ledgerd.SourceSandbox, ledgerd.SourceSandbox},
	} {
		got, err := Decode(raw, Header{Source: tc.in})
		if err != nil {
			t.Fatal(err)
		}
		if got.Event.Source != tc.want {
			t.Errorf("Source %q: Event.Source = %q, want %q", tc.in, got.Event.Source, tc.want)
		}
	}
}

func TestInvalidSourceIsAWiringErrorNotMalformed(t *testing.T) {
	raw := seedFiles(t, "testdata/seed")["account_updated"]
	_, err := Decode(raw, Header{Source: "carrier-pigeon"})
	if err == nil || errors.Is(err, ErrMalformed) {
		t.Errorf("Decode with an invalid source: err = %v, want a non-ErrMalformed error", err)
	}
}

func TestRawIsACopyOfTheBody(t *testing.T) {
	raw := bytes.Clone(seedFiles(t, "testdata/seed")["account_updated"])
	orig := bytes.Clone(raw)
	got, err := Decode(raw, Header{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range raw {
		raw[i] = 'x'
	}
	if !bytes.Equal(got.Event.Raw, orig) {
		t.Error("Event.Raw changed when the caller reused its buffer")
	}
}

func TestUpperCaseUUIDsAreNormalisedToLowerCase(t *testing.T) {
	raw := []byte(`{"type":"account_updated","event_id":"018C35AB-98BF-4390-BD51-858E61A87859",` +
		`"payload":{"account_id":"018C35AA-4279-83E7-A90F-4B2901246C51"}}`)
	got, err := Decode(raw, Header{})
	if err != nil {
		t.Fatal(err)
	}
	if got.Event.ID != "018c35ab-98bf-4390-bd51-858e61a87859" || got.Account.AccountID != "018c35aa-4279-83e7-a90f-4b2901246c51" {
		t.Errorf("ids not lower-cased: event %q, account %q", got.Event.ID, got.Account.AccountID)
	}
	if !bytes.Equal(got.Event.Raw, raw) {
		t.Error("Event.Raw was rewritten")
	}
}

func TestFailureReasonShapes(t *testing.T) {
	for _, tc := range []struct{ reason, want string }{
		{`{"bank_error":"Manual failure in Portal"}`, "bank_error: Manual failure in Portal"},
		{`"insufficient funds"`, "insufficient funds"},
		{`{"a":"x","b":{"code":7}}`, `a: x; b: {"code":7}`},
		{`null`, ""},
	} {
		raw := []byte(`{"type":"internal_transfer_failed","event_id":"697cc542-aa22-4ee3-a278-949d59f24b15",` +
			`"payload":{"account_id":"018bfd91-ea86-a787-9d72-754cddfbc294",` +
			`"transaction_id":"018c35ad-e939-eea5-d179-495d3fe1a783","timestamp":"2023-12-04T16:33:59Z",` +
			`"failure_reason":` + tc.reason + `}}`)
		got, err := Decode(raw, Header{})
		if err != nil {
			t.Errorf("failure_reason %s: %v", tc.reason, err)
			continue
		}
		if got.Transaction.FailureReason != tc.want {
			t.Errorf("failure_reason %s: FailureReason = %q, want %q", tc.reason, got.Transaction.FailureReason, tc.want)
		}
	}
}

// checkReason asserts err is a *DecodeError wrapping ErrMalformed with the
// given reason and, unless field is "", the given field.
func checkReason(t *testing.T, err error, reason, field string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want reason %s", reason)
	}
	if !errors.Is(err, ErrMalformed) {
		t.Errorf("error %v does not wrap ErrMalformed", err)
	}
	var de *DecodeError
	if !errors.As(err, &de) {
		t.Fatalf("error %v is not a *DecodeError", err)
	}
	if de.Reason != reason {
		t.Errorf("reason = %q, want %q (%v)", de.Reason, reason, err)
	}
	if field != "" && de.Field != field {
		t.Errorf("field = %q, want %q (%v)", de.Field, field, err)
	}
	if field != "" && !strings.Contains(err.Error(), field) {
		t.Errorf("message %q does not name the field %q", err.Error(), field)
	}
}
