package main

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"html"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/time/rate"

	"github.com/ledgerd/ledgerd/fuse"
	"github.com/ledgerd/ledgerd/fuse/sandbox"
	"github.com/ledgerd/ledgerd/internal/demo"
)

// asLedgerd makes the test binary behave as the ledgerd binary, so that
// the end-to-end test runs `ledgerd serve` as a real process without a
// second build: the child is this binary with the variable set.
const asLedgerd = "LEDGERD_TEST_AS_LEDGERD"

func TestMain(m *testing.M) {
	if os.Getenv(asLedgerd) == "1" {
		main() // exits
	}
	os.Exit(m.Run())
}

// ledgerdProcess is `ledgerd serve` running as a child process.
type ledgerdProcess struct {
	cmd            *exec.Cmd
	hookURL, admin string
	started        time.Time
	mu             sync.Mutex
	log            bytes.Buffer // its stderr (JSON log lines)
	exited         chan struct{}
	waitErr        error
}

// startLedgerd runs this test binary as `ledgerd args...` with env, and
// returns once both listeners are bound (read from its log).
func startLedgerd(t *testing.T, env map[string]string, args ...string) *ledgerdProcess {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	p := &ledgerdProcess{cmd: exec.Command(self, args...), exited: make(chan struct{})}
	p.cmd.Env = []string{asLedgerd + "=1", "PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}
	for k, v := range env {
		p.cmd.Env = append(p.cmd.Env, k+"="+v)
	}
	stderr, err := p.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	p.started = time.Now()
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	addrs := make(chan [2]string, 4)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			p.mu.Lock()
			p.log.Write(sc.Bytes())
			p.log.WriteByte('\n')
			p.mu.Unlock()
			var line map[string]any
			if json.Unmarshal(sc.Bytes(), &line) == nil && line["msg"] == "listening" {
				name, _ := line["listener"].(string)
				addr, _ := line["addr"].(string)
				addrs <- [2]string{name, "http://" + addr}
			}
		}
		p.waitErr = p.cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			_ = p.cmd.Process.Kill()
			<-p.exited
		}
	})
	deadline := time.After(60 * time.Second)
	for p.hookURL == "" || p.admin == "" {
		select {
		case a := <-addrs:
			switch a[0] {
			case "webhook":
				p.hookURL = a[1]
			case "admin":
				p.admin = a[1]
			}
		case <-p.exited:
			t.Fatalf("ledgerd %v exited before listening: %v\n%s", args, p.waitErr, p.logText())
		case <-deadline:
			t.Fatalf("ledgerd %v never listened\n%s", args, p.logText())
		}
	}
	return p
}

// terminate sends SIGTERM and waits at most 30 s for the process to exit,
// which must be with code 0.
func (p *ledgerdProcess) terminate(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.exited:
	case <-time.After(30 * time.Second):
		t.Fatalf("serve did not stop within 30 s of SIGTERM\n%s", p.logText())
	}
	if p.waitErr != nil {
		t.Fatalf("serve after SIGTERM: %v, want exit 0\n%s", p.waitErr, p.logText())
	}
}

func (p *ledgerdProcess) logText() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.log.String()
}

// waitFor polls cond every 100 ms until it holds or the deadline passes.
func waitFor(t *testing.T, what string, within time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", within, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

type apiRun struct {
	ID        int64     `json:"id"`
	StartedAt time.Time `json:"started_at"`
	Verdict   *string   `json:"verdict"`
}

type apiBreak struct {
	Category      string `json:"category"`
	State         string `json:"state"`
	FuseAccountID string `json:"fuse_account_id"`
	Difference    *int64 `json:"difference"`
}

// latestRun is the newest finished run that started after since.
func latestRun(t *testing.T, admin string, since time.Time) (apiRun, bool) {
	var runs []apiRun
	getJSON(t, admin+"/api/v1/runs", &runs)
	for _, r := range runs {
		if r.Verdict != nil && r.StartedAt.After(since) {
			return r, true
		}
	}
	return apiRun{}, false
}

// TestServeEndToEnd runs `ledgerd serve` as its own process against the
// sandbox with its schedules set to seconds, drives a day of traffic
// through the Fuse API with webhooks dropped, duplicated and reordered,
// waits for the backfill to heal and a reconciliation to agree, plants a
// bank-side discrepancy and waits for a run to find it; meanwhile it
// scrapes /metrics and the JSON API and reads the status page in a
// headless Chromium. Then SIGTERM: exit 0, every webhook that was answered
// 2xx is in the file, and the file passes `ledgerd verify`.
func TestServeEndToEnd(t *testing.T) {
	t.Parallel() // mostly waiting on another process
	const seed = 11
	plan := demo.NewPlan(seed)
	base := demo.DayStart(time.Now(), time.UTC)
	api := httptest.NewUnstartedServer(nil) // its address now, its handler once serve listens
	defer api.Close()
	db := filepath.Join(t.TempDir(), "ledgerd.db")
	p := startLedgerd(t, map[string]string{
		"LEDGERD_DB":                          db,
		"LEDGERD_LISTEN":                      "127.0.0.1:0",
		"LEDGERD_ADMIN_LISTEN":                "127.0.0.1:0",
		"LEDGERD_LOG_FORMAT":                  "json",
		"LEDGERD_BACKFILL_SCHEDULE":           "@every 1s",
		"LEDGERD_RECONCILE_SCHEDULE":          "@every 2s",
		"LEDGERD_WEBHOOK_TIMESTAMP_TOLERANCE": "48h", // the day's events are hours old
		"FUSE_BASE_URL":                       "http://" + api.Listener.Addr().String() + "/v1",
		"FUSE_AUTH_URL":                       "http://" + api.Listener.Addr().String() + sandbox.TokenPath,
		"FUSE_CLIENT_ID":                      "sandbox",
		"FUSE_CLIENT_SECRET":                  "sandbox",
	}, "serve")
	sb := sandbox.New(sandbox.Options{Seed: seed, WebhookURL: p.hookURL + "/webhooks/fuse",
		Now: func() time.Time { return base }})
	defer sb.Close()
	api.Config.Handler = sb
	api.Start()

	waitFor(t, "/readyz 200", 30*time.Second, func() bool {
		resp, err := http.Get(p.admin + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	t.Logf("serve ready %s after exec (race detector on)", time.Since(p.started).Round(time.Millisecond))

	client, err := fuse.New(fuse.Config{BaseURL: api.URL + "/v1", AuthURL: api.URL + sandbox.TokenPath, ClientID: "sandbox", ClientSecret: "sandbox", RateLimit: rate.Inf})
	if err != nil {
		t.Fatal(err)
	}
	st := demo.NewStreamer(sb, client, seed)
	sb.SetFaults(demo.Faults())
	ctx := context.Background()
	if err := st.Open(ctx); err != nil {
		t.Fatal(err)
	}
	if err := st.Stream(ctx, plan); err != nil {
		t.Fatal(err)
	}
	sb.SetFaults(sandbox.Faults{})
	if err := sb.WaitIdle(ctx); err != nil {
		t.Fatal(err)
	}
	stats := sb.Stats()
	if stats.WebhooksDropped == 0 || stats.WebhooksDuplicated == 0 || stats.WebhooksReordered == 0 {
		t.Fatalf("traffic without every fault: %+v", stats)
	}
	streamed := time.Now()

	// The scheduled backfill heals the dropped webhooks; a run that starts
	// after it agrees with Fuse.
	waitFor(t, "a RECONCILED run", 60*time.Second, func() bool {
		r, ok := latestRun(t, p.admin, streamed.Add(time.Second))
		return ok && *r.Verdict == "RECONCILED"
	})
	operating := st.Operating()
	if _, err := sb.Adjust(sandbox.Adjustment{AccountID: operating, Amount: demo.Adjustment}); err != nil {
		t.Fatal(err)
	}
	planted := time.Now()
	waitFor(t, "a BREAKS run", 30*time.Second, func() bool {
		r, ok := latestRun(t, p.admin, planted)
		return ok && *r.Verdict == "BREAKS"
	})
	var breaks []apiBreak
	getJSON(t, p.admin+"/api/v1/breaks", &breaks)
	// The discrepancy, today and on the business day (closed: demo.DayStart).
	if len(breaks) != 2 {
		t.Errorf("open breaks: %+v, want a balance_drift and a closing_balance_drift of %d on %s", breaks, -demo.Adjustment, operating)
	}
	for i, cat := range []string{"balance_drift", "closing_balance_drift"} {
		if i < len(breaks) && (breaks[i].Category != cat || breaks[i].FuseAccountID != operating ||
			breaks[i].Difference == nil || *breaks[i].Difference != -demo.Adjustment) {
			t.Errorf("open break %d: %+v, want a %s of %d on %s", i, breaks[i], cat, -demo.Adjustment, operating)
		}
	}

	// Metrics: every 2xx delivery counted, once as accepted or as a
	// duplicate; the last verdict; the backfill ran.
	metrics := getBody(t, p.admin+"/metrics")
	accepted := metricSum(metrics, "ledgerd_webhook_events_total", `result="accepted"`)
	dup := metricSum(metrics, "ledgerd_webhook_events_total", `result="duplicate"`)
	if int(accepted+dup) != stats.WebhooksDelivered || accepted == 0 || dup < float64(stats.WebhooksDuplicated) {
		t.Errorf("metrics: %v accepted + %v duplicate webhooks, sandbox had %d delivered (%d duplicated)",
			accepted, dup, stats.WebhooksDelivered, stats.WebhooksDuplicated)
	}
	if v := metricSum(metrics, "ledgerd_reconcile_last_run_verdict", `verdict="BREAKS"`); v != 1 {
		t.Errorf("ledgerd_reconcile_last_run_verdict{verdict=BREAKS} = %v, want 1", v)
	}
	if v := metricSum(metrics, "ledgerd_backfill_runs_total", ""); v < 1 {
		t.Errorf("ledgerd_backfill_runs_total = %v", v)
	}
	if v := metricSum(metrics, "ledgerd_fuse_token_fetches_total", ""); v < 1 || v > 2 {
		t.Errorf("serve fetched %v tokens, want one shared token", v)
	}

	// The status page, as a browser renders it (its header may show a
	// run in progress: the schedule runs one every 2 s).
	if bin := chromiumPath(t); bin != "" {
		dom := html.UnescapeString(string(chromiumDump(t, bin, p.admin+"/")))
		for _, want := range []string{`<span class="badge bad">BREAKS</span>`, "balance_drift", "Operating", "Payroll", "USD Treasury",
			"150.00", "Events ingested per hour", "Absolute drift per run, AED", `<span class="badge ok">RECONCILED</span>`} {
			if !strings.Contains(dom, want) {
				t.Errorf("status page in Chromium lacks %q", want)
			}
		}
	}

	// SIGTERM: a clean stop.
	p.terminate(t)
	if !strings.Contains(p.logText(), `"msg":"stopped cleanly"`) {
		t.Errorf("serve's log does not say it stopped cleanly")
	}

	// No acknowledged event lost: every event answered 2xx is in the file.
	acked := map[string]bool{}
	for _, d := range sb.Deliveries() {
		if d.StatusCode >= 200 && d.StatusCode < 300 {
			acked[d.EventID] = true
		}
	}
	ro, err := sql.Open("sqlite", "file:"+db+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	stored := map[string]bool{}
	rows, err := ro.Query(`SELECT event_id FROM events WHERE source = 'webhook'`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		stored[id] = true
	}
	rows.Close()
	lost := 0
	for id := range acked {
		if !stored[id] {
			lost++
		}
	}
	if lost > 0 || len(acked) == 0 {
		t.Errorf("%d of %d acknowledged events are not in the file", lost, len(acked))
	}

	// The built binary's own verify.
	self, _ := os.Executable()
	verify := exec.Command(self, "verify", "--db", db)
	verify.Env = []string{asLedgerd + "=1", "HOME=" + t.TempDir()}
	if out, err := verify.CombinedOutput(); err != nil || !strings.Contains(string(out), "checks passed") {
		t.Errorf("ledgerd verify: %v\n%s", err, out)
	}
}

// metricSum adds up the samples of a metric whose labels contain match,
// from the Prometheus text format.
func metricSum(text, name, match string) float64 {
	var sum float64
	for _, line := range strings.Split(text, "\n") {
		if !strings.HasPrefix(line, name+"{") && !strings.HasPrefix(line, name+" ") {
			continue
		}
		if match != "" && !strings.Contains(line, match) {
			continue
		}
		f := strings.Fields(line)
		if v, err := strconv.ParseFloat(f[len(f)-1], 64); err == nil {
			sum += v
		}
	}
	return sum
}

// chromiumPath finds Debian's chromium (scripts/install-deps.sh installs
// it). Under CI a missing browser fails the test; elsewhere the browser
// check is skipped with a note and the rest of the test still runs.
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "/usr/bin/chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("chromium not found: scripts/install-deps.sh installs it")
	}
	t.Log("chromium not found (run scripts/install-deps.sh): the status page is not checked in a browser")
	return ""
}

// chromiumDump renders url in a headless Chromium with a fresh profile,
// kept off the network, and returns the DOM it built.
func chromiumDump(t *testing.T, bin, url string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--disable-quic", "--no-first-run", "--no-default-browser-check", "--hide-scrollbars",
		"--user-data-dir="+t.TempDir(), "--dump-dom", url)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.WaitDelay = 10 * time.Second
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium --dump-dom %s: %v\n%s", url, err, stderr.Bytes())
	}
	return stdout.Bytes()
}
