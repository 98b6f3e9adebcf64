package reconcile_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ledgerd/ledgerd/fuse/sandbox"
	"github.com/ledgerd/ledgerd/reconcile"
)

// historyRoute is the sandbox's name for GET /accounts/{id}/history in its
// request counts.
const historyRoute = "GET /accounts/{account_id}/history"

// TestClosingBalancesThatAgreeAreNoBreak: a month booked exactly as Fuse
// has it; the daily check asks each account's history once and finds
// every day equal.
func TestClosingBalancesThatAgreeAreNoBreak(t *testing.T) {
	t.Parallel()
	w := newWorld(t, 41)
	truth := w.month(4, 150)
	w.ingest(without(truth.Transactions, nil)...)
	run := w.run(w.reconciler(nil))
	w.assertExactly(run, nil)
	if run.Verdict != reconcile.Reconciled {
		t.Errorf("verdict %s (%s), want RECONCILED", run.Verdict, run.Detail)
	}
	if n := w.sb.Stats().APIRequests[historyRoute]; n != len(truth.Accounts) {
		t.Errorf("%d history requests, want one per account (%d)", n, len(truth.Accounts))
	}
}

// TestAnAdjustmentTwoDaysAgoIsAClosingBalanceDriftNamingThatDay: the bank
// moves a balance with no transaction, and two days pass. The daily check
// reports one closing_balance_drift on the account, with the amounts of
// the first day that differs (the adjustment's) and the count of days
// that differ, beside today's balance_drift.
func TestAnAdjustmentTwoDaysAgoIsAClosingBalanceDriftNamingThatDay(t *testing.T) {
	t.Parallel()
	w := newWorld(t, 42)
	truth := w.month(4, 150)
	w.ingest(without(truth.Transactions, nil)...)
	a := truth.Accounts[2].AccountState
	if _, err := w.sb.Adjust(sandbox.Adjustment{AccountID: a.AccountID, Amount: -40_00}); err != nil { // 2026-03-31
		t.Fatal(err)
	}
	day := time.Date(2026, 3, 31, 23, 59, 59, 0, time.UTC)
	var before int64
	for _, x := range w.sb.Truth().Accounts {
		if x.AccountID == a.AccountID {
			before = x.Balance.Current + 40_00
		}
	}
	w.sb.Advance(48 * time.Hour) // 2026-04-02 18:00: 03-31 and 04-01 have ended
	run := w.run(w.reconciler(nil))
	got := w.assertExactly(run, keys(drift(a.AccountID, a.Currency), closing(a.AccountID)))
	b := got[closing(a.AccountID)]
	if b.Severity != reconcile.Warning || b.FuseAccountID != a.AccountID || string(b.Currency) != a.Currency ||
		b.LedgerAmount == nil || int64(*b.LedgerAmount) != before || b.FuseAmount == nil || int64(*b.FuseAmount) != before-40_00 ||
		b.Difference == nil || *b.Difference != 40_00 {
		t.Errorf("closing_balance_drift %+v, want ledger %d, Fuse %d, difference 40.00 (warning)", b, before, before-40_00)
	}
	for _, want := range []string{"closing balance of " + day.Format(time.DateOnly), "midnight UTC", "2 of 31 days compared (2026-03-02 to 2026-04-01)"} {
		if !strings.Contains(b.Detail, want) {
			t.Errorf("detail %q lacks %q", b.Detail, want)
		}
	}
	if run.Verdict != reconcile.Breaks {
		t.Errorf("verdict %s, want BREAKS", run.Verdict)
	}

	// The bank reverses it the same day it is found: today's balance
	// agrees, but 03-31 and 04-01 closed without the money, and the break
	// stays until those days leave the window.
	if _, err := w.sb.Adjust(sandbox.Adjustment{AccountID: a.AccountID, Amount: 40_00}); err != nil {
		t.Fatal(err)
	}
	run = w.run(w.reconciler(nil))
	w.assertExactly(run, keys(closing(a.AccountID)))
}

// TestAHistoryFuseCannotGiveMakesTheRunIncomplete: a history request
// answered 500, or 200 in another shape, leaves the account's days
// unchecked: the run is INCOMPLETE, never green, and resolves nothing.
func TestAHistoryFuseCannotGiveMakesTheRunIncomplete(t *testing.T) {
	t.Parallel()
	w := newWorld(t, 43)
	truth := w.month(4, 200)
	w.ingest(without(truth.Transactions, nil)...)
	a := truth.Accounts[1].AccountState
	if _, err := w.sb.Adjust(sandbox.Adjustment{AccountID: a.AccountID, Amount: 7_00}); err != nil {
		t.Fatal(err)
	}
	w.sb.Advance(24 * time.Hour)
	if _, err := w.sb.Adjust(sandbox.Adjustment{AccountID: a.AccountID, Amount: -7_00}); err != nil {
		t.Fatal(err)
	}
	// Today's balance agrees; yesterday's closing balance does not.
	run := w.run(w.reconciler(nil))
	w.assertExactly(run, keys(closing(a.AccountID)))

	for _, c := range []struct {
		status int
		body   string
		detail string
	}{
		{http.StatusInternalServerError, `{"code":"internal_error","error":"boom","message":"boom"}`, "500"},
		{http.StatusOK, `{"id":"` + a.AccountID + `","days":[]}`, "not an account history"},
		{http.StatusOK, `{"id":"` + a.AccountID + `","history":[{"date":"2026-03-30","closing_balance":null}]}`, "no closing_balance"},
	} {
		_, client := serveFuse(t, http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/history") {
				rw.Header().Set("Content-Type", "application/json")
				rw.WriteHeader(c.status)
				_, _ = io.WriteString(rw, c.body)
				return
			}
			w.sb.ServeHTTP(rw, r)
		}))
		run := w.run(w.reconciler(func(o *reconcile.Options) { o.Fuse = client }))
		if run.Verdict != reconcile.Incomplete || !contains(run.Detail, "balance history of account") ||
			!contains(run.Detail, c.detail) || run.BreaksResolved != 0 {
			t.Errorf("history %d %s: run %s, %d resolved, %q", c.status, c.body, run.Verdict, run.BreaksResolved, run.Detail)
		}
	}
	bs, err := reconcile.NewStore(w.l).Breaks(context.Background(), reconcile.Open)
	if err != nil || len(bs) != 1 || bs[0].Category != reconcile.ClosingBalanceDrift {
		t.Errorf("open breaks after the incomplete runs: %+v %v, want the closing_balance_drift", bs, err)
	}
}

// TestClosingBalancesAreComparedOnLEDGERDTZsDays: days end at midnight in
// the run's Location (LEDGERD_TZ). Money that arrives at 22:00 UTC on
// 03-29 is on 03-30 in Dubai: against a Fuse whose days are Dubai's too
// nothing differs; against one whose days are UTC's, 03-29 differs (Fuse
// closed it with the money, the ledger's Dubai day ended at 20:00 UTC
// without it) and 03-30 agrees again.
func TestClosingBalancesAreComparedOnLEDGERDTZsDays(t *testing.T) {
	t.Parallel()
	dubai, err := time.LoadLocation("Asia/Dubai")
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 3, 29, 22, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		fuseDays *time.Location
		want     string // the day named, "" for no break
	}{
		{dubai, ""},
		{time.UTC, "closing balance of 2026-03-29 (days ending at midnight Asia/Dubai): ledger posted 0.00 AED, Fuse 100.00 AED"},
	} {
		w := newWorldWith(t, sandbox.Options{Seed: 44, HistoryZone: c.fuseDays, Now: func() time.Time { return at }})
		acct, err := w.sb.OpenAccount(sandbox.AccountSpec{Currency: "AED", Balance: 100_00})
		if err != nil {
			t.Fatal(err)
		}
		w.ingest(without(w.sb.Truth().Transactions, nil)...)
		w.sb.Advance(t0.Sub(at)) // 2026-03-31 18:00 UTC: 03-30 has ended in Dubai
		run := w.run(w.reconciler(func(o *reconcile.Options) { o.Location = dubai }))
		if c.want == "" {
			w.assertExactly(run, nil)
			continue
		}
		b := w.assertExactly(run, keys(closing(acct.AccountID)))[closing(acct.AccountID)]
		if !strings.Contains(b.Detail, c.want) || !strings.Contains(b.Detail, "1 of 2 days compared") {
			t.Errorf("Fuse's days in %s: detail %q, want %q and 1 of 2 days compared", c.fuseDays, b.Detail, c.want)
		}
	}
}
