package syncer_test

import (
	"context"
	"errors"
	"math"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ledgerd/ledgerd"
	"github.com/ledgerd/ledgerd/fuse"
	"github.com/ledgerd/ledgerd/fuse/sandbox"
	"github.com/ledgerd/ledgerd/internal/holdtx"
	"github.com/ledgerd/ledgerd/ledger"
	syncer "github.com/ledgerd/ledgerd/sync"
)

const routeGetTransaction = "GET /transactions/{transaction_id}"

var frozenAt = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

// frozen is a sandbox whose clock moves only by Advance.
func frozen() sandbox.Options {
	return sandbox.Options{Now: func() time.Time { return frozenAt }}
}

// interrupted runs a backfill cancelled once it has committed pages
// pages, and checks that it stopped for that.
func interrupted(t *testing.T, e *env, pages int) syncer.Summary {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sum, err := e.s.Run(ctx, syncer.RunOptions{Progress: func(p syncer.Progress) {
		if p.Pages >= pages {
			cancel()
		}
	}})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted run: %v, want it cancelled", err)
	}
	return sum
}

// TestListingInAnyOrderEqualsTruth: the reference leaves a listing's
// order unstated; whether Fuse lists newest first or in any order, a
// listing interrupted part way and resumed reads every object once and
// ends with the ledger equal to Fuse; so do payments that execute and
// fail after a run (shuffled).
func TestListingInAnyOrderEqualsTruth(t *testing.T) {
	t.Parallel()
	for _, order := range []string{"reverse", "shuffle"} {
		t.Run(order, func(t *testing.T) {
			e := newEnv(t, envOptions{sandbox: frozen(), syncer: func(o *syncer.Options) { o.PageSize = 7 }})
			gen := e.generate(3, scale(300, 3), false)
			e.sb.SetFaults(sandbox.Faults{ListOrder: order})
			sum1 := interrupted(t, e, 5)
			if w := window(t, e, ledger.ScopeOrg); w.Listing == nil || sum1.Pages < 5 {
				t.Fatalf("after the interruption: %d pages, window %+v: want a listing in progress", sum1.Pages, w)
			}
			sum2 := e.run(syncer.RunOptions{})
			if sum1.NewEvents+sum2.NewEvents != gen.Transactions || sum1.Transactions+sum2.Transactions != gen.Transactions {
				t.Errorf("read %d + %d (%d + %d new), want each of %d once",
					sum1.Transactions, sum2.Transactions, sum1.NewEvents, sum2.NewEvents, gen.Transactions)
			}
			assertEqualsTruth(t, e.l, e.sb.Truth())
			if order == "reverse" {
				return // once is enough for what follows (and the race detector is slow)
			}

			acct := e.sb.Truth().Accounts[0]
			p1 := e.payOut(acct.AccountID, 1500)
			p2 := e.payOut(acct.AccountID, 2500)
			e.run(syncer.RunOptions{})
			assertEqualsTruth(t, e.l, e.sb.Truth()) // both in flight
			if _, err := e.sb.Fail(p2.ID, "beneficiary bank refused"); err != nil {
				t.Fatal(err)
			}
			e.sb.Advance(time.Minute) // p1 executes
			sum := e.run(syncer.RunOptions{})
			if sum.NewEvents != 2 {
				t.Errorf("the run after the execution and the failure stored %d new events, want 2", sum.NewEvents)
			}
			if leg, _ := e.sb.Transaction(p1.ID); leg.Status != ledgerd.StatusExecuted {
				t.Fatalf("payment %s is %s at Fuse, want executed", p1.ID, leg.Status)
			}
			assertEqualsTruth(t, e.l, e.sb.Truth())
		})
	}
}

// TestPaymentCreatedBeforeTheWindowIsReadUntilFinal: a payment created
// before where the next listing starts, still in flight in the ledger, is
// read again by every run until the ledger holds it final: one by one
// while that is cheaper (the listing would have to cover everything
// created since), by widening the window when that is. The windows here
// move by seconds of the sandbox clock, the overlap is off, and pages
// are small, so that "long before" is a few pages before.
func TestPaymentCreatedBeforeTheWindowIsReadUntilFinal(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{sandbox: frozen(), syncer: func(o *syncer.Options) {
		o.PageSize = 5
		o.Overlap = -1
	}})
	e.generate(2, 40, false)
	acct := e.sb.Truth().Accounts[0]
	inbound := func(n int) {
		t.Helper()
		for range n {
			if _, err := e.sb.InboundPayment(sandbox.InboundPayment{AccountID: acct.AccountID, Amount: 10_000, RemitterName: "Al Waha Rentals"}); err != nil {
				t.Fatal(err)
			}
		}
	}
	// GETs of one transaction by the backfill: CreatePayment's read-back
	// of the payment it made is not one of them.
	var created int
	gets := func() int { return e.sb.Stats().APIRequests[routeGetTransaction] - created }
	status := func(id string) string {
		t.Helper()
		var s string
		if err := e.l.Reader().QueryRow(`SELECT status FROM fuse_transactions WHERE transaction_id = ?`, id).Scan(&s); err != nil {
			t.Fatal(err)
		}
		return s
	}

	p := e.payOut(acct.AccountID, 1000) // created at T
	created = e.sb.Stats().APIRequests[routeGetTransaction]
	e.run(syncer.RunOptions{})
	e.sb.Advance(time.Second) // T+1s: p submitted
	inbound(12)
	e.sb.Advance(time.Second)
	inbound(1) // T+2s: where the next listing starts
	e.run(syncer.RunOptions{})
	if status(p.ID) != "submitted" || gets() != 0 {
		t.Fatalf("payment %s is %s after a listing that showed it, %d read one by one", p.ID, status(p.ID), gets())
	}

	// The next listing starts at T+2s: p, created at T, is before it, and
	// 13 transactions lie between (3 pages): one request reads it.
	e.sb.Advance(time.Second)
	sum := e.run(syncer.RunOptions{})
	if gets() != 1 || sum.Reread != 1 || status(p.ID) != "submitted" {
		t.Fatalf("run 3: %d read one by one (summary %d), payment %s; want 1, still submitted", gets(), sum.Reread, status(p.ID))
	}
	e.sb.Advance(3 * time.Second) // T+6s: executed at T+5s
	e.run(syncer.RunOptions{})
	if gets() != 2 || status(p.ID) != "executed" {
		t.Fatalf("run 4: %d read one by one, payment %s; want 2, executed", gets(), status(p.ID))
	}
	assertEqualsTruth(t, e.l, e.sb.Truth())
	e.run(syncer.RunOptions{})
	if gets() != 2 {
		t.Fatalf("a payment final in the ledger was read again: %d reads", gets())
	}

	// A payment with one transaction between it and the window's start:
	// widening by one page costs less than reading it alone.
	q := e.payOut(acct.AccountID, 2000) // T+6s
	created++                           // its read-back
	e.run(syncer.RunOptions{})
	e.sb.Advance(time.Second)
	inbound(1) // T+7s
	e.run(syncer.RunOptions{})
	e.sb.Advance(5 * time.Second) // q executed at T+11s
	e.run(syncer.RunOptions{})
	if gets() != 2 || status(q.ID) != "executed" {
		t.Fatalf("payment %s is %s, %d read one by one; want executed by a wider window, no read", q.ID, status(q.ID), gets())
	}
	if len(e.logs.lines("window widened", "covered=1")) != 1 {
		t.Errorf("no log line for the widened window:\n%s", e.logs.tail(15))
	}
	assertEqualsTruth(t, e.l, e.sb.Truth())
}

// TestTiesOnCreatedAtAcrossPageBoundaries: many transactions at the same
// instant, over several pages; a listing interrupted among them resumes
// from its cursor, and more at that same instant after the run are read
// by the next.
func TestTiesOnCreatedAtAcrossPageBoundaries(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{sandbox: frozen(), syncer: func(o *syncer.Options) { o.PageSize = 5 }})
	a, err := e.sb.OpenAccount(sandbox.AccountSpec{Currency: "AED", Balance: 1_000_000})
	if err != nil {
		t.Fatal(err)
	}
	tie := func(n int) {
		t.Helper()
		for range n {
			if _, err := e.sb.InboundPayment(sandbox.InboundPayment{AccountID: a.AccountID, Amount: 700, RemitterName: "Gulf Office Supplies"}); err != nil {
				t.Fatal(err)
			}
		}
	}
	tie(23) // with the funding, 24 at the same instant
	interrupted(t, e, 2)
	e.run(syncer.RunOptions{})
	assertEqualsTruth(t, e.l, e.sb.Truth())
	tie(23)
	sum := e.run(syncer.RunOptions{})
	if sum.NewEvents != 23 {
		t.Errorf("%d new events, want the 23 created at the same instant after the last run", sum.NewEvents)
	}
	assertEqualsTruth(t, e.l, e.sb.Truth())
	for _, x := range e.sb.Truth().Transactions {
		if !x.CreatedAt.Equal(frozenAt) {
			t.Fatalf("transaction %s created at %s, not at the tie %s", x.TransactionID, x.CreatedAt, frozenAt)
		}
	}
}

// TestFullLastPageThenAnEmptyOne: a listing whose last full page still
// has a pages.next, leading to an empty last page, ends there, with the
// window moved on.
func TestFullLastPageThenAnEmptyOne(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{sandbox: frozen(), syncer: func(o *syncer.Options) { o.PageSize = 5 }})
	gen := e.generate(1, 20, false)
	e.sb.SetFaults(sandbox.Faults{EmptyLastPage: true})
	sum := e.run(syncer.RunOptions{})
	if got := e.sb.Stats().APIRequests["GET /transactions"]; sum.Pages != 5 || got != 5 || sum.Transactions != gen.Transactions {
		t.Errorf("%d pages committed, %d listing requests, %d transactions; want 5, 5 and %d", sum.Pages, got, sum.Transactions, gen.Transactions)
	}
	if w := window(t, e, ledger.ScopeOrg); w.Listing != nil || w.NextFrom.IsZero() {
		t.Errorf("window %+v: want the listing ended", w)
	}
	assertEqualsTruth(t, e.l, e.sb.Truth())
}

// TestUnknownTransactionsAreCountedAndKept: a transaction of a type the
// reference does not name is stored unbooked, and the run's summary and
// log line count it.
func TestUnknownTransactionsAreCountedAndKept(t *testing.T) {
	t.Parallel()
	l := &listing{}
	e := newEnv(t, envOptions{wrap: l.wrap})
	e.generate(1, 10, false)
	var unknown atomic.Value
	l.set(func(r *http.Request, page *fuse.Page[map[string]any]) {
		if len(page.Data) > 3 {
			page.Data[3]["type"] = "card_payment"
			unknown.Store(page.Data[3]["id"].(string))
		}
	})
	sum := e.run(syncer.RunOptions{})
	id, _ := unknown.Load().(string)
	if sum.Unknown != 1 || sum.Accounts[0].Unknown != 1 || id == "" {
		t.Fatalf("summary counts %d unknown (account %d), want 1", sum.Unknown, sum.Accounts[0].Unknown)
	}
	if len(e.logs.lines("backfill finished", "unknown=1")) != 1 || len(e.logs.lines("unknown type or state", id)) != 1 {
		t.Errorf("the log does not count or name the unknown transaction:\n%s", e.logs.tail(10))
	}
	if n := count(t, e.l.Reader(), `SELECT count(*) FROM events WHERE handled = 0 AND instr(CAST(raw AS TEXT), ?) > 0`, id); n != 1 {
		t.Errorf("%d unhandled events hold %s, want 1", n, id)
	}
	if n := count(t, e.l.Reader(), `SELECT count(*) FROM fuse_transactions WHERE transaction_id = ?`, id); n != 0 {
		t.Errorf("the unknown transaction was booked")
	}
}

// TestAnotherAccountsTransactionBreaksAnAccountsListing: on one account's
// listing, another account's transaction is a broken listing.
func TestAnotherAccountsTransactionBreaksAnAccountsListing(t *testing.T) {
	t.Parallel()
	l := &listing{}
	e := newEnv(t, envOptions{wrap: l.wrap})
	gen := e.generate(2, 20, false)
	l.set(func(r *http.Request, page *fuse.Page[map[string]any]) {
		if len(page.Data) > 0 {
			page.Data[0]["account_id"] = gen.AccountIDs[1]
		}
	})
	_, err := e.s.Run(context.Background(), syncer.RunOptions{AccountIDs: gen.AccountIDs[:1]})
	if !errors.Is(err, syncer.ErrBrokenListing) {
		t.Fatalf("err = %v, want a broken listing", err)
	}
	if n := count(t, e.l.Reader(), "SELECT count(*) FROM fuse_transactions"); n != 0 {
		t.Errorf("%d transactions committed from a broken page", n)
	}
}

// TestSinceAndFullMoveTheWindowOnlyWithoutAGap: --full moves the window
// to the end of what it listed; --since a time after the window's start
// leaves it (what lies between is still to be read), and --since a time
// before it moves it on.
func TestSinceAndFullMoveTheWindowOnlyWithoutAGap(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{sandbox: frozen(), fuseClock: true})
	e.generate(2, 30, false)
	e.run(syncer.RunOptions{Full: true})
	first := window(t, e, ledger.ScopeOrg).NextFrom
	if first.IsZero() {
		t.Fatal("a full run left no window")
	}
	e.sb.Advance(time.Hour)
	acct := e.sb.Truth().Accounts[0]
	if _, err := e.sb.InboundPayment(sandbox.InboundPayment{AccountID: acct.AccountID, Amount: 500, RemitterName: "Noor Catering LLC"}); err != nil {
		t.Fatal(err)
	}
	e.run(syncer.RunOptions{Since: first.Add(time.Minute)})
	if got := window(t, e, ledger.ScopeOrg).NextFrom; !got.Equal(first) {
		t.Errorf("a --since after the window's start moved it to %s, want it at %s", got, first)
	}
	e.run(syncer.RunOptions{Since: first.Add(-time.Minute)})
	if got := window(t, e, ledger.ScopeOrg).NextFrom; !got.Equal(frozenAt.Add(time.Hour)) {
		t.Errorf("a --since before the window's start left it at %s, want the last transaction's %s", got, frozenAt.Add(time.Hour))
	}
	assertEqualsTruth(t, e.l, e.sb.Truth())
}

// TestBackfillRequestsStayWithinTheirBudget: the first backfill of N
// transactions costs at most 1.1 × (ceil(N / page size) + accounts) API
// requests, and the next one, after the most recent 1 % (payments in
// flight) executed and a payment created a month ago changed today, at
// most 10 % of the first's. (Pages of N/50 stand in for Fuse's 2000,
// so that N stays small.)
func TestBackfillRequestsStayWithinTheirBudget(t *testing.T) {
	t.Parallel()
	const accounts = 10
	n := scale(2000, 4)
	pageSize, inFlight := n/50, n/100
	var h *holdtx.Handler
	e := newEnv(t, envOptions{sandbox: frozen(), wrap: func(sb http.Handler) http.Handler { h = holdtx.New(sb); return h },
		syncer: func(o *syncer.Options) { o.PageSize = pageSize }})
	if _, err := e.sb.Generate(sandbox.GenerateOptions{Accounts: accounts, Transactions: n - inFlight,
		Span: 40 * 24 * time.Hour, Currencies: []string{"AED", "USD", "EUR", "GBP"}}); err != nil {
		t.Fatal(err)
	}
	truth := e.sb.Truth()
	for i := range inFlight {
		a := truth.Accounts[i%accounts]
		e.payOut(a.AccountID, 100+int64(i))
	}
	held := ""
	for _, x := range truth.Transactions {
		if x.Kind == ledgerd.KindLocalPaymentOut && x.Status == ledgerd.StatusExecuted && frozenAt.Sub(x.CreatedAt) > 30*24*time.Hour {
			held = x.TransactionID // the first one over a month old
			break
		}
	}
	if held == "" {
		t.Fatal("no payment a month old in the history")
	}
	h.Hold(held) // Fuse shows it in flight

	before := apiRequests(e.sb)
	sum := e.run(syncer.RunOptions{})
	first := apiRequests(e.sb) - before
	budget := 1.1 * float64((n+pageSize-1)/pageSize+accounts)
	t.Logf("first backfill: %d transactions, %d requests (budget %.0f)", sum.Transactions, first, budget)
	if sum.Transactions != n || float64(first) > budget {
		t.Errorf("first backfill read %d transactions in %d requests; want %d in at most %.0f", sum.Transactions, first, n, budget)
	}

	e.sb.Advance(time.Minute) // the payments in flight execute
	h.Release()               // and the month-old one executes today
	before = apiRequests(e.sb)
	sum = e.run(syncer.RunOptions{})
	next := apiRequests(e.sb) - before
	t.Logf("incremental backfill: %d transactions (%d new), %d read one by one, %d requests", sum.Transactions, sum.NewEvents, sum.Reread, next)
	if float64(next) > math.Floor(0.1*float64(first)) || sum.NewEvents != inFlight+1 || sum.Reread != 1 {
		t.Errorf("incremental backfill: %d requests (budget %d), %d new events (want %d), %d read one by one (want 1)",
			next, int(0.1*float64(first)), sum.NewEvents, inFlight+1, sum.Reread)
	}
	assertEqualsTruth(t, e.l, e.sb.Truth())
}
