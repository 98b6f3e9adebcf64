package sandbox

import (
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/ledgerd/ledgerd"
	"github.com/ledgerd/ledgerd/fuse"
)

// history asks GET /v1/accounts/{id}/history and decodes the answer with
// the client's strict decoder.
func (e *env) history(accountID, from, to string) fuse.AccountHistory {
	e.t.Helper()
	var h fuse.AccountHistory
	e.call("GET", "/v1/accounts/"+accountID+"/history?from="+from+"&to="+to, nil, http.StatusOK, &h)
	if h.ID != accountID {
		e.t.Fatalf("history of %s answers for %q", accountID, h.ID)
	}
	return h
}

// advance moves the sandbox clock through the /sandbox/clock control.
func (e *env) advance(d time.Duration) {
	e.t.Helper()
	e.call("POST", "/sandbox/clock", map[string]string{"advance": d.String()}, http.StatusOK, nil)
}

func days(h fuse.AccountHistory) string {
	s := ""
	for _, d := range h.History {
		s += fmt.Sprintf("%s=%d ", d.Date, d.ClosingBalance)
	}
	return s
}

// TestHistoryClosesEachDayOnTheCurrentBalance: payments over three days
// on the sandbox clock, one executing just after midnight, and an
// adjustment. Each day closes on the settled balance at its end (UTC);
// the history starts on the day the account was opened and ends today,
// today's balance being the balance so far.
func TestHistoryClosesEachDayOnTheCurrentBalance(t *testing.T) {
	e := newEnv(t, Options{Seed: 21, TokenTTL: 7 * 24 * time.Hour})
	a := e.account("AED", "Ops") // 2025-03-01 09:00 UTC
	e.fund(a.AccountID, 1_000_00)
	p1 := e.pay(a.AccountID, 250_00)
	e.advance(PaymentExecuteDelay) // executed on 03-01
	day1 := 1_000_00 - p1.AmountWithFee

	// 2025-03-02 23:59:58: money in, and a payment that executes on 03-03.
	e.advance(38*time.Hour + 59*time.Minute + 53*time.Second)
	if now := e.sb.Now(); now != time.Date(2025, 3, 2, 23, 59, 58, 0, time.UTC) {
		t.Fatalf("clock at %s", now)
	}
	e.fund(a.AccountID, 300_00)
	p2 := e.pay(a.AccountID, 100_00)
	day2 := day1 + 300_00 // p2 is in flight at midnight: current does not count it
	e.advance(10 * time.Second)
	if got, _ := e.sb.Transaction(p2.TransactionID); got.Status != ledgerd.StatusExecuted || got.FinalAt.Day() != 3 {
		t.Fatalf("second payment: %s at %s, want executed on 03-03", got.Status, got.FinalAt)
	}
	e.call("POST", "/sandbox/adjustments", Adjustment{AccountID: a.AccountID, Amount: -5_00}, http.StatusOK, nil)
	day3 := day2 - p2.AmountWithFee - 5_00

	h := e.history(a.AccountID, "2025-02-27", "2025-03-05")
	want := fuse.AccountHistory{ID: a.AccountID, History: []fuse.DailyBalance{
		{Date: fuse.Date{Year: 2025, Month: 3, Day: 1}, ClosingBalance: day1},
		{Date: fuse.Date{Year: 2025, Month: 3, Day: 2}, ClosingBalance: day2},
		{Date: fuse.Date{Year: 2025, Month: 3, Day: 3}, ClosingBalance: day3},
	}}
	if days(h) != days(want) {
		t.Errorf("history %s, want %s", days(h), days(want))
	}
	if cur := e.balance(a.AccountID).Current; cur != day3 {
		t.Errorf("today closes on %d so far, the account's current balance is %d", day3, cur)
	}
	if h := e.history(a.AccountID, "2025-03-02", "2025-03-02"); days(h) != days(fuse.AccountHistory{History: want.History[1:2]}) {
		t.Errorf("one day: %s, want %s", days(h), days(fuse.AccountHistory{History: want.History[1:2]}))
	}
	if h := e.history(a.AccountID, "2025-02-01", "2025-02-28"); len(h.History) != 0 {
		t.Errorf("days before the account was opened: %s, want none", days(h))
	}
	if h.History == nil {
		t.Error("an empty history must still be an array")
	}
}

// TestHistoryDaysEndInTheSandboxsZone: the same money at the same
// instants closes on other days when the sandbox's day is Dubai's, not
// UTC's (Fuse's day boundary is undocumented).
func TestHistoryDaysEndInTheSandboxsZone(t *testing.T) {
	dubai, err := time.LoadLocation("Asia/Dubai")
	if err != nil {
		t.Skipf("no time zone database: %v", err)
	}
	for _, c := range []struct {
		zone *time.Location
		want string
	}{
		{nil, "2025-03-01=15000 "},                    // 09:00 and 21:00 UTC: one day
		{dubai, "2025-03-01=10000 2025-03-02=15000 "}, // 13:00 and 01:00 next day in Dubai
	} {
		e := newEnv(t, Options{Seed: 22, HistoryZone: c.zone})
		a := e.account("AED", "Ops")
		e.fund(a.AccountID, 100_00)
		e.advance(12 * time.Hour)
		e.fund(a.AccountID, 50_00)
		if got := days(e.history(a.AccountID, "2025-03-01", "2025-03-02")); got != c.want {
			t.Errorf("zone %v: %s, want %s", c.zone, got, c.want)
		}
	}
}

// TestHistoryRefusesWhatTheReferenceRequires: from and to are required
// dates; an unknown account is 404; each refusal is Fuse's error body.
func TestHistoryRefusesWhatTheReferenceRequires(t *testing.T) {
	e := newEnv(t, Options{Seed: 23})
	a := e.account("AED", "Ops")
	base := "/v1/accounts/" + a.AccountID + "/history"
	for _, c := range []struct {
		path   string
		status int
	}{
		{base, 400},
		{base + "?from=2025-03-01", 400},
		{base + "?to=2025-03-01", 400},
		{base + "?from=2025-03-01&to=", 400},
		{base + "?from=2025-3-1&to=2025-03-02", 400},
		{base + "?from=2025-02-30&to=2025-03-02", 400},
		{base + "?from=2025-03-01T00:00:00Z&to=2025-03-02", 400},
		{base + "?from=2025-03-02&to=2025-03-01", 400},
		{base + "?from=2024-01-01&to=2025-03-01", 400},
		{"/v1/accounts/00000000-0000-4000-8000-000000000000/history?from=2025-03-01&to=2025-03-01", 404},
	} {
		st, b := e.do("GET", c.path, nil, nil)
		var body map[string]any
		_ = json.Unmarshal(b, &body)
		eb, ok := fuse.DecodeErrorBody(b)
		if st != c.status || !ok || eb.Code == "" || eb.Message == "" || body["error"] != eb.Message {
			t.Errorf("GET %s: %d %s, want %d with Fuse's {code, error, message}", c.path, st, b, c.status)
		}
	}
	if st, b := e.do("GET", base+"?from=2024-03-02&to=2025-03-01", nil, nil); st != http.StatusOK {
		t.Errorf("366 days: %d %s, want 200", st, b)
	}
}

// TestGeneratedHistoryClosesOnTheSettledTransactions: a generated month
// (historical stamps, executions that land after the next operation, past
// midnight) closes every day on what the transactions settled by its end.
func TestGeneratedHistoryClosesOnTheSettledTransactions(t *testing.T) {
	e := newEnv(t, Options{Seed: 24})
	res, err := e.sb.Generate(GenerateOptions{Accounts: 4, Transactions: 1500, Span: 30 * 24 * time.Hour, FailureRate: 0.05})
	if err != nil {
		t.Fatal(err)
	}
	tr := e.sb.Truth()
	for _, id := range res.AccountIDs {
		h := e.history(id, "2025-01-01", "2025-03-01")
		if len(h.History) != 31 { // 01-30 (opened) to 03-01 (today)
			t.Fatalf("account %s: %d days, want 31: %s", id, len(h.History), days(h))
		}
		for _, d := range h.History {
			end := d.Date.AddDays(1).Start(time.UTC)
			settled := tr
			settled.Transactions = nil
			for _, x := range tr.Transactions {
				if x.UpdatedAt.Before(end) {
					settled.Transactions = append(settled.Transactions, x)
				}
			}
			if want := recompute(settled)[id].Current; d.ClosingBalance != want {
				t.Errorf("account %s closes %s on %d, its transactions settled %d by then", id, d.Date, d.ClosingBalance, want)
			}
		}
	}
}

// TestTheJournalTakesChangesStampedOutOfOrder: Generate applies a step
// stamped after the next operation's stamp, which may fall on the day
// before; each day still closes on the changes stamped by its end.
func TestTheJournalTakesChangesStampedOutOfOrder(t *testing.T) {
	s := New(Options{Seed: 25, Now: func() time.Time { return t0.Add(72 * time.Hour) }})
	t.Cleanup(s.Close)
	s.mu.Lock()
	defer s.mu.Unlock()
	a := &account{}
	at := func(day, hour int) time.Time { return time.Date(2025, 3, day, hour, 0, 0, 0, time.UTC) }
	for _, c := range []struct {
		delta int64
		at    time.Time
	}{
		{0, at(1, 9)},    // opened
		{100, at(1, 23)}, // 03-01: 100
		{-30, at(2, 0)},  // 03-02: -30 …
		{50, at(1, 23)},  // … stamped back on 03-01: 150
		{7, at(4, 1)},    // 03-04: 7
		{-20, at(2, 12)}, // back again on 03-02: -50
		{1, at(4, 2)},    // the last day again: 8
	} {
		a.Balance.Current += c.delta
		s.noteBalanceLocked(a, c.at)
	}
	h, err := s.historyLocked(a, fuse.Date{Year: 2025, Month: 2, Day: 1}, fuse.Date{Year: 2025, Month: 3, Day: 31}, at(4, 9))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := days(h), "2025-03-01=150 2025-03-02=100 2025-03-03=100 2025-03-04=108 "; got != want {
		t.Errorf("history %s, want %s", got, want)
	}
}
