package sandbox

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ledgerd/ledgerd/fuse"
)

// listAll walks an account's transactions page by page and returns the ids
// in the order served, failing on a repeated cursor or id.
func (e *env) listAll(accountID string, limit int, since string) []fuse.Transaction {
	e.t.Helper()
	var all []fuse.Transaction
	cursor := ""
	seenCursor := map[string]bool{}
	for pages := 0; ; pages++ {
		// A follow-up page sends its cursor alone, as Fuse wants.
		q := url.Values{"page_size": {fmt.Sprint(limit)}}
		if since != "" {
			q.Set("updated_since", since)
		}
		if cursor != "" {
			q = url.Values{"cursor": {cursor}}
		}
		var page fuse.Page[fuse.Transaction]
		e.call("GET", "/v1/accounts/"+accountID+"/transactions?"+q.Encode(), nil, 200, &page)
		if len(page.Data) > limit || page.Pages.Size != limit {
			e.t.Fatalf("page of %d, pages.size %d, page size %d", len(page.Data), page.Pages.Size, limit)
		}
		all = append(all, page.Data...)
		if page.Pages.Next == nil {
			return all
		}
		if seenCursor[*page.Pages.Next] {
			e.t.Fatalf("cursor %q served twice", *page.Pages.Next)
		}
		seenCursor[*page.Pages.Next] = true
		cursor = *page.Pages.Next
	}
}

func ids(txs []fuse.Transaction) []string {
	out := make([]string, len(txs))
	for i, x := range txs {
		out[i] = x.TransactionID
	}
	return out
}

// truthOrder is the documented listing order of an account's transactions,
// computed from Truth: updated_at, then transaction_id, ascending.
func truthOrder(tr Truth, accountID string, since time.Time) []string {
	var txs []fuse.Transaction
	for _, x := range tr.Transactions {
		if x.AccountID == accountID && !x.UpdatedAt.Before(since) {
			txs = append(txs, x.Transaction)
		}
	}
	slices.SortFunc(txs, func(a, b fuse.Transaction) int {
		if c := a.UpdatedAt.Compare(b.UpdatedAt); c != 0 {
			return c
		}
		return strings.Compare(a.TransactionID, b.TransactionID)
	})
	return ids(txs)
}

func TestPaginationWithLimits1And7And500YieldsTheSameOrderedSet(t *testing.T) {
	e := newEnv(t, Options{Seed: 11})
	a := e.account("AED", "Busy")
	b := e.account("AED", "Peer")
	// Many transactions share one instant (the frozen clock), so the
	// transaction_id tie-break matters.
	e.fund(a.AccountID, 100_000_000)
	e.fund(b.AccountID, 100_000_000)
	for i := range 40 {
		e.pay(a.AccountID, int64(100+i))
		if i%5 == 0 {
			e.transfer(fuse.CreateInternalTransferRequest{FromAccountID: b.AccountID, ToAccountID: a.AccountID, Amount: 1})
		}
		if i%3 == 0 {
			e.sb.Advance(time.Second)
		}
	}
	res, err := e.sb.Generate(GenerateOptions{AccountIDs: []string{a.AccountID, b.AccountID}, Transactions: 600, Span: 24 * time.Hour, FailureRate: 0.05})
	if err != nil {
		t.Fatal(err)
	}
	if res.Transactions != 600 {
		t.Fatalf("generated %d", res.Transactions)
	}
	want := truthOrder(e.sb.Truth(), a.AccountID, time.Time{})
	if len(want) < 300 {
		t.Fatalf("only %d transactions on the account", len(want))
	}
	for _, limit := range []int{1, 7, 500} {
		if got := ids(e.listAll(a.AccountID, limit, "")); !slices.Equal(got, want) {
			t.Errorf("limit %d: %d ids, want %d in the documented order", limit, len(got), len(want))
		}
	}
}

func TestUpdatedSinceIsInclusive(t *testing.T) {
	e := newEnv(t, Options{Seed: 12})
	a := e.account("AED", "Ops")
	e.fund(a.AccountID, 10_000_000)
	var stamps []time.Time
	for range 10 {
		p := e.pay(a.AccountID, 1000)
		stamps = append(stamps, p.CreatedAt)
		e.sb.Advance(1500 * time.Millisecond)
	}
	e.sb.Advance(time.Minute)
	tr := e.sb.Truth()
	for _, since := range []time.Time{stamps[0], stamps[4], stamps[4].Add(time.Nanosecond), stamps[9].Add(PaymentExecuteDelay), t0.Add(time.Hour)} {
		want := truthOrder(tr, a.AccountID, since)
		got := ids(e.listAll(a.AccountID, 3, since.Format(time.RFC3339Nano)))
		if !slices.Equal(got, want) {
			t.Errorf("updated_since %s: %d ids, want %d", since.Format(time.RFC3339Nano), len(got), len(want))
		}
	}
	// A transaction updated exactly at updated_since is listed.
	last := e.getTx(truthOrder(tr, a.AccountID, time.Time{})[10])
	got := e.listAll(a.AccountID, 500, last.UpdatedAt.Format(time.RFC3339Nano))
	if len(got) == 0 || got[0].UpdatedAt.Before(last.UpdatedAt) || !slices.Contains(ids(got), last.TransactionID) {
		t.Errorf("updated_since equal to updated_at excluded the transaction")
	}
	e.call("GET", "/v1/accounts/"+a.AccountID+"/transactions?updated_since=yesterday", nil, http.StatusBadRequest, nil)
}

func TestCursorStaysValidWhileTransactionsChange(t *testing.T) {
	e := newEnv(t, Options{Seed: 13})
	a := e.account("AED", "Ops")
	e.fund(a.AccountID, 10_000_000)
	var pending []fuse.Transaction
	for range 6 {
		pending = append(pending, e.pay(a.AccountID, 500))
	}
	var page fuse.Page[fuse.Transaction]
	e.call("GET", "/v1/accounts/"+a.AccountID+"/transactions?page_size=3", nil, 200, &page)
	if page.Pages.Next == nil {
		t.Fatal("no next cursor")
	}
	firstPage := ids(page.Data)
	// Everything moves on: all six payments execute, a new one arrives.
	e.sb.Advance(PaymentExecuteDelay)
	extra := e.fund(a.AccountID, 1)
	rest := e.listAllFrom(a.AccountID, *page.Pages.Next)
	seen := map[string]int{}
	for _, id := range append(firstPage, ids(rest)...) {
		seen[id]++
	}
	for _, p := range pending {
		if seen[p.TransactionID] == 0 {
			t.Errorf("payment %s never listed", p.TransactionID)
		}
	}
	if seen[extra.TransactionID] != 1 {
		t.Errorf("new transaction listed %d times", seen[extra.TransactionID])
	}
	// The rest is in order and ends with the latest updates.
	if !slices.IsSortedFunc(rest, func(x, y fuse.Transaction) int { return x.UpdatedAt.Compare(y.UpdatedAt) }) {
		t.Error("rest of the listing out of order")
	}
}

func (e *env) listAllFrom(accountID, cursor string) []fuse.Transaction {
	var all []fuse.Transaction
	for cursor != "" {
		var page fuse.Page[fuse.Transaction]
		e.call("GET", "/v1/accounts/"+accountID+"/transactions?page_size=2&cursor="+url.QueryEscape(cursor), nil, 200, &page)
		all = append(all, page.Data...)
		cursor = ""
		if page.Pages.Next != nil {
			cursor = *page.Pages.Next
		}
	}
	return all
}

func TestListingRejectsBadPageSizesAndCursors(t *testing.T) {
	e := newEnv(t, Options{Seed: 14})
	a := e.account("AED", "Ops")
	for _, q := range []string{"page_size=-1", "page_size=2001", "page_size=x", "cursor=!!!", "cursor=" + encodeAccountCursor(5, 1)} {
		var body fuse.ErrorBody
		e.call("GET", "/v1/accounts/"+a.AccountID+"/transactions?"+q, nil, http.StatusBadRequest, &body)
		if body.Code == "" || body.Error == "" || body.Message == "" {
			t.Errorf("%s: error body %+v, want Fuse's {code, error, message}", q, body)
		}
	}
	for _, q := range []string{"page_size=0", "page_size=2000", ""} {
		e.call("GET", "/v1/accounts/"+a.AccountID+"/transactions?"+q, nil, 200, nil)
	}
	e.call("GET", "/v1/accounts/nope/transactions", nil, http.StatusNotFound, nil)
	e.call("GET", "/v1/accounts?page_size=2001", nil, http.StatusBadRequest, nil)
	e.call("GET", "/v1/accounts?page_size=-1", nil, http.StatusBadRequest, nil)
}

func TestAccountListingPaginatesInOpeningOrder(t *testing.T) {
	e := newEnv(t, Options{Seed: 15})
	var want []string
	for i := range 11 {
		a, err := e.sb.OpenAccount(AccountSpec{Currency: "USD", Name: fmt.Sprint("acct ", i)})
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, a.AccountID)
	}
	var got []string
	cursor := ""
	for {
		var page fuse.Page[fuse.Account]
		path := "/v1/accounts?page_size=4"
		if cursor != "" {
			path = "/v1/accounts?cursor=" + url.QueryEscape(cursor)
		}
		e.call("GET", path, nil, 200, &page)
		for _, a := range page.Data {
			got = append(got, a.AccountID)
			if len(a.IBAN) != 23 || !strings.HasPrefix(a.IBAN, "AE") || !validIBAN(a.IBAN) || a.Status != "active" {
				t.Errorf("account %+v", a)
			}
		}
		if page.Pages.Next == nil {
			break
		}
		cursor = *page.Pages.Next
	}
	if !slices.Equal(got, want) {
		t.Errorf("accounts %v, want %v", got, want)
	}
}

func TestRepeatCursorFaultReturnsTheRequestCursor(t *testing.T) {
	e := newEnv(t, Options{Seed: 16})
	a := e.account("AED", "Ops")
	e.fund(a.AccountID, 1_000_000)
	for range 5 {
		e.pay(a.AccountID, 10)
	}
	e.sb.SetFaults(Faults{RepeatCursor: true})
	var p1, p2 fuse.Page[fuse.Transaction]
	e.call("GET", "/v1/accounts/"+a.AccountID+"/transactions?page_size=2", nil, 200, &p1)
	if p1.Pages.Next == nil {
		t.Fatal("first page has no cursor")
	}
	e.call("GET", "/v1/accounts/"+a.AccountID+"/transactions?cursor="+url.QueryEscape(*p1.Pages.Next), nil, 200, &p2)
	if p2.Pages.Next == nil || *p2.Pages.Next != *p1.Pages.Next {
		t.Errorf("pages.next %v, want the request's %q", p2.Pages.Next, *p1.Pages.Next)
	}
}

func TestSlowPageFaultDelaysListings(t *testing.T) {
	e := newEnv(t, Options{Seed: 17})
	a := e.account("AED", "Ops")
	// Pages are slowed by far more than any route takes on a loaded
	// machine, so that the two client timeouts below tell slowed from not
	// without a tight clock.
	e.call("POST", "/sandbox/faults", map[string]any{"slow_page_ms": 6_000}, 200, nil)
	get := func(path string) error {
		req, _ := http.NewRequest("GET", e.srv.URL+path, nil)
		req.Header.Set("Authorization", "Bearer "+e.token)
		resp, err := (&http.Client{Timeout: 2 * time.Second}).Do(req)
		if err == nil {
			resp.Body.Close()
		}
		return err
	}
	if err := get("/v1/accounts/" + a.AccountID + "/transactions"); err == nil {
		t.Fatal("a 2 s client timeout did not expire on a 6 s page")
	}
	// Other routes are not slowed.
	if err := get("/v1/accounts/" + a.AccountID); err != nil {
		t.Errorf("GET /accounts/{id} was slowed: %v", err)
	}
	e.call("POST", "/sandbox/faults", json.RawMessage(`{}`), 200, nil)
	if f := e.sb.Faults(); f != (Faults{}) {
		t.Errorf("{} did not clear the faults: %+v", f)
	}
}
