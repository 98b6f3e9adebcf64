package main

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ledgerd/ledgerd"
	"github.com/ledgerd/ledgerd/ledger"
	"github.com/ledgerd/ledgerd/webhook"
	"github.com/sethvargo/go-envconfig"
	_ "modernc.org/sqlite"
)

// ledgerdRun runs one invocation with the given environment.
func ledgerdRun(t *testing.T, env map[string]string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(context.Background(), args, envconfig.MapLookuper(env), &out, &errb)
	return code, out.String(), errb.String()
}

// seedFile ingests Fuse's webhook examples into a fresh file.
func seedFile(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "ledgerd.db")
	l, err := ledger.Open(context.Background(), path, ledger.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for _, name := range []string{"account_opened", "inbound_local_payment_settled", "outbound_local_payment_created"} {
		raw, err := os.ReadFile(filepath.Join("..", "..", "webhook", "testdata", "seed", name+".json"))
		if err != nil {
			t.Fatal(err)
		}
		o, err := webhook.Decode(raw, webhook.Header{ReceivedAt: time.Now()})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := l.Ingest(context.Background(), o); err != nil {
			t.Fatal(err)
		}
	}
	return path
}

func TestMigrateCreatesTheFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "new.db")
	code, out, errOut := ledgerdRun(t, map[string]string{"LEDGERD_DB": path}, "migrate")
	if code != 0 || !strings.Contains(out, "schema version") {
		t.Fatalf("migrate: exit %d, out %q, err %q", code, out, errOut)
	}
	if _, err := os.Stat(path); err != nil {
		t.Errorf("file not created: %v", err)
	}
}

func TestBalancesJSONFollowsTheContract(t *testing.T) {
	path := seedFile(t)
	code, out, errOut := ledgerdRun(t, map[string]string{"LEDGERD_DB": path}, "balances", "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var rows []map[string]any
	if err := json.Unmarshal([]byte(out), &rows); err != nil {
		t.Fatalf("not a JSON array: %v\n%s", err, out)
	}
	wantKeys := []string{"ledger_account", "fuse_account_id", "currency", "posted", "pending", "available", "fuse_current", "fuse_available"}
	found := false
	for _, r := range rows {
		if len(r) != len(wantKeys) {
			t.Errorf("object has %d keys, want exactly %v: %v", len(r), wantKeys, r)
		}
		for _, k := range wantKeys {
			if _, ok := r[k]; !ok {
				t.Errorf("object lacks %q: %v", k, r)
			}
		}
		if r["ledger_account"] == "bank:018bfd91-ea86-a787-9d72-754cddfbc294" {
			found = true
			if r["posted"] != float64(100000000) || r["fuse_account_id"] != "018bfd91-ea86-a787-9d72-754cddfbc294" {
				t.Errorf("merchant account: %v", r)
			}
		}
		if r["ledger_account"] == "world:payers" && r["fuse_account_id"] != nil {
			t.Errorf("non-bank account has fuse_account_id %v", r["fuse_account_id"])
		}
	}
	if !found {
		t.Errorf("merchant bank account missing from %s", out)
	}
}

func TestBalancesTableShowsMajorUnits(t *testing.T) {
	path := seedFile(t)
	code, out, _ := ledgerdRun(t, map[string]string{"LEDGERD_DB": path}, "balances")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	// 100000000 fils is AED 1,000,000.00; the pending payment is 512.39.
	for _, want := range []string{"LEDGER ACCOUNT", "1000000.00", "-512.39"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
}

func TestVerifyPassesThenCatchesTampering(t *testing.T) {
	path := seedFile(t)
	env := map[string]string{"LEDGERD_DB": path}
	if code, out, errOut := ledgerdRun(t, env, "verify"); code != 0 || !strings.Contains(out, "all 8 checks passed") {
		t.Fatalf("verify of a clean file: exit %d\n%s%s", code, out, errOut)
	}
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"DROP TRIGGER events_append_only_update", "UPDATE events SET raw = CAST('{}' AS BLOB) WHERE seq = 2"} {
		if _, err := db.Exec(s); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()
	code, out, errOut := ledgerdRun(t, env, "verify")
	if code != 1 || !strings.Contains(out, "FAIL events hash chain") || !strings.Contains(errOut, "events hash chain") {
		t.Errorf("verify of a tampered file: exit %d, want 1\n%s%s", code, out, errOut)
	}
}

// TestVerifyReportsAReadableFileAndLeavesItAsItIs: a check must not change
// what it checks. verify reports a database others can read (exit 1,
// naming the mode and the fix) and leaves the mode alone; migrate makes
// it private. verify creates no missing file and upgrades no older one.
func TestVerifyReportsAReadableFileAndLeavesItAsItIs(t *testing.T) {
	path := seedFile(t)
	env := map[string]string{"LEDGERD_DB": path}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := ledgerdRun(t, env, "verify")
	if code != 1 || !strings.Contains(out, "FAIL database files private") ||
		!strings.Contains(out, path+" is mode 0644") || !strings.Contains(out, "ledgerd migrate") {
		t.Errorf("verify of a 0644 file: exit %d, want 1 naming the mode and the fix\n%s%s", code, out, errOut)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o644 {
		t.Fatalf("verify changed the mode to %o (%v), want it left at 644", fi.Mode().Perm(), err)
	}
	if code, out, errOut := ledgerdRun(t, env, "migrate"); code != 0 {
		t.Fatalf("migrate: exit %d\n%s%s", code, out, errOut)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("after migrate: mode %o (%v), want 600", fi.Mode().Perm(), err)
	}
	if code, out, errOut := ledgerdRun(t, env, "verify"); code != 0 {
		t.Errorf("verify after migrate: exit %d\n%s%s", code, out, errOut)
	}

	missing := filepath.Join(t.TempDir(), "missing.db")
	if code, _, errOut := ledgerdRun(t, env, "verify", "--db", missing); code != 1 || !strings.Contains(errOut, "no such file") {
		t.Errorf("verify of a missing file: exit %d, %q; want 1, no such file", code, errOut)
	}
	if _, err := os.Stat(missing); !os.IsNotExist(err) {
		t.Errorf("verify created %s (%v)", missing, err)
	}

	// An older file (here: the user_version of one a version back) is
	// reported, not upgraded.
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	older := ledger.SchemaVersion() - 1
	if _, err := db.Exec("PRAGMA user_version = " + strconv.Itoa(older)); err != nil {
		t.Fatal(err)
	}
	code, _, errOut = ledgerdRun(t, env, "verify")
	if code != 1 || !strings.Contains(errOut, "ledgerd migrate") {
		t.Errorf("verify of an older file: exit %d, %q; want 1 saying ledgerd migrate", code, errOut)
	}
	var v int
	if err := db.QueryRow("PRAGMA user_version").Scan(&v); err != nil || v != older {
		t.Errorf("user_version after verify: %d (%v), want %d", v, err, older)
	}
	db.Close()
}

func TestConfigurationErrorsExitTwoListingEveryProblem(t *testing.T) {
	code, _, errOut := ledgerdRun(t, map[string]string{
		"LEDGERD_DB":                  filepath.Join(t.TempDir(), "x.db"),
		"LEDGERD_TZ":                  "Mars/Base",
		"LEDGERD_WEBHOOK_ALLOW_CIDRS": "10.0.0.0/33",
		"FUSE_CLIENT_SECRET_FILE":     "/nonexistent/secret",
	}, "balances")
	if code != 2 {
		t.Errorf("exit %d, want 2", code)
	}
	for _, want := range []string{"LEDGERD_TZ", "LEDGERD_WEBHOOK_ALLOW_CIDRS", "FUSE_CLIENT_SECRET_FILE"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("error does not name %s:\n%s", want, errOut)
		}
	}
}

func TestUsageErrorsExitTwo(t *testing.T) {
	env := map[string]string{"LEDGERD_DB": filepath.Join(t.TempDir(), "x.db")}
	for _, args := range [][]string{
		{"frobnicate"},
		{"balances", "--nope"},
		{"balances", "--as-of", "yesterday"},
		{"quarantine"},
		{"quarantine", "replay", "abc"},
		{"quarantine", "replay", "1", "2"},
		{"quarantine", "list", "--state", "bogus"},
		{"breaks", "ack", "1", "2", "--note", "x"},
		{},
	} {
		if code, _, _ := ledgerdRun(t, env, args...); code != 2 {
			t.Errorf("ledgerd %v: exit %d, want 2", args, code)
		}
	}
}

// A stray argument is a usage error for every command, wherever it stands
// among the flags, and nothing runs: "verify some.db" does not check (and
// create) the default file instead.
func TestStrayArgumentsExitTwoAndDoNothing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "default.db")
	env := map[string]string{"LEDGERD_DB": path}
	for _, args := range [][]string{
		{"migrate", "junk"},
		{"balances", "junk"},
		{"verify", "some.db", "--json"},
		{"version", "junk"},
		{"export", "--format", "csv", "junk"},
		{"report", "--format", "json", "--out", "-", "junk"},
		{"breaks", "list", "junk"},
		{"quarantine", "list", "junk"},
		{"serve", "extra"},
		{"sandbox", "--listen", "127.0.0.1:0", "junk"},
		{"backfill", "junk"},
		{"reconcile", "junk"},
		{"demo", "junk"},
		{"certify", "--out", t.TempDir(), "junk"},
	} {
		code, _, errOut := ledgerdRun(t, env, args...)
		if code != 2 || !strings.Contains(errOut, "unexpected argument") {
			t.Errorf("ledgerd %v: exit %d, want 2 naming the argument\n%s", args, code, errOut)
		}
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("a refused command touched the default file: %v", err)
	}
}

// Flags may follow a subcommand: "quarantine list --json" reads --json, and
// an empty list is [] in JSON, as breaks list prints it.
func TestQuarantineListTakesFlagsAfterTheSubcommand(t *testing.T) {
	path := filepath.Join(t.TempDir(), "q.db")
	env := map[string]string{"LEDGERD_DB": filepath.Join(t.TempDir(), "other.db")}
	if code, _, errOut := ledgerdRun(t, env, "migrate", "--db", path); code != 0 {
		t.Fatalf("migrate: exit %d\n%s", code, errOut)
	}
	code, out, errOut := ledgerdRun(t, env, "quarantine", "list", "--json", "--db", path)
	if code != 0 || strings.TrimSpace(out) != "[]" {
		t.Fatalf("quarantine list --json --db: exit %d, out %q\n%s", code, out, errOut)
	}
	code, out, errOut = ledgerdRun(t, env, "breaks", "list", "--json", "--db", path)
	if code != 0 || strings.TrimSpace(out) != "[]" {
		t.Fatalf("breaks list --json --db: exit %d, out %q\n%s", code, out, errOut)
	}
}

func TestHelpExplainsEveryCommand(t *testing.T) {
	code, out, _ := ledgerdRun(t, nil, "--help")
	if code != 0 {
		t.Fatalf("--help exit %d", code)
	}
	for _, c := range commands() {
		if !strings.Contains(out, c.name) {
			t.Errorf("--help does not list %s", c.name)
		}
		code, sub, _ := ledgerdRun(t, nil, c.name, "--help")
		if code != 0 || !strings.Contains(sub, "Usage: ledgerd "+c.name) {
			t.Errorf("%s --help: exit %d\n%s", c.name, code, sub)
		}
	}
	for _, v := range []string{"LEDGERD_DB", "LEDGERD_WEBHOOK_SECRET", "FUSE_BASE_URL", "FUSE_AUTH_URL", "FUSE_AUDIENCE"} {
		if !strings.Contains(out, v) {
			t.Errorf("--help does not document %s", v)
		}
	}
	if code, out, _ := ledgerdRun(t, nil, "version"); code != 0 || !strings.HasPrefix(out, "ledgerd ") {
		t.Errorf("version: %d %q", code, out)
	}
}

func TestQuarantineReplayIngestsAFixedBody(t *testing.T) {
	path := filepath.Join(t.TempDir(), "q.db")
	l, err := ledger.Open(context.Background(), path, ledger.Options{})
	if err != nil {
		t.Fatal(err)
	}
	good, _ := os.ReadFile(filepath.Join("..", "..", "webhook", "testdata", "seed", "account_opened.json"))
	bad, _ := os.ReadFile(filepath.Join("..", "..", "webhook", "testdata", "seed", "internal_transfer_failed.json"))
	// A body refused by an older ledgerd (here: simply quarantined by hand),
	// and one that is still malformed.
	goodID, err := l.Quarantine(context.Background(), ledger.Quarantined{Reason: "missing_field", Detail: "test", Raw: good})
	if err != nil {
		t.Fatal(err)
	}
	badID, err := l.Quarantine(context.Background(), ledger.Quarantined{Reason: "malformed_json", Detail: "trailing comma", Raw: bad})
	if err != nil {
		t.Fatal(err)
	}
	l.Close()
	env := map[string]string{"LEDGERD_DB": path}
	code, out, _ := ledgerdRun(t, env, "quarantine", "list")
	if code != 0 || !strings.Contains(out, "malformed_json") || !strings.Contains(out, "missing_field") {
		t.Fatalf("list: exit %d\n%s", code, out)
	}
	if code, out, errOut := ledgerdRun(t, env, "quarantine", "replay", itoa(goodID)); code != 0 || !strings.Contains(out, "ingested") {
		t.Fatalf("replay good: exit %d\n%s%s", code, out, errOut)
	}
	if code, _, errOut := ledgerdRun(t, env, "quarantine", "replay", itoa(badID)); code != 1 || !strings.Contains(errOut, "still not acceptable") {
		t.Errorf("replay of a still-malformed body: exit %d, want 1\n%s", code, errOut)
	}
	code, out, _ = ledgerdRun(t, env, "quarantine", "--state", "replayed", "list")
	if code != 0 || !strings.Contains(out, "replayed") || strings.Contains(out, "malformed_json") {
		t.Errorf("list replayed: exit %d\n%s", code, out)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// TestSandboxCommandServesTheFuseAPI starts `ledgerd sandbox` on a free
// port and talks to it: it prints the FUSE_BASE_URL and FUSE_AUTH_URL to
// use, both on its one listener; GET / answers; a token is issued for the
// configured credentials and refused with Fuse's 400 for others.
func TestSandboxCommandServesTheFuseAPI(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan int, 1)
	go func() {
		var errb bytes.Buffer
		done <- run(ctx, []string{"sandbox", "--listen", "127.0.0.1:0", "--instant"},
			envconfig.MapLookuper(map[string]string{"FUSE_CLIENT_ID": "me", "FUSE_CLIENT_SECRET": "pw"}), pw, &errb)
		pw.Close()
	}()
	rd := bufio.NewReader(pr)
	var urls []string
	for _, name := range []string{"FUSE_BASE_URL", "FUSE_AUTH_URL"} {
		line, err := rd.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		u, ok := strings.CutPrefix(strings.TrimSpace(line), "fuse sandbox: "+name+"=")
		if !ok {
			t.Fatalf("line %q, want fuse sandbox: %s=…", line, name)
		}
		urls = append(urls, u)
	}
	base, auth := urls[0], urls[1]
	if root := strings.TrimSuffix(base, "/v1"); auth != root+"/oauth/token" {
		t.Errorf("FUSE_AUTH_URL %s, want %s/oauth/token on the API's listener", auth, root)
	}
	go io.Copy(io.Discard, rd) //nolint:errcheck // drain
	resp, err := http.Get(strings.TrimSuffix(base, "/v1") + "/")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET /: %v %v", resp, err)
	}
	resp.Body.Close()
	const rest = `"audience":"https://api.fuse.me","grant_type":"client_credentials"}`
	for creds, want := range map[string]int{`{"client_id":"me","client_secret":"pw",` + rest: 200, `{"client_id":"me","client_secret":"no",` + rest: 400} {
		resp, err := http.Post(auth, "application/json", strings.NewReader(creds))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("token with %s: %d, want %d", creds, resp.StatusCode, want)
		}
	}
	cancel()
	if code := <-done; code != 0 {
		t.Errorf("sandbox exit %d after interrupt, want 0", code)
	}
}

// Control characters a sender put in a quarantine reason's detail are
// shown as escapes, never sent to the operator's terminal.
func TestQuarantineListPrintsNoControlCharacters(t *testing.T) {
	path := filepath.Join(t.TempDir(), "q.db")
	l, err := ledger.Open(context.Background(), path, ledger.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Quarantine(context.Background(), ledger.Quarantined{Reason: "duplicate_field",
		Detail: "key \"\x1b[2J\x1b]0;TITLE\a\" occurs twice", Raw: []byte(`{}`)}); err != nil {
		t.Fatal(err)
	}
	l.Close()
	code, out, _ := ledgerdRun(t, map[string]string{"LEDGERD_DB": path}, "quarantine", "list")
	if code != 0 || strings.ContainsAny(out, "\x1b\a") || !strings.Contains(out, `\x1b[2J`) {
		t.Errorf("quarantine list: exit %d\n%q", code, out)
	}
}

// TestMigrateUpgradesAVersion6File: `ledgerd migrate` brings a file that
// an earlier ledgerd left at schema version 6 to version 7 (the version
// that loosens CHECKs by editing the schema), and verify then passes.
func TestMigrateUpgradesAVersion6File(t *testing.T) {
	cut := strings.Index(ledgerd.SchemaSQL, "\n-- version 7:")
	if cut < 0 || ledger.SchemaVersion() < 7 {
		t.Fatal("schema.sql has no version 7 section")
	}
	path := filepath.Join(t.TempDir(), "v6.db")
	db, err := sql.Open("sqlite", "file:"+ledger.URIPath(path)+"?_pragma=foreign_keys(1)&_pragma=journal_mode(WAL)")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{ledgerd.SchemaSQL[:cut], "PRAGMA user_version = 6"} {
		if _, err := db.Exec(s); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(path, 0o600); err != nil {
		t.Fatal(err)
	}
	db.Close()
	env := map[string]string{"LEDGERD_DB": path}
	code, out, errOut := ledgerdRun(t, env, "migrate")
	if want := "schema version " + strconv.Itoa(ledger.SchemaVersion()); code != 0 || !strings.Contains(out, want) {
		t.Fatalf("migrate of a version-6 file: exit %d, want 0 and %q\n%s%s", code, want, out, errOut)
	}
	if code, out, errOut := ledgerdRun(t, env, "verify"); code != 0 {
		t.Errorf("verify after migrating a version-6 file: exit %d\n%s%s", code, out, errOut)
	}
}
