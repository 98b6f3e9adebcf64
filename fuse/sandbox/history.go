package sandbox

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/ledgerd/ledgerd"
	"github.com/ledgerd/ledgerd/fuse"
)

// Balance history: GET /v1/accounts/{account_id}/history?from=…&to=…
// answers {id, history: [{date, closing_balance}]}, the closing balance
// of each day being the account's current balance (settled money, what
// current_balance counts) at the end of that day.
//
// Fuse does not document which instant ends its day [model]: the sandbox
// closes days in UTC unless Options.HistoryZone names another zone. Nor
// what a range lists [model]: the sandbox lists every day from `from` to
// `to`, both included, in date order, but none before the day the account
// was opened and none after today (sandbox clock), today's balance being
// the balance so far. A range of more than historyMaxDays days is refused.
//
// Each account keeps a journal of its current balance: the net change of
// each day on which it changed, kept in day order. Every operation that
// changes an account's current balance notes it (noteBalanceLocked) with
// the time of the change; a note costs a comparison and an addition when
// the day is the journal's last (always, but for Generate's historical
// stamps, which may step back across midnight: then a binary search).
// Memory is one entry per account and day with a change, whatever the
// number of transactions (Generate's 1M transactions over 30 days on 8
// accounts: 240 entries).

// historyMaxDays bounds one history request [model].
const historyMaxDays = 366

// balanceJournal is one account's current balance by day.
type balanceJournal struct {
	opened fuse.Date // the first day noted: the day the account was opened
	last   int64     // the current balance at the last note
	days   []dayNet  // the days on which the balance changed, in order
	// bad is set when a net change overflowed: the history cannot be
	// told and the route answers 500 (never a wrong balance).
	bad bool
	// lastStart and lastEnd bound the journal's last day, so that a note
	// on that day needs no calendar arithmetic.
	lastStart, lastEnd time.Time
}

// dayNet is the net change of an account's current balance on one day.
type dayNet struct {
	day fuse.Date
	net int64
}

// historyZone is the time zone of the history's days.
func (s *Sandbox) historyZone() *time.Location {
	if s.opts.HistoryZone != nil {
		return s.opts.HistoryZone
	}
	return time.UTC
}

// currentBalance is what the journal follows: the account's current
// (settled) balance.
func currentBalance(a *account) int64 { return a.Balance.Current }

// noteBalanceLocked records a's current balance as it stands after a
// change at time at. The first note of an account (when it is opened)
// fixes the first day of its history.
func (s *Sandbox) noteBalanceLocked(a *account, at time.Time) {
	j := s.journals[a]
	if j == nil {
		if s.journals == nil {
			s.journals = map[*account]*balanceJournal{}
		}
		j = &balanceJournal{opened: fuse.DateOf(at.In(s.historyZone()))}
		s.journals[a] = j
	}
	cur := currentBalance(a)
	net, err := ledgerd.Amount(cur).Sub(ledgerd.Amount(j.last))
	j.last = cur
	switch {
	case err != nil:
		j.bad = true
		return
	case net == 0:
		return
	}
	if n := len(j.days); n > 0 && !at.Before(j.lastStart) && at.Before(j.lastEnd) {
		j.addLocked(n-1, net)
		return
	}
	day := fuse.DateOf(at.In(s.historyZone()))
	if day.Before(j.opened) {
		j.opened = day
	}
	i, found := slices.BinarySearchFunc(j.days, day, func(e dayNet, d fuse.Date) int { return e.day.Compare(d) })
	if found {
		j.addLocked(i, net)
		return
	}
	j.days = slices.Insert(j.days, i, dayNet{day: day, net: int64(net)})
	if i == len(j.days)-1 {
		j.lastStart = day.Start(s.historyZone())
		j.lastEnd = day.AddDays(1).Start(s.historyZone())
	}
}

func (j *balanceJournal) addLocked(i int, net ledgerd.Amount) {
	v, err := ledgerd.Amount(j.days[i].net).Add(net)
	if err != nil {
		j.bad = true
		return
	}
	j.days[i].net = int64(v)
}

// accountHistory: GET /v1/accounts/{account_id}/history?from&to → 200
// fuse.AccountHistory; 400 when from or to is missing or not a date, when
// to is before from or the range is over historyMaxDays days; 404 for an
// unknown account.
func (s *Sandbox) accountHistory(r *http.Request, _ []byte) (int, any, error) {
	from, to, err := historyRange(r.URL.Query())
	if err != nil {
		return 0, nil, err
	}
	now := s.lockNow()
	defer s.mu.Unlock()
	a, err := s.accountLocked(r.PathValue("account_id"))
	if err != nil {
		return 0, nil, err
	}
	h, err := s.historyLocked(a, from, to, now)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, h, nil
}

// historyRange reads and checks the required from and to.
func historyRange(q url.Values) (from, to fuse.Date, err error) {
	for _, p := range []struct {
		name string
		d    *fuse.Date
	}{{"from", &from}, {"to", &to}} {
		v := q.Get(p.name)
		if v == "" {
			return from, to, apiErr(http.StatusBadRequest, "invalid_request", "%s is required: a date, YYYY-MM-DD", p.name)
		}
		if *p.d, err = fuse.ParseDate(v); err != nil {
			return from, to, apiErr(http.StatusBadRequest, "invalid_request", "%s must be a date, YYYY-MM-DD: %q", p.name, v)
		}
	}
	if to.Before(from) {
		return from, to, apiErr(http.StatusBadRequest, "invalid_request", "to %s is before from %s", to, from)
	}
	if from.AddDays(historyMaxDays - 1).Before(to) {
		return from, to, apiErr(http.StatusBadRequest, "invalid_request", "from %s to %s is more than %d days", from, to, historyMaxDays)
	}
	return from, to, nil
}

// historyLocked is a's history from from to to (see the comment at the
// top of this file).
func (s *Sandbox) historyLocked(a *account, from, to fuse.Date, now time.Time) (fuse.AccountHistory, error) {
	today := fuse.DateOf(now.In(s.historyZone()))
	j := s.journals[a]
	if j == nil {
		// Never noted: the balance has not moved since the account was
		// opened, on a day no note recorded; only today is known.
		j = &balanceJournal{opened: today, last: currentBalance(a)}
		if j.last != 0 {
			j.days = []dayNet{{day: today, net: j.last}}
		}
	}
	if j.bad {
		return fuse.AccountHistory{}, fmt.Errorf("the balance history of account %s overflowed", a.AccountID)
	}
	first, last := from, to
	if first.Before(j.opened) {
		first = j.opened
	}
	if last.After(today) {
		last = today
	}
	out := fuse.AccountHistory{ID: a.AccountID, History: []fuse.DailyBalance{}}
	var bal ledgerd.Amount
	k := 0
	for d := first; !d.After(last); d = d.AddDays(1) {
		for ; k < len(j.days) && !j.days[k].day.After(d); k++ {
			v, err := bal.Add(ledgerd.Amount(j.days[k].net))
			if err != nil {
				return fuse.AccountHistory{}, fmt.Errorf("the balance history of account %s overflowed", a.AccountID)
			}
			bal = v
		}
		out.History = append(out.History, fuse.DailyBalance{Date: d, ClosingBalance: int64(bal)})
	}
	return out, nil
}
