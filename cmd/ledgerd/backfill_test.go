package main

import (
	"context"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ledgerd/ledgerd"
	"github.com/ledgerd/ledgerd/fuse/sandbox"
	"github.com/ledgerd/ledgerd/ledger"
	syncer "github.com/ledgerd/ledgerd/sync"
)

// backfillEnv is a sandbox with a small history on loopback and the
// environment that points ledgerd at it and at a fresh file.
func backfillEnv(t *testing.T) (map[string]string, *sandbox.Sandbox, sandbox.GenerateResult) {
	t.Helper()
	sb := sandbox.New(sandbox.Options{ClientID: "cli-test", ClientSecret: "cli-test-secret", Seed: 3})
	t.Cleanup(sb.Close)
	srv := httptest.NewServer(sb)
	t.Cleanup(srv.Close)
	gen, err := sb.Generate(sandbox.GenerateOptions{Accounts: 3, Transactions: 60, Currencies: []string{"AED", "USD"}})
	if err != nil {
		t.Fatal(err)
	}
	return map[string]string{
		"LEDGERD_DB":         filepath.Join(t.TempDir(), "ledgerd.db"),
		"FUSE_BASE_URL":      srv.URL + "/v1",
		"FUSE_AUTH_URL":      srv.URL + sandbox.TokenPath,
		"FUSE_CLIENT_ID":     "cli-test",
		"FUSE_CLIENT_SECRET": "cli-test-secret",
		"LEDGERD_LOG_LEVEL":  "warn",
	}, sb, gen
}

func TestBackfillCommandReadsEveryAccountAndPrintsASummary(t *testing.T) {
	env, sb, gen := backfillEnv(t)
	code, out, errOut := ledgerdRun(t, env, "backfill", "--page-size", "7")
	if code != exitOK {
		t.Fatalf("exit %d\nstdout %s\nstderr %s", code, out, errOut)
	}
	if !strings.HasPrefix(out, "backfill: 3 accounts (0 failed), ") || !strings.Contains(out, "60 transactions (60 new)") {
		t.Errorf("summary line: %q", out)
	}
	if strings.Contains(out, "\r") {
		t.Errorf("a progress bar off a terminal: %q", out)
	}
	l, err := ledger.Open(context.Background(), env["LEDGERD_DB"], ledger.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	bals, err := l.Balances(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	posted := map[string]int64{}
	for _, b := range bals {
		posted[b.LedgerAccount] = int64(b.Posted)
	}
	for _, a := range sb.Truth().Accounts {
		if got := posted[ledger.BankAccount(a.AccountID)]; got != a.Balance.Current {
			t.Errorf("account %s: posted %d, Fuse %d", a.AccountID, got, a.Balance.Current)
		}
	}

	// Again: from the checkpoints, nothing new.
	code, out, _ = ledgerdRun(t, env, "backfill")
	if code != exitOK || !strings.Contains(out, "(0 new)") {
		t.Errorf("second run: exit %d, %q", code, out)
	}
	// One account, from the start.
	code, out, _ = ledgerdRun(t, env, "backfill", "--account", gen.AccountIDs[0], "--full")
	if code != exitOK || !strings.HasPrefix(out, "backfill: 1 account (0 failed)") {
		t.Errorf("one account: exit %d, %q", code, out)
	}
}

func TestBackfillCommandExitsOneWhenAnAccountFails(t *testing.T) {
	env, _, gen := backfillEnv(t)
	unknown := "00000000-0000-4000-8000-00000000dead"
	code, out, errOut := ledgerdRun(t, env, "backfill", "--account", unknown, "--account", gen.AccountIDs[1])
	if code != exitProblem {
		t.Fatalf("exit %d, want 1\nstdout %s\nstderr %s", code, out, errOut)
	}
	if !strings.Contains(out, "2 accounts (1 failed)") || !strings.Contains(errOut, "account "+unknown+": ") ||
		!strings.Contains(errOut, "404") {
		t.Errorf("stdout %q\nstderr %q", out, errOut)
	}
}

func TestBackfillCommandUsageAndConfigurationErrorsExitTwo(t *testing.T) {
	env, _, _ := backfillEnv(t)
	noSecret := map[string]string{}
	for k, v := range env {
		if k != "FUSE_CLIENT_SECRET" {
			noSecret[k] = v
		}
	}
	for _, tc := range []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"no credentials", noSecret, nil, "FUSE_CLIENT_SECRET"},
		{"since and full", env, []string{"--since", "2026-01-01T00:00:00Z", "--full"}, "exclusive"},
		{"bad since", env, []string{"--since", "yesterday"}, "RFC 3339"},
		{"page size", env, []string{"--page-size", "2001"}, "1..2000"},
		{"stray argument", env, []string{"now"}, "unexpected"},
	} {
		code, _, errOut := ledgerdRun(t, tc.env, append([]string{"backfill"}, tc.args...)...)
		if code != exitUsage || !strings.Contains(errOut, tc.want) {
			t.Errorf("%s: exit %d, stderr %q; want 2 and %q", tc.name, code, errOut, tc.want)
		}
	}
}

// TestRefusedCredentialsExitTwoWithOneLineNamingTheMaskedClientID: when
// Fuse's token endpoint refuses the credentials (400 {}, as documented),
// backfill and reconcile stop before any work with a configuration error
// (exit 2): one line naming FUSE_CLIENT_ID by its last four characters,
// never the secret.
func TestRefusedCredentialsExitTwoWithOneLineNamingTheMaskedClientID(t *testing.T) {
	env, sb, _ := backfillEnv(t)
	env["FUSE_CLIENT_SECRET"] = "wrong-secret-value"
	for _, cmd := range []string{"backfill", "reconcile"} {
		code, out, errOut := ledgerdRun(t, env, cmd)
		if code != exitUsage {
			t.Fatalf("%s: exit %d, want 2\nstdout %s\nstderr %s", cmd, code, out, errOut)
		}
		want := "ledgerd " + cmd + ": invalid configuration: fuse: the token endpoint " + env["FUSE_AUTH_URL"] +
			" refused the credentials (400 Bad Request): check FUSE_CLIENT_ID (" + ledgerd.MaskID("cli-test") + ")"
		if !strings.HasPrefix(errOut, want) || strings.Count(strings.TrimSpace(errOut), "\n") != 0 {
			t.Errorf("%s: stderr %q, want one line starting %q", cmd, errOut, want)
		}
		if strings.Contains(out+errOut, "wrong-secret-value") || strings.Contains(out+errOut, "cli-test") {
			t.Errorf("%s shows the secret or the whole client id:\n%s%s", cmd, out, errOut)
		}
	}
	if st := sb.Stats(); st.TokenRequests != 2 || st.TokensIssued != 0 || len(st.APIRequests) != 0 {
		t.Errorf("sandbox saw %d token requests (%d issued) and API requests %v; want 2, 0 and none",
			st.TokenRequests, st.TokensIssued, st.APIRequests)
	}
}

// TestBackfillSummaryLineCountsWhatWasReadAgainAndWhatIsUnknown: the
// summary line says how many transactions were read one by one because
// they were not final, how many Fuse did not know, and how many were of a
// type or state Fuse does not document (kept unbooked); a run with none of
// them says nothing of them.
func TestBackfillSummaryLineCountsWhatWasReadAgainAndWhatIsUnknown(t *testing.T) {
	start := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	sum := syncer.Summary{Started: start, Finished: start.Add(2 * time.Second), Transactions: 1200, NewEvents: 40,
		Reread: 3, NotFound: 1, Unknown: 2, Accounts: []syncer.AccountResult{{AccountID: "a"}}}
	line := summaryLine(sum)
	for _, want := range []string{"1,200 transactions (40 new)", "; 3 read one by one (not final), 1 unknown to Fuse",
		"; 2 of unknown type or state, kept unbooked"} {
		if !strings.Contains(line, want) {
			t.Errorf("summary line %q lacks %q", line, want)
		}
	}
	sum.Reread, sum.NotFound, sum.Unknown = 0, 0, 0
	if line := summaryLine(sum); strings.Contains(line, "one by one") || strings.Contains(line, "unknown") {
		t.Errorf("summary line %q speaks of what did not happen", line)
	}
}
