package main

import (
	"bytes"
	"database/sql"
	"io"
	"net/http"
	"path/filepath"
	"testing"
	"time"
)

// The durable floor stores each distinct event once and answers as ledgerd
// does; a body without an event_id is refused.
func TestDurableFloorStoresEachEventOnce(t *testing.T) {
	dir := t.TempDir()
	s, err := openFloorStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	url, stop, err := serveOn(s.handler())
	if err != nil {
		t.Fatal(err)
	}
	post := func(body []byte) (int, string) {
		t.Helper()
		resp, err := http.Post(url, "application/json", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for _, i := range []int{1, 2, 1} {
		if code, body := post(webhookBody(7, i)); code != http.StatusOK || body != "{\"received\":true}\n" {
			t.Fatalf("event %d: %d %q", i, code, body)
		}
	}
	if code, _ := post([]byte(`{"type":"x"}`)); code != http.StatusBadRequest {
		t.Errorf("body without event_id: %d, want 400", code)
	}
	stop()
	s.close()

	db, err := sql.Open("sqlite", filepath.Join(dir, "floor.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	var raw []byte
	if err := db.QueryRow(`SELECT count(*), max(raw) FROM events`).Scan(&n, &raw); err != nil {
		t.Fatal(err)
	}
	if n != 2 {
		t.Errorf("%d rows, want 2 (the replay of event 1 stores nothing)", n)
	}
	if !bytes.Equal(raw, webhookBody(7, 2)) && !bytes.Equal(raw, webhookBody(7, 1)) {
		t.Errorf("stored body %q is not one of those posted", raw)
	}
}

func TestMedian(t *testing.T) {
	for _, c := range []struct {
		in   []float64
		want float64
	}{{nil, 0}, {[]float64{3}, 3}, {[]float64{5, 1, 3}, 3}, {[]float64{4, 1, 3, 2}, 2.5}} {
		if got := median(c.in); got != c.want {
			t.Errorf("median(%v) = %v, want %v", c.in, got, c.want)
		}
	}
}

// A target's summary takes each figure's median over its rounds
// separately, sums the failures and lists every round's rate.
func TestSummarizeTakesEachFigureMedian(t *testing.T) {
	rs := []loadResult{
		{name: "t", perSecond: 100, p50: 3 * time.Millisecond, p99: 9 * time.Millisecond, cpu: 50 * time.Microsecond, failures: 1},
		{name: "t", perSecond: 300, p50: 1 * time.Millisecond, p99: 5 * time.Millisecond, cpu: 70 * time.Microsecond},
		{name: "t", perSecond: 200, p50: 2 * time.Millisecond, p99: 7 * time.Millisecond, cpu: 60 * time.Microsecond, failures: 2},
	}
	got := summarize(rs)
	want := targetSummary{name: "t", rps: 200, p50: 2, p99: 7, cpu: 60, failures: 3, rounds: "100, 300, 200"}
	if got != want {
		t.Errorf("summarize = %+v, want %+v", got, want)
	}
}

// The unsynced target's hook turns synchronous=FULL from the DSN into OFF
// on writable connections opened while it is set, and only then; ledgerd
// still ingests over such connections.
func TestUnsyncedHookOverridesTheDSN(t *testing.T) {
	dir := t.TempDir()
	synchronous := func(dsn string) int {
		t.Helper()
		db, err := sql.Open("sqlite", dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		var v int
		if err := db.QueryRow(`PRAGMA synchronous`).Scan(&v); err != nil {
			t.Fatal(err)
		}
		return v
	}
	path := filepath.Join(dir, "hook.db")
	writable := "file:" + path + "?_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)"
	readOnly := "file:" + path + "?_pragma=synchronous(FULL)&_pragma=query_only(1)"
	if got := synchronous(writable); got != 2 {
		t.Fatalf("flag unset: synchronous = %d, want 2 (FULL)", got)
	}
	unsyncedConns.Store(true)
	defer unsyncedConns.Store(false)
	if got := synchronous(writable); got != 0 {
		t.Fatalf("flag set: synchronous = %d, want 0 (OFF)", got)
	}
	if got := synchronous(readOnly); got != 2 {
		t.Fatalf("flag set, read-only connection: synchronous = %d, want 2 (FULL)", got)
	}
	h, closeFn, err := ledgerdHandler(dir, 256)
	if err != nil {
		t.Fatal(err)
	}
	defer closeFn()
	url, stop, err := serveOn(h)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	resp, err := http.Post(url, "application/json", bytes.NewReader(webhookBody(9, 1)))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("ingest over unsynced connections: status %d", resp.StatusCode)
	}
}
