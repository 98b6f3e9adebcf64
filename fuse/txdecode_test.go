package fuse

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// samplePage is a page of n transactions of every published type, cycled
// from testdata/published/transactions.json with ids made unique, as
// Fuse would send it: compact, or spaced as Python's json module spaces
// (", " and ": ").
func samplePage(tb testing.TB, n int, spaced bool) []byte {
	tb.Helper()
	var src struct {
		Results []json.RawMessage `json:"results"`
	}
	if err := json.Unmarshal(readPublished(tb, "transactions.json"), &src); err != nil {
		tb.Fatal(err)
	}
	var b bytes.Buffer
	sep, colon := ",", ":"
	if spaced {
		sep, colon = ", ", ": "
	}
	b.WriteString(`{"results"` + colon + `[`)
	for i := range n {
		if i > 0 {
			b.WriteString(sep)
		}
		obj := compacted(tb, src.Results[i%len(src.Results)])
		obj = bytes.Replace(obj, []byte(`"id":"`+pubTxPrefix), fmt.Appendf(nil, `"id":"%s%06d-`, pubTxPrefix, i), 1)
		if spaced {
			obj = bytes.ReplaceAll(obj, []byte(`","`), []byte(`", "`))
			obj = bytes.ReplaceAll(obj, []byte(`":`), []byte(`": `))
		}
		b.Write(obj)
	}
	b.WriteString(`]` + sep + `"pages"` + colon + `{"next"` + colon + `"c2"` + sep + `"size"` + colon + fmt.Sprint(n) + `}}`)
	return b.Bytes()
}

// TestTransactionPagesTakeTheFastPath: the fast path reads whole what
// Fuse publishes, compact or spaced, and what it reads is encoding/json's
// reading, Raw included.
func TestTransactionPagesTakeTheFastPath(t *testing.T) {
	pretty := readPublished(t, "transactions.json")
	for name, body := range map[string][]byte{
		"published, pretty":  pretty,
		"published, compact": compacted(t, pretty),
		"compact page":       samplePage(t, 50, false),
		"spaced page":        samplePage(t, 50, true),
	} {
		var fast transactionPage
		if !fast.decodeFast(body) {
			t.Errorf("%s: the fast path gave up", name)
			continue
		}
		var slow Page[Transaction]
		if err := referenceDecode(body, &slow); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(Page[Transaction](fast), slow) {
			t.Errorf("%s: fast path read\n%+v\nencoding/json read\n%+v", name, fast, slow)
		}
		var rawless rawlessTransactionPage
		if !rawless.decodeFast(body) {
			t.Errorf("%s: the fast path without Raw gave up", name)
		} else if !reflect.DeepEqual(Page[Transaction](rawless), withoutRaw(slow)) {
			t.Errorf("%s: fast path without Raw read\n%+v\nencoding/json read\n%+v", name, rawless, slow)
		}
	}
	for _, body := range [][]byte{readPublished(t, "transaction.json"), compacted(t, readPublished(t, "transaction.json"))} {
		var fast transactionObject
		if !fast.decodeFast(body) {
			t.Fatalf("the fast path gave up on %s", body)
		}
		var slow Transaction
		if err := referenceDecode(body, &slow); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(Transaction(fast), slow) {
			t.Errorf("fast path read\n%+v\nencoding/json read\n%+v", fast, slow)
		}
	}
}

// fastDecodeCases are bodies at the edges of what the fast path takes.
func fastDecodeCases(tb testing.TB) []string {
	one := string(compacted(tb, readPublished(tb, "transaction.json")))
	tx := func(fields string) string {
		return `{"results":[{"id":"t","type":"local_payment",` + fields + `}],"pages":{"next":null,"size":1}}`
	}
	return []string{
		string(samplePage(tb, 20, false)),
		string(samplePage(tb, 20, true)),
		string(samplePage(tb, 2, false)),
		string(samplePage(tb, 2, true)),
		string(readPublished(tb, "transactions.json")),
		" \n" + string(samplePage(tb, 3, false)) + "\r\n\t",
		string(samplePage(tb, 3, false)) + "x",
		string(samplePage(tb, 3, false)) + "{}",
		one, " " + one + " ", one + "1",
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
		`{"results":[null],"pages":{"size":1}}`,
		`{"results":[1],"pages":{"size":1}}`,
		`{"results":[{}],"pages":{"size":1}}`,
		`{}`, `null`, `[]`, ``,
		`{"RESULTS":[{"id":"a"}]}`,
		// Keys: case, duplicates, escapes, unknown.
		tx(`"ID":"a"`),
		tx(`"ſcheme":"uae_fts"`),
		tx(`"id":"b"`),
		tx(`"id\u0020":"b"`),
		tx(`"state":"Created","state":"Failed"`),
		tx(`"unknown":{"deep":[[[[1]]]],"s":"\"\\\/\b\f\n\r\t\u00e9"},"state":"Created"`),
		tx(`"unknown":tru`), tx(`"unknown":truex`), tx(`"state":"Created",`),
		tx(`"unknown":` + strings.Repeat("[", 40) + strings.Repeat("]", 40)),
		// Strings.
		tx(`"account_id":"a\"b"`),
		tx(`"account_id":"a\u00e9"`),
		tx(`"account_id":"a` + "\xff" + `"`),
		tx(`"account_id":"a` + "\x01" + `"`),
		tx(`"account_id":"Zoë 😀"`),
		tx(`"account_id":null,"purpose":null,"direction":null`),
		tx(`"account_id":1`),
		tx(`"account_id":true`),
		// Integers.
		tx(`"instructed_amount":1.0`), tx(`"instructed_amount":1e3`), tx(`"instructed_amount":-0`),
		tx(`"instructed_amount":01`), tx(`"instructed_amount":9223372036854775807`),
		tx(`"instructed_amount":9223372036854775808`), tx(`"instructed_amount":-9223372036854775808`),
		tx(`"instructed_amount":"5"`), tx(`"instructed_amount":null,"fee_amount":null`),
		tx(`"instructed_amount":-`), tx(`"instructed_amount":{}`),
		// Rates.
		tx(`"rate":null,"counterpart_amount":null`), tx(`"rate":"1.5"`), tx(`"rate":1.5e-3`),
		tx(`"rate":-0.0`), tx(`"rate":3.67250000000000000000001`), tx(`"rate":-`), tx(`"rate":[]`),
		// Times.
		tx(`"created_at":"2026-03-31T18:00:00Z"`),
		tx(`"created_at":"2026-03-31T18:00:00.123456789+04:00"`),
		tx(`"created_at":"2026-03-31 18:00:00"`),
		tx(`"created_at":"2026-03-31T18:00:00\u005a"`),
		tx(`"created_at":null,"timestamp":null,"executed_at":null`),
		tx(`"created_at":20260331`),
		// failure_reason is kept as it came, null included.
		tx(`"failure_reason":null`),
		tx(`"failure_reason":"insufficient_funds"`),
		tx(`"failure_reason":{ "bank_error" : "a\nb" }`),
		tx(`"failure_reason":{"bank_error":"x","bank_error":"y"}`),
		tx(`"failure_reason":[1, 2 ,{"x" :null}]`),
		tx(`"failure_reason":nul`),
		// Nested objects.
		tx(`"remitter":null,"beneficiary":{"name":"x","NAME":"y"}`),
		tx(`"remitter":{"name":"x","identifier":null}`),
		tx(`"remitter":{"name":"x","identifier":{"iban":"AE07","wire":{"account_number":"1","routing_number":"2","sort_code":"3"}}}`),
		tx(`"remitter":{"name":"x","identifier":{"scan":{"account_number":"1","sort_code":"2","routing_number":"3"}}}`),
		tx(`"remitter":{"name":"x","identifier":{"scan":null,"wire":null}}`),
		tx(`"remitter":{"name":"x","identifier":{"wire":{"Account_Number":"1"}}}`),
		tx(`"remitter":{"name":"x","identifier":{"iban":"a","iban":"b"}}`),
		tx(`"remitter":{"name":"x","extra":[1,{"a":true},false,null]}`),
		tx(`"remitter":[]`),
		tx(`"fee_source":{"type":"primary_account"}`), tx(`"fee_source":null`), tx(`"fee_source":{}`),
		tx(`"fee_source":{"type":null}`), tx(`"fee_source":{"Type":"x"}`), tx(`"fee_source":"primary_account"`),
		tx(`"batch":{"batch_id":"b","batch_sequence_no":3}`), tx(`"batch":{"batch_sequence_no":2147483648}`),
		tx(`"batch":{"batch_sequence_no":null}`), tx(`"batch":{"batch_sequence_no":1.5}`), tx(`"batch":null`),
		tx(`"fee_target":{"type":"Transaction","reference":"p"}`), tx(`"fee_target":null`),
		tx(`"fee_target":{"reference":"p","reference":"q"}`),
		tx(`"scheme":"uae_fts","external_id":null,"external_reference":""`),
	}
}

// TestFastDecodeAgreesWithEncodingJSON: whatever the body, decode ends
// exactly as encoding/json alone would: the same value, Raw included, or
// an error.
func TestFastDecodeAgreesWithEncodingJSON(t *testing.T) {
	fastTaken := 0
	for _, body := range fastDecodeCases(t) {
		var fast transactionPage
		if fast.decodeFast([]byte(body)) {
			fastTaken++
		}
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
		// The same without Raw (ListTransactionsParams.SkipRaw), on
		// either path.
		var rawless Page[Transaction]
		gotErr = c.decode(request{out: (*rawlessTransactionPage)(&rawless)}, "GET /x", outcome{status: 200, body: []byte(body)})
		if (gotErr != nil) != (wantErr != nil) || (gotErr == nil && !reflect.DeepEqual(rawless, withoutRaw(want))) {
			t.Errorf("%s without Raw: %+v, %v; encoding/json: %+v, %v", body, rawless, gotErr, want, wantErr)
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
	if fastTaken < 40 {
		t.Errorf("the fast path took only %d of the bodies", fastTaken)
	}
}

// withoutRaw is p with every transaction's Raw nil, as a listing with
// SkipRaw reads it.
func withoutRaw(p Page[Transaction]) Page[Transaction] {
	p.Data = slices.Clone(p.Data)
	for i := range p.Data {
		p.Data[i].Raw = nil
	}
	return p
}

func FuzzFastDecodeAgreesWithEncodingJSON(f *testing.F) {
	for _, body := range fastDecodeCases(f) {
		if len(body) <= 2048 {
			f.Add([]byte(body))
		}
	}
	for _, seed := range publishedSeeds(f) {
		f.Add(seed)
	}
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
		var fastOne transactionObject
		ok = fastOne.decodeFast(body)
		var slowOne Transaction
		err = referenceDecode(body, &slowOne)
		if ok && (err != nil || !reflect.DeepEqual(Transaction(fastOne), slowOne)) {
			t.Fatalf("%q as one transaction:\nfast %+v\nslow %+v, %v", body, fastOne, slowOne, err)
		}
	})
}

func TestAppendCompactIsJSONCompact(t *testing.T) {
	for _, s := range []string{
		`{}`, ` { "a" : [ 1 , 2 ] , "b" : "x y\"z \\" , "c":{ } } `,
		`"\\\\"`, `"a\\\"b c"`, "[\n\t\"\\u0020 \" ,\r\n null ]", `{"k":"é 😀 \u2028"}`,
	} {
		var want bytes.Buffer
		if err := json.Compact(&want, []byte(s)); err != nil {
			t.Fatal(err)
		}
		if got := appendCompact([]byte("p"), []byte(s)); string(got) != "p"+want.String() {
			t.Errorf("%s: %s, want %s", s, got, want.Bytes())
		}
	}
}

// BenchmarkDecodeTransactionPage decodes a page of 500 transactions of
// every type as the client does (Client.decode): "encoding/json" is the
// path without the fast decoder, "fast" the path the client takes.
func BenchmarkDecodeTransactionPage(b *testing.B) {
	for _, spaced := range []bool{false, true} {
		body := samplePage(b, 500, spaced)
		name := map[bool]string{false: "compact", true: "spaced"}[spaced]
		c := &Client{}
		o := outcome{status: 200, body: body}
		b.Run(name+"/fast", func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				var out Page[Transaction]
				if err := c.decode(request{out: (*transactionPage)(&out)}, "GET /x", o); err != nil || len(out.Data) != 500 {
					b.Fatal(err)
				}
			}
		})
		b.Run(name+"/encoding-json", func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				var out Page[Transaction]
				if err := c.decode(request{out: &out}, "GET /x", o); err != nil || len(out.Data) != 500 {
					b.Fatal(err)
				}
			}
		})
	}
}
