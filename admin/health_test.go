package admin_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ledgerd/ledgerd/admin"
	"github.com/ledgerd/ledgerd/internal/damage"
	"github.com/ledgerd/ledgerd/ledger"
	"github.com/ledgerd/ledgerd/webhook"
)

// postWebhook posts Fuse's inbound payment example as event n (its own
// event and transaction ids) and returns the status code.
func postWebhook(t *testing.T, hook *httptest.Server, n int) int {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "webhook", "testdata", "seed", "inbound_local_payment_settled.json"))
	if err != nil {
		t.Fatal(err)
	}
	body := strings.NewReplacer(
		"018c35bc-9019-34b2-5210-ff9900d349bd", fmt.Sprintf("018c35bc-9019-34b2-5210-%012d", n),
		"018c35bc-9086-638d-0e9a-f1f46ea6146a", fmt.Sprintf("018c35bc-9086-638d-0e9a-%012d", n),
	).Replace(string(raw))
	resp, err := hook.Client().Post(hook.URL, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// readyz returns /readyz's status and body.
func readyz(t *testing.T, srv *httptest.Server) (int, string) {
	t.Helper()
	resp, body := get(t, srv, "/readyz")
	return resp.StatusCode, string(body)
}

// A full disk lets a one-row probe through while webhooks fail (SQLite
// reuses its WAL; here a page limit on the writer's connection does the
// same, deterministically): /readyz follows the webhooks, not the probe,
// and recovers as soon as a webhook commits again.
func TestReadyzIsNotReadyWhileWebhooksFailForLackOfSpace(t *testing.T) {
	l := openLedger(t)
	srv, _ := serve(t, l, admin.Options{})
	hook := httptest.NewServer(webhook.NewHandler(webhook.Options{Store: l}))
	t.Cleanup(hook.Close)
	if code := postWebhook(t, hook, 0); code != http.StatusOK {
		t.Fatalf("first webhook: %d", code)
	}
	if code, body := readyz(t, srv); code != http.StatusOK {
		t.Fatalf("before the limit: /readyz %d %s", code, body)
	}
	// The file may not grow by a page from now on.
	err := l.Update(context.Background(), func(tx *ledger.Tx) error {
		var pages int
		if err := tx.QueryRow("PRAGMA page_count").Scan(&pages); err != nil {
			return err
		}
		_, err := tx.Exec(fmt.Sprintf("PRAGMA max_page_count = %d", pages))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	// Free pages are reused first; then webhooks fail.
	n, code := 1, 0
	for ; n < 500; n++ {
		if code = postWebhook(t, hook, n); code != http.StatusOK {
			break
		}
	}
	if code != http.StatusServiceUnavailable {
		t.Fatalf("webhooks on a file that cannot grow: last %d after %d, want 503", code, n)
	}
	if err := admin.ProbeWritable(context.Background(), l); err == nil {
		t.Error("ProbeWritable passes while webhooks fail")
	}
	if err := l.ProbeWrite(context.Background()); err != nil {
		t.Errorf("the one-row probe alone: %v (the case the rule is for: it passes)", err)
	}
	// The watchdog's liveness check: a full disk is no reason to restart.
	if err := admin.ProbeWriter(context.Background(), l); err != nil {
		t.Errorf("ProbeWriter on a full file: %v", err)
	}
	code, body := readyz(t, srv)
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "a write failed") || !strings.Contains(body, "full") {
		t.Fatalf("while webhooks fail: /readyz %d %s, want 503 naming the failed write", code, body)
	}
	if err := l.Update(context.Background(), func(tx *ledger.Tx) error {
		_, err := tx.Exec("PRAGMA max_page_count = 1073741823")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if code := postWebhook(t, hook, n); code != http.StatusOK {
		t.Fatalf("webhook once the file can grow: %d", code)
	}
	if code, body := readyz(t, srv); code != http.StatusOK {
		t.Errorf("after a webhook committed again: /readyz %d %s", code, body)
	}
}

// closedSeedFile ingests the seed webhooks into a fresh file and closes
// it cleanly.
func closedSeedFile(t *testing.T) string {
	t.Helper()
	l := openLedger(t)
	ingestSeed(t, l)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return l.Path()
}

func reopen(t *testing.T, path string, opts ledger.Options) *ledger.Ledger {
	t.Helper()
	l, err := ledger.Open(context.Background(), path, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() }) // a damaged file may not close cleanly
	return l
}

func TestAnIntactFileIsReadyAndTheStatusPageSaysSo(t *testing.T) {
	// One reader, held by the test: the check waits for it, and meanwhile
	// the file counts as ready.
	l := reopen(t, closedSeedFile(t), ledger.Options{Readers: 1})
	srv, _ := serve(t, l, admin.Options{})
	conn, err := l.Reader().Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan ledger.Integrity, 1)
	go func() { res, _ := l.CheckIntegrity(context.Background()); done <- res }()
	for deadline := time.Now().Add(10 * time.Second); l.Integrity().State != ledger.IntegrityChecking; {
		if time.Now().After(deadline) {
			t.Fatal("the check never started")
		}
		time.Sleep(time.Millisecond)
	}
	if code, body := readyz(t, srv); code != http.StatusOK {
		t.Errorf("while checking: /readyz %d %s", code, body)
	}
	if _, m := get(t, srv, "/metrics"); !strings.Contains(string(m), `ledgerd_integrity_check{state="checking"} 1`) {
		t.Error(`while checking: no ledgerd_integrity_check{state="checking"} 1`)
	}
	conn.Close()
	if res := <-done; res.State != ledger.IntegrityOK {
		t.Fatalf("check = %+v", res)
	}
	if code, body := readyz(t, srv); code != http.StatusOK {
		t.Errorf("after the check: /readyz %d %s", code, body)
	}
	page := statusPage(t, srv, srv.URL+"/")
	if !strings.Contains(page, `<span class="badge ok">OK</span>`) || !strings.Contains(page, "hash chain of 15 events passed") ||
		strings.Contains(page, `id="integrity"`) {
		t.Errorf("status page of an intact file: integrity not shown as OK\n%s", page)
	}
	if _, m := get(t, srv, "/metrics"); !strings.Contains(string(m), `ledgerd_integrity_check{state="ok"} 1`) ||
		!strings.Contains(string(m), `ledgerd_integrity_check{state="failed"} 0`) {
		t.Errorf("metrics after the check:\n%s", m)
	}
}

func TestADamagedFileIsNotReadyAndTheStatusPageSaysWhy(t *testing.T) {
	path := closedSeedFile(t)
	if err := damage.EventBody(path, 3); err != nil {
		t.Fatal(err)
	}
	l := reopen(t, path, ledger.Options{})
	srv, _ := serve(t, l, admin.Options{})
	if res, err := l.CheckIntegrity(context.Background()); err != nil || res.State != ledger.IntegrityFailed {
		t.Fatalf("check = %+v, %v", res, err)
	}
	code, body := readyz(t, srv)
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "integrity check failed") ||
		!strings.Contains(body, "event 3: hash does not match its body") {
		t.Errorf("damaged file: /readyz %d %s, want 503 naming event 3", code, body)
	}
	page := statusPage(t, srv, srv.URL+"/")
	wellFormed(t, page)
	for _, s := range []string{`<section id="integrity" class="alarm">`, "webhooks and every other write are refused",
		"<li><code>events hash chain: event 3: hash does not match its body</code></li>", `<span class="badge bad">FAILED</span>`} {
		if !strings.Contains(page, s) {
			t.Errorf("status page of a damaged file lacks %q", s)
		}
	}
	if _, m := get(t, srv, "/metrics"); !strings.Contains(string(m), `ledgerd_integrity_check{state="failed"} 1`) {
		t.Error(`no ledgerd_integrity_check{state="failed"} 1`)
	}
}
