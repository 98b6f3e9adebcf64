package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ledgerd/ledgerd"
	"github.com/ledgerd/ledgerd/fuse/sandbox"
	"github.com/ledgerd/ledgerd/ledger"
	"github.com/ledgerd/ledgerd/reconcile"
)

// reconcileEnv is a sandbox on loopback with a month of history, and a
// ledger file that booked all of it.
func reconcileEnv(t *testing.T) (*sandbox.Sandbox, map[string]string, sandbox.Truth) {
	t.Helper()
	dubai, err := time.LoadLocation("Asia/Dubai")
	if err != nil {
		t.Fatal(err)
	}
	// A Fuse whose days end at midnight in Dubai, like LEDGERD_TZ below.
	sb := sandbox.New(sandbox.Options{Seed: 4, HistoryZone: dubai})
	t.Cleanup(sb.Close)
	srv := httptest.NewServer(sb)
	t.Cleanup(srv.Close)
	if _, err := sb.Generate(sandbox.GenerateOptions{Accounts: 4, Transactions: 150}); err != nil {
		t.Fatal(err)
	}
	truth := sb.Truth()
	path := filepath.Join(t.TempDir(), "ledgerd.db")
	l, err := ledger.Open(context.Background(), path, ledger.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var obs []ledgerd.Observation
	for i, x := range truth.Transactions {
		w := x.Wire()
		o, err := w.Observation()
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := json.Marshal(w)
		obs = append(obs, ledgerd.Observation{Event: ledgerd.Event{ID: fmt.Sprintf("bf-%d", i), Type: "backfill.transaction",
			Source: ledgerd.SourceBackfill, FuseTime: o.At, Raw: raw}, Transaction: &o})
	}
	if _, err := l.IngestAll(context.Background(), obs, nil); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return sb, map[string]string{"LEDGERD_DB": path, "FUSE_BASE_URL": srv.URL + "/v1", "FUSE_AUTH_URL": srv.URL + sandbox.TokenPath, "FUSE_CLIENT_ID": "sandbox",
		"FUSE_CLIENT_SECRET": "sandbox", "LEDGERD_TZ": "Asia/Dubai"}, truth
}

// TestReconcileBreaksReportAndExportFromTheCommandLine drives the
// commands as an operator would: a drift makes reconcile exit 1 and name
// it, breaks list shows it, ack records a note, report writes the three
// formats, and once the bank reverses its adjustment reconcile exits 0 and
// the break is resolved.
func TestReconcileBreaksReportAndExportFromTheCommandLine(t *testing.T) {
	sb, env, truth := reconcileEnv(t)
	acct := truth.Accounts[2]
	if _, err := sb.Adjust(sandbox.Adjustment{AccountID: acct.AccountID, Amount: 10_01}); err != nil {
		t.Fatal(err)
	}

	code, out, errOut := ledgerdRun(t, env, "reconcile")
	if code != 1 || !strings.Contains(out, ": BREAKS") || !strings.Contains(out, "balance_drift") ||
		!strings.Contains(out, "-10.01") || !strings.Contains(out, "+04:00") {
		t.Fatalf("reconcile: exit %d\n%s\n%s", code, out, errOut)
	}

	code, out, _ = ledgerdRun(t, env, "breaks", "list", "--json")
	var bs []reconcile.Break
	if err := json.Unmarshal([]byte(out), &bs); code != 0 || err != nil || len(bs) != 1 ||
		bs[0].Subject != acct.AccountID+"/"+acct.Currency || bs[0].Difference == nil || *bs[0].Difference != -10_01 {
		t.Fatalf("breaks list --json: exit %d, %v\n%s", code, err, out)
	}
	id := fmt.Sprint(bs[0].ID)
	if code, _, errOut := ledgerdRun(t, env, "breaks", "ack", id); code != 2 || !strings.Contains(errOut, "--note") {
		t.Errorf("ack without a note: exit %d %s", code, errOut)
	}
	code, out, errOut = ledgerdRun(t, env, "breaks", "ack", id, "--note", "bank fee refund pending, ticket 88")
	if code != 0 || !strings.Contains(out, "acknowledged") {
		t.Errorf("breaks ack: exit %d %s %s", code, out, errOut)
	}
	code, out, _ = ledgerdRun(t, env, "breaks", "list", "--state", "acknowledged")
	if code != 0 || !strings.Contains(out, "ticket 88") || !strings.Contains(out, "balance_drift") {
		t.Errorf("breaks list --state acknowledged: exit %d\n%s", code, out)
	}

	dir := t.TempDir()
	if code, out, errOut := ledgerdRun(t, env, "report", "--run", "latest", "--format", "csv", "--out", filepath.Join(dir, "csv")); code != 0 {
		t.Errorf("report csv: exit %d %s %s", code, out, errOut)
	}
	for _, f := range []string{"run.csv", "accounts.csv", "breaks.csv"} {
		if _, err := os.Stat(filepath.Join(dir, "csv", f)); err != nil {
			t.Errorf("report csv: %v", err)
		}
	}
	if code, _, errOut := ledgerdRun(t, env, "report", "--format", "xlsx", "--out", filepath.Join(dir, "r.xlsx")); code != 0 {
		t.Errorf("report xlsx: exit %d %s", code, errOut)
	}
	code, out, _ = ledgerdRun(t, env, "report", "--run", "1", "--format", "json", "--out", "-")
	if code != 0 || !strings.Contains(out, `"verdict": "BREAKS"`) || !strings.Contains(out, `"difference": "-10.01"`) {
		t.Errorf("report json: exit %d\n%s", code, out)
	}
	if code, _, errOut := ledgerdRun(t, env, "report", "--run", "99", "--format", "json", "--out", "-"); code != 2 {
		t.Errorf("report of an unknown run: exit %d %s", code, errOut)
	}
	code, out, _ = ledgerdRun(t, env, "export", "--format", "hledger")
	if code != 0 || !strings.Contains(out, "account bank:"+acct.AccountID) {
		t.Errorf("export hledger: exit %d", code)
	}

	if _, err := sb.Adjust(sandbox.Adjustment{AccountID: acct.AccountID, Amount: -10_01}); err != nil {
		t.Fatal(err)
	}
	code, out, errOut = ledgerdRun(t, env, "reconcile", "--json")
	var run reconcile.Run
	if err := json.Unmarshal([]byte(out), &run); code != 0 || err != nil || !run.Verdict.OK() || run.BreaksResolved != 1 {
		t.Errorf("reconcile after the fix: exit %d %v\n%s\n%s", code, err, out, errOut)
	}
	code, out, _ = ledgerdRun(t, env, "breaks", "list", "--state", "resolved", "--json")
	if err := json.Unmarshal([]byte(out), &bs); code != 0 || err != nil || len(bs) != 1 || bs[0].AckNote == "" {
		t.Errorf("resolved breaks: %s", out)
	}
}

func TestReconcileUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{"reconcile", "--as-of", "yesterday"},
		{"reconcile", "--ledger-grace", "0s"},
		{"breaks"},
		{"breaks", "list", "--state", "closed"},
		{"breaks", "ack", "x", "--note", "n"},
		{"report", "--format", "pdf", "--out", "x"},
		{"report", "--format", "csv"},
		{"export", "--format", "qif"},
	} {
		env := map[string]string{"LEDGERD_DB": filepath.Join(t.TempDir(), "x.db")}
		if code, _, errOut := ledgerdRun(t, env, args...); code != 2 {
			t.Errorf("%v: exit %d, want 2 (%s)", args, code, errOut)
		}
	}
	// Without credentials reconcile is a configuration error.
	env := map[string]string{"LEDGERD_DB": filepath.Join(t.TempDir(), "x.db")}
	if code, _, errOut := ledgerdRun(t, env, "reconcile"); code != 2 || !strings.Contains(errOut, "FUSE_CLIENT_ID") {
		t.Errorf("reconcile without credentials: exit %d %s", code, errOut)
	}
}

// TestReconcileFlagsDefaultToTheEnvironmentAndOverrideIt: ledgerd
// reconcile tunes its run from the same variables as serve's scheduled
// runs (LEDGERD_RECONCILE_STALE_PENDING at one second makes a payment in
// flight for a minute stale), and a flag given on the command line wins
// (--stale-after 24h: merely pending). A bad value is a configuration
// error naming the variable.
func TestReconcileFlagsDefaultToTheEnvironmentAndOverrideIt(t *testing.T) {
	apiURL, payID := stuckPayment(t)
	env := map[string]string{"LEDGERD_DB": filepath.Join(t.TempDir(), "ledgerd.db"), "FUSE_BASE_URL": apiURL,
		"FUSE_AUTH_URL":  strings.TrimSuffix(apiURL, "/v1") + sandbox.TokenPath,
		"FUSE_CLIENT_ID": "sandbox", "FUSE_CLIENT_SECRET": "sandbox", "LEDGERD_RECONCILE_STALE_PENDING": "1s"}
	if code, _, errOut := ledgerdRun(t, env, "backfill"); code != 0 {
		t.Fatalf("backfill: exit %d %s", code, errOut)
	}
	code, out, errOut := ledgerdRun(t, env, "reconcile")
	if code != 1 || !strings.Contains(out, "stale_pending") || !strings.Contains(out, payID) {
		t.Errorf("reconcile with LEDGERD_RECONCILE_STALE_PENDING=1s: exit %d, want 1 with stale_pending %s\n%s%s",
			code, payID, out, errOut)
	}
	code, out, errOut = ledgerdRun(t, env, "reconcile", "--stale-after", "24h", "--json")
	var run reconcile.Run
	if err := json.Unmarshal([]byte(out), &run); code != 0 || err != nil || run.Verdict != reconcile.ReconciledWithPending ||
		run.BreaksResolved != 1 {
		t.Errorf("reconcile --stale-after 24h over the variable: exit %d %v, want 0 and the break resolved\n%s%s",
			code, err, out, errOut)
	}
	env["LEDGERD_RECONCILE_WORKERS"] = "none"
	if code, _, errOut := ledgerdRun(t, env, "reconcile"); code != 2 ||
		!strings.Contains(errOut, `LEDGERD_RECONCILE_WORKERS: want a whole number of at least 1, got "none"`) {
		t.Errorf("reconcile with a bad LEDGERD_RECONCILE_WORKERS: exit %d, want 2 naming it\n%s", code, errOut)
	}
}
