package sandbox

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/ledgerd/ledgerd/fuse"
)

// dropEncodedCache forgets every cached encoding (the cold benchmark).
func dropEncodedCache(s *Sandbox) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, a := range s.acctList {
		for i := range a.txs {
			a.txs[i].enc = nil
		}
		a.encArena = nil
	}
}

// checkEncodedCache asserts that every cached encoding is what
// encoding/json makes of the leg now.
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
			want, err := json.Marshal(x.t.snapshot())
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

// referenceListTransactions is listTransactions as it was before the
// cache: snapshots of the page's legs, encoded by encoding/json (run).
func (s *Sandbox) referenceListTransactions(r *http.Request) (int, []byte) {
	return run(func(r *http.Request, _ []byte) (int, any, error) {
		q := r.URL.Query()
		cursor := q.Get("cursor")
		var limit int
		var afterAt, since time.Time
		var afterID string
		var err error
		if cursor != "" {
			if limit, afterAt, afterID, err = decodeTxCursor(cursor); err != nil {
				return 0, nil, err
			}
		} else if limit, err = parsePageSize(q); err != nil {
			return 0, nil, err
		} else if v := q.Get("updated_since"); v != "" {
			if since, err = time.Parse(time.RFC3339Nano, v); err != nil {
				return 0, nil, apiErr(http.StatusBadRequest, "invalid_updated_since", "updated_since must be an RFC 3339 timestamp")
			}
		}
		s.lockNow()
		defer s.mu.Unlock()
		a, err := s.accountLocked(r.PathValue("account_id"))
		if err != nil {
			return 0, nil, err
		}
		var txs []*txn
		for _, x := range a.txs {
			txs = append(txs, x.t)
		}
		start := 0
		if cursor != "" {
			start = sort.Search(len(txs), func(i int) bool { return cmpKey(txs[i], afterAt, afterID) > 0 })
		}
		if !since.IsZero() {
			start = max(start, sort.Search(len(txs), func(i int) bool { return !txs[i].UpdatedAt.Before(since) }))
		}
		end := min(start+limit, len(txs))
		page := fuse.Page[fuse.Transaction]{Data: make([]fuse.Transaction, 0, end-start)}
		for _, t := range txs[start:end] {
			page.Data = append(page.Data, t.snapshot())
		}
		page.Pages.Size = limit
		if end < len(txs) {
			next := encodeTxCursor(limit, txs[end-1])
			page.Pages.Next = &next
		}
		if s.faults.RepeatCursor && cursor != "" {
			page.Pages.Next = &cursor
		}
		return http.StatusOK, page, nil
	}, r, nil)
}

// listCompared serves one listing page over HTTP and asserts its status
// and bytes are the previous code path's; it returns the page.
func (e *env) listCompared(accountID string, q url.Values) fuse.Page[fuse.Transaction] {
	e.t.Helper()
	path := "/v1/accounts/" + accountID + "/transactions?" + q.Encode()
	st, got := e.do("GET", path, nil, nil)
	r := httptest.NewRequest("GET", path, nil)
	r.SetPathValue("account_id", accountID)
	wantSt, want := e.sb.referenceListTransactions(r)
	if st != wantSt || !bytes.Equal(got, want) {
		e.t.Fatalf("GET %s: %d\n%s\nthe previous encoding: %d\n%s", path, st, got, wantSt, want)
	}
	var page fuse.Page[fuse.Transaction]
	if st == http.StatusOK {
		if err := json.Unmarshal(got, &page); err != nil {
			e.t.Fatal(err)
		}
	}
	return page
}

// listAllCompared walks an account's listing with listCompared.
func (e *env) listAllCompared(accountID string, limit int, since string) []fuse.Transaction {
	e.t.Helper()
	var all []fuse.Transaction
	q := url.Values{"page_size": {fmt.Sprint(limit)}}
	if since != "" {
		q.Set("updated_since", since)
	}
	for range 100_000 {
		page := e.listCompared(accountID, q)
		all = append(all, page.Data...)
		if page.Pages.Next == nil {
			return all
		}
		q.Set("cursor", *page.Pages.Next)
	}
	e.t.Fatal("listing does not end")
	return nil
}

func TestTransactionJSONMatchesEncodingJSON(t *testing.T) {
	at := time.Date(2026, 3, 31, 18, 0, 0, 123456789, time.UTC)
	amt := int64(-42)
	base := fuse.Transaction{
		TransactionID: "1b4e28ba-2fa1-4d3b-a3f5-ef19b5a7633b", AccountID: "a", Kind: fuse.KindExchangeOut,
		Status: fuse.StatusExecuted, Currency: "USD", InstructedAmount: 10000, FeeAmount: 0, AmountWithFee: 10000,
		CounterpartAccountID: "b", CounterpartCurrency: "AED", CounterpartAmount: &amt, Rate: "3.6725",
		Remitter: &fuse.Party{Name: "R", IBAN: "AE07"}, Beneficiary: &fuse.Party{},
		Purpose: "p", Reference: "r", ExternalReference: "x", ExternalID: "e", FailureReason: "f",
		CreatedAt: at, UpdatedAt: at.Add(time.Second),
	}
	cases := map[string]func(*fuse.Transaction){
		"every field":     func(*fuse.Transaction) {},
		"zero":            func(x *fuse.Transaction) { *x = fuse.Transaction{} },
		"min max amounts": func(x *fuse.Transaction) { x.InstructedAmount, x.FeeAmount = math.MinInt64, math.MaxInt64 },
		"html":            func(x *fuse.Transaction) { x.Reference = `<script>alert("&")</script>` },
		"escapes":         func(x *fuse.Transaction) { x.Purpose = "a\\b\"c\n\r\t\b\f\x00\x1f\x7f" },
		"unicode":         func(x *fuse.Transaction) { x.Remitter.Name = "دبي — Zürich \u2028\u2029 😀" },
		"invalid utf-8":   func(x *fuse.Transaction) { x.Beneficiary.Name = "a\xffb\xc3" },
		"rate exponent":   func(x *fuse.Transaction) { x.Rate = "-0.5e+10" },
		"invalid rate":    func(x *fuse.Transaction) { x.Rate = "3,67" },
		"zone":            func(x *fuse.Transaction) { x.CreatedAt = at.In(time.FixedZone("GST", 4*3600)) },
		"odd zone":        func(x *fuse.Transaction) { x.CreatedAt = at.In(time.FixedZone("X", -(3600*5 + 1800 + 7))) },
		"bad zone":        func(x *fuse.Transaction) { x.UpdatedAt = at.In(time.FixedZone("X", 24*3600)) },
		"year 10000":      func(x *fuse.Transaction) { x.UpdatedAt = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC) },
		"year -1":         func(x *fuse.Transaction) { x.CreatedAt = time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC) },
		"monotonic":       func(x *fuse.Transaction) { x.CreatedAt = time.Now() },
	}
	check := func(name string, x fuse.Transaction) {
		t.Helper()
		want, wantErr := json.Marshal(x)
		got, ok := appendTransactionJSON([]byte("prefix"), &x)
		if ok && (wantErr != nil || string(got) != "prefix"+string(want)) {
			t.Errorf("%s:\n got %s\nwant %s (%v)", name, got, want, wantErr)
		}
		if !ok && wantErr == nil {
			// Only values encoding/json refuses leave the fast path
			// (and encodedLocked would then use encoding/json).
			t.Errorf("%s: fast path refused a value encoding/json accepts: %s", name, want)
		}
		// Through the cache, the fallback included.
		s := &Sandbox{}
		enc, err := s.encodedLocked(&txEntry{t: &txn{Transaction: x, acct: &account{}}})
		if (err != nil) != (wantErr != nil) || !bytes.Equal(enc, want) {
			t.Errorf("%s: encodedLocked %s, %v; encoding/json %s, %v", name, enc, err, want, wantErr)
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
	str := func() string {
		var b strings.Builder
		for range rng.IntN(12) {
			b.WriteString(alphabet[rng.IntN(len(alphabet))])
		}
		return b.String()
	}
	for i := range 2000 {
		x := base
		x.TransactionID, x.Kind, x.Purpose, x.FailureReason = str(), str(), str(), str()
		x.Remitter = &fuse.Party{Name: str(), IBAN: str()}
		if i%3 == 0 {
			x.Beneficiary, x.CounterpartAmount, x.Rate = nil, nil, ""
		}
		x.InstructedAmount = rng.Int64() - rng.Int64()
		x.UpdatedAt = time.Unix(rng.Int64N(1<<35), rng.Int64N(1e9)).UTC()
		check(fmt.Sprint("random ", i), x)
	}
}

func TestListingMatchesPreviousEncoding(t *testing.T) {
	e := newEnv(t, Options{Seed: 21})
	a := e.account("AED", "Ops <Dubai> & Co — دبي")
	b := e.account("AED", "Peer")
	u := e.account("USD", "Dollars")
	e.fund(a.AccountID, 100_000_000)
	e.fund(u.AccountID, 100_000_000)
	for i := range 30 {
		e.pay(a.AccountID, int64(100+i))
		if i%4 == 0 {
			e.transfer(fuse.CreateInternalTransferRequest{FromAccountID: a.AccountID, ToAccountID: b.AccountID, Amount: 7, ExternalReference: "ref\u2028<x>"})
			e.exchange(u.AccountID, a.AccountID, 1000, "fx")
		}
		if i%3 == 0 {
			e.sb.Advance(time.Second)
		}
	}
	// A generated history on top (cached when Generate ends), then the
	// clock moves so that the API's legs change after being listed.
	if _, err := e.sb.Generate(GenerateOptions{AccountIDs: []string{a.AccountID, b.AccountID, u.AccountID},
		Transactions: 700, Span: time.Hour, FailureRate: 0.1}); err != nil {
		t.Fatal(err)
	}
	for _, acct := range []string{a.AccountID, b.AccountID, u.AccountID} {
		for _, limit := range []int{1, 7, 100, 500} {
			e.listAllCompared(acct, limit, "")
		}
		e.listAllCompared(acct, 3, t0.Add(-30*time.Minute).Format(time.RFC3339Nano))
		e.listAllCompared(acct, 3, t0.Add(time.Hour).Format(time.RFC3339Nano))
	}
	e.sb.Advance(time.Minute)
	e.sb.SetFaults(Faults{RepeatCursor: true})
	p := e.listCompared(a.AccountID, url.Values{"page_size": {"5"}})
	e.listCompared(a.AccountID, url.Values{"cursor": {*p.Pages.Next}})
	e.sb.SetFaults(Faults{})
	for _, q := range []string{"page_size=0", "page_size=2001", "cursor=!!!", "updated_since=yesterday"} {
		v, _ := url.ParseQuery(q)
		e.listCompared(a.AccountID, v)
	}
	e.listCompared("no-such-account", url.Values{})
	checkEncodedCache(t, e.sb)
}

func TestListingCacheFollowsMutations(t *testing.T) {
	e := newEnv(t, Options{Seed: 22})
	a := e.account("AED", "Ops")
	b := e.account("AED", "Peer")
	u := e.account("USD", "Dollars")
	e.fund(a.AccountID, 10_000_000)
	e.fund(u.AccountID, 10_000_000)
	find := func(txs []fuse.Transaction, id string) fuse.Transaction {
		t.Helper()
		for _, x := range txs {
			if x.TransactionID == id {
				return x
			}
		}
		t.Fatalf("transaction %s not listed", id)
		return fuse.Transaction{}
	}
	pay := e.pay(a.AccountID, 1000)
	doomed := e.pay(a.AccountID, 2000)
	tr := e.transfer(fuse.CreateInternalTransferRequest{FromAccountID: a.AccountID, ToAccountID: b.AccountID, Amount: 5, ExternalReference: "rent"})
	fx := e.exchange(u.AccountID, a.AccountID, 10_000, "fx")

	// Listed (and so cached) while created.
	got := e.listAllCompared(a.AccountID, 500, "")
	if x := find(got, pay.TransactionID); x.Status != fuse.StatusCreated {
		t.Fatalf("payment listed %s", x.Status)
	}
	before := e.listCompared(a.AccountID, url.Values{"page_size": {"500"}})

	// Submitted, a failure, a settled transfer with its inbound leg.
	e.sb.Advance(PaymentSubmitDelay)
	if _, err := e.sb.Fail(doomed.TransactionID, "Insufficient <funds> & more"); err != nil {
		t.Fatal(err)
	}
	got = e.listAllCompared(a.AccountID, 2, "")
	if x := find(got, pay.TransactionID); x.Status != fuse.StatusSubmitted || !x.UpdatedAt.After(pay.UpdatedAt) {
		t.Errorf("payment listed %s at %s after submission", x.Status, x.UpdatedAt)
	}
	if x := find(got, doomed.TransactionID); x.Status != fuse.StatusFailed || x.FailureReason != "Insufficient <funds> & more" {
		t.Errorf("failed payment listed %s %q", x.Status, x.FailureReason)
	}
	if x := find(got, tr.TransactionID); x.Status != fuse.StatusSettled {
		t.Errorf("transfer listed %s", x.Status)
	}
	in := e.listAllCompared(b.AccountID, 500, "")
	if len(in) != 1 || in[0].Kind != fuse.KindInternalTransferIn || in[0].Reference != "rent" {
		t.Errorf("inbound leg %+v", in)
	}
	after := e.listCompared(a.AccountID, url.Values{"page_size": {"500"}})
	if len(after.Data) != len(before.Data) {
		t.Errorf("%d transactions listed, then %d", len(before.Data), len(after.Data))
	}

	// Executed, the exchange's inbound leg, and a failure of an exchange
	// listed while in flight.
	fx2 := e.exchange(u.AccountID, a.AccountID, 20_000, "fx2")
	e.listAllCompared(u.AccountID, 500, "")
	e.call("POST", "/sandbox/transactions/"+fx2.TransactionID+"/fail", map[string]string{"reason": "rate"}, 200, nil)
	e.sb.Advance(PaymentExecuteDelay)
	got = e.listAllCompared(a.AccountID, 3, "")
	if x := find(got, pay.TransactionID); x.Status != fuse.StatusExecuted {
		t.Errorf("payment listed %s after execution", x.Status)
	}
	if x := find(e.listAllCompared(u.AccountID, 500, ""), fx2.TransactionID); x.Status != fuse.StatusFailed || x.FailureReason != "rate" {
		t.Errorf("failed exchange listed %s %q", x.Status, x.FailureReason)
	}
	if x := find(e.listAllCompared(u.AccountID, 500, ""), fx.TransactionID); x.Status != fuse.StatusExecuted {
		t.Errorf("exchange listed %s", x.Status)
	}
	// A rename and an adjustment change no transaction.
	e.call("POST", "/sandbox/accounts/"+a.AccountID+"/rename", map[string]string{"account_name": "Renamed"}, 200, nil)
	e.call("POST", "/sandbox/adjustments", map[string]any{"account_id": a.AccountID, "amount": -5}, 200, nil)
	e.listAllCompared(a.AccountID, 500, "")
	// GET /transactions/{id} agrees with the listing.
	if one := e.getTx(pay.TransactionID); !reflect.DeepEqual(one, find(e.listAllCompared(a.AccountID, 500, ""), pay.TransactionID)) {
		t.Error("GET /transactions/{id} differs from the listing")
	}
	checkEncodedCache(t, e.sb)
}

func TestListingCacheUnderInstantLifecycles(t *testing.T) {
	e := newEnv(t, Options{Seed: 23, Instant: true})
	a := e.account("AED", "Ops")
	b := e.account("AED", "Peer")
	e.fund(a.AccountID, 10_000_000)
	for i := range 20 {
		e.pay(a.AccountID, int64(10+i))
		e.listCompared(a.AccountID, url.Values{"page_size": {"4"}})
		e.transfer(fuse.CreateInternalTransferRequest{FromAccountID: a.AccountID, ToAccountID: b.AccountID, Amount: 3})
		e.listCompared(b.AccountID, url.Values{"page_size": {"500"}})
	}
	e.listAllCompared(a.AccountID, 6, "")
	checkEncodedCache(t, e.sb)
}
