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
	page := Page[Transaction]{Pages: PageInfo{Next: &next, Size: 3}, Data: []Transaction{
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
		`{"results":[],"pages":{"next":null,"size":0}}`,
		`{"results":[],"pages":{"next":"c","size":-1,"other":[1]},"more":{}}`,
		`{"results":[],"pages":{"next":null}}`,
		`{"results":[],"pages":null}`,
		`{"results":[],"pages":{"size":1.5}}`,
		`{"results":[],"pages":{"size":"1"}}`,
		`{"results":[],"pages":{"size":99999999999999999999}}`,
		`{"results":[],"pages":{"next":1,"size":1}}`,
		`{"results":[],"pages":{"Size":1}}`,
		`{"results":[],"pages":{"size":1,"size":2}}`,
		`{"results":[],"Pages":{"size":1}}`,
		`{"results":{},"pages":{"size":1}}`,
		`{"pages":{"size":1}}`,
		`{"data":[],"next_cursor":null}`,
		`{"data":null}`,
		`{"results":[null],"pages":{"size":1}}`,
		`{}`,
		`null`,
		`[]`,
		`{"RESULTS":[{"transaction_id":"a"}]}`,
		`{"results":[{"Transaction_ID":"a"}],"pages":{"size":1}}`,
		`{"results":[{"transaction_id":"a","transaction_id":"b"}],"pages":{"size":1}}`,
		`{"results":[{"transaction_id":"a\"b"}],"pages":{"size":1}}`,
		`{"results":[{"transaction_id":"a\u00e9"}],"pages":{"size":1}}`,
		`{"results":[{"transaction_id":"a` + "\xff" + `"}],"pages":{"size":1}}`,
		`{"results":[{"transaction_id":"a` + "\x01" + `"}],"pages":{"size":1}}`,
		`{"results":[{"transaction_id":null}],"pages":{"size":1}}`,
		`{"results":[{"transaction_id":1}],"pages":{"size":1}}`,
		`{"results":[{"instructed_amount":1.0}],"pages":{"size":1}}`,
		`{"results":[{"instructed_amount":1e3}],"pages":{"size":1}}`,
		`{"results":[{"instructed_amount":-0}],"pages":{"size":1}}`,
		`{"results":[{"instructed_amount":01}],"pages":{"size":1}}`,
		`{"results":[{"instructed_amount":9223372036854775808}],"pages":{"size":1}}`,
		`{"results":[{"instructed_amount":"5"}],"pages":{"size":1}}`,
		`{"results":[{"counterpart_amount":null,"rate":null}],"pages":{"size":1}}`,
		`{"results":[{"rate":"1.5"}],"pages":{"size":1}}`,
		`{"results":[{"rate":1.5e-3}],"pages":{"size":1}}`,
		`{"results":[{"rate":-}],"pages":{"size":1}}`,
		`{"results":[{"created_at":"2026-03-31T18:00:00Z"}],"pages":{"size":1}}`,
		`{"results":[{"created_at":"2026-03-31 18:00:00"}],"pages":{"size":1}}`,
		`{"results":[{"created_at":null}],"pages":{"size":1}}`,
		`{"results":[{"remitter":null,"beneficiary":{"name":"x","NAME":"y"}}],"pages":{"size":1}}`,
		`{"results":[{"remitter":{"name":"x","extra":[1,{"a":true},false,null]}}],"pages":{"size":1}}`,
		`{"results":[{"unknown":{"deep":[[[[1]]]]},"kind":"exchange_in"}],"pages":{"size":1}}`,
		`{"results":[{"unknown":tru}],"pages":{"size":1}}`,
		`{"results":[{"unknown":truex}],"pages":{"size":1}}`,
		`{"results":[{"kind":"exchange_in",}],"pages":{"size":1}}`,
		`{"results":[{"kind":"exchange_in"}],"pages":{"next":"c","next":"d","size":1}}`,
		`{"results":[{"kind":"exchange_in"}],"results":[],"pages":{"size":1}}`,
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
	f.Add([]byte(`{"results":[{"transaction_id":"a","rate":1.5,"remitter":{"name":"x"}}],"pages":{"next":null,"size":1}}`))
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
