package main

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ledgerd/ledgerd/ledger"
)

// LEDGERD_QUARANTINE_MAX_BYTES reaches the running daemon: past it a
// malformed body gets 503 and the refusal is counted on /metrics.
func TestServeQuarantineCapComesFromTheEnvironment(t *testing.T) {
	d := serveLogged(t, map[string]string{"LEDGERD_DB": filepath.Join(t.TempDir(), "q.db"), "LEDGERD_QUARANTINE_MAX_BYTES": "100KiB"})
	junk := []byte(strings.Repeat("not json ", 10000)) // 90 KB: kept as 64 KiB
	if got := postHook(t, d.hookURL, junk); got != 400 {
		t.Fatalf("first junk body: %d, want 400 (quarantined)", got)
	}
	if got := postHook(t, d.hookURL, junk); got != 503 {
		t.Fatalf("second junk body: %d, want 503 (quarantine full)", got)
	}
	resp, err := http.Get(d.adminURL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(metrics), `ledgerd_webhook_quarantine_refused_total{reason="malformed_json"} 1`) {
		t.Errorf("/metrics does not count the refusal:\n%s", metrics)
	}
}

// quarantine list shows a truncated body as kept/received (and its hash in
// JSON); quarantine replay refuses it with exit 1 and leaves it held.
func TestQuarantineReplayOfATruncatedBodyIsRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "q.db")
	l, err := ledger.Open(context.Background(), path, ledger.Options{})
	if err != nil {
		t.Fatal(err)
	}
	// A valid event padded past the cap: whole, it would decode.
	good, err := os.ReadFile(filepath.Join("..", "..", "webhook", "testdata", "seed", "account_opened.json"))
	if err != nil {
		t.Fatal(err)
	}
	padded := append(append([]byte{}, good...), []byte(strings.Repeat(" ", 1<<20-len(good)))...)
	id, err := l.Quarantine(context.Background(), ledger.Quarantined{Reason: "malformed_json", Detail: "test", Raw: padded})
	if err != nil {
		t.Fatal(err)
	}
	l.Close()
	env := map[string]string{"LEDGERD_DB": path}
	if code, out, _ := ledgerdRun(t, env, "quarantine", "list"); code != 0 || !strings.Contains(out, "65536/1048576") {
		t.Errorf("list: exit %d, want BYTES 65536/1048576:\n%s", code, out)
	}
	if code, out, _ := ledgerdRun(t, env, "quarantine", "list", "--json"); code != 0 ||
		!strings.Contains(out, `"length": 1048576`) || !strings.Contains(out, `"kept": 65536`) ||
		!strings.Contains(out, `"truncated": true`) || !strings.Contains(out, `"sha256": "`) {
		t.Errorf("list --json: exit %d\n%s", code, out)
	}
	code, out, errOut := ledgerdRun(t, env, "quarantine", "replay", itoa(id))
	if code != 1 || !strings.Contains(errOut, "kept truncated (65536 of 1048576 bytes") || strings.Contains(out, "ingested") {
		t.Errorf("replay: exit %d, want 1 saying it is truncated\n%s%s", code, out, errOut)
	}
	if code, out, _ := ledgerdRun(t, env, "quarantine", "list"); code != 0 || !strings.Contains(out, "held") {
		t.Errorf("after the refused replay the body is not held:\n%s", out)
	}
}
