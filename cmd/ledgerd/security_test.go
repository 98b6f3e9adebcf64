package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ledgerd/ledgerd/config"
	"github.com/ledgerd/ledgerd/fuse/sandbox"
	"github.com/ledgerd/ledgerd/internal/logbuf"
	"github.com/ledgerd/ledgerd/webhook"
	"github.com/sethvargo/go-envconfig"
)

// The security checks of issue 9, at the level of the binary: what the
// daemon and the commands log, where they listen by default, what their
// files look like on disk, and which requests can change the file.

// servedDaemon is `ledgerd serve` running in-process.
type servedDaemon struct {
	hookURL, adminURL string
	logs              *logbuf.Buffer
	stop              func() int
}

// serveLogged runs `ledgerd serve` in-process with env, keeps every line it
// logs, and returns once both listeners are up. LEDGERD_LISTEN and
// LEDGERD_ADMIN_LISTEN default to free loopback ports.
func serveLogged(t *testing.T, env map[string]string) *servedDaemon {
	t.Helper()
	if env["LEDGERD_LISTEN"] == "" {
		env["LEDGERD_LISTEN"] = "127.0.0.1:0"
	}
	if env["LEDGERD_ADMIN_LISTEN"] == "" {
		env["LEDGERD_ADMIN_LISTEN"] = "127.0.0.1:0"
	}
	env["LEDGERD_LOG_FORMAT"] = "json"
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	d := &servedDaemon{logs: &logbuf.Buffer{}}
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"serve"}, envconfig.MapLookuper(env), io.Discard, pw)
		pw.Close()
	}()
	sc := bufio.NewScanner(pr)
	for (d.hookURL == "" || d.adminURL == "") && sc.Scan() {
		d.logs.Write(append(sc.Bytes(), '\n')) //nolint:errcheck // a buffer
		var line map[string]any
		if json.Unmarshal(sc.Bytes(), &line) != nil || line["msg"] != "listening" {
			continue
		}
		addr, _ := line["addr"].(string)
		switch line["listener"] {
		case "webhook":
			d.hookURL = "http://" + addr + "/webhooks/fuse"
		case "admin":
			d.adminURL = "http://" + addr
		}
	}
	go io.Copy(d.logs, pr) //nolint:errcheck // keep the rest
	if d.hookURL == "" || d.adminURL == "" {
		cancel()
		t.Fatalf("serve never listened; exit %d; log:\n%s", <-done, d.logs)
	}
	var once sync.Once
	code := 0
	d.stop = func() int {
		once.Do(func() { cancel(); code = <-done })
		return code
	}
	t.Cleanup(func() { d.stop() })
	return d
}

// freeLoopbackAddr returns a loopback address with a port nobody listens
// on right now, for a listener whose URL must be known before it starts.
func freeLoopbackAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func postHook(t *testing.T, url string, body []byte, hdr ...string) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Fuse-Timestamp", time.Now().UTC().Format(time.RFC3339))
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

func seedWebhook(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "webhook", "testdata", "seed", name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestNoSecretInLogsAtAnyLevel runs serve, backfill and reconcile at debug
// level against the sandbox (webhooks signed, tokens expiring every few
// seconds, API errors injected, a forged webhook) and scans every line
// they logged for the configured secrets, for access tokens, and for the
// IBANs of every account and party.
func TestNoSecretInLogsAtAnyLevel(t *testing.T) {
	const (
		clientID     = "security-client-4c1e"
		clientSecret = "fuse-client-secret-Zq8vX2pL"
		hookSecret   = "webhook-hmac-secret-Hn3kW9tR"
	)
	dir := t.TempDir()
	secretFile := filepath.Join(dir, "fuse_client_secret")
	if err := os.WriteFile(secretFile, []byte(clientSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	hookAddr := freeLoopbackAddr(t)
	sb := sandbox.New(sandbox.Options{Seed: 11, ClientID: clientID, ClientSecret: clientSecret,
		WebhookURL: "http://" + hookAddr + "/webhooks/fuse", WebhookSecret: hookSecret})
	defer sb.Close()
	api := httptest.NewServer(sb)
	defer api.Close()
	// Short-lived tokens and a few server errors, so that refreshes and
	// retries (and their debug lines) happen.
	sb.SetFaults(sandbox.Faults{HTTP5xx: 0.05, TokenTTLSeconds: 2})

	env := map[string]string{
		"LEDGERD_DB":                 filepath.Join(dir, "ledgerd.db"),
		"LEDGERD_LISTEN":             hookAddr,
		"LEDGERD_LOG_LEVEL":          "debug",
		"LEDGERD_WEBHOOK_SECRET":     hookSecret,
		"LEDGERD_BACKFILL_SCHEDULE":  "@every 1s",
		"LEDGERD_RECONCILE_SCHEDULE": "@every 2s",
		"FUSE_BASE_URL":              api.URL + "/v1",
		"FUSE_AUTH_URL":              api.URL + sandbox.TokenPath,
		"FUSE_CLIENT_ID":             clientID,
		"FUSE_CLIENT_SECRET":         clientSecret,
	}
	d := serveLogged(t, env)
	if _, err := sb.Generate(sandbox.GenerateOptions{Accounts: 3, Transactions: 60, Webhooks: true, FailureRate: 0.1}); err != nil {
		t.Fatal(err)
	}
	// A forged webhook, and a signed one that is not JSON: both logged.
	forged := seedWebhook(t, "inbound_local_payment_settled")
	if code := postHook(t, d.hookURL, forged, "X-Ledgerd-Signature", webhook.Sign([]byte("guess"), forged)); code != 401 {
		t.Errorf("forged webhook: %d, want 401", code)
	}
	broken := []byte(`{"type":"x","client_secret":"` + clientSecret + `"`)
	if code := postHook(t, d.hookURL, broken, "X-Ledgerd-Signature", webhook.Sign([]byte(hookSecret), broken)); code != 400 {
		t.Errorf("signed malformed webhook: %d, want 400", code)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := sb.WaitIdle(ctx); err != nil {
		t.Fatal(err)
	}
	// Wait for the daemon's own reconciliation, so its lines are in.
	for deadline := time.Now().Add(30 * time.Second); !strings.Contains(d.logs.String(), `"msg":"reconciliation"`); {
		if time.Now().After(deadline) {
			t.Fatal("serve ran no reconciliation")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if code := d.stop(); code != 0 {
		t.Errorf("serve exit %d", code)
	}

	// The one-shot commands, one of them with the secret from a file.
	logs := []string{d.logs.String()}
	cmdEnv := map[string]string{}
	for k, v := range env {
		cmdEnv[k] = v
	}
	code, out, errOut := ledgerdRun(t, cmdEnv, "backfill", "--full")
	logs = append(logs, out, errOut)
	if code != 0 {
		t.Errorf("backfill exit %d: %s", code, errOut)
	}
	delete(cmdEnv, "FUSE_CLIENT_SECRET")
	cmdEnv["FUSE_CLIENT_SECRET_FILE"] = secretFile
	code, out, errOut = ledgerdRun(t, cmdEnv, "reconcile")
	logs = append(logs, out, errOut)
	if code > 1 {
		t.Errorf("reconcile exit %d: %s", code, errOut)
	}
	all := strings.Join(logs, "\n")

	// The scan is only worth something if debug lines were written.
	for _, want := range []string{`"level":"DEBUG"`, `"msg":"fuse http"`, `"msg":"webhook"`, "bad_signature", "reconcile"} {
		if !strings.Contains(all, want) {
			t.Fatalf("logs lack %q: the scan would prove nothing", want)
		}
	}
	forbidden := map[string]string{
		"FUSE_CLIENT_SECRET":     clientSecret,
		"LEDGERD_WEBHOOK_SECRET": hookSecret,
		"a JWT (access token)":   "eyJ",
		"an Authorization value": "Bearer ",
	}
	truth := sb.Truth()
	for _, a := range truth.Accounts {
		forbidden["IBAN of account "+a.AccountID] = a.IBAN
	}
	for _, x := range truth.Transactions {
		if x.Remitter != nil && x.Remitter.IBAN != "" {
			forbidden["remitter IBAN of "+x.TransactionID] = x.Remitter.IBAN
		}
		if x.Beneficiary != nil && x.Beneficiary.IBAN != "" {
			forbidden["beneficiary IBAN of "+x.TransactionID] = x.Beneficiary.IBAN
		}
	}
	for what, s := range forbidden {
		if s == "" {
			continue
		}
		for _, line := range strings.Split(all, "\n") {
			if strings.Contains(line, s) {
				t.Errorf("%s appears in the logs:\n%s", what, line)
				break
			}
		}
	}
	t.Logf("scanned %d log lines (%d bytes) for %d forbidden strings", strings.Count(all, "\n"), len(all), len(forbidden))
}

// TestAdminListenerIsLoopbackByDefault: with nothing configured, the
// unauthenticated admin listener binds a loopback address, and the
// daemon really listens there.
func TestAdminListenerIsLoopbackByDefault(t *testing.T) {
	cfg, err := config.Load(context.Background(), envconfig.MapLookuper(map[string]string{}))
	if err != nil {
		t.Fatal(err)
	}
	host, _, err := net.SplitHostPort(cfg.AdminListen)
	if err != nil {
		t.Fatal(err)
	}
	if ip, err := netip.ParseAddr(host); err != nil || !ip.IsLoopback() {
		t.Fatalf("default LEDGERD_ADMIN_LISTEN %q is not a loopback address", cfg.AdminListen)
	}
	for _, v := range config.Describe() {
		if v.Name == "LEDGERD_ADMIN_LISTEN" && v.Default != cfg.AdminListen {
			t.Errorf("documented default %q, effective %q", v.Default, cfg.AdminListen)
		}
	}
	// serve binds exactly the configured host (port 0 here, to stay free).
	d := serveLogged(t, map[string]string{"LEDGERD_DB": filepath.Join(t.TempDir(), "a.db"),
		"LEDGERD_ADMIN_LISTEN": host + ":0"})
	u := strings.TrimPrefix(d.adminURL, "http://")
	h, _, _ := net.SplitHostPort(u)
	if ip, err := netip.ParseAddr(h); err != nil || !ip.IsLoopback() {
		t.Errorf("admin listener on %s, want loopback", u)
	}
}

// TestDatabaseFilesArePrivate: the file serve creates, and the WAL and
// shared-memory files SQLite creates next to it, are readable by the
// owner only (0600), whatever the umask lets through for other files.
func TestDatabaseFilesArePrivate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "private.db")
	d := serveLogged(t, map[string]string{"LEDGERD_DB": path})
	if code := postHook(t, d.hookURL, seedWebhook(t, "inbound_local_payment_settled")); code != 200 {
		t.Fatalf("webhook: %d", code)
	}
	// While serving, all three files exist.
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Errorf("%s: %v", filepath.Base(p), err)
			continue
		}
		if mode := fi.Mode().Perm(); mode != 0o600 {
			t.Errorf("%s: mode %o, want 600", filepath.Base(p), mode)
		}
	}
}

// TestServeEnforcesTheWebhookSecretAndAllowListFromTheEnvironment checks
// the wiring: the variables reach the listener, and what they refuse
// leaves nothing in the file.
func TestServeEnforcesTheWebhookSecretAndAllowListFromTheEnvironment(t *testing.T) {
	body := seedWebhook(t, "inbound_local_payment_settled")
	const secret = "wiring-secret-5d2f"
	t.Run("secret", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "s.db")
		d := serveLogged(t, map[string]string{"LEDGERD_DB": path, "LEDGERD_WEBHOOK_SECRET": secret})
		before := fingerprint(t, path)
		for name, hdr := range map[string][]string{
			"unsigned":           nil,
			"wrong key":          {"X-Ledgerd-Signature", webhook.Sign([]byte("not-it"), body)},
			"other body's sig":   {"X-Ledgerd-Signature", webhook.Sign([]byte(secret), append([]byte(" "), body...))},
			"bare hex, no label": {"X-Ledgerd-Signature", strings.TrimPrefix(webhook.Sign([]byte(secret), body), "sha256=")},
		} {
			if code := postHook(t, d.hookURL, body, hdr...); code != 401 {
				t.Errorf("%s: %d, want 401", name, code)
			}
		}
		if after := fingerprint(t, path); after != before {
			t.Error("a refused webhook changed the file")
		}
		if code := postHook(t, d.hookURL, body, "X-Ledgerd-Signature", webhook.Sign([]byte(secret), body)); code != 200 {
			t.Errorf("signed: %d, want 200", code)
		}
	})
	t.Run("allow list", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "a.db")
		d := serveLogged(t, map[string]string{"LEDGERD_DB": path, "LEDGERD_WEBHOOK_ALLOW_CIDRS": "15.185.183.112,157.241.63.92/32"})
		before := fingerprint(t, path)
		if code := postHook(t, d.hookURL, body, "X-Forwarded-For", "15.185.183.112"); code != 403 {
			t.Errorf("loopback peer claiming a Fuse IP: %d, want 403", code)
		}
		if after := fingerprint(t, path); after != before {
			t.Error("a refused webhook changed the file")
		}
	})
}

// TestNoUnauthenticatedWritePath sends every method to every admin route
// and to every path of the webhook listener, without credentials, and
// shows that none changes a byte of the file's data; only a signed POST to
// the webhook path does.
func TestNoUnauthenticatedWritePath(t *testing.T) {
	const secret = "write-path-secret-77aa"
	path := seedFile(t)
	d := serveLogged(t, map[string]string{"LEDGERD_DB": path, "LEDGERD_WEBHOOK_SECRET": secret})
	body := seedWebhook(t, "outbound_local_payment_submitted")
	before := fingerprint(t, path)

	// Every admin route of the external contract (DESIGN.md).
	adminRoutes := []string{"/healthz", "/readyz", "/metrics", "/", "/api/v1/balances", "/api/v1/breaks",
		"/api/v1/runs", "/api/v1/runs/1"}
	methods := []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodTrace}
	do := func(method, url string) int {
		req, err := http.NewRequest(method, url, bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, url, err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	for _, route := range append(adminRoutes, "/api/v1/nope", "/webhooks/fuse", "/admin", "/debug/pprof/") {
		for _, m := range methods {
			code := do(m, d.adminURL+route)
			known := slices.Contains(adminRoutes, route)
			switch {
			case m != http.MethodGet && m != http.MethodHead && code != http.StatusMethodNotAllowed:
				t.Errorf("admin %s %s: %d, want 405", m, route, code)
			case m == http.MethodGet && known && code == http.StatusNotFound && route != "/api/v1/runs/1":
				t.Errorf("admin GET %s: 404, but it is a route of the contract", route)
			case m == http.MethodGet && !known && code != http.StatusNotFound:
				t.Errorf("admin GET %s: %d, want 404", route, code)
			}
		}
	}
	if after := fingerprint(t, path); after != before {
		t.Fatal("a request to the admin listener changed the file")
	}

	// The webhook listener serves one path; POST there needs the
	// signature.
	hookBase := strings.TrimSuffix(d.hookURL, "/webhooks/fuse")
	for _, p := range []string{"/webhooks/fuse", "/", "/webhooks", "/webhooks/fuse/", "/webhooks/fuse/x",
		"/WEBHOOKS/FUSE", "/healthz", "/api/v1/balances", "/sandbox/clock", "/webhooks/fuse/../fuse"} {
		for _, m := range methods {
			code := do(m, hookBase+p)
			if code < 400 {
				t.Errorf("webhook listener %s %s: %d without a signature", m, p, code)
			}
		}
	}
	if after := fingerprint(t, path); after != before {
		t.Fatal("an unauthenticated request to the webhook listener changed the file")
	}
	// The positive control: the one write path works, so the fingerprint
	// does see writes.
	if code := postHook(t, d.hookURL, body, "X-Ledgerd-Signature", webhook.Sign([]byte(secret), body)); code != 200 {
		t.Fatalf("signed webhook: %d", code)
	}
	if after := fingerprint(t, path); after == before {
		t.Fatal("the signed webhook changed nothing: the fingerprint is blind")
	}
}

// fingerprint is a SHA-256 over every row of every table of the file, read
// through a separate read-only connection; but write_probe, whose one row
// /readyz rewrites to prove that a webhook could be stored (it holds only
// the time of the last probe).
func fingerprint(t *testing.T, path string) string {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro&_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var tables []string
	rows, err := db.Query(`SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%'
		AND name <> 'write_probe' ORDER BY name`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		tables = append(tables, n)
	}
	rows.Close()
	if len(tables) < 5 {
		t.Fatalf("only %d tables in %s", len(tables), path)
	}
	h := sha256.New()
	for _, tb := range tables {
		rows, err := db.Query(`SELECT * FROM "` + tb + `"`)
		if err != nil {
			t.Fatal(err)
		}
		cols, _ := rows.Columns()
		var lines []string
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			lines = append(lines, fmt.Sprintf("%q", vals))
		}
		rows.Close()
		slices.Sort(lines)
		fmt.Fprintf(h, "%s:%d\n%s\n", tb, len(lines), strings.Join(lines, "\n"))
	}
	return hex.EncodeToString(h.Sum(nil))
}
