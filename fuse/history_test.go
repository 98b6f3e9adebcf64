package fuse

import (
	"context"
	"errors"
	"net/http"
	"reflect"
	"testing"
	"time"
)

const historyAccount = "6f1c3f0e-2b7a-4c1e-9a51-0c6f3b1d2e4a"

// historyServer answers every history request with body and records the
// requests' paths and queries.
func historyServer(t *testing.T, body *string) (*Client, *[]string) {
	t.Helper()
	var asked []string
	f := &fakeFuse{api: func(w http.ResponseWriter, r *http.Request) {
		asked = append(asked, r.URL.Path+"?"+r.URL.RawQuery)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(*body))
	}}
	c, _ := newFakeClient(t, f, nil)
	return c, &asked
}

// TestAccountHistoryDecodesThePublishedShape: hand-written bodies in
// Fuse's AccountHistory shape, in any order and with keys the reference
// does not name, decode to the days they list.
func TestAccountHistoryDecodesThePublishedShape(t *testing.T) {
	body := ""
	c, asked := historyServer(t, &body)
	from, to := Date{2026, time.March, 29}, Date{2026, time.March, 31}
	for b, want := range map[string][]DailyBalance{
		`{"id":"` + historyAccount + `","history":[{"date":"2026-03-31","closing_balance":0},` +
			`{"closing_balance":1250075,"date":"2026-03-29","summary":"x"}],"extra":1}`: {
			{Date: to, ClosingBalance: 0}, {Date: from, ClosingBalance: 1_250_075}},
		`{"history":[],"id":"` + historyAccount + `"}`: {},
	} {
		body = b
		h, err := c.AccountHistory(context.Background(), historyAccount, from, to)
		if err != nil || h.ID != historyAccount || !reflect.DeepEqual(h.History, want) {
			t.Errorf("%s: %+v, %v; want %+v", b, h, err, want)
		}
	}
	if want := "/v1/accounts/" + historyAccount + "/history?from=2026-03-29&to=2026-03-31"; (*asked)[0] != want {
		t.Errorf("asked %s, want %s", (*asked)[0], want)
	}
}

// TestAccountHistoryInAnotherShapeIsABadResponse: a body without history
// or id, a day without date or closing_balance (or null), a date that is
// not a date, a day listed twice, or the history of another account is
// ErrBadResponse, never an empty history.
func TestAccountHistoryInAnotherShapeIsABadResponse(t *testing.T) {
	body := ""
	c, _ := historyServer(t, &body)
	day := `{"date":"2026-03-30","closing_balance":100}`
	for _, b := range []string{
		`{"id":"` + historyAccount + `"}`,
		`{"id":"` + historyAccount + `","history":null}`,
		`{"id":"` + historyAccount + `","data":[` + day + `]}`,
		`{"id":"` + historyAccount + `","history":{}}`,
		`{"history":[` + day + `]}`,
		`{"id":null,"history":[` + day + `]}`,
		`{"id":"` + historyAccount + `","history":[{"date":"2026-03-30","closing_balance":null}]}`,
		`{"id":"` + historyAccount + `","history":[{"date":"2026-03-30"}]}`,
		`{"id":"` + historyAccount + `","history":[{"closing_balance":100}]}`,
		`{"id":"` + historyAccount + `","history":[{"date":null,"closing_balance":100}]}`,
		`{"id":"` + historyAccount + `","history":[{"date":"2026-03-30T00:00:00Z","closing_balance":100}]}`,
		`{"id":"` + historyAccount + `","history":[{"date":"30/03/2026","closing_balance":100}]}`,
		`{"id":"` + historyAccount + `","history":[{"date":"2026-03-30","closing_balance":"100"}]}`,
		`{"id":"` + historyAccount + `","history":[{"date":"2026-03-30","closing_balance":100.5}]}`,
		`{"id":"` + historyAccount + `","history":[` + day + `,` + day + `]}`,
		`{"id":"7a2d4e1f-0000-4000-8000-000000000000","history":[` + day + `]}`,
		`{"results":[],"pages":{"next":null,"size":0}}`,
		`null`,
		`[]`,
	} {
		body = b
		h, err := c.AccountHistory(context.Background(), historyAccount, Date{2026, 3, 29}, Date{2026, 3, 31})
		if !errors.Is(err, ErrBadResponse) {
			t.Errorf("%s: %+v, %v; want a bad response", b, h, err)
		}
	}
}

// TestAccountHistoryRefusesARangeItCannotAsk: from and to are required
// by the reference, and to before from asks for nothing.
func TestAccountHistoryRefusesARangeItCannotAsk(t *testing.T) {
	body := `{"id":"` + historyAccount + `","history":[]}`
	c, asked := historyServer(t, &body)
	d := Date{2026, 3, 30}
	for _, r := range [][2]Date{{{}, d}, {d, {}}, {d, d.AddDays(-1)}} {
		if _, err := c.AccountHistory(context.Background(), historyAccount, r[0], r[1]); err == nil {
			t.Errorf("from %v to %v: no error", r[0], r[1])
		}
	}
	if _, err := c.AccountHistory(context.Background(), "", d, d); err == nil {
		t.Error("no account id: no error")
	}
	if len(*asked) != 0 {
		t.Errorf("asked Fuse %v", *asked)
	}
}

func TestDatesParseStrictlyAndCountDays(t *testing.T) {
	for s, ok := range map[string]bool{
		"2026-03-31": true, "2024-02-29": true,
		"2026-3-31": false, "2026-02-29": false, "2026-03-31T00:00:00Z": false, "2026-03-31 ": false, "": false,
	} {
		d, err := ParseDate(s)
		if (err == nil) != ok || (ok && d.String() != s) {
			t.Errorf("ParseDate(%q) = %v, %v", s, d, err)
		}
	}
	d := Date{2026, time.March, 31}
	if got := d.AddDays(1); got != (Date{2026, time.April, 1}) {
		t.Errorf("%s + 1 = %s", d, got)
	}
	if got := d.AddDays(-31); got != (Date{2026, time.February, 28}) {
		t.Errorf("%s - 31 = %s", d, got)
	}
	dubai := time.FixedZone("Dubai", 4*3600)
	if got := d.Start(dubai); !got.Equal(time.Date(2026, 3, 30, 20, 0, 0, 0, time.UTC)) {
		t.Errorf("%s starts at %s in Dubai", d, got.UTC())
	}
	if got := DateOf(time.Date(2026, 3, 30, 21, 0, 0, 0, time.UTC).In(dubai)); got != d {
		t.Errorf("21:00 UTC on 03-30 is %s in Dubai, want %s", got, d)
	}
	if !d.Before(d.AddDays(1)) || !d.After(d.AddDays(-1)) || d.Compare(d) != 0 {
		t.Errorf("%s does not compare", d)
	}
}
