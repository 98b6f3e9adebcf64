package syncer_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	gosync "sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ledgerd/ledgerd/fuse"
	"github.com/ledgerd/ledgerd/fuse/sandbox"
	"github.com/ledgerd/ledgerd/ledger"
	syncer "github.com/ledgerd/ledgerd/sync"
)

func eventIDs(t *testing.T, l *ledger.Ledger) []string {
	t.Helper()
	rows, err := l.Reader().Query("SELECT event_id FROM events ORDER BY event_id")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	return ids
}

func TestSandboxFaultsGiveTheSameLedgerAsACleanRun(t *testing.T) {
	// Not parallel: its client gives up after 300 ms, and exactly two
	// token fetches are expected; it runs alone in this package.
	const accounts = 6
	n := scale(3000, 3)
	// Both sandboxes stand at the same time, so that the same seed gives
	// the same objects to the byte and the two files the same events.
	frozen := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	at := sandbox.Options{Now: func() time.Time { return frozen }}
	clean := newEnv(t, envOptions{sandbox: at})
	clean.generate(accounts, n, false)
	clean.run(syncer.RunOptions{})

	e := newEnv(t, envOptions{
		sandbox: at,
		client:  func(c *fuse.Config) { c.Timeout = 300 * time.Millisecond },
		syncer:  func(o *syncer.Options) { o.PageSize = 40 },
	})
	e.generate(accounts, n, false)
	// Tokens issued from now on live a minute (token_ttl_s).
	base := sandbox.Faults{HTTP5xx: 0.05, HTTP429: 0.03, TokenTTLSeconds: 60}
	e.sb.SetFaults(base)
	var expired, slow atomic.Bool
	// A slow page lasts until the client has timed out once and waits to
	// retry.
	e.waits.onWait = func() {
		if slow.Load() && e.cm.Retries()[fuse.ReasonTimeout] > 0 {
			e.sb.SetFaults(base)
		}
	}
	sum := e.run(syncer.RunOptions{Progress: func(p syncer.Progress) {
		switch {
		case p.Pages >= 5 && !expired.Load():
			// Fuse's clock moves past the token's minute: the next call
			// gets a 401 and the client fetches a new token, once.
			expired.Store(true)
			e.sb.Advance(2 * time.Minute)
		case p.Pages >= 15 && !slow.Load():
			slow.Store(true)
			f := base
			f.SlowPageMS = 1500
			e.sb.SetFaults(f)
		}
	}})
	e.sb.SetFaults(sandbox.Faults{})
	t.Logf("faulty run: %d pages, %d transactions, retries %v, token fetches %d",
		sum.Pages, sum.Transactions, sum.Retries, e.c.TokenFetches())

	assertEqualsTruth(t, e.l, e.sb.Truth())
	if got, want := ledgerTransactions(t, e.l.Reader()), ledgerTransactions(t, clean.l.Reader()); len(got) != len(want) {
		t.Errorf("faulty run kept %d transactions, clean run %d", len(got), len(want))
	} else {
		for id, w := range want {
			if got[id] != w {
				t.Errorf("transaction %s: faulty run %+v, clean run %+v", id, got[id], w)
			}
		}
	}
	if got, want := eventIDs(t, e.l), eventIDs(t, clean.l); !slices.Equal(got, want) {
		t.Errorf("faulty run stored %d events, clean run %d: not the same set", len(got), len(want))
	}

	// The log says what happened, and the summary counts it.
	for _, reason := range []string{fuse.ReasonServerError, fuse.ReasonRateLimited, fuse.ReasonTimeout, fuse.ReasonUnauthorized} {
		if len(e.logs.lines("fuse call will be retried", "reason="+reason)) == 0 {
			t.Errorf("no log line for a retry because of %s", reason)
		}
		if sum.Retries[reason] == 0 {
			t.Errorf("summary counts no retry because of %s: %v", reason, sum.Retries)
		}
	}
	if !slices.Contains(e.waits.all(), time.Second) {
		t.Error("the client never waited the 1 s the 429's Retry-After asked for")
	}
	// One token for the whole run, and one more when Fuse refused it.
	if got := e.c.TokenFetches(); got != 2 {
		t.Errorf("%d token fetches, want 2", got)
	}
	if len(e.logs.lines("fuse access token fetched")) != 2 || len(e.logs.lines("backfill finished")) != 1 {
		t.Errorf("log lacks the token fetches or the run's summary:\n%s", e.logs.tail(20))
	}
}

// TestAPIFailureMidRunResumesFromTheSavedCursor: Fuse goes down in the
// middle of the organisation's listing; every account fails with it and
// the ledger holds exactly the committed pages, with the listing's cursor
// saved beside them. The next run continues from that cursor alone: it
// reads no committed page again (no duplicate) and skips none (no gap).
func TestAPIFailureMidRunResumesFromTheSavedCursor(t *testing.T) {
	t.Parallel()
	n := scale(1200, 2)
	e := newEnv(t, envOptions{syncer: func(o *syncer.Options) { o.PageSize = 25 }})
	gen := e.generate(5, n, false)
	var broken atomic.Bool
	sum1, err := e.s.Run(context.Background(), syncer.RunOptions{Progress: func(p syncer.Progress) {
		if p.Pages >= 8 && !broken.Load() {
			broken.Store(true)
			e.sb.SetFaults(sandbox.Faults{HTTP5xx: 1})
		}
	}})
	if !errors.Is(err, syncer.ErrAccountsFailed) || !errors.Is(err, fuse.ErrServer) || len(sum1.Failed()) != 5 {
		t.Fatalf("run with Fuse down: err %v, %d failed accounts, want all 5", err, len(sum1.Failed()))
	}
	if msg := err.Error(); !strings.Contains(msg, "5 accounts: ") || strings.Count(msg, "list organisation transactions") != 1 {
		t.Errorf("the listing's failure is not told once for the 5 accounts: %v", err)
	}
	for _, a := range sum1.Failed() {
		cp, _, err := e.l.Checkpoint(context.Background(), a.AccountID)
		if err != nil || !strings.Contains(cp.LastError, "503") {
			t.Errorf("account %s: last_error %q (%v), want the 503", a.AccountID, cp.LastError, err)
		}
	}
	w := window(t, e, ledger.ScopeOrg)
	if w.Listing == nil || w.Listing.Cursor == "" || w.Listing.Pages != sum1.Pages || sum1.Pages < 8 || !w.NextFrom.IsZero() {
		t.Fatalf("window after the failure: %+v (listing %+v), want a listing in progress at page %d", w, w.Listing, sum1.Pages)
	}
	got := count(t, e.l.Reader(), "SELECT count(*) FROM fuse_transactions")
	if got != sum1.Transactions || got != sum1.Pages*25 {
		t.Errorf("%d transactions in the ledger, the run committed %d in %d pages of 25", got, sum1.Transactions, sum1.Pages)
	}

	e.sb.SetFaults(sandbox.Faults{})
	sum2 := e.run(syncer.RunOptions{})
	if !sum2.Accounts[0].Resumed {
		t.Error("the second run did not resume the listing in progress")
	}
	if sum1.Transactions+sum2.Transactions != gen.Transactions || sum1.NewEvents+sum2.NewEvents != gen.Transactions {
		t.Errorf("read %d + %d, new events %d + %d; want %d once each",
			sum1.Transactions, sum2.Transactions, sum1.NewEvents, sum2.NewEvents, gen.Transactions)
	}
	assertEqualsTruth(t, e.l, e.sb.Truth())
	if n := count(t, e.l.Reader(), "SELECT count(*) FROM sync_checkpoints WHERE last_error IS NOT NULL"); n != 0 {
		t.Errorf("%d accounts still show an error after a good run", n)
	}
	if w := window(t, e, ledger.ScopeOrg); w.Listing != nil || w.NextFrom.IsZero() {
		t.Errorf("window after the good run: %+v, want no listing in progress and a next_from", w)
	}
}

// listing is a test double in front of the sandbox that may rewrite the
// transaction listings the client sees.
type listing struct {
	sb      http.Handler
	mu      gosync.Mutex
	rewrite func(r *http.Request, page *fuse.Page[map[string]any]) // nil: pass through
	calls   int
}

func (l *listing) wrap(h http.Handler) http.Handler {
	l.sb = h
	return l
}

func (l *listing) set(f func(r *http.Request, page *fuse.Page[map[string]any])) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.rewrite = f
}

func (l *listing) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	l.mu.Lock()
	f := l.rewrite
	l.calls++
	l.mu.Unlock()
	if f == nil || r.Method != http.MethodGet || !strings.HasSuffix(r.URL.Path, "/transactions") {
		l.sb.ServeHTTP(w, r)
		return
	}
	// Ask the sandbox for the first page if the cursor is one of ours.
	if strings.HasPrefix(r.URL.Query().Get("cursor"), "fake-") {
		q := r.URL.Query()
		q.Del("cursor")
		r = r.Clone(r.Context())
		r.URL.RawQuery = q.Encode()
	}
	rec := httptest.NewRecorder()
	l.sb.ServeHTTP(rec, r)
	if rec.Code != http.StatusOK {
		w.WriteHeader(rec.Code)
		_, _ = w.Write(rec.Body.Bytes())
		return
	}
	var page fuse.Page[map[string]any]
	if err := json.Unmarshal(rec.Body.Bytes(), &page); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	f(r, &page)
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(page)
}

// firstPageOnly asserts that the run committed the listing's first page
// (size items) and nothing after it, and left the listing in progress at
// that page's cursor.
func firstPageOnly(t *testing.T, e *env, size int) {
	t.Helper()
	if got := count(t, e.l.Reader(), "SELECT count(*) FROM fuse_transactions"); got != size {
		t.Errorf("%d transactions in the ledger, want the first page's %d", got, size)
	}
	w := window(t, e, ledger.ScopeOrg)
	if w.Listing == nil || w.Listing.Pages != 1 || w.Listing.Cursor == "" {
		t.Errorf("window %+v (listing %+v), want a listing in progress after its first page", w, w.Listing)
	}
}

func TestRepeatedCursorStopsBeforeTheLoopingPage(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{syncer: func(o *syncer.Options) { o.PageSize = 5 }})
	e.generate(1, 40, false)
	e.sb.SetFaults(sandbox.Faults{RepeatCursor: true})
	_, err := e.s.Run(context.Background(), syncer.RunOptions{})
	if !errors.Is(err, fuse.ErrRepeatedCursor) {
		t.Fatalf("err = %v, want a repeated cursor", err)
	}
	firstPageOnly(t, e, 5)

	e.sb.SetFaults(sandbox.Faults{})
	e.run(syncer.RunOptions{})
	assertEqualsTruth(t, e.l, e.sb.Truth())
}

// TestListingThatNeverEndsStops: a listing whose pages keep bringing
// nothing new (the same items again, or nothing) with ever new cursors
// stops as broken after a bounded number of pages, with what it showed
// committed; once Fuse is fixed, the cursor saved (one Fuse never issued)
// is refused and the same window is listed again, to the truth.
func TestListingThatNeverEndsStops(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		rewrite func(n int, page *fuse.Page[map[string]any])
	}{
		{"same page with ever new cursors", func(n int, page *fuse.Page[map[string]any]) { page.Data = page.Data[:4] }},
		{"empty pages with ever new cursors", func(n int, page *fuse.Page[map[string]any]) { page.Data = page.Data[:0] }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := &listing{}
			e := newEnv(t, envOptions{wrap: l.wrap, syncer: func(o *syncer.Options) { o.PageSize = 4 }})
			e.generate(1, 30, false)
			var n atomic.Int64
			l.set(func(r *http.Request, page *fuse.Page[map[string]any]) {
				k := n.Add(1)
				if k > 1 {
					tc.rewrite(int(k), page)
				}
				next := fmt.Sprintf("fake-%d", k)
				page.Pages.Next = &next
			})
			_, err := e.s.Run(context.Background(), syncer.RunOptions{})
			if !errors.Is(err, syncer.ErrBrokenListing) {
				t.Fatalf("err = %v, want a broken listing", err)
			}
			t.Logf("stopped after %d pages: %v", n.Load(), err)
			if n.Load() > 110 {
				t.Errorf("%d pages read before stopping", n.Load())
			}
			if got := count(t, e.l.Reader(), "SELECT count(*) FROM fuse_transactions"); got != 4 {
				t.Errorf("%d transactions in the ledger, want the first page's 4", got)
			}
			if w := window(t, e, ledger.ScopeOrg); w.Listing == nil || !strings.HasPrefix(w.Listing.Cursor, "fake-") {
				t.Fatalf("window %+v, want the listing in progress at a cursor of the broken listing", w)
			}

			l.set(nil) // Fuse fixed it: its real cursors only
			e.run(syncer.RunOptions{})
			if len(e.logs.lines("refused the listing's cursor")) != 1 {
				t.Errorf("no log line for the refused cursor:\n%s", e.logs.tail(10))
			}
			assertEqualsTruth(t, e.l, e.sb.Truth())
		})
	}
}

// TestAListingInAnotherShapeFailsTheRunInsteadOfReadingNothing: a 200
// whose body is not Fuse's listing envelope {results, pages: {next, size}}
// fails the account (and the run) with a bad response; it is never read
// as an empty last page, which would report success with nothing read.
func TestAListingInAnotherShapeFailsTheRunInsteadOfReadingNothing(t *testing.T) {
	t.Parallel()
	for _, body := range []string{
		`{"data":[],"next_cursor":null}`,
		`{"results":[]}`,
		`{"results":[],"pages":{"next":null}}`,
		`{"pages":{"next":null,"size":100}}`,
		`{"results":null,"pages":{"next":null,"size":100}}`,
	} {
		t.Run(body, func(t *testing.T) {
			e := newEnv(t, envOptions{wrap: func(h http.Handler) http.Handler {
				return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					if r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/transactions") {
						w.Header().Set("Content-Type", "application/json")
						_, _ = w.Write([]byte(body))
						return
					}
					h.ServeHTTP(w, r)
				})
			}})
			gen := e.generate(1, 10, false)
			_, err := e.s.Run(context.Background(), syncer.RunOptions{})
			if !errors.Is(err, fuse.ErrBadResponse) || !strings.Contains(err.Error(), "not a listing envelope") {
				t.Fatalf("err = %v, want a bad response that is not a listing envelope", err)
			}
			acct := gen.AccountIDs[0]
			if got := count(t, e.l.Reader(), "SELECT count(*) FROM fuse_transactions WHERE account_id = ?", acct); got != 0 {
				t.Errorf("%d transactions in the ledger, want none", got)
			}
			cp, _, err := e.l.Checkpoint(context.Background(), acct)
			if err != nil || !strings.Contains(cp.LastError, "not a listing envelope") {
				t.Errorf("checkpoint %+v (%v): want the error as last_error", cp, err)
			}
		})
	}
}

func TestInvalidObjectStopsTheAccountBeforeItsPage(t *testing.T) {
	t.Parallel()
	l := &listing{}
	e := newEnv(t, envOptions{wrap: l.wrap, syncer: func(o *syncer.Options) { o.PageSize = 6 }})
	gen := e.generate(1, 30, false)
	var bad string
	l.set(func(r *http.Request, page *fuse.Page[map[string]any]) {
		if r.URL.Query().Get("cursor") != "" && bad == "" {
			page.Data[2]["currency"] = "XXX"
			bad = page.Data[2]["id"].(string)
		}
	})
	_, err := e.s.Run(context.Background(), syncer.RunOptions{})
	if !errors.Is(err, syncer.ErrInvalidObject) || !strings.Contains(err.Error(), bad) {
		t.Fatalf("err = %v, want an invalid object naming %s", err, bad)
	}
	firstPageOnly(t, e, 6)
	cp, _, _ := e.l.Checkpoint(context.Background(), gen.AccountIDs[0])
	if !strings.Contains(cp.LastError, bad) {
		t.Errorf("last_error %q does not name %s", cp.LastError, bad)
	}
	if len(e.logs.lines("backfill account failed", "kind=invalid_object")) != 1 {
		t.Errorf("no log line for the invalid object:\n%s", e.logs.tail(10))
	}

	l.set(nil) // Fuse fixed it
	e.run(syncer.RunOptions{})
	assertEqualsTruth(t, e.l, e.sb.Truth())
}

// accountsRewrite stands in front of the sandbox and lets a test edit the
// account listing.
type accountsRewrite struct {
	sb   http.Handler
	edit func(page *fuse.Page[map[string]any])
}

func (a *accountsRewrite) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet || r.URL.Path != "/v1/accounts" {
		a.sb.ServeHTTP(w, r)
		return
	}
	rec := httptest.NewRecorder()
	a.sb.ServeHTTP(rec, r)
	var page fuse.Page[map[string]any]
	if rec.Code != http.StatusOK || json.Unmarshal(rec.Body.Bytes(), &page) != nil {
		w.WriteHeader(rec.Code)
		_, _ = w.Write(rec.Body.Bytes())
		return
	}
	a.edit(&page)
	_ = json.NewEncoder(w).Encode(page)
}

func TestAnAccountTheLedgerRefusesFailsAloneAndTheOthersAreRead(t *testing.T) {
	t.Parallel()
	var refused string
	rw := &accountsRewrite{edit: func(page *fuse.Page[map[string]any]) {
		page.Data[1]["account_type"] = "savings" // not primary, payment or virtual
		refused = page.Data[1]["id"].(string)
	}}
	e := newEnv(t, envOptions{wrap: func(h http.Handler) http.Handler { rw.sb = h; return rw }})
	e.generate(3, 60, false)
	sum, err := e.s.Run(context.Background(), syncer.RunOptions{})
	failed := sum.Failed()
	if !errors.Is(err, ledger.ErrRejected) || len(failed) != 1 || failed[0].AccountID != refused {
		t.Fatalf("err %v; failed %+v, want only %s", err, failed, refused)
	}
	var read int
	for _, a := range sum.Accounts {
		if a.Err == nil {
			read += a.Transactions
		}
	}
	if read == 0 || count(t, e.l.Reader(), "SELECT count(*) FROM fuse_accounts WHERE fuse_current IS NOT NULL") != 2 {
		t.Errorf("the other accounts were not read: %+v", sum.Accounts)
	}
}
