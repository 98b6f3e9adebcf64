package webhook_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ledgerd/ledgerd/internal/logbuf"
	"github.com/ledgerd/ledgerd/ledger"
	"github.com/ledgerd/ledgerd/ledger/ledgertest"
	"github.com/ledgerd/ledgerd/webhook"
	"github.com/prometheus/client_golang/prometheus"
)

const hookPath = "/webhooks/fuse"

// listener is a real webhook server on loopback in front of a real file.
type listener struct {
	t   *testing.T
	l   *ledger.Ledger
	srv *httptest.Server
	url string
}

func startListener(t *testing.T, path string, o webhook.Options) *listener {
	t.Helper()
	if path == "" {
		path = filepath.Join(t.TempDir(), "ledgerd.db")
		ledgertest.NewFile(t, path)
	}
	l, err := ledger.Open(context.Background(), path, ledger.Options{OnBatch: o.Metrics.CommitBatch})
	if err != nil {
		t.Fatal(err)
	}
	o.Store = l
	srv := httptest.NewServer(webhook.NewServer("", hookPath, webhook.NewHandler(o)).Handler)
	ls := &listener{t: t, l: l, srv: srv, url: srv.URL + hookPath}
	t.Cleanup(ls.stop)
	return ls
}

func (ls *listener) stop() {
	if ls.srv != nil {
		ls.srv.Close()
		ls.srv = nil
		if err := ls.l.Close(); err != nil {
			ls.t.Errorf("close ledger: %v", err)
		}
	}
}

// post sends body with Fuse's headers (and any extra ones) and returns the
// status and response body.
func post(t *testing.T, url string, body []byte, hdr ...string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Fuse-Timestamp", time.Now().UTC().Format(time.RFC3339))
	for i := 0; i+1 < len(hdr); i += 2 {
		if hdr[i+1] == "" {
			req.Header.Del(hdr[i])
		} else {
			req.Header.Set(hdr[i], hdr[i+1])
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("post: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func seedBody(t *testing.T, dir, typ string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", dir, typ+".json"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func rows(t *testing.T, l *ledger.Ledger, table string) int {
	t.Helper()
	var n int
	if err := l.Reader().QueryRow("SELECT count(*) FROM " + table).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestSeedBodiesPostedVerbatim posts every example of Fuse's reference,
// byte for byte, to a real listener: the 13 valid ones are stored and
// booked, the two with trailing commas are quarantined with their bodies.
// Fuse's corrected redelivery of those two then completes the book.
func TestSeedBodiesPostedVerbatim(t *testing.T) {
	ls := startListener(t, "", webhook.Options{TimestampTolerance: 15 * time.Minute})
	for _, typ := range seedOrder {
		body := seedBody(t, "seed", typ)
		status, resp := post(t, ls.url, body)
		malformed := typ == "inbound_internal_transfer_settled" || typ == "internal_transfer_failed"
		if malformed {
			if status != http.StatusBadRequest || !strings.Contains(resp, "malformed_json") {
				t.Errorf("%s: %d %s, want 400 malformed_json", typ, status, resp)
			}
			var raw []byte
			var reason string
			if err := ls.l.Reader().QueryRow(`SELECT raw, reason FROM quarantine ORDER BY id DESC LIMIT 1`).Scan(&raw, &reason); err != nil {
				t.Fatalf("%s: no quarantine row: %v", typ, err)
			}
			if !bytes.Equal(raw, body) || reason != "malformed_json" {
				t.Errorf("%s: quarantined %q with reason %s, want the body verbatim", typ, raw, reason)
			}
			continue
		}
		if status != http.StatusOK || strings.TrimSpace(resp) != `{"received":true}` {
			t.Errorf("%s: %d %s, want 200 {\"received\":true}", typ, status, resp)
		}
		var raw []byte
		if err := ls.l.Reader().QueryRow(`SELECT raw FROM events WHERE type = ? ORDER BY seq DESC LIMIT 1`, typ).Scan(&raw); err != nil || !bytes.Equal(raw, body) {
			t.Errorf("%s: stored event %q (%v), want the body verbatim", typ, raw, err)
		}
	}
	if n := rows(t, ls.l, "events"); n != 13 {
		t.Errorf("events: %d, want 13", n)
	}
	if n := rows(t, ls.l, "quarantine"); n != 2 {
		t.Errorf("quarantine: %d, want 2", n)
	}
	// Without the receiving leg the transfer sits in clearing: the pair is
	// incomplete, and the payer account lacks the million.
	got := balances(t, ls.l)
	if got["clearing:internal AED"] != "1000000/0/1000000" || got["bank:018c355c-2413-16df-509f-40e71b142eb3 AED"] != "-51239/0/-51239" {
		t.Errorf("balances before the corrected redelivery: %v", got)
	}
	for _, typ := range []string{"inbound_internal_transfer_settled", "internal_transfer_failed"} {
		if status, resp := post(t, ls.url, seedBody(t, "seed-fixed", typ)); status != http.StatusOK {
			t.Errorf("corrected %s: %d %s", typ, status, resp)
		}
	}
	got = balances(t, ls.l)
	if got["clearing:internal AED"] != "0/0/0" || got["bank:018c355c-2413-16df-509f-40e71b142eb3 AED"] != "948761/0/948761" {
		t.Errorf("balances after the corrected redelivery: %v", got)
	}
	rep, err := ls.l.Verify(context.Background())
	if err != nil || !rep.OK() {
		t.Errorf("verify: %v %+v", err, rep)
	}
}

// TestDuplicatesReorderingAndRestartGiveTheSameLedger compares a clean
// in-order delivery with a shuffled one full of duplicates, and with one
// interrupted by a restart after which Fuse redelivers everything.
func TestDuplicatesReorderingAndRestartGiveTheSameLedger(t *testing.T) {
	t.Parallel()
	var bodies [][]byte
	for _, typ := range seedOrder {
		if typ == "internal_transfer_failed" { // the examples' own contradiction; see ledger_test.go
			continue
		}
		dir := "seed"
		if typ == "inbound_internal_transfer_settled" {
			dir = "seed-fixed"
		}
		bodies = append(bodies, seedBody(t, dir, typ))
	}
	deliver := func(url string, bs [][]byte) {
		for _, b := range bs {
			if status, resp := post(t, url, b); status != http.StatusOK {
				t.Fatalf("%d %s", status, resp)
			}
		}
	}
	clean := startListener(t, "", webhook.Options{})
	deliver(clean.url, bodies)
	want, wantJournal := balances(t, clean.l), journal(t, clean.l)

	// Executed before created, everything twice, backwards.
	messy := startListener(t, "", webhook.Options{})
	var order [][]byte
	for i := len(bodies) - 1; i >= 0; i-- {
		order = append(order, bodies[i], bodies[(i*7)%len(bodies)])
	}
	deliver(messy.url, order)
	if got := balances(t, messy.l); !reflect.DeepEqual(got, want) {
		t.Errorf("reordered with duplicates: %v, want %v", got, want)
	}
	if got := journal(t, messy.l); !reflect.DeepEqual(got, wantJournal) {
		t.Errorf("reordered journal: %v, want %v", got, wantJournal)
	}

	// Half, a restart on the same file, then Fuse redelivers it all.
	path := filepath.Join(t.TempDir(), "restart.db")
	first := startListener(t, path, webhook.Options{})
	deliver(first.url, bodies[:len(bodies)/2])
	first.stop()
	second := startListener(t, path, webhook.Options{})
	deliver(second.url, bodies)
	if got := balances(t, second.l); !reflect.DeepEqual(got, want) {
		t.Errorf("after restart and redelivery: %v, want %v", got, want)
	}
	if n := rows(t, second.l, "events"); n != len(bodies) {
		t.Errorf("events after redelivery: %d, want %d (each once)", n, len(bodies))
	}
}

func TestConcurrentWebhooksShareCommits(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	m := webhook.NewMetrics(reg)
	ls := startListener(t, "", webhook.Options{Metrics: m})
	const n = 256
	var wg sync.WaitGroup
	sem := make(chan struct{}, 64)
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if status, resp := post(t, ls.url, inboundBody(i, 0, 100)); status != http.StatusOK {
				t.Errorf("%d: %d %s", i, status, resp)
			}
		}()
	}
	wg.Wait()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var commits, units uint64
	for _, mf := range mfs {
		if mf.GetName() == "ledgerd_ledger_commit_batch_size" {
			h := mf.GetMetric()[0].GetHistogram()
			commits, units = h.GetSampleCount(), uint64(h.GetSampleSum())
		}
	}
	if units != n || commits == 0 || commits >= n {
		t.Errorf("%d events in %d commits: want fewer commits than events (group commit)", units, commits)
	}
	t.Logf("%d events durably committed in %d group commits", units, commits)
}

// inboundBody is a valid inbound_local_payment_settled webhook, unique per
// (i, round), on one of eight accounts.
func inboundBody(i, round int, amount int64) []byte {
	return fmt.Appendf(nil, `{"type":"inbound_local_payment_settled","event_id":"%08x-0000-4000-8000-%012x","event_version":1,
"inbound_local_payment_settled":{"account_id":"aaaaaaaa-0000-4000-8000-%012x","transaction_id":"%08x-1111-4000-8000-%012x",
"instructed_amount":%d,"amount_with_fee":%d,"fee_amount":0,"remitter":{"name":"Topup","identifier":{"iban":"AE080070000000785666509"}},
"external_reference":"r","timestamp":"2026-11-02T09:00:00Z","purpose":"none","currency":"AED"}}`,
		round, i, i%8, round, i, amount, amount)
}

func TestBadInputGetsItsDocumentedStatusAndNothingHalfApplied(t *testing.T) {
	t.Parallel()
	secret := []byte("s3cret-for-tests")
	valid := seedBody(t, "seed", "inbound_local_payment_settled")
	mutate := func(old, new string) []byte { return bytes.Replace(valid, []byte(old), []byte(new), 1) }
	stale := time.Now().Add(-2 * time.Hour).UTC().Format(time.RFC3339)
	cases := []struct {
		name       string
		opts       webhook.Options
		body       []byte
		hdr        []string
		status     int
		quarantine string // reason, or "" for nothing quarantined
		event      bool   // an event row is stored
	}{
		{name: "malformed JSON", body: []byte(`{"type":`), status: 400, quarantine: "malformed_json"},
		{name: "trailing comma", body: seedBody(t, "seed", "internal_transfer_failed"), status: 400, quarantine: "malformed_json"},
		{name: "empty body", body: nil, status: 400, quarantine: "empty_body"},
		{name: "wrong content type", body: valid, hdr: []string{"Content-Type", "text/plain"}, status: 415, quarantine: "unsupported_media_type"},
		{name: "oversize body", body: append(bytes.Repeat([]byte(" "), webhook.MaxBody), valid...), status: 413},
		{name: "unknown type", body: []byte(`{"type":"customer_verified","event_id":"018c35aa-4279-83e7-a90f-4b2901246c59","event_version":1,"customer_verified":{}}`), status: 200, event: true},
		{name: "missing event_id", body: mutate(`"event_id": "018c35bc-9019-34b2-5210-ff9900d349bd",`, ``), status: 400, quarantine: "missing_field"},
		{name: "non-UUID event_id", body: mutate(`018c35bc-9019-34b2-5210-ff9900d349bd`, `evt-1`), status: 400, quarantine: "bad_uuid"},
		{name: "non-UUID account_id", body: mutate(`018bfd91-ea86-a787-9d72-754cddfbc294`, `acct-1`), status: 400, quarantine: "bad_uuid"},
		{name: "negative amount", body: mutate(`"instructed_amount": 100000000`, `"instructed_amount": -1`), status: 400, quarantine: "amount_out_of_range"},
		{name: "overflowing amount", body: mutate(`"instructed_amount": 100000000`, `"instructed_amount": 9223372036854775808`), status: 400, quarantine: "amount_out_of_range"},
		{name: "unknown currency", body: mutate(`"currency": "AED"`, `"currency": "XYZ"`), status: 400, quarantine: "unknown_currency"},
		{name: "stale timestamp", opts: webhook.Options{TimestampTolerance: 15 * time.Minute}, body: valid,
			hdr: []string{"X-Fuse-Timestamp", stale}, status: 400, quarantine: "stale_timestamp"},
		{name: "bad signature", opts: webhook.Options{Secret: secret}, body: valid,
			hdr: []string{"X-Ledgerd-Signature", webhook.Sign([]byte("wrong"), valid)}, status: 401},
		{name: "missing signature", opts: webhook.Options{Secret: secret}, body: valid, status: 401},
		{name: "good signature", opts: webhook.Options{Secret: secret}, body: valid,
			hdr: []string{"X-Ledgerd-Signature", webhook.Sign(secret, valid)}, status: 200, event: true},
		{name: "disallowed IP", opts: webhook.Options{AllowCIDRs: []netip.Prefix{netip.MustParsePrefix("15.185.183.112/32")}},
			body: valid, status: 403},
		{name: "spoofed X-Forwarded-For from an untrusted peer", opts: webhook.Options{AllowCIDRs: []netip.Prefix{netip.MustParsePrefix("15.185.183.112/32")}},
			body: valid, hdr: []string{"X-Forwarded-For", "15.185.183.112"}, status: 403},
		{name: "X-Forwarded-For from a trusted proxy", opts: webhook.Options{
			AllowCIDRs:     []netip.Prefix{netip.MustParsePrefix("15.185.183.112/32")},
			TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}},
			body: valid, hdr: []string{"X-Forwarded-For", "15.185.183.112"}, status: 200, event: true},
		{name: "client-supplied hop left of a trusted proxy's", opts: webhook.Options{
			AllowCIDRs:     []netip.Prefix{netip.MustParsePrefix("15.185.183.112/32")},
			TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}},
			body: valid, hdr: []string{"X-Forwarded-For", "15.185.183.112, 203.0.113.9"}, status: 403},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			ls := startListener(t, "", c.opts)
			status, resp := post(t, ls.url, c.body, c.hdr...)
			if status != c.status {
				t.Errorf("status %d (%s), want %d", status, resp, c.status)
			}
			var reason string
			err := ls.l.Reader().QueryRow(`SELECT reason FROM quarantine`).Scan(&reason)
			if c.quarantine == "" && err == nil {
				t.Errorf("quarantined (%s), want nothing stored", reason)
			}
			if c.quarantine != "" && reason != c.quarantine {
				t.Errorf("quarantine reason %q (%v), want %q", reason, err, c.quarantine)
			}
			if n := rows(t, ls.l, "events"); (n == 1) != c.event || n > 1 {
				t.Errorf("%d events stored, want event=%v", n, c.event)
			}
			if !c.event {
				for _, table := range []string{"fuse_transactions", "entries", "postings"} {
					if n := rows(t, ls.l, table); n != 0 {
						t.Errorf("%s: %d rows, want none", table, n)
					}
				}
			}
		})
	}
}

func TestGetIsNotAllowed(t *testing.T) {
	ls := startListener(t, "", webhook.Options{})
	resp, err := http.Get(ls.url)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET: %d, want 405", resp.StatusCode)
	}
}

func TestStorageUnavailableAnswers503AndAcknowledgesNothing(t *testing.T) {
	ls := startListener(t, "", webhook.Options{})
	// The ledger goes away under the listener (disk gone, file closed).
	if err := ls.l.Close(); err != nil {
		t.Fatal(err)
	}
	for _, body := range [][]byte{seedBody(t, "seed", "inbound_local_payment_settled"), []byte(`{"broken":`)} {
		status, resp := post(t, ls.url, body)
		if status != http.StatusServiceUnavailable {
			t.Errorf("status %d (%s), want 503 so that Fuse retries", status, resp)
		}
	}
	ls.srv.Close()
	ls.srv = nil
}

// waitLog polls for a log line containing every one of parts and returns
// it (the listener logs a request after answering it).
func waitLog(t *testing.T, logs *logbuf.Buffer, parts ...string) string {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		for _, line := range strings.Split(logs.String(), "\n") {
			found := true
			for _, p := range parts {
				found = found && strings.Contains(line, p)
			}
			if found {
				return line
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no log line with %q in:\n%s", parts, logs.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestEventIDAgainWithAnotherBodyIsKeptAsEvidence: a repeated event_id with
// the same body is Fuse retrying, a silent 200 duplicate. With another body
// it is still acknowledged (the first body's effects stand, and a refusal
// would have Fuse retry for 12 hours), but the second body is kept in
// quarantine as event_id_reused naming the stored event, counted, and
// logged at WARN; nothing of it reaches the book.
func TestEventIDAgainWithAnotherBodyIsKeptAsEvidence(t *testing.T) {
	reg := prometheus.NewRegistry()
	logs := &logbuf.Buffer{}
	ls := startListener(t, "", webhook.Options{Metrics: webhook.NewMetrics(reg),
		Logger: slog.New(slog.NewTextHandler(logs, nil))})
	first, other := inboundBody(1, 0, 100_00), inboundBody(1, 0, 999_00) // same event_id and transaction
	for i, body := range [][]byte{first, first} {
		if status, resp := post(t, ls.url, body); status != http.StatusOK {
			t.Fatalf("delivery %d: %d %s", i, status, resp)
		}
	}
	waitLog(t, logs, "level=INFO", "result=duplicate")
	if n := rows(t, ls.l, "quarantine"); n != 0 {
		t.Fatalf("the same body again left %d quarantine rows, want none", n)
	}
	want := balances(t, ls.l)

	status, resp := post(t, ls.url, other)
	if status != http.StatusOK || !strings.Contains(resp, `"duplicate":true`) {
		t.Errorf("another body under a stored event_id: %d %s, want 200 duplicate", status, resp)
	}
	var reason, detail, remote string
	var raw []byte
	if err := ls.l.Reader().QueryRow(`SELECT reason, detail, raw, remote_addr FROM quarantine`).Scan(&reason, &detail, &raw, &remote); err != nil {
		t.Fatalf("no quarantine row: %v", err)
	}
	if reason != "event_id_reused" || !strings.Contains(detail, "event seq 1") || !bytes.Equal(raw, other) || remote == "" {
		t.Errorf("quarantined %q %q from %q, body kept %v; want event_id_reused naming event seq 1, the second body", reason, detail, remote, bytes.Equal(raw, other))
	}
	if got := balances(t, ls.l); !reflect.DeepEqual(got, want) {
		t.Errorf("balances %v after the second body, want %v", got, want)
	}
	if n := rows(t, ls.l, "events"); n != 1 {
		t.Errorf("%d events, want the first body only", n)
	}
	waitLog(t, logs, "level=WARN", "reason=event_id_reused", "event seq 1")
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var counted float64
	for _, mf := range mfs {
		if mf.GetName() != "ledgerd_webhook_quarantined_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			if l := m.GetLabel(); len(l) == 1 && l[0].GetValue() == "event_id_reused" {
				counted = m.GetCounter().GetValue()
			}
		}
	}
	if counted != 1 {
		t.Errorf("ledgerd_webhook_quarantined_total{reason=\"event_id_reused\"} = %v, want 1", counted)
	}
}
