package webhook

import (
	"errors"
	"reflect"
	"regexp"
	"testing"

	"github.com/ledgerd/ledgerd"
)

const (
	goodEventID = "018c35b3-def3-a3bb-792d-f79534562555"

	// goodPayment is a valid outbound_local_payment_created payload with a
	// fee, on one line so that tests can swap single fields.
	goodPayment = `{"account_id":"018c355c-2413-16df-509f-40e71b142eb3",` +
		`"transaction_id":"018c35b3-def2-e645-1d5b-86be6746537b","instructed_amount":51239,` +
		`"fee_amount":50,"amount_with_fee":51289,"currency":"AED","timestamp":"2023-12-04T16:40:29.683099191Z"}`

	goodExchange = `{"account_id":"01917542-1b7a-7c0c-a39b-17c96d0c7b53",` +
		`"counterpart_account_id":"019342ec-af92-7470-9af9-7543cc6daf71",` +
		`"transaction_id":"019482b0-57d7-765c-bd23-2235f5d5aaab","amount":10000,"counterpart_amount":36615,` +
		`"timestamp":"2024-10-10T07:49:42.487717774Z","currency":"USD","counterpart_currency":"AED","rate":3.6615}`

	goodAccount = `{"account_id":"018c35aa-4279-83e7-a90f-4b2901246c51","account_name":"Contractors Inc.",` +
		`"customer_id":null,"currency":"AED","account_type":"payment"}`
)

// body wraps a payload in the newer envelope spelling.
func body(typ, payload string) string {
	return `{"type":"` + typ + `","event_id":"` + goodEventID + `","event_version":4,"` + typ + `":` + payload + `}`
}

// with replaces the value of one top-level field of a flat JSON object.
func with(obj, field, value string) string {
	re := regexp.MustCompile(`"` + field + `":("[^"]*"|[^,}]*)`)
	if !re.MatchString(obj) {
		panic("no field " + field)
	}
	return re.ReplaceAllLiteralString(obj, `"`+field+`":`+value)
}

// without removes one top-level field of a flat JSON object.
func without(obj, field string) string {
	re := regexp.MustCompile(`"` + field + `":("[^"]*"|[^,}]*),?`)
	return re.ReplaceAllLiteralString(obj, "")
}

func paymentBody(field, value string) string {
	return body("outbound_local_payment_created", with(goodPayment, field, value))
}

func TestGoodFixturesDecode(t *testing.T) {
	for _, b := range []string{
		body("outbound_local_payment_created", goodPayment),
		body("outbound_exchange_transfer_created", goodExchange),
		body("account_opened", goodAccount),
	} {
		if _, err := Decode([]byte(b), Header{}); err != nil {
			t.Errorf("Decode(%s): %v", b, err)
		}
	}
}

func TestBadBodiesAreRefusedWithTheirReason(t *testing.T) {
	tests := []struct {
		name, body, reason, field string
		cause                     error // also wrapped, when not nil
	}{
		{"empty body", "", ReasonEmptyBody, "", nil},
		{"whitespace body", " \r\n\t", ReasonEmptyBody, "", nil},
		{"array", `[]`, ReasonNotObject, "", nil},
		{"null", `null`, ReasonNotObject, "", nil},
		{"string", `"account_opened"`, ReasonNotObject, "", nil},
		{"number", `42`, ReasonNotObject, "", nil},
		{"truncated", `{"type":"account_opened"`, ReasonMalformedJSON, "", nil},
		{"trailing comma", `{"type":"x","event_id":"` + goodEventID + `",}`, ReasonMalformedJSON, "", nil},
		{"trailing data", body("account_opened", goodAccount) + `{}`, ReasonMalformedJSON, "", nil},
		{"single quotes", `{'type':'x'}`, ReasonMalformedJSON, "", nil},
		{"missing type", `{"event_id":"` + goodEventID + `","payload":{}}`, ReasonMissingField, "type", nil},
		{"null type", `{"type":null,"event_id":"` + goodEventID + `"}`, ReasonMissingField, "type", nil},
		{"empty type", `{"type":"","event_id":"` + goodEventID + `"}`, ReasonMissingField, "type", nil},
		{"numeric type", `{"type":7,"event_id":"` + goodEventID + `"}`, ReasonWrongType, "type", nil},
		{"missing event_id", `{"type":"account_opened","payload":` + goodAccount + `}`, ReasonMissingField, "event_id", nil},
		{"non-UUID event_id", `{"type":"x","event_id":"evt_123"}`, ReasonBadUUID, "event_id", nil},
		{"UUID without hyphens", `{"type":"x","event_id":"018c35b3def3a3bb792df79534562555"}`, ReasonBadUUID, "event_id", nil},
		{"UUID in braces", `{"type":"x","event_id":"{018c35b3-def3-a3bb-792d-f79534562555}"}`, ReasonBadUUID, "event_id", nil},
		{"numeric event_id", `{"type":"x","event_id":1}`, ReasonWrongType, "event_id", nil},
		{"duplicate type", `{"type":"x","type":"account_opened","event_id":"` + goodEventID + `"}`, ReasonDuplicateField, "type", nil},
		{"duplicate via escape", `{"type":"x","typ\u0065":"y","event_id":"` + goodEventID + `"}`, ReasonDuplicateField, "type", nil},
		{"both payload keys", `{"type":"account_opened","event_id":"` + goodEventID + `","payload":` + goodAccount +
			`,"account_opened":` + goodAccount + `}`, ReasonAmbiguousField, "payload", nil},
		{"both version keys", `{"type":"account_opened","event_id":"` + goodEventID + `","version":1,"event_version":1,` +
			`"payload":` + goodAccount + `}`, ReasonAmbiguousField, "event_version", nil},
		{"string version", `{"type":"x","event_id":"` + goodEventID + `","version":"1"}`, ReasonBadVersion, "version", nil},
		{"negative version", `{"type":"x","event_id":"` + goodEventID + `","event_version":-1}`, ReasonBadVersion, "event_version", nil},
		{"fractional version", `{"type":"x","event_id":"` + goodEventID + `","event_version":1.5}`, ReasonBadVersion, "event_version", nil},
		{"missing payload", `{"type":"account_opened","event_id":"` + goodEventID + `"}`, ReasonMissingField, "payload", nil},
		{"payload not an object", body("account_opened", `[1]`), ReasonWrongType, "account_opened", nil},
		{"duplicate payload field", body("outbound_local_payment_created",
			`{"fee_amount":0,`+goodPayment[1:]), ReasonDuplicateField, "outbound_local_payment_created.fee_amount", nil},

		{"non-UUID account_id", paymentBody("account_id", `"acct-1"`), ReasonBadUUID, "outbound_local_payment_created.account_id", nil},
		{"missing transaction_id", body("outbound_local_payment_created", without(goodPayment, "transaction_id")),
			ReasonMissingField, "outbound_local_payment_created.transaction_id", nil},
		{"negative amount", paymentBody("instructed_amount", `-1`), ReasonAmountOutOfRange,
			"outbound_local_payment_created.instructed_amount", ledgerd.ErrAmountRange},
		{"amount beyond int64", paymentBody("instructed_amount", `9223372036854775808`), ReasonAmountOutOfRange,
			"outbound_local_payment_created.instructed_amount", ledgerd.ErrAmountRange},
		{"amount far beyond int64", paymentBody("fee_amount", `123456789012345678901234567890`), ReasonAmountOutOfRange,
			"outbound_local_payment_created.fee_amount", ledgerd.ErrAmountRange},
		{"amount MaxAmount+1", paymentBody("amount_with_fee", `1000000000000001`), ReasonAmountOutOfRange,
			"outbound_local_payment_created.amount_with_fee", ledgerd.ErrAmountRange},
		{"amount with exponent", paymentBody("instructed_amount", `1e3`), ReasonBadAmount, "outbound_local_payment_created.instructed_amount", nil},
		{"amount as string", paymentBody("instructed_amount", `"100"`), ReasonBadAmount, "outbound_local_payment_created.instructed_amount", nil},
		{"fractional amount", paymentBody("instructed_amount", `512.39`), ReasonBadAmount, "outbound_local_payment_created.instructed_amount", nil},
		{"integral float amount", paymentBody("instructed_amount", `51239.0`), ReasonBadAmount, "outbound_local_payment_created.instructed_amount", nil},
		{"boolean amount", paymentBody("fee_amount", `true`), ReasonBadAmount, "outbound_local_payment_created.fee_amount", nil},
		{"null amount", paymentBody("fee_amount", `null`), ReasonMissingField, "outbound_local_payment_created.fee_amount", nil},
		{"unknown currency", paymentBody("currency", `"XYZ"`), ReasonUnknownCurrency, "outbound_local_payment_created.currency", ledgerd.ErrCurrency},
		{"lower-case currency", paymentBody("currency", `"aed"`), ReasonUnknownCurrency, "outbound_local_payment_created.currency", ledgerd.ErrCurrency},
		{"missing currency", body("outbound_local_payment_created", without(goodPayment, "currency")),
			ReasonMissingField, "outbound_local_payment_created.currency", nil},
		{"bad timestamp", paymentBody("timestamp", `"2023-12-04 16:40:29"`), ReasonBadTimestamp, "outbound_local_payment_created.timestamp", nil},
		{"date only timestamp", paymentBody("timestamp", `"2023-12-04"`), ReasonBadTimestamp, "outbound_local_payment_created.timestamp", nil},
		{"numeric timestamp", paymentBody("timestamp", `1701708029`), ReasonWrongType, "outbound_local_payment_created.timestamp", nil},
		{"amount_with_fee != instructed + fee", paymentBody("amount_with_fee", `51240`), ReasonInconsistentAmounts,
			"outbound_local_payment_created.amount_with_fee", nil},
		{"inbound fee exceeds instructed", body("inbound_local_payment_settled",
			with(with(goodPayment, "fee_amount", `60000`), "amount_with_fee", `111239`)), ReasonInconsistentAmounts,
			"inbound_local_payment_settled.amount_with_fee", nil},
		{"numeric external_id", body("outbound_local_payment_created",
			`{"external_id":5,`+goodPayment[1:]), ReasonWrongType, "outbound_local_payment_created.external_id", nil},

		{"transfer amount missing", body("internal_transfer_created", `{"account_id":"018bfd91-ea86-a787-9d72-754cddfbc294",`+
			`"transaction_id":"018c35ad-e939-eea5-d179-495d3fe1a783","timestamp":"2023-12-04T16:33:59Z"}`),
			ReasonMissingField, "internal_transfer_created.amount", nil},
		{"non-UUID to_account_id", body("internal_transfer_created", `{"account_id":"018bfd91-ea86-a787-9d72-754cddfbc294",`+
			`"transaction_id":"018c35ad-e939-eea5-d179-495d3fe1a783","timestamp":"2023-12-04T16:33:59Z","amount":1,"to_account_id":"x"}`),
			ReasonBadUUID, "internal_transfer_created.to_account_id", nil},
		{"rate with exponent", body("outbound_exchange_transfer_created", with(goodExchange, "rate", `3.6615e0`)),
			ReasonBadRate, "outbound_exchange_transfer_created.rate", nil},
		{"negative rate", body("outbound_exchange_transfer_created", with(goodExchange, "rate", `-3.6615`)),
			ReasonBadRate, "outbound_exchange_transfer_created.rate", nil},
		{"rate as word", body("outbound_exchange_transfer_created", with(goodExchange, "rate", `"high"`)),
			ReasonBadRate, "outbound_exchange_transfer_created.rate", nil},
		{"rate as boolean", body("outbound_exchange_transfer_created", with(goodExchange, "rate", `true`)),
			ReasonWrongType, "outbound_exchange_transfer_created.rate", nil},
		{"bad counterpart_currency", body("inbound_exchange_transfer_settled", with(goodExchange, "counterpart_currency", `"usd"`)),
			ReasonUnknownCurrency, "inbound_exchange_transfer_settled.counterpart_currency", ledgerd.ErrCurrency},
		{"negative counterpart_amount", body("inbound_exchange_transfer_settled", with(goodExchange, "counterpart_amount", `-36615`)),
			ReasonAmountOutOfRange, "inbound_exchange_transfer_settled.counterpart_amount", ledgerd.ErrAmountRange},
		{"numeric failure_reason", body("outbound_exchange_transfer_failed", `{"account_id":"01917542-1b7a-7c0c-a39b-17c96d0c7b53",`+
			`"transaction_id":"019482c7-b534-7e55-a2f8-37ddb441866f","timestamp":"2024-10-10T08:15:17Z","failure_reason":500}`),
			ReasonWrongType, "outbound_exchange_transfer_failed.failure_reason", nil},
		{"duplicate failure_reason key", body("outbound_exchange_transfer_failed", `{"account_id":"01917542-1b7a-7c0c-a39b-17c96d0c7b53",`+
			`"transaction_id":"019482c7-b534-7e55-a2f8-37ddb441866f","timestamp":"2024-10-10T08:15:17Z",`+
			`"failure_reason":{"a":"x","a":"y"}}`),
			ReasonDuplicateField, "outbound_exchange_transfer_failed.failure_reason.a", nil},

		{"account without currency", body("account_opened", without(goodAccount, "currency")),
			ReasonMissingField, "account_opened.currency", nil},
		{"account type unknown", body("account_opened", with(goodAccount, "account_type", `"savings"`)),
			ReasonBadAccountType, "account_opened.account_type", nil},
		{"account customer_id not a UUID", body("account_opened", with(goodAccount, "customer_id", `"cus_1"`)),
			ReasonBadUUID, "account_opened.customer_id", nil},
		{"account name not a string", body("account_opened", with(goodAccount, "account_name", `{"en":"x"}`)),
			ReasonWrongType, "account_opened.account_name", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			obs, err := Decode([]byte(tc.body), Header{ReceivedAt: receivedAt})
			checkReason(t, err, tc.reason, tc.field)
			if tc.cause != nil && !errors.Is(err, tc.cause) {
				t.Errorf("error %v does not wrap %v", err, tc.cause)
			}
			if !reflect.DeepEqual(obs, ledgerd.Observation{}) {
				t.Errorf("observation not zero on error: %s", dump(obs))
			}
		})
	}
}

func TestAmountLimitsAreInclusive(t *testing.T) {
	for _, v := range []string{"0", "-0", "1000000000000000"} {
		b := body("internal_transfer_created", `{"account_id":"018bfd91-ea86-a787-9d72-754cddfbc294",`+
			`"transaction_id":"018c35ad-e939-eea5-d179-495d3fe1a783","timestamp":"2023-12-04T16:33:59Z","amount":`+v+`}`)
		obs, err := Decode([]byte(b), Header{})
		if err != nil {
			t.Errorf("amount %s: %v", v, err)
			continue
		}
		if got := obs.Transaction.Amounts; got.Instructed != got.WithFee || got.Fee != 0 {
			t.Errorf("amount %s: Amounts = %+v", v, *got)
		}
	}
}

func TestUnknownPayloadFieldsAreTolerated(t *testing.T) {
	b := body("outbound_local_payment_created", `{"new_field":{"nested":[1,"x",null]},"amount":"ignored",`+goodPayment[1:])
	obs, err := Decode([]byte(b), Header{})
	if err != nil {
		t.Fatal(err)
	}
	if want := amounts(51239, 50, 51289); !reflect.DeepEqual(obs.Transaction.Amounts, want) {
		t.Errorf("Amounts = %+v, want %+v", *obs.Transaction.Amounts, *want)
	}
}

func TestKeysAreCaseSensitive(t *testing.T) {
	// encoding/json's struct decoding would take "Instructed_Amount" for
	// instructed_amount; here it is an unknown field, and the real one is
	// missing.
	b := body("outbound_local_payment_created", `{"Instructed_Amount":1,`+without(goodPayment, "instructed_amount")[1:])
	_, err := Decode([]byte(b), Header{})
	checkReason(t, err, ReasonMissingField, "outbound_local_payment_created.instructed_amount")
}

func TestErrorMessageIsBoundedForHugeLiterals(t *testing.T) {
	huge := "1"
	for len(huge) < 5000 {
		huge += huge
	}
	_, err := Decode([]byte(paymentBody("instructed_amount", huge)), Header{})
	checkReason(t, err, ReasonAmountOutOfRange, "outbound_local_payment_created.instructed_amount")
	if n := len(err.Error()); n > 300 {
		t.Errorf("error message is %d bytes long", n)
	}
}
