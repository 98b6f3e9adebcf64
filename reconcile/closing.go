package reconcile

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/ledgerd/ledgerd"
	"github.com/ledgerd/ledgerd/fuse"
)

// The daily check: Fuse's closing balance of each day (GET
// /accounts/{id}/history) against the ledger's posted balance of
// bank:<account> at the end of the same day, so that a difference names
// the day it began and finance knows where to look.
//
// Days are the days of Options.Location (LEDGERD_TZ): a day's end is the
// next midnight there. Fuse does not document which instant ends its day;
// when its day is not LEDGERD_TZ's (the sandbox's is UTC), money that
// moved between the two midnights counts on different days on the two
// sides and the check reports a drift on that day that the next day does
// not repeat (README, reconcile).
//
// The days compared are the last Options.HistoryDays days that ended at
// least LedgerGrace before the cut-off (the ledger may lag Fuse by that
// much), and among them only those Fuse lists: a day Fuse omits (one
// before the account was opened) is skipped. The ledger's closing
// balance costs no query of its own: it is the running posted balance
// the merge reads, less the posted amount of every ledger transaction the
// merge walks whose entry was posted after the day's end, in the
// account's currency.

// maxHistoryDays bounds Options.HistoryDays: a longer range is more than
// one request may ask of Fuse (the sandbox refuses it [model]).
const maxHistoryDays = 366

// historyWindow is the first and last day the daily check compares.
func (st *runState) historyWindow() (first, last fuse.Date) {
	o := st.r.opts
	last = fuse.DateOf(st.asOf.Add(-o.LedgerGrace).In(o.Location)).AddDays(-1)
	return last.AddDays(1 - o.HistoryDays), last
}

// readHistory asks Fuse for the account's closing balances over the
// window. A failure makes the run INCOMPLETE and the account's days go
// unchecked (nil); only the end of ctx is an error.
func (st *runState) readHistory(ctx context.Context, job accountJob) (*dayCheck, error) {
	if job.fuse == nil {
		return nil, nil
	}
	first, last := st.historyWindow()
	h, err := st.r.opts.Fuse.AccountHistory(ctx, job.id, first, last)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		st.incomplete("balance history of account %s: %v", job.id, err)
		return nil, nil
	}
	return newDayCheck(h, first, last, st.r.opts.Location, ledgerd.Currency(job.fuse.Currency)), nil
}

// dayCheck is one account's daily check: the days Fuse listed in the
// window, in order, and what the merge learns of the ledger's side.
type dayCheck struct {
	cur  ledgerd.Currency
	loc  *time.Location
	days []fuse.DailyBalance // in date order, within the window
	ends []string            // each day's end, as stored time text
	// after[i] sums the posted amounts whose entry was posted at or after
	// ends[i] and before ends[i+1] (the last: at or after ends[last]).
	after []ledgerd.Amount
	bad   bool // a sum overflowed
}

func newDayCheck(h fuse.AccountHistory, first, last fuse.Date, loc *time.Location, cur ledgerd.Currency) *dayCheck {
	c := &dayCheck{cur: cur, loc: loc}
	for _, d := range h.History {
		if !d.Date.Before(first) && !d.Date.After(last) {
			c.days = append(c.days, d)
		}
	}
	sort.Slice(c.days, func(i, j int) bool { return c.days[i].Date.Before(c.days[j].Date) })
	c.ends = make([]string, len(c.days))
	for i, d := range c.days {
		c.ends[i] = ts(d.Date.AddDays(1).Start(loc))
	}
	c.after = make([]ledgerd.Amount, len(c.days))
	return c
}

// note folds one ledger transaction of the account, as the merge reads
// it, into the days it closes after.
func (c *dayCheck) note(l *ledgerTx) error {
	if c == nil || len(c.days) == 0 || l.EntryState.String != "posted" || !l.EntryFinalAt.Valid ||
		l.Currency.String != string(c.cur) || l.EntryFinalAt.String < c.ends[0] {
		return nil
	}
	a, err := l.bankAmount()
	if err != nil {
		return err
	}
	// The last day whose end is at or before final_at.
	i := sort.SearchStrings(c.ends, l.EntryFinalAt.String)
	if i == len(c.ends) || c.ends[i] != l.EntryFinalAt.String {
		i--
	}
	add(&c.after[i], a, &c.bad)
	return nil
}

// closingChecks compares the days Fuse listed with the ledger's closing
// balances, from the account's running posted balance in the check's
// currency (read by the merge in the same snapshot), and reports one
// closing_balance_drift break naming the first day that differs.
func (m *merger) closingChecks(ctx context.Context) error {
	c := m.days
	if c == nil || len(c.days) == 0 {
		return nil
	}
	t := m.cur(c.cur)
	// Walk the days from the last: the ledger's closing balance of a day
	// is the running balance less everything posted after its end.
	closing := make([]ledgerd.Amount, len(c.days))
	bal := t.posted
	for i := len(c.days) - 1; i >= 0; i-- {
		v, err := bal.Sub(c.after[i])
		if err != nil {
			c.bad = true
		}
		bal, closing[i] = v, v
	}
	if c.bad {
		return fmt.Errorf("account %s %s: closing balances: %w", m.job.id, c.cur, ledgerd.ErrOverflow)
	}
	differ, firstDay := 0, -1
	for i, d := range c.days {
		if int64(closing[i]) != d.ClosingBalance {
			if firstDay < 0 {
				firstDay = i
			}
			differ++
		}
	}
	if firstDay < 0 {
		return nil
	}
	d := c.days[firstDay]
	la, fa := closing[firstDay], ledgerd.Amount(d.ClosingBalance)
	diff, err := la.Sub(fa)
	if err != nil {
		return fmt.Errorf("account %s %s: closing balances: %w", m.job.id, c.cur, err)
	}
	cur := c.cur
	detail := fmt.Sprintf("closing balance of %s (days ending at midnight %s): ledger posted %s %s, Fuse %s %s, difference %s %s; "+
		"%d of %d days compared (%s to %s) differ",
		d.Date, c.loc, la.Format(cur), cur, fa.Format(cur), cur, diff.Format(cur), cur,
		differ, len(c.days), c.days[0].Date, c.days[len(c.days)-1].Date)
	return m.st.emit(ctx, Finding{Category: ClosingBalanceDrift, Subject: m.job.id, Severity: Warning,
		FuseAccountID: m.job.id, Currency: cur, LedgerAmount: amt(la), FuseAmount: amt(fa), Difference: amt(diff),
		Detail: detail})
}
