package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ledgerd/ledgerd/fuse"
	"github.com/ledgerd/ledgerd/fuse/sandbox"
	"github.com/ledgerd/ledgerd/ledger"
)

// ledgerdExec runs this test binary as a one-shot `ledgerd args...`
// process with env, and returns its exit code and output.
func ledgerdExec(t *testing.T, env map[string]string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(self, args...)
	cmd.Env = []string{asLedgerd + "=1", "PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err = cmd.Run()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		code = ee.ExitCode()
	case err != nil:
		t.Fatalf("ledgerd %v: %v", args, err)
	}
	return code, out.String(), errb.String()
}

// hookPoster posts the sandbox's events to serve in order, as Fuse would.
type hookPoster struct {
	t    *testing.T
	sb   *sandbox.Sandbox
	url  string
	sent int // events of sb.Events() posted so far
}

// post posts every event not posted yet, stamped now or, when stale, an
// hour ago (serve then quarantines it), and returns the answers.
func (h *hookPoster) post(stale bool) []int {
	h.t.Helper()
	evs := h.sb.Events()[h.sent:]
	h.sent += len(evs)
	var codes []int
	for _, ev := range evs {
		at := time.Now()
		if stale {
			at = at.Add(-time.Hour)
		}
		req, err := http.NewRequest(http.MethodPost, h.url, bytes.NewReader(ev.Body))
		if err != nil {
			h.t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set(fuse.HeaderFuseTimestamp, at.UTC().Format(time.RFC3339))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			h.t.Fatal(err)
		}
		resp.Body.Close()
		codes = append(codes, resp.StatusCode)
	}
	return codes
}

// postOK posts the pending events and fails the test unless serve
// answered each 200.
func (h *hookPoster) postOK(step string) {
	h.t.Helper()
	for _, c := range h.post(false) {
		if c != http.StatusOK {
			h.t.Fatalf("%s: webhook answered %d, want 200", step, c)
		}
	}
}

// TestCLIWritesBesideServeKeepTheBookCoherent runs `ledgerd serve` as a
// process and, between webhooks posted to it, every command that writes
// the same file from the shell: quarantine replay (the sequence),
// backfill, reconcile, breaks ack and migrate. serve must notice each
// commit of another process and not write over it with what it had
// cached: verify passes (hash chain, running balances), the balances equal
// Fuse's, and reconcile finds no drift that is not there.
func TestCLIWritesBesideServeKeepTheBookCoherent(t *testing.T) {
	t.Parallel() // mostly waiting on other processes
	sb := sandbox.New(sandbox.Options{Seed: 15})
	defer sb.Close()
	api := httptest.NewServer(sb)
	defer api.Close()
	ops, err := sb.OpenAccount(sandbox.AccountSpec{Currency: "AED", Name: "Operating", Balance: 1_000_000})
	if err != nil {
		t.Fatal(err)
	}
	payroll, err := sb.OpenAccount(sandbox.AccountSpec{Currency: "AED", Name: "Payroll", Balance: 500_000})
	if err != nil {
		t.Fatal(err)
	}
	inbound := func(a sandbox.AccountState, amount int64) {
		t.Helper()
		if _, err := sb.InboundPayment(sandbox.InboundPayment{AccountID: a.AccountID, Amount: amount, RemitterName: "Customer"}); err != nil {
			t.Fatal(err)
		}
	}
	env := map[string]string{
		"LEDGERD_DB":                          filepath.Join(t.TempDir(), "ledgerd.db"),
		"LEDGERD_LOG_FORMAT":                  "json",
		"LEDGERD_LOG_LEVEL":                   "warn",
		"LEDGERD_WEBHOOK_TIMESTAMP_TOLERANCE": "5m",
		// serve's own jobs: only the start-up backfill, so that the
		// commands below are the other writers.
		"LEDGERD_BACKFILL_SCHEDULE":  "@every 24h",
		"LEDGERD_RECONCILE_SCHEDULE": "@every 24h",
		"FUSE_BASE_URL":              api.URL + "/v1",
		"FUSE_AUTH_URL":              api.URL + sandbox.TokenPath,
		"FUSE_CLIENT_ID":             "sandbox",
		"FUSE_CLIENT_SECRET":         "sandbox",
	}
	serveEnv := map[string]string{"LEDGERD_LISTEN": "127.0.0.1:0", "LEDGERD_ADMIN_LISTEN": "127.0.0.1:0", "LEDGERD_LOG_LEVEL": "info"}
	for k, v := range env {
		if _, ok := serveEnv[k]; !ok {
			serveEnv[k] = v
		}
	}
	p := startLedgerd(t, serveEnv, "serve")
	hooks := &hookPoster{t: t, sb: sb, url: p.hookURL + "/webhooks/fuse"}
	hooks.postOK("accounts opened")
	cli := func(want int, args ...string) string {
		t.Helper()
		code, out, errOut := ledgerdExec(t, env, args...)
		if code != want {
			t.Fatalf("ledgerd %s: exit %d, want %d\n%s%s", strings.Join(args, " "), code, want, out, errOut)
		}
		return out
	}
	// Process starts are slow on a busy machine: verify runs as a process
	// after the sequence and at the end, and in between from this
	// process (one more writer on the file).
	verify := func(step string) {
		t.Helper()
		l, err := ledger.Open(context.Background(), env["LEDGERD_DB"], ledger.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		rep, err := l.Verify(context.Background())
		if err != nil || !rep.OK() {
			t.Fatalf("after %s: verify: %v %+v", step, err, rep)
		}
	}

	// The sequence: a stale webhook is quarantined, replayed from
	// the shell, then serve ingests one more on the same account.
	inbound(ops, 12_345)
	if codes := hooks.post(true); len(codes) != 1 || codes[0] != http.StatusBadRequest {
		t.Fatalf("stale webhook: answers %v, want one 400 (quarantined)", codes)
	}
	var held int64
	db, err := sql.Open("sqlite", "file:"+env["LEDGERD_DB"]+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.QueryRow(`SELECT id FROM quarantine WHERE state = 'held'`).Scan(&held); err != nil {
		t.Fatal(err)
	}
	cli(0, "quarantine", "replay", strconv.FormatInt(held, 10))
	inbound(ops, 777)
	hooks.postOK("after quarantine replay")
	cli(0, "verify")

	cli(0, "backfill")
	inbound(ops, 1_001)
	inbound(payroll, 2_002)
	hooks.postOK("after backfill")
	verify("backfill and webhooks")

	// A real drift at the bank: reconcile finds it and nothing else (no
	// false drift on the accounts the other writers touched), an operator
	// acknowledges it, serve keeps ingesting.
	const drift = 5_000
	if _, err := sb.Adjust(sandbox.Adjustment{AccountID: payroll.AccountID, Amount: drift}); err != nil {
		t.Fatal(err)
	}
	cli(1, "reconcile")
	inbound(ops, 3_003)
	hooks.postOK("after reconcile")
	var breaks []struct {
		ID            int64   `json:"break_id"`
		Category      string  `json:"category"`
		FuseAccountID *string `json:"fuse_account_id"`
		Difference    *int64  `json:"difference"`
	}
	getJSON(t, p.admin+"/api/v1/breaks", &breaks)
	if len(breaks) != 1 || breaks[0].Category != "balance_drift" || breaks[0].FuseAccountID == nil ||
		*breaks[0].FuseAccountID != payroll.AccountID || breaks[0].Difference == nil || *breaks[0].Difference != -drift {
		t.Fatalf("breaks after a drift of %d planted on %s: %+v, want that one balance_drift", drift, payroll.AccountID, breaks)
	}
	cli(0, "breaks", "ack", strconv.FormatInt(breaks[0].ID, 10), "--note", "bank correcting it")
	inbound(payroll, 4_004)
	hooks.postOK("after breaks ack")
	verify("reconcile, breaks ack and webhooks")
	if _, err := sb.Adjust(sandbox.Adjustment{AccountID: payroll.AccountID, Amount: -drift}); err != nil {
		t.Fatal(err)
	}

	cli(0, "migrate")
	inbound(ops, 5_005)
	inbound(payroll, 6_006)
	hooks.postOK("after migrate")

	// The book equals Fuse's, and says so.
	cli(0, "verify")
	var bals []struct {
		FuseAccountID *string `json:"fuse_account_id"`
		Posted        int64   `json:"posted"`
	}
	getJSON(t, p.admin+"/api/v1/balances", &bals)
	posted := map[string]int64{}
	for _, b := range bals {
		if b.FuseAccountID != nil {
			posted[*b.FuseAccountID] = b.Posted
		}
	}
	for _, a := range sb.Truth().Accounts {
		if posted[a.AccountID] != a.Balance.Current {
			t.Errorf("account %s: ledger posted %d, Fuse %d", a.AccountID, posted[a.AccountID], a.Balance.Current)
		}
	}
	var run struct {
		Verdict    string `json:"verdict"`
		BreaksOpen int    `json:"breaks_open"`
	}
	if err := json.Unmarshal([]byte(cli(0, "reconcile", "--json")), &run); err != nil {
		t.Fatal(err)
	}
	if run.Verdict != "RECONCILED" || run.BreaksOpen != 0 {
		t.Errorf("final reconcile: %s with %d open breaks, want RECONCILED and none", run.Verdict, run.BreaksOpen)
	}
}

// TestWebhookAnswers503InTimeWhileAnotherProcessHoldsTheWriteLock: Fuse
// waits 5 s for an answer. While another process holds the database's
// write lock (here this test, as a command run from the shell would),
// serve must answer a webhook 503 well within that, so that Fuse retries,
// and 200 once the lock is free again.
func TestWebhookAnswers503InTimeWhileAnotherProcessHoldsTheWriteLock(t *testing.T) {
	t.Parallel() // mostly waiting on another process
	path := filepath.Join(t.TempDir(), "ledgerd.db")
	p := startLedgerd(t, map[string]string{"LEDGERD_DB": path, "LEDGERD_LISTEN": "127.0.0.1:0",
		"LEDGERD_ADMIN_LISTEN": "127.0.0.1:0", "LEDGERD_LOG_FORMAT": "json"}, "serve")
	url := p.hookURL + "/webhooks/fuse"
	if code := postHook(t, url, seedWebhook(t, "account_opened")); code != http.StatusOK {
		t.Fatalf("first webhook: %d, want 200", code)
	}

	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		t.Fatal(err)
	}
	body := seedWebhook(t, "inbound_local_payment_settled")
	start := time.Now()
	code := postHook(t, url, body)
	took := time.Since(start)
	t.Logf("webhook beside a held write lock: %d after %s", code, took.Round(time.Millisecond))
	if code != http.StatusServiceUnavailable || took > 4*time.Second {
		t.Errorf("webhook while another process holds the write lock: %d after %s, want 503 within 4 s", code, took.Round(time.Millisecond))
	}
	if _, err := conn.ExecContext(ctx, "ROLLBACK"); err != nil {
		t.Fatal(err)
	}
	if code := postHook(t, url, body); code != http.StatusOK {
		t.Errorf("the same webhook once the lock is free: %d, want 200", code)
	}
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM events`).Scan(&n); err != nil || n != 2 {
		t.Errorf("events: %d (%v), want 2", n, err)
	}
}
