package webhook

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// seedBodies returns every seed example, verbatim and corrected, and the
// bodies of the types without a published payload (testdata/model), by
// file.
func seedBodies(t testing.TB) map[string][]byte {
	t.Helper()
	paths, err := filepath.Glob("testdata/*/*.json")
	if err != nil {
		t.Fatal(err)
	}
	bodies := make(map[string][]byte)
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		bodies[p] = b
	}
	return bodies
}

// agree checks that the fast path, when it takes body, decodes it exactly
// as the reference does, and reports whether it took it.
func agree(t *testing.T, body []byte) bool {
	t.Helper()
	fast, ok := decodeFast(body)
	ref, derr := decodeReference(body)
	if !ok {
		return false
	}
	if derr != nil {
		t.Errorf("%s\nfast path accepted what the reference refuses: %v", body, derr)
		return true
	}
	if !reflect.DeepEqual(fast, ref) {
		t.Errorf("%s\nfast path read %s\nthe reference  %s", body, dump(fast), dump(ref))
	}
	return true
}

// TestWellFormedBodiesTakeTheFastPath: what Fuse sends (every valid seed
// example in both envelope spellings, the benchmark's body, compact or
// not) goes through the fast path, with the reference's result.
func TestWellFormedBodiesTakeTheFastPath(t *testing.T) {
	bodies := map[string][]byte{"benchmark": benchBody(42)}
	for name, raw := range seedBodies(t) {
		typ := strings.TrimSuffix(filepath.Base(name), ".json")
		if strings.Contains(name, "/seed/") && (typ == "inbound_internal_transfer_settled" || typ == "internal_transfer_failed") {
			continue // trailing commas
		}
		bodies[name] = raw
		bodies[name+" respelled"] = respell(t, raw, typ)
		var compact bytes.Buffer
		if err := json.Compact(&compact, raw); err != nil {
			t.Fatal(err)
		}
		bodies[name+" compact"] = compact.Bytes()
	}
	for name, body := range bodies {
		if !agree(t, body) {
			_, err := decodeReference(body)
			t.Errorf("%s: the fast path gave up (reference: %v)", name, err)
		}
	}
}

// mutations returns body with each scalar member in turn replaced by
// each of values, removed, and given twice: thousands of bodies near the
// common shape, valid and not.
func mutations(body []byte) [][]byte {
	values := []string{
		`null`, `""`, `"x"`, `0`, `-0`, `1`, `-1`, `01`, `1.5`, `1e3`, `2147483648`, `1000000000000000`,
		`1000000000000001`, `9223372036854775808`, `true`, `{}`, `[]`, `{"a":"b"}`, `{"a":1}`, `"3.6615"`, `3.6615`,
		`"AED"`, `"aed"`, `"JPY"`, `"XYZ"`, `"primary"`, `"savings"`, `"2023-12-04T16:40:29Z"`, `"2023-12-04T20:40:29+04:00"`,
		`"2023-12-04"`, `"018C35B3-DEF2-E645-1D5B-86BE6746537B"`, `"018c35b3-def2-e645-1d5b-86be6746537b"`,
		`"018c35b3def2e6451d5b86be6746537b"`, `"a\"b"`, `"\u0041ED"`, `"Zoë"`, "\"\xff\"", `"payload"`, `"type"`,
		`"inbound_local_payment_settled"`, `"account_opened"`, `"customer_verified"`,
	}
	member := regexp.MustCompile(`"([a-z_]+)":("(?:[^"\\]|\\.)*"|[-0-9.eE+]+|true|false|null)`)
	var out [][]byte
	for _, m := range member.FindAllSubmatchIndex(body, -1) {
		start, end, vStart := m[0], m[1], m[4]
		for _, v := range values {
			out = append(out, concat(body[:vStart], []byte(v), body[end:]))
		}
		// Removed (with the comma after it, or before it when last).
		switch {
		case end < len(body) && body[end] == ',':
			out = append(out, concat(body[:start], body[end+1:]))
		case start > 0 && body[start-1] == ',':
			out = append(out, concat(body[:start-1], body[end:]))
		}
		// Given twice, and given twice with the key escaped.
		out = append(out, concat(body[:end], []byte(","), body[start:]))
		key := body[m[2]:m[3]]
		escaped := concat([]byte(`"\u00`), []byte(hexByte(key[0])), key[1:], []byte(`"`))
		out = append(out, concat(body[:end], []byte(","), escaped, body[m[3]+1:]))
	}
	return out
}

// envelopes returns body with each of a few envelope members added in
// front: the other spelling of a field, a null, a stray payload.
func envelopes(body []byte) [][]byte {
	var out [][]byte
	for _, m := range []string{`"version":1`, `"version":null`, `"event_version":2`, `"event_version":null`,
		`"payload":{}`, `"payload":null`, `"payload":[]`, `"type":null`, `"event_id":null`, `"x":{"type":"y"}`} {
		out = append(out, concat([]byte("{"), []byte(m), []byte(","), body[1:]))
	}
	return out
}

func hexByte(c byte) string {
	return string("0123456789abcdef"[c>>4]) + string("0123456789abcdef"[c&15])
}

func concat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

// TestFastDecodeAgreesWithTheReference: whatever the body, Decode ends
// exactly as the reference alone would: the same observation, or the
// same error.
func TestFastDecodeAgreesWithTheReference(t *testing.T) {
	t.Parallel()
	bodies := [][]byte{
		nil, []byte(``), []byte(` `), []byte(`{}`), []byte(`[]`), []byte(`null`), []byte(`"x"`), []byte(`{`),
		[]byte("\xef\xbb\xbf" + body("account_opened", goodAccount)),
		[]byte(body("account_opened", goodAccount) + ` `),
		[]byte(body("account_opened", goodAccount) + `x`),
		[]byte(body("account_opened", goodAccount) + `{}`),
		[]byte(body("account_opened", goodAccount)[:40]),
		[]byte(`{"type":"x","event_id":"` + goodEventID + `",}`),
		[]byte(`{"type":"x","event_id":"` + goodEventID + `"}`),
		[]byte(`{"type":"x","event_id":"` + goodEventID + `","x":[1,{"a":[true,false,null,"\u00e9\n"]}]}`),
		[]byte(`{"type":"x","event_id":"` + goodEventID + `","x":[1,]}`),
		[]byte(`{"type":"x","event_id":"` + goodEventID + `","x":"\x"}`),
		[]byte(`{"type":"x","event_id":"` + goodEventID + `","x":"\u12"}`),
		[]byte(`{"type":"x","event_id":"` + goodEventID + `","x":"` + "\x01" + `"}`),
		[]byte(`{"type":"x","event_id":"` + goodEventID + `","x":"` + "\xff" + `"}`),
		[]byte(`{"type":"x","event_id":"` + goodEventID + `","x":tru}`),
		[]byte(`{"type":"x","event_id":"` + goodEventID + `","x":truex}`),
		[]byte(`{"type":"x","event_id":"` + goodEventID + `","x":-}`),
		[]byte(`{"type":"x","event_id":"` + goodEventID + `","x":1.}`),
		[]byte(`{"type":"x","event_id":"` + goodEventID + `","x":` + strings.Repeat("[", 40) + strings.Repeat("]", 40) + `}`),
		[]byte(`{"type":"x","event_id":"` + goodEventID + `","` + "\xff" + `":1,"` + "\xfe" + `":2}`),
		[]byte(`{"type":"payload","event_id":"` + goodEventID + `","payload":1}`),
		[]byte(`{"type":"event_id","event_id":"` + goodEventID + `"}`),
		[]byte(`{"type":"x","event_id":"` + goodEventID + `","payload":1,"x":2}`),
		[]byte(`{"type":"x","event_id":"` + goodEventID + `","payload":null,"x":2,"version":null,"event_version":3}`),
		[]byte(`{"type":"account_opened","event_id":"` + goodEventID + `","payload":null,"account_opened":` + goodAccount + `}`),
		[]byte(`{"type":"account_opened","event_id":"` + goodEventID + `","payload":` + goodAccount + `,"account_opened":null}`),
		[]byte(`{"type":"account_opened","event_id":"` + goodEventID + `","payload":` + goodAccount + `,"account_updated":{}}`),
		[]byte(body("outbound_local_payment_failed", `{"account_id":"018c355c-2413-16df-509f-40e71b142eb3",`+
			`"transaction_id":"018c35b3-def2-e645-1d5b-86be6746537b","timestamp":"2023-12-04T16:40:29Z",`+
			`"failure_reason":{"a":"x","b":{"code": 7},"c":"y"}}`)),
		[]byte(body("outbound_local_payment_failed", `{"account_id":"018c355c-2413-16df-509f-40e71b142eb3",`+
			`"transaction_id":"018c35b3-def2-e645-1d5b-86be6746537b","timestamp":"2023-12-04T16:40:29Z",`+
			`"failure_reason":{ "a" : "x" , "b":"y\u0021" }}`)),
		[]byte(body("outbound_local_payment_failed", `{"account_id":"018c355c-2413-16df-509f-40e71b142eb3",`+
			`"transaction_id":"018c35b3-def2-e645-1d5b-86be6746537b","timestamp":"2023-12-04T16:40:29Z",`+
			`"failure_reason":{}}`)),
		[]byte(body("outbound_local_payment_created", goodPayment)),
		[]byte(body("outbound_exchange_transfer_created", goodExchange)),
		[]byte(body("account_opened", goodAccount)),
	}
	for _, raw := range seedBodies(t) {
		bodies = append(bodies, raw)
		var compact bytes.Buffer
		if json.Compact(&compact, raw) == nil {
			bodies = append(bodies, mutations(compact.Bytes())...)
			bodies = append(bodies, envelopes(compact.Bytes())...)
		}
	}
	bodies = append(bodies, mutations(benchBody(3))...)
	bodies = append(bodies, envelopes(benchBody(3))...)
	bodies = append(bodies, mutations([]byte(body("outbound_exchange_transfer_created", goodExchange)))...)
	bodies = append(bodies, mutations([]byte(body("account_opened", goodAccount)))...)

	fast := 0
	for _, b := range bodies {
		if agree(t, b) {
			fast++
		}
		checkDecodeIsTheReference(t, b)
	}
	t.Logf("%d bodies, %d through the fast path", len(bodies), fast)
}

// checkDecodeIsTheReference checks that Decode returns what the
// reference decoder makes of raw, with Decode's own fields around it.
func checkDecodeIsTheReference(t *testing.T, raw []byte) {
	t.Helper()
	h := Header{FuseTimestamp: "2023-06-19T12:44:47Z", ReceivedAt: receivedAt}
	got, err := Decode(raw, h)
	want, derr := decodeReference(raw)
	if derr != nil {
		if err == nil || err.Error() != derr.Error() || !reflect.DeepEqual(err, error(derr)) {
			t.Errorf("%s\nDecode: %v\nreference: %v", raw, err, derr)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s\nobservation not zero on error: %s", raw, dump(got))
		}
		return
	}
	if err != nil {
		t.Errorf("%s\nDecode: %v; the reference accepts it", raw, err)
		return
	}
	want.Event.Source, want.Event.ReceivedAt, want.Event.Raw = "webhook", receivedAt, raw
	want.Event.FuseTime = ts(t, "2023-06-19T12:44:47Z")
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s\nDecode: %s\nreference: %s", raw, dump(got), dump(want))
	}
}

// TestMutationsReachBothPaths guards the test above: its bodies must
// exercise the fast path and the fall-back alike.
func TestMutationsReachBothPaths(t *testing.T) {
	var taken, refused int
	for _, b := range mutations(benchBody(1)) {
		if _, ok := decodeFast(b); ok {
			taken++
		} else {
			refused++
		}
	}
	if taken < 50 || refused < 50 {
		t.Errorf("fast path took %d mutations and gave up on %d; want many of each", taken, refused)
	}
}

func TestHandlerBodyIsNotCopied(t *testing.T) {
	raw := benchBody(1)
	obs, err := decode(raw, Header{}, true)
	if err != nil {
		t.Fatal(err)
	}
	if &obs.Event.Raw[0] != &raw[0] {
		t.Error("decode copied a body it owns")
	}
}

func FuzzFastDecodeAgreesWithTheReference(f *testing.F) {
	names := make([]string, 0)
	bodies := seedBodies(f)
	for name := range bodies {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		f.Add(bodies[name])
	}
	f.Add(benchBody(1))
	f.Add([]byte(body("outbound_local_payment_created", goodPayment)))
	f.Add([]byte(body("outbound_exchange_transfer_created", goodExchange)))
	f.Add([]byte(body("account_opened", goodAccount)))
	f.Add([]byte(`{"type":"x","event_id":"` + goodEventID + `","version":1,"payload":{"k":["\u00e9",{"a":null}]}}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		fast, ok := decodeFast(raw)
		ref, derr := decodeReference(raw)
		if ok && derr != nil {
			t.Fatalf("%q: fast path accepted what the reference refuses: %v", raw, derr)
		}
		if ok && !reflect.DeepEqual(fast, ref) {
			t.Fatalf("%q:\nfast %s\nreference %s", raw, dump(fast), dump(ref))
		}
	})
}

// FuzzFastDecodeFieldValues puts arbitrary text in place of one member's
// value of a well-formed body, where the fast path reads values, instead
// of leaving the fuzzer to find well-formed bodies by itself.
func FuzzFastDecodeFieldValues(f *testing.F) {
	templates := [][]byte{benchBody(5), []byte(body("outbound_exchange_transfer_created", goodExchange)),
		[]byte(body("account_opened", goodAccount)),
		[]byte(body("outbound_local_payment_failed", `{"account_id":"018c355c-2413-16df-509f-40e71b142eb3",`+
			`"transaction_id":"018c35b3-def2-e645-1d5b-86be6746537b","timestamp":"2023-12-04T16:40:29Z",`+
			`"failure_reason":{"bank_error":"Manual failure in Portal"}}`)),
		[]byte(body("fee_debited", feePayload)), []byte(body("outbound_local_payment_returned", returnedPayload))}
	member := regexp.MustCompile(`"[a-z_]+":("(?:[^"\\]|\\.)*"|[-0-9.eE+]+|true|false|null|\{"bank_error":"[^"]*"\}|\{"type":"Transaction","reference":"[^"]*"\})`)
	f.Add(uint8(0), uint8(0), []byte(`"x"`))
	f.Add(uint8(0), uint8(5), []byte(`-0`))
	f.Add(uint8(1), uint8(12), []byte(`"3.6615"`))
	f.Add(uint8(2), uint8(3), []byte(`"018C35AA-4279-83E7-A90F-4B2901246C51"`))
	f.Add(uint8(3), uint8(7), []byte(`{"a":"b","c":"d"}`))
	f.Add(uint8(4), uint8(6), []byte(`{"type":"Transaction","reference":"018C35B3-DEF2-E645-1D5B-86BE6746537B"}`))
	f.Add(uint8(5), uint8(2), []byte(`"018c35b3-def2-e645-1d5b-86be6746537b"`))
	f.Fuzz(func(t *testing.T, tmpl, which uint8, value []byte) {
		base := templates[int(tmpl)%len(templates)]
		ms := member.FindAllSubmatchIndex(base, -1)
		m := ms[int(which)%len(ms)]
		raw := concat(base[:m[2]], value, base[m[3]:])
		fast, ok := decodeFast(raw)
		ref, derr := decodeReference(raw)
		if ok && derr != nil {
			t.Fatalf("%s: fast path accepted what the reference refuses: %v", raw, derr)
		}
		if ok && !reflect.DeepEqual(fast, ref) {
			t.Fatalf("%s:\nfast %s\nreference %s", raw, dump(fast), dump(ref))
		}
	})
}
