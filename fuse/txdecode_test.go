package fuse

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"
)

func samplePage(t testing.TB) []byte {
	t.Helper()
	cp := int64(36725)
	next := "dDF8MTc0MzQ0|abc"
	at := time.Date(2026, 3, 31, 17, 59, 50, 123456789, time.UTC)
	page := Page[Transaction]{NextCursor: &next, Data: []Transaction{
		{TransactionID: "6f1c0a4e-0000-4000-8000-000000000001", AccountID: "acc-1", Kind: KindLocalPaymentOut,
			Status: StatusExecuted, Currency: "AED", InstructedAmount: 10000, FeeAmount: 250, AmountWithFee: 10250,
			Beneficiary: &Party{Name: "Noor Catering LLC", IBAN: "AE070331234567890123456"}, Purpose: "goods_bought",
			ExternalReference: "gen-pay-1", ExternalID: "ext-1", CreatedAt: at.Add(-time.Hour), UpdatedAt: at},
		{TransactionID: "6f1c0a4e-0000-4000-8000-000000000002", AccountID: "acc-1", Kind: KindExchangeIn,
			Status: StatusSettled, Currency: "AED", InstructedAmount: 134900, AmountWithFee: 134900,
			CounterpartAccountID: "acc-2", CounterpartCurrency: "USD", CounterpartAmount: &cp, Rate: "3.6725",
			Remitter: &Party{Name: "Zoë Ångström"}, Reference: "fx", CreatedAt: at, UpdatedAt: at},
		{TransactionID: "6f1c0a4e-0000-4000-8000-000000000003", AccountID: "acc-1", Kind: KindInternalTransferOut,
			Status: StatusFailed, FailureReason: "insufficient funds", CreatedAt: at, UpdatedAt: at.Add(2 * time.Second)},
	}}
	b, err := json.Marshal(page)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestTransactionPagesTakeTheFastPath(t *testing.T) {
	body := samplePage(t)
	var fast transactionPage
	if !fast.decodeFast(body) {
		t.Fatal("the fast path gave up on what the sandbox sends")
	}
	var slow Page[Transaction]
	if err := referenceDecode(body, &slow); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(Page[Transaction](fast), slow) {
		t.Errorf("fast path read\n%+v\nencoding/json read\n%+v", fast, slow)
	}
}

// TestFastDecodeAgreesWithEncodingJSON: whatever the body, decode ends
// exactly as encoding/json alone would: the same value, or an error.
func TestFastDecodeAgreesWithEncodingJSON(t *testing.T) {
	base := string(samplePage(t))
	bodies := []string{
		base,
		" \n" + base + "\r\n\t",
		base + "x",
		base + "{}",
		`{"data":[],"next_cursor":null}`,
		`{"data":null}`,
		`{"data":[null]}`,
		`{}`,
		`null`,
		`[]`,
		`{"DATA":[{"transaction_id":"a"}]}`,
		`{"data":[{"Transaction_ID":"a"}]}`,
		`{"data":[{"transaction_id":"a","transaction_id":"b"}]}`,
		`{"data":[{"transaction_id":"a\"b"}]}`,
		`{"data":[{"transaction_id":"a\u00e9"}]}`,
		`{"data":[{"transaction_id":"a` + "\xff" + `"}]}`,
		`{"data":[{"transaction_id":"a` + "\x01" + `"}]}`,
		`{"data":[{"transaction_id":null}]}`,
		`{"data":[{"transaction_id":1}]}`,
		`{"data":[{"instructed_amount":1.0}]}`,
		`{"data":[{"instructed_amount":1e3}]}`,
		`{"data":[{"instructed_amount":-0}]}`,
		`{"data":[{"instructed_amount":01}]}`,
		`{"data":[{"instructed_amount":9223372036854775808}]}`,
		`{"data":[{"instructed_amount":"5"}]}`,
		`{"data":[{"counterpart_amount":null,"rate":null}]}`,
		`{"data":[{"rate":"1.5"}]}`,
		`{"data":[{"rate":1.5e-3}]}`,
		`{"data":[{"rate":-}]}`,
		`{"data":[{"created_at":"2026-03-31T18:00:00Z"}]}`,
		`{"data":[{"created_at":"2026-03-31 18:00:00"}]}`,
		`{"data":[{"created_at":null}]}`,
		`{"data":[{"remitter":null,"beneficiary":{"name":"x","NAME":"y"}}]}`,
		`{"data":[{"remitter":{"name":"x","extra":[1,{"a":true},false,null]}}]}`,
		`{"data":[{"unknown":{"deep":[[[[1]]]]},"kind":"exchange_in"}]}`,
		`{"data":[{"unknown":tru}]}`,
		`{"data":[{"unknown":truex}]}`,
		`{"data":[{"kind":"exchange_in",}]}`,
		`{"data":[{"kind":"exchange_in"}],"next_cursor":"c","next_cursor":"d"}`,
		`{"data":[{"kind":"exchange_in"}],"data":[]}`,
		`{"data":[{"kind":"exchange_in"}`,
		``,
	}
	for _, body := range bodies {
		var got Page[Transaction]
		c := &Client{}
		gotErr := c.decode(request{out: (*transactionPage)(&got)}, "GET /x", outcome{status: 200, body: []byte(body)})
		var want Page[Transaction]
		wantErr := referenceDecode([]byte(body), &want)
		if (gotErr != nil) != (wantErr != nil) {
			t.Errorf("%s: error %v, encoding/json says %v", body, gotErr, wantErr)
			continue
		}
		if gotErr == nil && !reflect.DeepEqual(got, want) {
			t.Errorf("%s:\n got %+v\nwant %+v", body, got, want)
		}

		// The same for one transaction, where the body is one.
		var one Transaction
		gotErr = c.decode(request{out: (*transactionObject)(&one)}, "GET /x", outcome{status: 200, body: []byte(body)})
		var wantOne Transaction
		wantErr = referenceDecode([]byte(body), &wantOne)
		if (gotErr != nil) != (wantErr != nil) || (gotErr == nil && !reflect.DeepEqual(one, wantOne)) {
			t.Errorf("%s as one transaction: %+v, %v; encoding/json: %+v, %v", body, one, gotErr, wantOne, wantErr)
		}
	}
}

func FuzzFastDecodeAgreesWithEncodingJSON(f *testing.F) {
	f.Add(samplePage(f))
	f.Add([]byte(`{"data":[{"transaction_id":"a","rate":1.5,"remitter":{"name":"x"}}],"next_cursor":null}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		var fast transactionPage
		ok := fast.decodeFast(body)
		var slow Page[Transaction]
		err := referenceDecode(body, &slow)
		if ok && err != nil {
			t.Fatalf("%q: fast path accepted what encoding/json refuses: %v", body, err)
		}
		if ok && !reflect.DeepEqual(Page[Transaction](fast), slow) {
			t.Fatalf("%q:\nfast %+v\nslow %+v", body, fast, slow)
		}
	})
}

func BenchmarkDecodeTransactionPage(b *testing.B) {
	one := samplePage(b)
	// A page of 500, as a reconciliation reads them.
	var p Page[Transaction]
	if err := json.Unmarshal(one, &p); err != nil {
		b.Fatal(err)
	}
	for len(p.Data) < 500 {
		p.Data = append(p.Data, p.Data[:min(3, 500-len(p.Data))]...)
	}
	body, _ := json.Marshal(p)
	b.Run("fast", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		for b.Loop() {
			var out transactionPage
			if !out.decodeFast(body) {
				b.Fatal("gave up")
			}
		}
	})
	b.Run("encoding/json", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		for b.Loop() {
			var out Page[Transaction]
			if err := referenceDecode(body, &out); err != nil {
				b.Fatal(err)
			}
		}
	})
}
