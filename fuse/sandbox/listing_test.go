package sandbox

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/ledgerd/ledgerd"
	"github.com/ledgerd/ledgerd/fuse"
)

// walkPages walks a listing page by page from its first request (path
// with query q) and returns the pages served. A follow-up page sends its
// cursor alone, as Fuse wants. between, when not nil, runs after every
// page but the last, before the next is asked for. It fails on a page
// longer than the page size asked, a pages.size other than it (the
// default when q has none), or a cursor served twice.
func walkPages[T any](e *env, path string, q url.Values, between func()) [][]T {
	e.t.Helper()
	size := DefaultPageLimit
	if v := q.Get("page_size"); v != "" && v != "0" {
		n, err := strconv.Atoi(v)
		if err != nil {
			e.t.Fatalf("page_size %q", v)
		}
		size = n
	}
	var pages [][]T
	seen := map[string]bool{}
	next := path + "?" + q.Encode()
	for {
		var page fuse.Page[T]
		e.call("GET", next, nil, http.StatusOK, &page)
		if len(page.Data) > size || page.Pages.Size != size {
			e.t.Fatalf("GET %s: page of %d, pages.size %d, page size %d", next, len(page.Data), page.Pages.Size, size)
		}
		pages = append(pages, page.Data)
		if page.Pages.Next == nil {
			return pages
		}
		c := *page.Pages.Next
		if seen[c] {
			e.t.Fatalf("GET %s: cursor %q served twice", path, c)
		}
		seen[c] = true
		if between != nil {
			between()
		}
		next = path + "?" + url.Values{"cursor": {c}}.Encode()
	}
}

// listTx is a transaction listing walked whole.
func (e *env) listTx(path string, q url.Values) []fuse.Transaction {
	e.t.Helper()
	return slices.Concat(walkPages[fuse.Transaction](e, path, q, nil)...)
}

// listAll is an account's transactions walked whole in pages of size.
func (e *env) listAll(accountID string, size int) []fuse.Transaction {
	e.t.Helper()
	return e.listTx(txPath(accountID), url.Values{"page_size": {strconv.Itoa(size)}})
}

// txPath is an account's transaction listing.
func txPath(accountID string) string { return "/v1/accounts/" + accountID + "/transactions" }

// orgTxPath is the organisation's transaction listing.
const orgTxPath = "/v1/transactions"

func ids(txs []fuse.Transaction) []string {
	out := make([]string, len(txs))
	for i, x := range txs {
		out[i] = x.ID
	}
	return out
}

// inCreationOrder is the ids of the truth's legs that keep accepts (nil:
// every leg), in the order they were created: the listings' order
// [model].
func inCreationOrder(tr Truth, keep func(TruthTransaction) bool) []string {
	var out []string
	for _, x := range tr.Transactions {
		if keep == nil || keep(x) {
			out = append(out, x.TransactionID)
		}
	}
	return out
}

func onAccount(id string) func(TruthTransaction) bool {
	return func(x TruthTransaction) bool { return x.AccountID == id }
}

// query is url.Values from pairs of names and values.
func query(kv ...string) url.Values {
	q := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		q.Set(kv[i], kv[i+1])
	}
	return q
}

// refused asks for path and wants a 400 with code in Fuse's error body.
func (e *env) refused(path, code string) {
	e.t.Helper()
	var body fuse.ErrorBody
	e.call("GET", path, nil, http.StatusBadRequest, &body)
	if body.Code != code || body.Error == "" || body.Message == "" {
		e.t.Errorf("GET %s: error body %+v, want code %s with error and message", path, body, code)
	}
}

func TestPaginationWithPageSizes1And7And500YieldsTheCreationOrder(t *testing.T) {
	e := newEnv(t, Options{Seed: 11})
	a := e.account("AED", "Busy")
	b := e.account("AED", "Peer")
	// Many transactions share one instant (the frozen clock).
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
	// Generate back-dates its history: creation order is not created_at
	// order, and the listing follows creation.
	res, err := e.sb.Generate(GenerateOptions{AccountIDs: []string{a.AccountID, b.AccountID}, Transactions: 600, Span: 24 * time.Hour, FailureRate: 0.05})
	if err != nil {
		t.Fatal(err)
	}
	if res.Transactions != 600 {
		t.Fatalf("generated %d", res.Transactions)
	}
	tr := e.sb.Truth()
	want := inCreationOrder(tr, onAccount(a.AccountID))
	if len(want) < 300 {
		t.Fatalf("only %d transactions on the account", len(want))
	}
	for _, size := range []int{1, 7, 500} {
		if got := ids(e.listAll(a.AccountID, size)); !slices.Equal(got, want) {
			t.Errorf("page size %d: %d ids, want %d in creation order", size, len(got), len(want))
		}
	}
	all := inCreationOrder(tr, nil)
	for _, size := range []int{7, 500} {
		if got := ids(e.listTx(orgTxPath, query("page_size", strconv.Itoa(size)))); !slices.Equal(got, all) {
			t.Errorf("organisation, page size %d: %d ids, want %d in creation order", size, len(got), len(all))
		}
	}
	// A listing shows each transaction as GET /v1/transactions/{id} does.
	for _, x := range e.listAll(b.AccountID, 7) {
		if b1, b2 := mustJSON(t, x), mustJSON(t, e.getTx(x.ID)); b1 != b2 {
			t.Fatalf("listed %s\nGET     %s", b1, b2)
		}
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestListingWalkWhileLegsChangeStateNeitherSkipsNorRepeats(t *testing.T) {
	for _, path := range []string{"account", "organisation"} {
		t.Run(path, func(t *testing.T) {
			e := newEnv(t, Options{Seed: 13})
			a := e.account("AED", "Ops")
			b := e.account("AED", "Peer")
			e.fund(a.AccountID, 10_000_000)
			e.fund(b.AccountID, 10_000_000)
			var pending []Leg
			for i := range 8 {
				pending = append(pending, e.pay(a.AccountID, int64(500+i)))
				e.transfer(fuse.CreateInternalTransferRequest{FromAccountID: b.AccountID, ToAccountID: a.AccountID, Amount: 7})
			}
			listing := txPath(a.AccountID)
			if path == "organisation" {
				listing = orgTxPath
			}
			// Between pages everything moves on: payments submit and
			// execute, one fails, transfers settle (their inbound legs
			// are new), new payments arrive.
			n := 0
			between := func() {
				n++
				switch n % 3 {
				case 0:
					e.sb.Advance(PaymentExecuteDelay)
				case 1:
					e.pay(a.AccountID, 11)
				case 2:
					for _, p := range pending {
						if l, _ := e.sb.Transaction(p.TransactionID); l.Status == ledgerd.StatusCreated || l.Status == ledgerd.StatusSubmitted {
							if _, err := e.sb.Fail(p.TransactionID, "walked over"); err != nil {
								t.Fatal(err)
							}
							break
						}
					}
				}
			}
			pages := walkPages[fuse.Transaction](e, listing, query("page_size", "3"), between)
			got := slices.Concat(pages...)
			tr := e.sb.Truth()
			want := inCreationOrder(tr, nil)
			if path == "account" {
				want = inCreationOrder(tr, onAccount(a.AccountID))
			}
			if !slices.Equal(ids(got), want) {
				t.Errorf("walk listed %d legs, want each of %d once in creation order:\ngot  %v\nwant %v", len(got), len(want), ids(got), want)
			}
			// The premise: legs changed state during the walk, and
			// legs were created during it.
			states := map[string]bool{}
			for _, x := range got {
				states[x.State] = true
			}
			if n < 4 || !states[fuse.StateExecuted] || !states[fuse.StateCreated] {
				t.Errorf("after %d pages the walk saw states %v: the set-up did not move legs during the walk", n+1, states)
			}
		})
	}
}

func TestFromAndToFilterOnCreatedAtBothInclusive(t *testing.T) {
	e := newEnv(t, Options{Seed: 12})
	a := e.account("AED", "Ops")
	fund := e.fund(a.AccountID, 10_000_000).TransactionID // at t0
	var pay []string
	var stamps []time.Time
	for range 5 {
		p := e.pay(a.AccountID, 1000)
		pay, stamps = append(pay, p.TransactionID), append(stamps, p.CreatedAt)
		e.sb.Advance(1500 * time.Millisecond)
	}
	// Every payment executes after every window below ends: the windows
	// select on created_at, not on any later time.
	e.sb.Advance(time.Minute)
	ns, dubai := time.Nanosecond, time.FixedZone("+04", 4*3600)
	var zero time.Time
	for _, c := range []struct {
		name     string
		from, to time.Time
		want     []string
	}{
		{"both ends on a created_at", stamps[1], stamps[3], pay[1:4]},
		{"both ends just inside the neighbours", stamps[1].Add(ns), stamps[3].Add(-ns), pay[2:3]},
		{"one instant", stamps[2], stamps[2], pay[2:3]},
		{"from alone", stamps[3], zero, pay[3:]},
		{"to alone, with a tie at t0", zero, stamps[0], []string{fund, pay[0]}},
		{"another time zone", stamps[1].In(dubai), stamps[1].In(dubai), pay[1:2]},
		{"after everything", t0.Add(time.Hour), zero, nil},
		{"to before from", stamps[3], stamps[1], nil},
	} {
		q := query("page_size", "2")
		if !c.from.IsZero() {
			q.Set("from", c.from.Format(time.RFC3339Nano))
		}
		if !c.to.IsZero() {
			q.Set("to", c.to.Format(time.RFC3339Nano))
		}
		if got := ids(e.listTx(txPath(a.AccountID), q)); !slices.Equal(got, c.want) {
			t.Errorf("%s (%s): %v, want %v", c.name, q.Encode(), got, c.want)
		}
		if got := ids(e.listTx(orgTxPath, q)); !slices.Equal(got, c.want) {
			t.Errorf("organisation, %s (%s): %v, want %v", c.name, q.Encode(), got, c.want)
		}
	}
	e.refused(txPath(a.AccountID)+"?from=yesterday", "invalid_from")
	e.refused(orgTxPath+"?to=2025-03-01T09:00:00", "invalid_to") // no time zone
}

func TestTransactionStateFiltersOnThePublishedState(t *testing.T) {
	e := newEnv(t, Options{Seed: 18})
	a := e.account("AED", "Ops")
	settled := e.fund(a.AccountID, 1_000_000).TransactionID
	executed := e.pay(a.AccountID, 100).TransactionID
	e.sb.Advance(PaymentExecuteDelay)
	submitted := e.pay(a.AccountID, 200).TransactionID
	e.sb.Advance(PaymentSubmitDelay)
	failed := e.pay(a.AccountID, 300).TransactionID
	if _, err := e.sb.Fail(failed, ""); err != nil {
		t.Fatal(err)
	}
	created := e.pay(a.AccountID, 400).TransactionID
	for state, want := range map[string]string{
		fuse.StateSettled: settled, fuse.StateExecuted: executed, fuse.StateSubmitted: submitted,
		fuse.StateFailed: failed, fuse.StateCreated: created,
	} {
		for _, path := range []string{txPath(a.AccountID), orgTxPath} {
			got := e.listTx(path, query("transaction_state", state, "page_size", "1"))
			if len(got) != 1 || got[0].ID != want || got[0].State != state {
				t.Errorf("%s transaction_state=%s: %v, want %s", path, state, ids(got), want)
			}
		}
	}
	// The reference's TransactionState: capitalised, no Booked.
	for _, v := range []string{"executed", "Booked", "Pending"} {
		e.refused(txPath(a.AccountID)+"?transaction_state="+v, "invalid_transaction_state")
	}
}

func TestOrganisationListingCoversEveryAccountAndFilters(t *testing.T) {
	e := newEnv(t, Options{Seed: 19, Instant: true})
	a, b, u := e.account("AED", "Ops"), e.account("AED", "Payroll"), e.account("USD", "Treasury")
	e.fund(a.AccountID, 1_000_000)
	e.fund(u.AccountID, 1_000_000)
	e.pay(a.AccountID, 1_000)
	e.transfer(fuse.CreateInternalTransferRequest{FromAccountID: a.AccountID, ToAccountID: b.AccountID, Amount: 500})
	e.exchange(u.AccountID, a.AccountID, 100, "")
	var tagged Leg
	e.call("POST", "/sandbox/inbound-payments", map[string]any{
		"account_id": b.AccountID, "amount": 42, "external_id": "ext-42",
	}, http.StatusCreated, &tagged)
	e.pay(b.AccountID, 10)

	tr := e.sb.Truth()
	all := e.listTx(orgTxPath, query("page_size", "3"))
	if got, want := ids(all), inCreationOrder(tr, nil); !slices.Equal(got, want) {
		t.Fatalf("organisation listing %v, want every leg of every account %v", got, want)
	}
	// What the filters should keep, from the published objects of the
	// unfiltered listing.
	where := func(keep func(fuse.Transaction) bool) []string {
		var out []string
		for _, x := range all {
			if keep(x) {
				out = append(out, x.ID)
			}
		}
		return out
	}
	ofType := func(typ string) func(fuse.Transaction) bool {
		return func(x fuse.Transaction) bool { return x.Type == typ }
	}
	for _, c := range []struct {
		q    url.Values
		want []string
	}{
		{query("customer_account_id", b.AccountID), inCreationOrder(tr, onAccount(b.AccountID))},
		{query("customer_account_id", u.AccountID), inCreationOrder(tr, onAccount(u.AccountID))},
		{query("payment_type", "Local"), where(ofType(fuse.TypeLocalPayment))},
		{query("payment_type", "InternalTransfer"), where(ofType(fuse.TypeInternalTransfer))},
		{query("payment_type", "FXTransfer"), where(ofType(fuse.TypeFXTransfer))},
		{query("payment_type", "LocalReturnPayment"), nil},
		{query("payment_type", "Fee"), nil},
		{query("customer_account_id", a.AccountID, "payment_type", "FXTransfer"), where(func(x fuse.Transaction) bool {
			return x.AccountID == a.AccountID && x.Type == fuse.TypeFXTransfer
		})},
		{query("external_id", "ext-42"), []string{tagged.TransactionID}},
	} {
		c.q.Set("page_size", "2")
		got := ids(e.listTx(orgTxPath, c.q))
		if !slices.Equal(got, c.want) {
			t.Errorf("%s: %v, want %v", c.q.Encode(), got, c.want)
		}
	}
	// Both legs of a transfer and of an exchange, on their own accounts.
	if n := len(where(ofType(fuse.TypeInternalTransfer))); n != 2 {
		t.Errorf("%d internal_transfer legs, want 2", n)
	}
	if n := len(where(ofType(fuse.TypeFXTransfer))); n != 2 {
		t.Errorf("%d f_x_transfer legs, want 2", n)
	}
	e.refused(orgTxPath+"?payment_type=Wire", "invalid_payment_type")
}

func TestCustomerAccountsListsTheCustomersAccountsInOpeningOrder(t *testing.T) {
	e := newEnv(t, Options{Seed: 21})
	first, err := e.sb.OpenAccount(AccountSpec{CustomerName: "Alpha", Currency: "AED", Balance: 5_000})
	if err != nil {
		t.Fatal(err)
	}
	other, err := e.sb.OpenAccount(AccountSpec{CustomerName: "Beta", Currency: "AED"})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{first.CustomerID: {first.AccountID}, other.CustomerID: {other.AccountID}}
	for i := range 6 {
		owner := first.CustomerID
		if i%3 == 2 {
			owner = other.CustomerID
		}
		acct, err := e.sb.OpenAccount(AccountSpec{CustomerID: owner, Currency: "USD", Name: fmt.Sprint("acct ", i)})
		if err != nil {
			t.Fatal(err)
		}
		want[owner] = append(want[owner], acct.AccountID)
	}
	for customer, wantIDs := range want {
		var got []string
		for _, a := range slices.Concat(walkPages[fuse.Account](e, "/v1/customers/"+customer+"/accounts", query("page_size", "2"), nil)...) {
			got = append(got, a.ID)
			st, ok := e.sb.Account(a.ID)
			if !ok || a.CustomerID == nil || *a.CustomerID != customer || a.Status != fuse.AccountOpen ||
				a.CurrentBalance == nil || *a.CurrentBalance != st.Balance.Current ||
				a.AvailableBalance == nil || *a.AvailableBalance != st.Balance.Available {
				t.Errorf("customer %s lists account %s as %+v; the sandbox has %+v", customer, a.ID, a, st)
			}
		}
		if !slices.Equal(got, wantIDs) {
			t.Errorf("customer %s: accounts %v, want %v", customer, got, wantIDs)
		}
	}
	var body fuse.ErrorBody
	e.call("GET", "/v1/customers/9d3c1f0e-0000-4000-8000-000000000000/accounts", nil, http.StatusNotFound, &body)
	if body.Code != "customer_not_found" || body.Message == "" {
		t.Errorf("unknown customer: %+v", body)
	}
}

func TestListOrderFaultsListEveryLegExactlyOnceAcrossPages(t *testing.T) {
	e := newEnv(t, Options{Seed: 20})
	a := e.account("AED", "Ops")
	b := e.account("AED", "Peer")
	e.fund(a.AccountID, 10_000_000)
	e.fund(b.AccountID, 10_000_000)
	for i := range 30 {
		e.pay(a.AccountID, int64(100+i))
		if i%4 == 0 {
			e.transfer(fuse.CreateInternalTransferRequest{FromAccountID: b.AccountID, ToAccountID: a.AccountID, Amount: 3})
		}
		if i%7 == 0 {
			e.sb.Advance(time.Second)
		}
	}
	tr := e.sb.Truth()
	for _, l := range []struct {
		name, path string
		want       []string
	}{
		{"account", txPath(a.AccountID), inCreationOrder(tr, onAccount(a.AccountID))},
		{"organisation", orgTxPath, inCreationOrder(tr, nil)},
	} {
		reversed := slices.Clone(l.want)
		slices.Reverse(reversed)
		walk := func(size int, between func()) []string {
			return ids(slices.Concat(walkPages[fuse.Transaction](e, l.path, query("page_size", strconv.Itoa(size)), between)...))
		}
		sameSet := func(got []string) bool {
			s1, s2 := slices.Clone(got), slices.Clone(l.want)
			slices.Sort(s1)
			slices.Sort(s2)
			return slices.Equal(s1, s2)
		}
		e.sb.SetFaults(Faults{ListOrder: "reverse"})
		for _, size := range []int{1, 4, 2000} {
			if got := walk(size, nil); !slices.Equal(got, reversed) {
				t.Errorf("%s, reverse, page size %d: %v, want newest first %v", l.name, size, got, reversed)
			}
		}
		e.sb.SetFaults(Faults{ListOrder: "shuffle"})
		shuffled := walk(1, nil)
		if !sameSet(shuffled) {
			t.Errorf("%s, shuffle: %v, want each of %v once", l.name, shuffled, l.want)
		}
		if slices.Equal(shuffled, l.want) || slices.Equal(shuffled, reversed) {
			t.Errorf("%s, shuffle: listed in creation order or its reverse", l.name)
		}
		// One order whatever the page size: the shuffle is the same on
		// every page of a walk.
		for _, size := range []int{4, 7, 2000} {
			if got := walk(size, nil); !slices.Equal(got, shuffled) {
				t.Errorf("%s, shuffle, page size %d: %v, want the same order as page by page %v", l.name, size, got, shuffled)
			}
		}
		// A walk keeps the order it began with to its end, when the
		// fault changes under it.
		for order, want := range map[string][]string{"reverse": reversed, "shuffle": shuffled} {
			e.sb.SetFaults(Faults{ListOrder: order})
			if got := walk(5, func() { e.sb.SetFaults(Faults{}) }); !slices.Equal(got, want) {
				t.Errorf("%s, %s cleared after the first page: %v, want %v", l.name, order, got, want)
			}
		}
		e.sb.SetFaults(Faults{})
		if got := walk(5, nil); !slices.Equal(got, l.want) {
			t.Errorf("%s without the fault: %v, want creation order %v", l.name, got, l.want)
		}
	}
	e.call("POST", "/sandbox/faults", map[string]any{"list_order": "sorted"}, http.StatusBadRequest, nil)
}

func TestEmptyLastPageFaultEndsTheListingWithAnEmptyPage(t *testing.T) {
	e := newEnv(t, Options{Seed: 22})
	a := e.account("AED", "Ops")
	idle := e.account("AED", "Idle")
	e.fund(a.AccountID, 1_000_000)
	for i := range 5 {
		e.pay(a.AccountID, int64(10+i))
	}
	want := inCreationOrder(e.sb.Truth(), onAccount(a.AccountID)) // 6 legs, and none elsewhere
	reversed := slices.Clone(want)
	slices.Reverse(reversed)
	for _, c := range []struct {
		faults Faults
		want   []string
	}{
		{Faults{}, want},
		{Faults{EmptyLastPage: true}, want},
		{Faults{EmptyLastPage: true, ListOrder: "reverse"}, reversed},
	} {
		e.sb.SetFaults(c.faults)
		for _, path := range []string{txPath(a.AccountID), orgTxPath} {
			for _, size := range []int{1, 3, 4, 6, 100} {
				pages := walkPages[fuse.Transaction](e, path, query("page_size", strconv.Itoa(size)), nil)
				full := (len(want) + size - 1) / size
				wantPages := full
				if c.faults.EmptyLastPage {
					wantPages++
				}
				last := pages[len(pages)-1]
				if len(pages) != wantPages || (c.faults.EmptyLastPage && len(last) != 0) || slices.ContainsFunc(pages[:full], func(p []fuse.Transaction) bool { return len(p) == 0 }) {
					t.Errorf("%+v %s page size %d: %d pages (last has %d), want %d full ones then, with the fault, one empty",
						c.faults, path, size, len(pages), len(last), full)
				}
				if got := ids(slices.Concat(pages...)); !slices.Equal(got, c.want) {
					t.Errorf("%+v %s page size %d: %v, want %v", c.faults, path, size, got, c.want)
				}
			}
		}
		// An empty listing is one empty page, with the fault or not.
		if pages := walkPages[fuse.Transaction](e, txPath(idle.AccountID), query(), nil); len(pages) != 1 || len(pages[0]) != 0 {
			t.Errorf("%+v: an empty listing served %d pages", c.faults, len(pages))
		}
	}
}

func TestCursorFromOneListingIsRefusedOnAnother(t *testing.T) {
	e := newEnv(t, Options{Seed: 14})
	a := e.account("AED", "Ops")
	b := e.account("AED", "Peer")
	a2, err := e.sb.OpenAccount(AccountSpec{CustomerID: a.CustomerID, Currency: "USD"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.sb.OpenAccount(AccountSpec{CustomerID: b.CustomerID, Currency: "USD"}); err != nil {
		t.Fatal(err)
	}
	for _, acct := range []string{a.AccountID, b.AccountID, a2.AccountID} {
		e.fund(acct, 100)
		e.fund(acct, 200)
	}
	custA, custB := "/v1/customers/"+a.CustomerID+"/accounts", "/v1/customers/"+b.CustomerID+"/accounts"
	listings := []string{txPath(a.AccountID), txPath(b.AccountID), orgTxPath, "/v1/accounts", custA, custB}
	cursors := map[string]string{}
	for _, path := range listings {
		var page struct {
			Pages fuse.PageInfo `json:"pages"`
		}
		e.call("GET", path+"?page_size=1", nil, http.StatusOK, &page)
		if page.Pages.Next == nil {
			t.Fatalf("%s: no next page", path)
		}
		cursors[path] = *page.Pages.Next
	}
	for _, from := range listings {
		for _, on := range listings {
			path := on + "?" + query("cursor", cursors[from]).Encode()
			if from == on {
				e.call("GET", path, nil, http.StatusOK, nil)
				continue
			}
			e.refused(path, "invalid_cursor")
		}
	}
	for _, on := range listings {
		for _, c := range []string{"!!!", "e30", "bm90IGEgY3Vyc29y"} { // not base64url, {}, "not a cursor"
			e.refused(on+"?cursor="+url.QueryEscape(c), "invalid_cursor")
		}
	}
}

func TestListingPageSizeIsFrom0To2000(t *testing.T) {
	e := newEnv(t, Options{Seed: 23})
	a := e.account("AED", "Ops")
	e.fund(a.AccountID, 100)
	for range 3 { // four legs, four accounts, all the customer's
		e.fund(a.AccountID, 100)
		if _, err := e.sb.OpenAccount(AccountSpec{CustomerID: a.CustomerID}); err != nil {
			t.Fatal(err)
		}
	}
	for _, path := range []string{txPath(a.AccountID), orgTxPath, "/v1/accounts", "/v1/customers/" + a.CustomerID + "/accounts"} {
		for _, v := range []string{"-1", "2001", "x", "1.5"} {
			e.refused(path+"?page_size="+v, "invalid_page_size")
		}
		for _, c := range []struct {
			q          string
			size, kept int
		}{
			{"", DefaultPageLimit, 4}, {"page_size=0", DefaultPageLimit, 4}, {"page_size=1", 1, 1},
			{"page_size=3", 3, 3}, {"page_size=2000", 2000, 4},
		} {
			var page fuse.Page[json.RawMessage]
			e.call("GET", path+"?"+c.q, nil, http.StatusOK, &page)
			if page.Pages.Size != c.size || len(page.Data) != c.kept || (page.Pages.Next == nil) != (c.kept == 4) {
				t.Errorf("%s?%s: %d items, pages %+v; want %d items of 4, pages.size %d", path, c.q, len(page.Data), page.Pages, c.kept, c.size)
			}
		}
	}
	e.call("GET", txPath("00000000-0000-4000-8000-000000000000"), nil, http.StatusNotFound, nil)
}

func TestAccountListingPaginatesInOpeningOrder(t *testing.T) {
	e := newEnv(t, Options{Seed: 15})
	var want []string
	for i := range 11 {
		a, err := e.sb.OpenAccount(AccountSpec{Currency: "USD", Name: fmt.Sprint("acct ", i), ExternalID: fmt.Sprint("ext-", i)})
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, a.AccountID)
	}
	var got []string
	for _, a := range slices.Concat(walkPages[fuse.Account](e, "/v1/accounts", query("page_size", "4"), nil)...) {
		got = append(got, a.ID)
		if a.DefaultDetails == nil || len(a.AddressableDetails) != 1 || a.AddressableDetails[0].AccountDetails != *a.DefaultDetails {
			t.Errorf("account %s: default details %v, addressable %v", a.ID, a.DefaultDetails, a.AddressableDetails)
			continue
		}
		if iban := a.DefaultDetails.IBAN; len(iban) != 23 || iban[:2] != "AE" || !validIBAN(iban) || a.Status != fuse.AccountOpen {
			t.Errorf("account %+v", a)
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("accounts %v, want %v", got, want)
	}
	// external_id filters, and its cursor carries it.
	byExt := slices.Concat(walkPages[fuse.Account](e, "/v1/accounts", query("external_id", "ext-7", "page_size", "1"), nil)...)
	if len(byExt) != 1 || byExt[0].ID != want[7] || byExt[0].ExternalID == nil || *byExt[0].ExternalID != "ext-7" {
		t.Errorf("external_id=ext-7: %+v, want account %s", byExt, want[7])
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
