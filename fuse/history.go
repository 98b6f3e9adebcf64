package fuse

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"
)

// routeAccountHistory is the metrics label of GET /accounts/{id}/history,
// beside the other routes in resources.go.
const routeAccountHistory = "GET /accounts/{id}/history"

// Date is a calendar day in no time zone, as Fuse's "format: date" fields
// and parameters carry it: "2026-03-31". The zero Date is no day.
type Date struct {
	Year  int
	Month time.Month
	Day   int
}

// DateOf returns the day t falls on in t's location.
func DateOf(t time.Time) Date {
	y, m, d := t.Date()
	return Date{Year: y, Month: m, Day: d}
}

// ParseDate reads a date written YYYY-MM-DD, strictly: two-digit month and
// day, a day that exists, nothing after it.
func ParseDate(s string) (Date, error) {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return Date{}, fmt.Errorf("date %q is not YYYY-MM-DD: %w", s, err)
	}
	return DateOf(t), nil
}

// String writes d as YYYY-MM-DD.
func (d Date) String() string {
	return fmt.Sprintf("%04d-%02d-%02d", d.Year, d.Month, d.Day)
}

// IsZero reports whether d is the zero Date.
func (d Date) IsZero() bool { return d == Date{} }

// Start returns the first instant of d in loc.
func (d Date) Start(loc *time.Location) time.Time {
	return time.Date(d.Year, d.Month, d.Day, 0, 0, 0, 0, loc)
}

// AddDays returns the day n days after d (before it for a negative n).
func (d Date) AddDays(n int) Date {
	// Noon in UTC: no day is shorter or longer there.
	return DateOf(time.Date(d.Year, d.Month, d.Day+n, 12, 0, 0, 0, time.UTC))
}

// Compare returns -1, 0 or +1 as d is before, the same day as, or after e.
func (d Date) Compare(e Date) int {
	if c := cmp.Compare(d.Year, e.Year); c != 0 {
		return c
	}
	if c := cmp.Compare(d.Month, e.Month); c != 0 {
		return c
	}
	return cmp.Compare(d.Day, e.Day)
}

// Before reports whether d is a day before e.
func (d Date) Before(e Date) bool { return d.Compare(e) < 0 }

// After reports whether d is a day after e.
func (d Date) After(e Date) bool { return d.Compare(e) > 0 }

// MarshalText writes d as YYYY-MM-DD.
func (d Date) MarshalText() ([]byte, error) {
	if d.IsZero() {
		return nil, errors.New("the zero date has no text")
	}
	return []byte(d.String()), nil
}

// UnmarshalText reads YYYY-MM-DD (ParseDate).
func (d *Date) UnmarshalText(b []byte) error {
	v, err := ParseDate(string(b))
	if err != nil {
		return err
	}
	*d = v
	return nil
}

// AccountHistory is the answer to GET /accounts/{id}/history: the account
// and its closing balance per day (AccountHistory in the reference). The
// order of the days is undocumented, and so is which days a range lists
// (days before the account was opened, today, days without a change):
// callers must not depend on either. Decoding is strict where
// encoding/json is lenient: a body without id or history, or a day without
// date or closing_balance (or with null for any of them), or a day listed
// twice, is an error, never an empty history.
type AccountHistory struct {
	ID      string         `json:"id"`
	History []DailyBalance `json:"history"`
}

// DailyBalance is one day of an account's history (History in the
// reference): the balance at the end of Date, in minor units of the
// account's currency. Which instant ends a day at Fuse (its time zone) is
// undocumented.
type DailyBalance struct {
	Date           Date  `json:"date"`
	ClosingBalance int64 `json:"closing_balance"`
}

// ErrHistoryShape reports a history body that is JSON but not Fuse's
// AccountHistory (see AccountHistory).
var ErrHistoryShape = errors.New("not an account history")

// UnmarshalJSON decodes the history strictly (see AccountHistory).
func (h *AccountHistory) UnmarshalJSON(b []byte) error {
	var raw struct {
		ID      *string `json:"id"`
		History *[]struct {
			Date           *Date  `json:"date"`
			ClosingBalance *int64 `json:"closing_balance"`
		} `json:"history"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	switch {
	case raw.ID == nil:
		return fmt.Errorf("%w: no id", ErrHistoryShape)
	case raw.History == nil:
		return fmt.Errorf("%w: no history array", ErrHistoryShape)
	}
	out := AccountHistory{ID: *raw.ID, History: make([]DailyBalance, 0, len(*raw.History))}
	seen := make(map[Date]bool, len(*raw.History))
	for i, d := range *raw.History {
		switch {
		case d.Date == nil:
			return fmt.Errorf("%w: day %d has no date", ErrHistoryShape, i)
		case d.ClosingBalance == nil:
			return fmt.Errorf("%w: %s has no closing_balance", ErrHistoryShape, d.Date)
		case seen[*d.Date]:
			return fmt.Errorf("%w: %s is listed twice", ErrHistoryShape, d.Date)
		}
		seen[*d.Date] = true
		out.History = append(out.History, DailyBalance{Date: *d.Date, ClosingBalance: *d.ClosingBalance})
	}
	*h = out
	return nil
}

// AccountHistory returns the closing balance of each day from from to to
// (both included [model]) of an account, as Fuse lists them. An answer in
// another shape, or about another account, is an ErrBadResponse.
func (c *Client) AccountHistory(ctx context.Context, accountID string, from, to Date) (AccountHistory, error) {
	p, err := idPath("/accounts/", accountID, "/history")
	switch {
	case err != nil:
		return AccountHistory{}, fmt.Errorf("account history: %w", err)
	case from.IsZero() || to.IsZero():
		return AccountHistory{}, errors.New("account history: from and to are required")
	case to.Before(from):
		return AccountHistory{}, fmt.Errorf("account history: to %s is before from %s", to, from)
	}
	q := url.Values{"from": {from.String()}, "to": {to.String()}}
	var out AccountHistory
	if err := c.send(ctx, request{method: http.MethodGet, route: routeAccountHistory, path: p, query: q, out: &out}); err != nil {
		return AccountHistory{}, fmt.Errorf("account history of %s: %w", accountID, err)
	}
	if out.ID != accountID {
		return AccountHistory{}, fmt.Errorf("account history of %s: %w: the answer is the history of account %q",
			accountID, ErrBadResponse, out.ID)
	}
	return out, nil
}
