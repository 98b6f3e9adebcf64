package main

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/ledgerd/ledgerd/fuse"
	"github.com/ledgerd/ledgerd/fuse/sandbox"
	"github.com/ledgerd/ledgerd/ledger"
	"github.com/sethvargo/go-envconfig"
	"golang.org/x/time/rate"
)

// startServe runs `ledgerd serve` in-process on free loopback ports and
// returns the webhook URL, a stop function and the exit code channel.
func startServe(t *testing.T, env map[string]string) (hookURL string, stop func() int) {
	t.Helper()
	env["LEDGERD_LISTEN"] = "127.0.0.1:0"
	env["LEDGERD_ADMIN_LISTEN"] = "127.0.0.1:0"
	env["LEDGERD_LOG_FORMAT"] = "json"
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"serve"}, envconfig.MapLookuper(env), io.Discard, pw)
		pw.Close()
	}()
	sc := bufio.NewScanner(pr)
	for sc.Scan() {
		var line map[string]any
		if json.Unmarshal(sc.Bytes(), &line) != nil {
			continue
		}
		if line["msg"] == "listening" && line["listener"] == "webhook" {
			hookURL = "http://" + line["addr"].(string) + "/webhooks/fuse"
			break
		}
	}
	go io.Copy(io.Discard, pr) //nolint:errcheck // drain the rest
	if hookURL == "" {
		cancel()
		t.Fatalf("serve never listened; exit %d", <-done)
	}
	return hookURL, func() int { cancel(); return <-done }
}

func TestServeAcceptsWebhooksAndStopsCleanly(t *testing.T) {
	path := filepath.Join(t.TempDir(), "serve.db")
	url, stop := startServe(t, map[string]string{"LEDGERD_DB": path})
	body, err := os.ReadFile(filepath.Join("..", "..", "webhook", "testdata", "seed", "inbound_local_payment_settled.json"))
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Fuse-Timestamp", time.Now().UTC().Format(time.RFC3339))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(b), `"received":true`) {
		t.Fatalf("webhook: %d %s", resp.StatusCode, b)
	}
	if code := stop(); code != 0 {
		t.Fatalf("serve exit %d after interrupt, want 0", code)
	}
	l, err := ledger.Open(context.Background(), path, ledger.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if n, err := eventCount(l); err != nil || n != 1 {
		t.Errorf("events after serve: %d (%v), want 1", n, err)
	}
	if rep, err := l.Verify(context.Background()); err != nil || !rep.OK() {
		t.Errorf("verify: %v %+v", err, rep)
	}
}

func TestServeRefusesAPortInUse(t *testing.T) {
	url, stop := startServe(t, map[string]string{"LEDGERD_DB": filepath.Join(t.TempDir(), "a.db")})
	defer stop()
	addr := strings.TrimSuffix(strings.TrimPrefix(url, "http://"), "/webhooks/fuse")
	code, _, errOut := ledgerdRun(t, map[string]string{"LEDGERD_DB": filepath.Join(t.TempDir(), "b.db"),
		"LEDGERD_LISTEN": addr}, "serve")
	if code != 2 || !strings.Contains(errOut, "webhook listener") {
		t.Errorf("second serve on %s: exit %d, %s; want 2 naming the listener", addr, code, errOut)
	}
}

// TestServeBackfillsOnStart runs serve against the built-in sandbox with a
// history it never sent as webhooks: the start-up backfill brings every
// transaction into the file.
func TestServeBackfillsOnStart(t *testing.T) {
	sb := sandbox.New(sandbox.Options{Seed: 3})
	defer sb.Close()
	if _, err := sb.Generate(sandbox.GenerateOptions{Accounts: 3, Transactions: 120}); err != nil {
		t.Fatal(err)
	}
	api := httptest.NewServer(sb)
	defer api.Close()
	path := filepath.Join(t.TempDir(), "serve.db")
	_, stop := startServe(t, map[string]string{"LEDGERD_DB": path, "FUSE_BASE_URL": api.URL + "/v1", "FUSE_AUTH_URL": api.URL + sandbox.TokenPath,
		"FUSE_CLIENT_ID": "sandbox", "FUSE_CLIENT_SECRET": "sandbox"})
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro&_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	want := len(sb.Truth().Transactions)
	var got int
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); {
		if err := db.QueryRow(`SELECT count(*) FROM fuse_transactions`).Scan(&got); err == nil && got == want {
			break
		}
		runtime.Gosched()
	}
	if got != want {
		t.Fatalf("after start-up backfill: %d transactions in the file, sandbox has %d", got, want)
	}
	if code := stop(); code != 0 {
		t.Errorf("serve exit %d", code)
	}
}

// TestServesScheduledReconciliationTakesItsTuningFromTheEnvironment: with
// LEDGERD_RECONCILE_STALE_PENDING at one second, serve's scheduled
// reconciliation reports a payment the bank has kept in flight for a
// minute as stale_pending (the default threshold, 24 hours, would not).
func TestServesScheduledReconciliationTakesItsTuningFromTheEnvironment(t *testing.T) {
	apiURL, payID := stuckPayment(t)
	path := filepath.Join(t.TempDir(), "serve.db")
	_, stop := startServe(t, map[string]string{"LEDGERD_DB": path, "FUSE_BASE_URL": apiURL,
		"FUSE_AUTH_URL":  strings.TrimSuffix(apiURL, "/v1") + sandbox.TokenPath,
		"FUSE_CLIENT_ID": "sandbox", "FUSE_CLIENT_SECRET": "sandbox",
		"LEDGERD_RECONCILE_SCHEDULE": "@every 1s", "LEDGERD_RECONCILE_STALE_PENDING": "1s"})
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro&_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var detail string
	for deadline := time.Now().Add(30 * time.Second); detail == "" && time.Now().Before(deadline); {
		err := db.QueryRow(`SELECT detail FROM breaks WHERE category = 'stale_pending' AND subject = ?`,
			payID).Scan(&detail)
		if err != nil {
			<-time.After(20 * time.Millisecond) // the next poll
		}
	}
	if detail == "" {
		t.Fatal("serve's scheduled reconciliation reported no stale_pending break for the payment in flight for a minute")
	}
	if !strings.Contains(detail, "bucket 0-1d") {
		t.Errorf("stale_pending detail %q", detail)
	}
	if code := stop(); code != 0 {
		t.Errorf("serve exit %d", code)
	}
}

// stuckPayment is a sandbox on loopback (its API root returned) holding an
// AED account and a payment the bank has kept created for a minute: the
// bank's clock stands still a minute ago.
func stuckPayment(t *testing.T) (apiURL, paymentID string) {
	t.Helper()
	base := time.Now().Add(-time.Minute)
	sb := sandbox.New(sandbox.Options{Seed: 3, Now: func() time.Time { return base }})
	t.Cleanup(sb.Close)
	api := httptest.NewServer(sb)
	t.Cleanup(api.Close)
	acct, err := sb.OpenAccount(sandbox.AccountSpec{Currency: "AED", Balance: 1_000_00})
	if err != nil {
		t.Fatal(err)
	}
	client, err := fuse.New(fuse.Config{BaseURL: api.URL + "/v1", AuthURL: api.URL + sandbox.TokenPath, ClientID: "sandbox", ClientSecret: "sandbox", RateLimit: rate.Inf})
	if err != nil {
		t.Fatal(err)
	}
	pay, err := client.CreatePayment(t.Context(), acct.AccountID, fuse.CreatePaymentRequest{Amount: 40_00, ExternalReference: "INV-40",
		Purpose: fuse.PurposeGoodsBought, Beneficiary: fuse.Beneficiary{Type: fuse.BeneficiaryBusiness,
			AccountHolderName: "Desert Logistics FZE", AccountIdentifier: fuse.Identifier{IBAN: "AE070331234567890123456"},
			Address: fuse.Address{CountryCode: "AE", Line1: "Jebel Ali Free Zone"}}})
	if err != nil {
		t.Fatal(err)
	}
	return api.URL + "/v1", pay.ID
}

// eventCount counts the events stored in l, from every source.
func eventCount(l *ledger.Ledger) (int64, error) {
	sources, err := l.EventsBySource(context.Background())
	var n int64
	for _, s := range sources {
		n += s.Events
	}
	return n, err
}
