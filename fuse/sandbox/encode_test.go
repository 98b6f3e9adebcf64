package sandbox

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/ledgerd/ledgerd"
	"github.com/ledgerd/ledgerd/fuse"
)

// checkEncodedCache asserts that every cached encoding is what
// encoding/json makes of the leg's wire form now.
func checkEncodedCache(t *testing.T, s *Sandbox) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	cached := 0
	for _, a := range s.acctList {
		for _, x := range a.txs {
			if x.enc == nil {
				continue
			}
			cached++
			want, err := json.Marshal(x.t.Wire())
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(x.enc, want) {
				t.Fatalf("stale cache for %s:\n got %s\nwant %s", x.t.TransactionID, x.enc, want)
			}
		}
	}
	if cached == 0 {
		t.Fatal("no cached encoding to check")
	}
}

// referencePage is what encoding/json makes of a listing page with the
// transactions of got (by id, in its order) as the sandbox shows them now
// (Leg.Wire) and got's pages: the bytes a listing must serve.
func (s *Sandbox) referencePage(t *testing.T, got []byte) []byte {
	t.Helper()
	var page struct {
		Results []struct {
			ID string `json:"id"`
		} `json:"results"`
		Pages fuse.PageInfo `json:"pages"`
	}
	if err := json.Unmarshal(got, &page); err != nil {
		t.Fatalf("listing page: %v\n%s", err, got)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ref := fuse.Page[fuse.Transaction]{Data: []fuse.Transaction{}, Pages: page.Pages}
	for _, r := range page.Results {
		leg, ok := s.txns[r.ID]
		if !ok {
			t.Fatalf("listed %q, which the sandbox does not have", r.ID)
		}
		ref.Data = append(ref.Data, leg.Wire())
	}
	b, err := json.Marshal(ref)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// listCompared serves one listing page over HTTP (path is an account's or
// the organisation's listing) and asserts its bytes are encoding/json's
// of the same transactions; it returns the page.
func (e *env) listCompared(path string, q url.Values) fuse.Page[fuse.Transaction] {
	e.t.Helper()
	path += "?" + q.Encode()
	st, got := e.do("GET", path, nil, nil)
	if st != http.StatusOK {
		e.t.Fatalf("GET %s: %d %s", path, st, got)
	}
	if want := e.sb.referencePage(e.t, got); !bytes.Equal(got, want) {
		e.t.Fatalf("GET %s:\n%s\nencoding/json:\n%s", path, got, want)
	}
	var page fuse.Page[fuse.Transaction]
	if err := json.Unmarshal(got, &page); err != nil {
		e.t.Fatal(err)
	}
	return page
}

// listAllCompared walks a listing with listCompared.
func (e *env) listAllCompared(path string, q url.Values) []fuse.Transaction {
	e.t.Helper()
	var all []fuse.Transaction
	for range 100_000 {
		page := e.listCompared(path, q)
		all = append(all, page.Data...)
		if page.Pages.Next == nil {
			return all
		}
		q = url.Values{"cursor": {*page.Pages.Next}}
	}
	e.t.Fatal("listing does not end")
	return nil
}

func accountPath(id string) string { return "/v1/accounts/" + id + "/transactions" }

func pageSize(n int) url.Values { return url.Values{"page_size": {fmt.Sprint(n)}} }

func TestTransactionJSONMatchesEncodingJSON(t *testing.T) {
	at := time.Date(2026, 3, 31, 18, 0, 0, 123456789, time.UTC)
	ptr := func(v time.Time) *time.Time { return &v }
	i64 := func(v int64) *int64 { return &v }
	str := func(s string) *string { return &s }
	base := fuse.Transaction{
		ID: "1b4e28ba-2fa1-4d3b-a3f5-ef19b5a7633b", Type: fuse.TypeLocalPayment, AccountID: "a", Currency: "USD",
		Direction: fuse.DirectionOutbound, State: fuse.StateExecuted, CreatedAt: ptr(at), ExternalReference: str("x"),
		InstructedAmount: i64(10000), ExternalID: str("e"),
		Remitter:    &fuse.PartyDetails{Name: "R", Identifier: fuse.Identifier{IBAN: "AE07"}},
		Beneficiary: &fuse.PartyDetails{},
		Purpose:     "goods_bought", FeeAmount: i64(0), AmountWithFee: i64(10000),
		FeeSource: &fuse.TypeRef{Type: fuse.FeeSourceIncluded}, Scheme: str("uae_fts"),
		Batch:        &fuse.Batch{BatchID: "b", BatchSequenceNo: 7},
		AuthorisedAt: ptr(at), SubmittedAt: ptr(at.Add(time.Second)), ExecutedAt: ptr(at.Add(2 * time.Second)),
		FailedAt: ptr(at), SettledAt: ptr(at), FailureReason: json.RawMessage(`"insufficient_funds"`),
		CounterpartAccountID: "b", CounterpartAmount: i64(-42), CounterpartCurrency: "AED", Rate: "3.6725",
		Reason: "closed", ReturnedID: "r", Amount: i64(5), Timestamp: ptr(at),
		FeeTarget: &fuse.FeeTarget{Type: "Transaction", Reference: "p"},
		Raw:       json.RawMessage(`{"not":"encoded"}`),
	}
	cases := map[string]func(*fuse.Transaction){
		"every field":     func(*fuse.Transaction) {},
		"zero":            func(x *fuse.Transaction) { *x = fuse.Transaction{} },
		"min max amounts": func(x *fuse.Transaction) { x.InstructedAmount, x.FeeAmount = i64(math.MinInt64), i64(math.MaxInt64) },
		"html":            func(x *fuse.Transaction) { x.ExternalReference = str(`<script>alert("&")</script>`) },
		"escapes":         func(x *fuse.Transaction) { x.Purpose = "a\\b\"c\n\r\t\b\f\x00\x1f\x7f" },
		"unicode":         func(x *fuse.Transaction) { x.Remitter.Name = "دبي — Zürich \u2028\u2029 😀" },
		"invalid utf-8":   func(x *fuse.Transaction) { x.Beneficiary.Name = "a\xffb\xc3" },
		"wire": func(x *fuse.Transaction) {
			x.Remitter.Identifier.Wire = &fuse.WireDetails{AccountNumber: "1", RoutingNumber: "2"}
		},
		"scan only": func(x *fuse.Transaction) {
			x.Beneficiary.Identifier = fuse.Identifier{SCAN: &fuse.SCANDetails{AccountNumber: "1", SortCode: "<2>"}}
		},
		"every identifier": func(x *fuse.Transaction) {
			x.Remitter.Identifier = fuse.Identifier{IBAN: "i", Wire: &fuse.WireDetails{}, SCAN: &fuse.SCANDetails{}}
		},
		"rate exponent":       func(x *fuse.Transaction) { x.Rate = "-0.5e+10" },
		"invalid rate":        func(x *fuse.Transaction) { x.Rate = "3,67" },
		"rate with space":     func(x *fuse.Transaction) { x.Rate = "3.67 " },
		"reason object":       func(x *fuse.Transaction) { x.FailureReason = json.RawMessage(`{"bank_error":"Account closed"}`) },
		"reason system error": func(x *fuse.Transaction) { x.FailureReason = json.RawMessage(`{"system_error":""}`) },
		"reason spaced (encoding/json)": func(x *fuse.Transaction) {
			x.FailureReason = json.RawMessage(`{ "bank_error" : "a <b>" }`)
		},
		"reason html (encoding/json)": func(x *fuse.Transaction) { x.FailureReason = json.RawMessage(`"<funds> & more"`) },
		"reason html object (encoding/json)": func(x *fuse.Transaction) {
			x.FailureReason = json.RawMessage(`{"bank_error":"<funds>"}`)
		},
		"reason escaped (encoding/json)": func(x *fuse.Transaction) { x.FailureReason = json.RawMessage(`{"bank_error":"a\"b"}`) },
		"reason null (encoding/json)":    func(x *fuse.Transaction) { x.FailureReason = json.RawMessage(`null`) },
		"reason invalid (encoding/json)": func(x *fuse.Transaction) { x.FailureReason = json.RawMessage(`"open`) },
		"reason two members (encoding/json)": func(x *fuse.Transaction) {
			x.FailureReason = json.RawMessage(`{"a":"x","b":"y"}`)
		},
		"reason two values (encoding/json)": func(x *fuse.Transaction) { x.FailureReason = json.RawMessage(`"a""b"`) },
		"reason open object (encoding/json)": func(x *fuse.Transaction) {
			x.FailureReason = json.RawMessage(`{"bank_error":"x"`)
		},
		"reason no colon (encoding/json)": func(x *fuse.Transaction) { x.FailureReason = json.RawMessage(`{"bank_error""x"}`) },
		"reason number value (encoding/json)": func(x *fuse.Transaction) {
			x.FailureReason = json.RawMessage(`{"bank_error":1}`)
		},
		"zone":                func(x *fuse.Transaction) { x.CreatedAt = ptr(at.In(time.FixedZone("GST", 4*3600))) },
		"odd zone":            func(x *fuse.Transaction) { x.SettledAt = ptr(at.In(time.FixedZone("X", -(3600*5 + 1800 + 7)))) },
		"bad zone":            func(x *fuse.Transaction) { x.FailedAt = ptr(at.In(time.FixedZone("X", 24*3600))) },
		"year 10000":          func(x *fuse.Transaction) { x.Timestamp = ptr(time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)) },
		"year -1":             func(x *fuse.Transaction) { x.CreatedAt = ptr(time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC)) },
		"monotonic":           func(x *fuse.Transaction) { x.CreatedAt = ptr(time.Now()) },
		"empty strings":       func(x *fuse.Transaction) { x.ExternalID, x.Scheme, x.Direction, x.State = str(""), str(""), "", "" },
		"no optional objects": func(x *fuse.Transaction) { x.FeeSource, x.Batch, x.FeeTarget, x.Remitter = nil, nil, nil, nil },
	}
	check := func(name string, x fuse.Transaction) {
		t.Helper()
		want, wantErr := json.Marshal(x)
		got, ok := appendTransactionJSON([]byte("prefix"), &x)
		if ok && (wantErr != nil || string(got) != "prefix"+string(want)) {
			t.Errorf("%s:\n got %s\nwant %s (%v)", name, got, want, wantErr)
		}
		if !ok && wantErr == nil && !strings.Contains(name, "(encoding/json)") {
			// Only values encoding/json refuses, and failure reasons
			// it would rewrite, leave the fast path.
			t.Errorf("%s: fast path refused a value encoding/json accepts: %s", name, want)
		}
	}
	for name, mutate := range cases {
		x := base
		r, b := *base.Remitter, *base.Beneficiary
		x.Remitter, x.Beneficiary = &r, &b
		mutate(&x)
		check(name, x)
	}
	// Random strings over the characters that matter.
	rng := rand.New(rand.NewPCG(1, 2))
	alphabet := []string{"a", "Z", "0", " ", "\"", "\\", "<", ">", "&", "\n", "\x01", "\x7f", "é", "\u2028", "\xff", "😀", "/", "'"}
	rs := func() string {
		var b strings.Builder
		for range rng.IntN(12) {
			b.WriteString(alphabet[rng.IntN(len(alphabet))])
		}
		return b.String()
	}
	for i := range 2000 {
		x := base
		x.ID, x.Type, x.Purpose, x.Reason = rs(), rs(), rs(), rs()
		x.Remitter = &fuse.PartyDetails{Name: rs(), Identifier: fuse.Identifier{IBAN: rs()}}
		if i%3 == 0 {
			x.Beneficiary, x.CounterpartAmount, x.Rate, x.ExternalID, x.FailureReason = nil, nil, "", nil, nil
		}
		x.InstructedAmount = i64(rng.Int64() - rng.Int64())
		x.SubmittedAt = ptr(time.Unix(rng.Int64N(1<<35), rng.Int64N(1e9)).UTC())
		check(fmt.Sprint("random ", i), x)
		x.FailureReason, _ = json.Marshal(map[string]string{"bank_error": rs()})
		check(fmt.Sprint("random reason (encoding/json) ", i), x)
	}
}

// TestEveryLegTheSandboxMakesTakesTheFastPath: each kind of leg in each
// status, as Leg.Wire shows it, is encoded by hand, byte for byte as
// encoding/json encodes it; through the cache too.
func TestEveryLegTheSandboxMakesTakesTheFastPath(t *testing.T) {
	e := newEnv(t, Options{Seed: 31})
	if _, err := e.sb.Generate(GenerateOptions{Transactions: 3000, Span: 48 * time.Hour, FailureRate: 0.2}); err != nil {
		t.Fatal(err)
	}
	e.sb.mu.Lock()
	defer e.sb.mu.Unlock()
	seen := map[string]bool{}
	for _, leg := range e.sb.txnList {
		w := leg.Wire()
		want, err := json.Marshal(w)
		if err != nil {
			t.Fatal(err)
		}
		got, ok := appendTransactionJSON(nil, &w)
		if !ok || !bytes.Equal(got, want) {
			t.Fatalf("%s %s (fast path %v):\n got %s\nwant %s", leg.Kind, leg.Status, ok, got, want)
		}
		enc, err := e.sb.encodedLocked(&leg.acct.txs[leg.pos])
		if err != nil || !bytes.Equal(enc, want) {
			t.Fatalf("%s: cached %s, %v", leg.TransactionID, enc, err)
		}
		seen[string(leg.Kind)+" "+string(leg.Status)] = true
	}
	for _, k := range []ledgerd.Kind{ledgerd.KindLocalPaymentIn, ledgerd.KindLocalPaymentOut, ledgerd.KindInternalTransferOut,
		ledgerd.KindInternalTransferIn, ledgerd.KindExchangeOut, ledgerd.KindExchangeIn} {
		if !seen[string(k)+" settled"] && !seen[string(k)+" executed"] {
			t.Errorf("no finished %s leg in the history: %v", k, seen)
		}
	}
}

// TestEncodedLegFallsBackToEncodingJSON: a leg the hand encoder leaves to
// encoding/json is cached as encoding/json encodes it, and one encoding/json
// refuses is an error, not a body.
func TestEncodedLegFallsBackToEncodingJSON(t *testing.T) {
	at := time.Date(2026, 3, 31, 18, 0, 0, 0, time.UTC)
	leg := Leg{TransactionID: "t", AccountID: "a", Kind: ledgerd.KindExchangeOut, Status: ledgerd.StatusFailed,
		Currency: "USD", InstructedAmount: 5, AmountWithFee: 5, CounterpartAccountID: "b", CounterpartCurrency: "AED",
		Rate: "3.6725", FailureReason: "Insufficient <funds> & more", CreatedAt: at, FinalAt: at, UpdatedAt: at}
	s := &Sandbox{}
	entry := func(l Leg) *txEntry { return &txEntry{t: &txn{Leg: l, acct: &account{}}} }
	w := leg.Wire()
	if _, ok := appendTransactionJSON(nil, &w); ok {
		t.Fatal("a failure reason with <, > and & took the fast path")
	}
	want, err := json.Marshal(w)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := s.encodedLocked(entry(leg)); err != nil || !bytes.Equal(got, want) {
		t.Errorf("cached %s, %v; want %s", got, err, want)
	}
	leg.Rate = "3,67"
	if got, err := s.encodedLocked(entry(leg)); err == nil {
		t.Errorf("an invalid rate encoded as %s", got)
	}
	leg.Rate, leg.CreatedAt = "3.6725", time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)
	if got, err := s.encodedLocked(entry(leg)); err == nil {
		t.Errorf("a year past 9999 encoded as %s", got)
	}
}

// TestListingIsEncodingJSONOfTheWireForm: every page of every listing
// (an account's and the organisation's, any page size, filters, the
// list-order faults, an empty last page, a repeated cursor) is, byte for
// byte, encoding/json's of the listed transactions' wire forms, and every
// cached encoding is current.
func TestListingIsEncodingJSONOfTheWireForm(t *testing.T) {
	e := newEnv(t, Options{Seed: 21})
	a := e.account("AED", "Ops <Dubai> & Co — دبي")
	b := e.account("AED", "Peer")
	u := e.account("USD", "Dollars")
	e.fund(a.AccountID, 100_000_000)
	e.fund(u.AccountID, 100_000_000)
	for i := range 12 {
		e.pay(a.AccountID, int64(100+i))
		if i%3 == 0 {
			e.sb.Advance(time.Second)
		}
	}
	// A generated history on top (cached when Generate ends), then the
	// clock moves so that the payments change after being listed.
	if _, err := e.sb.Generate(GenerateOptions{AccountIDs: []string{a.AccountID, b.AccountID, u.AccountID},
		Transactions: 700, Span: time.Hour, FailureRate: 0.1}); err != nil {
		t.Fatal(err)
	}
	for _, acct := range []string{a.AccountID, b.AccountID, u.AccountID} {
		for _, limit := range []int{1, 7, 100, 500} {
			e.listAllCompared(accountPath(acct), pageSize(limit))
		}
		e.listAllCompared(accountPath(acct), url.Values{"page_size": {"3"}, "from": {t0.Add(-30 * time.Minute).Format(time.RFC3339Nano)}})
		e.listAllCompared(accountPath(acct), url.Values{"page_size": {"3"}, "to": {t0.Add(-30 * time.Minute).Format(time.RFC3339Nano)}})
		e.listAllCompared(accountPath(acct), url.Values{"page_size": {"50"}, "transaction_state": {fuse.StateFailed}})
	}
	e.listAllCompared("/v1/transactions", pageSize(64))
	e.listAllCompared("/v1/transactions", url.Values{"page_size": {"9"}, "customer_account_id": {u.AccountID}, "payment_type": {"FXTransfer"}})
	e.sb.Advance(time.Minute)
	for _, f := range []Faults{{ListOrder: "reverse"}, {ListOrder: "shuffle"}, {EmptyLastPage: true}} {
		e.sb.SetFaults(f)
		e.listAllCompared(accountPath(a.AccountID), pageSize(41))
		e.listAllCompared("/v1/transactions", pageSize(333))
	}
	e.sb.SetFaults(Faults{RepeatCursor: true})
	p := e.listCompared(accountPath(a.AccountID), pageSize(5))
	e.listCompared(accountPath(a.AccountID), url.Values{"cursor": {*p.Pages.Next}})
	e.sb.SetFaults(Faults{})
	checkEncodedCache(t, e.sb)
}

// TestListingCacheFollowsMutations: a leg listed (so cached) and then
// changed (submitted, executed, failed) is listed as it is now.
func TestListingCacheFollowsMutations(t *testing.T) {
	e := newEnv(t, Options{Seed: 22})
	a := e.account("AED", "Ops")
	e.fund(a.AccountID, 10_000_000)
	find := func(txs []fuse.Transaction, id string) fuse.Transaction {
		t.Helper()
		for _, x := range txs {
			if x.ID == id {
				return x
			}
		}
		t.Fatalf("transaction %s not listed", id)
		return fuse.Transaction{}
	}
	pay := e.pay(a.AccountID, 1000)
	doomed := e.pay(a.AccountID, 2000)

	// Listed (and so cached) while created.
	got := e.listAllCompared(accountPath(a.AccountID), pageSize(500))
	if x := find(got, pay.TransactionID); x.State != fuse.StateCreated || x.SubmittedAt != nil {
		t.Fatalf("payment listed %s", x.State)
	}
	before := len(got)

	// Submitted, and a failure.
	e.sb.Advance(PaymentSubmitDelay)
	if _, err := e.sb.Fail(doomed.TransactionID, "Insufficient <funds> & more"); err != nil {
		t.Fatal(err)
	}
	got = e.listAllCompared(accountPath(a.AccountID), pageSize(2))
	if x := find(got, pay.TransactionID); x.State != fuse.StateSubmitted || x.SubmittedAt == nil {
		t.Errorf("payment listed %s after submission", x.State)
	}
	if x := find(got, doomed.TransactionID); x.State != fuse.StateFailed || fuse.FailureText(x.FailureReason) != "bank_error: Insufficient <funds> & more" {
		t.Errorf("failed payment listed %s %s", x.State, x.FailureReason)
	}
	if len(got) != before {
		t.Errorf("%d transactions listed, then %d", before, len(got))
	}

	// Executed.
	e.sb.Advance(PaymentExecuteDelay)
	got = e.listAllCompared(accountPath(a.AccountID), pageSize(3))
	if x := find(got, pay.TransactionID); x.State != fuse.StateExecuted || x.ExecutedAt == nil {
		t.Errorf("payment listed %s after execution", x.State)
	}
	// A rename and an adjustment change no transaction.
	if _, err := e.sb.RenameAccount(a.AccountID, "Renamed"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.sb.Adjust(Adjustment{AccountID: a.AccountID, Amount: -5}); err != nil {
		t.Fatal(err)
	}
	got = e.listAllCompared(accountPath(a.AccountID), pageSize(500))
	// GET /transactions/{id} agrees with the listing.
	if one, listed := e.getTx(pay.TransactionID), find(got, pay.TransactionID); !reflect.DeepEqual(one, listed) {
		t.Errorf("GET /transactions/{id} %s differs from the listing %s", one.Raw, listed.Raw)
	}
	checkEncodedCache(t, e.sb)
}

func TestListingCacheUnderInstantLifecycles(t *testing.T) {
	e := newEnv(t, Options{Seed: 23, Instant: true})
	a := e.account("AED", "Ops")
	e.fund(a.AccountID, 10_000_000)
	for i := range 20 {
		e.pay(a.AccountID, int64(10+i))
		e.listCompared(accountPath(a.AccountID), pageSize(4))
		e.listCompared("/v1/transactions", pageSize(500))
	}
	e.listAllCompared(accountPath(a.AccountID), pageSize(6))
	checkEncodedCache(t, e.sb)
}

// BenchmarkEncodeTransaction encodes the wire forms of a generated
// history's legs: "hand" is the cache's encoder, "encoding-json" the
// path without it.
func BenchmarkEncodeTransaction(b *testing.B) {
	sb := New(Options{Seed: 6, Now: func() time.Time { return t0 }})
	b.Cleanup(sb.Close)
	if _, err := sb.Generate(GenerateOptions{Accounts: 4, Transactions: 2000, FailureRate: 0.05}); err != nil {
		b.Fatal(err)
	}
	var wires []fuse.Transaction
	for _, leg := range sb.txnList {
		wires = append(wires, leg.Wire())
	}
	b.Run("hand", func(b *testing.B) {
		b.ReportAllocs()
		var buf []byte
		for i := 0; b.Loop(); i++ {
			var ok bool
			if buf, ok = appendTransactionJSON(buf[:0], &wires[i%len(wires)]); !ok {
				b.Fatal("fell back")
			}
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			if _, err := json.Marshal(&wires[i%len(wires)]); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("wire-and-hand", func(b *testing.B) {
		b.ReportAllocs()
		var buf []byte
		for i := 0; b.Loop(); i++ {
			w := sb.txnList[i%len(sb.txnList)].Wire()
			buf, _ = appendTransactionJSON(buf[:0], &w)
		}
	})
}
