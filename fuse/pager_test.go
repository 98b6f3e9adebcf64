package fuse

import (
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"net/http"
	"reflect"
	"sync"
	"testing"
	"time"
)

func ptr(s string) *string { return &s }

// pages serves the pages keyed by the cursor that asks for them.
func pages(m map[string]Page[int]) func(context.Context, string) (Page[int], error) {
	return func(_ context.Context, cursor string) (Page[int], error) {
		p, ok := m[cursor]
		if !ok {
			return Page[int]{}, fmt.Errorf("unknown cursor %q", cursor)
		}
		return p, nil
	}
}

func TestWalkFollowsCursorsThroughEmptyPages(t *testing.T) {
	fetch := pages(map[string]Page[int]{
		"":  {Data: []int{1, 2}, Pages: PageInfo{Next: ptr("a")}},
		"a": {Data: nil, Pages: PageInfo{Next: ptr("b")}},
		"b": {Data: []int{3}, Pages: PageInfo{Next: nil}},
	})
	var got []int
	var cursors []string
	for p, err := range walk(t.Context(), 100, "", fetch) {
		if err != nil {
			t.Fatal(err)
		}
		cursors = append(cursors, p.Cursor)
		got = append(got, p.Data...)
	}
	if fmt.Sprint(got) != "[1 2 3]" || fmt.Sprint(cursors) != "[ a b]" {
		t.Errorf("items %v cursors %q", got, cursors)
	}
}

func TestWalkStopsOnARepeatedCursor(t *testing.T) {
	fetch := pages(map[string]Page[int]{
		"":  {Data: []int{1}, Pages: PageInfo{Next: ptr("a")}},
		"a": {Data: []int{2}, Pages: PageInfo{Next: ptr("b")}},
		"b": {Data: []int{3}, Pages: PageInfo{Next: ptr("a")}},
	})
	var got []int
	var last error
	for it, err := range items(walk(t.Context(), 100, "", fetch)) {
		if err != nil {
			last = err
			continue
		}
		got = append(got, it)
	}
	if !errors.Is(last, ErrRepeatedCursor) || fmt.Sprint(got) != "[1 2 3]" {
		t.Errorf("items %v, err %v; want [1 2 3] then ErrRepeatedCursor", got, last)
	}
}

func TestWalkTreatsAnEmptyNextCursorAsARestart(t *testing.T) {
	fetch := pages(map[string]Page[int]{"": {Data: []int{1}, Pages: PageInfo{Next: ptr("")}}})
	var last error
	for _, err := range walk(t.Context(), 100, "", fetch) {
		last = err
	}
	if !errors.Is(last, ErrRepeatedCursor) {
		t.Errorf("err %v, want ErrRepeatedCursor", last)
	}
}

func TestWalkStopsAtThePageCap(t *testing.T) {
	n := 0
	fetch := func(context.Context, string) (Page[int], error) {
		n++
		return Page[int]{Data: []int{n}, Pages: PageInfo{Next: ptr(fmt.Sprint(n))}}, nil
	}
	var last error
	count := 0
	for _, err := range walk(t.Context(), 5, "", fetch) {
		if err != nil {
			last = err
			continue
		}
		count++
	}
	if !errors.Is(last, ErrTooManyPages) || count != 5 {
		t.Errorf("%d pages then %v, want 5 then ErrTooManyPages", count, last)
	}
}

func TestWalkStopsWhenTheCallerBreaks(t *testing.T) {
	calls := 0
	fetch := func(context.Context, string) (Page[int], error) {
		calls++
		return Page[int]{Data: []int{1, 2, 3}, Pages: PageInfo{Next: ptr(fmt.Sprint(calls))}}, nil
	}
	for range items(walk(t.Context(), 100, "", fetch)) {
		break
	}
	if calls != 1 {
		t.Errorf("%d fetches after break, want 1", calls)
	}
}

// TestFollowUpPagesSendTheCursorAlone: the first page asks page_size (and
// the caller's filter); a follow-up page sends its cursor and nothing
// else, since Fuse ignores every other parameter then. The walk stops at
// an absent pages.next as at a null one.
func TestFollowUpPagesSendTheCursorAlone(t *testing.T) {
	var mu sync.Mutex
	var queries []string
	api := func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		queries = append(queries, r.URL.RawQuery)
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Query().Get("cursor") {
		case "":
			_, _ = io.WriteString(w, `{"results":[],"pages":{"next":"c 1","size":2000},"extra":true}`)
		case "c 1":
			_, _ = io.WriteString(w, `{"results":[],"pages":{"next":"c2","size":2000}}`)
		default:
			_, _ = io.WriteString(w, `{"results":[],"pages":{"size":2000}}`)
		}
	}
	c, _ := newFakeClient(t, &fakeFuse{api: api}, nil)
	from := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	to := time.Date(2026, 3, 2, 4, 0, 0, 5, time.FixedZone("GST", 4*3600))
	params := ListTransactionsParams{Limit: MaxPageLimit, From: from, To: to, State: StateExecuted, AccountID: "acc-2"}
	walks := map[string]func() iter.Seq2[CursorPage[Transaction], error]{
		"account": func() iter.Seq2[CursorPage[Transaction], error] {
			return c.TransactionPages(t.Context(), "acc-1", params)
		},
		"organisation": func() iter.Seq2[CursorPage[Transaction], error] {
			return c.OrgTransactionPages(t.Context(), params)
		},
	}
	filters := "from=2026-03-01T00%3A00%3A00Z&page_size=2000&to=2026-03-02T00%3A00%3A00.000000005Z&transaction_state=Executed"
	for name, first := range map[string]string{
		"account":      filters, // an account's listing has no customer_account_id
		"organisation": "customer_account_id=acc-2&" + filters,
	} {
		mu.Lock()
		queries = nil
		mu.Unlock()
		n := 0
		for p, err := range walks[name]() {
			if err != nil {
				t.Fatal(err)
			}
			if p.Pages.Size != 2000 {
				t.Errorf("pages.size %d, want 2000", p.Pages.Size)
			}
			n++
		}
		want := []string{first, "cursor=c+1", "cursor=c2"}
		mu.Lock()
		got := fmt.Sprint(queries)
		mu.Unlock()
		if n != 3 || got != fmt.Sprint(want) {
			t.Errorf("%s: %d pages, queries %s, want %q", name, n, got, want)
		}
	}
	if _, err := c.ListTransactions(t.Context(), "acc-1", ListTransactionsParams{Limit: MaxPageLimit + 1}); err == nil {
		t.Errorf("page size %d accepted", MaxPageLimit+1)
	}
}

// TestAListingWithoutTheEnvelopeIsAnError: Fuse's listing envelope is
// {"results": [...], "pages": {"next": string|null, "size": int}}; a body
// without results, pages or pages.size, with null for one of them, or
// with the wrong types is a bad response, never an empty page, both for
// transactions (fast decoder) and accounts.
func TestAListingWithoutTheEnvelopeIsAnError(t *testing.T) {
	for _, body := range []string{
		`{"data":[],"next_cursor":null}`,
		`{}`,
		`{"results":[]}`,
		`{"results":[],"pages":{}}`,
		`{"results":[],"pages":{"next":null}}`,
		`{"results":[],"pages":null}`,
		`{"results":null,"pages":{"size":1}}`,
		`{"results":[],"pages":{"next":null,"size":null}}`,
		`{"pages":{"next":null,"size":1}}`,
		`{"results":{},"pages":{"size":1}}`,
		`{"results":[],"pages":{"size":"1"}}`,
		`{"results":[],"pages":{"size":1.5}}`,
		`{"results":[],"pages":{"next":5,"size":1}}`,
		`{"results":[],"pages":[]}`,
		`null`,
	} {
		c := &Client{}
		o := outcome{status: 200, body: []byte(body)}
		var tp Page[Transaction]
		errT := c.decode(request{out: (*transactionPage)(&tp)}, "GET /accounts/a/transactions", o)
		var ap Page[Account]
		errA := c.decode(request{out: &ap}, "GET /accounts", o)
		for _, err := range []error{errT, errA} {
			if !errors.Is(err, ErrBadResponse) {
				t.Errorf("%s: err = %v, want a bad response", body, err)
			}
		}
	}
	for body, want := range map[string]Page[Account]{
		`{"results":[],"pages":{"size":0},"more":1}`:                    {Data: []Account{}},
		`{"results":[{"id":"a"}],"pages":{"next":"n","size":5,"x":{}}}`: {Data: []Account{{ID: "a"}}, Pages: PageInfo{Next: ptr("n"), Size: 5}},
	} {
		var got Page[Account]
		err := (&Client{}).decode(request{out: &got}, "GET /accounts", outcome{status: 200, body: []byte(body)})
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("%s: %+v, %v; want %+v", body, got, err, want)
		}
	}
}
