package admin_test

import (
	"context"
	"encoding/xml"
	"fmt"
	"html"
	"io"
	"math"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ledgerd/ledgerd/admin"
	"github.com/ledgerd/ledgerd/ledger"
	"github.com/ledgerd/ledgerd/webhook"
)

// wellFormed checks that the page's elements nest and close properly, as
// an XML tokenizer with HTML's void elements sees them: every table, tr,
// section and svg opened is closed, in order. It returns the number of
// elements by name.
func wellFormed(t *testing.T, page string) map[string]int {
	t.Helper()
	dec := xml.NewDecoder(strings.NewReader(page))
	dec.Strict = false
	dec.AutoClose = xml.HTMLAutoClose
	dec.Entity = xml.HTMLEntity
	var stack []string
	counts := map[string]int{}
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("page does not tokenize: %v", err)
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			stack = append(stack, tok.Name.Local)
			counts[tok.Name.Local]++
		case xml.EndElement:
			if len(stack) == 0 || stack[len(stack)-1] != tok.Name.Local {
				t.Fatalf("</%s> closes %v", tok.Name.Local, stack)
			}
			stack = stack[:len(stack)-1]
		}
	}
	if len(stack) != 0 {
		t.Fatalf("unclosed elements: %v", stack)
	}
	return counts
}

// svgs returns the page's inline SVG fragments and checks each parses as
// strict XML on its own.
func svgs(t *testing.T, page string) []string {
	t.Helper()
	frags := regexp.MustCompile(`(?s)<svg .*?</svg>`).FindAllString(page, -1)
	for _, f := range frags {
		var v struct {
			XMLName xml.Name
			Rects   []struct {
				Title string `xml:"title"`
			} `xml:"rect"`
		}
		if err := xml.Unmarshal([]byte(f), &v); err != nil {
			t.Fatalf("SVG is not well-formed XML: %v\n%s", err, f)
		}
		if v.XMLName.Local != "svg" || v.XMLName.Space != "http://www.w3.org/2000/svg" {
			t.Errorf("SVG root = %v", v.XMLName)
		}
	}
	return frags
}

func statusPage(t *testing.T, srv interface {
	Client() *http.Client
}, url string) string {
	t.Helper()
	resp, err := srv.Client().Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET / = %d %s", resp.StatusCode, body)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "text/html; charset=utf-8" {
		t.Errorf("Content-Type = %q", ct)
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") {
		t.Errorf("Content-Security-Policy = %q", csp)
	}
	return string(body)
}

func TestStatusPageShowsBalancesBreaksRunsAndCharts(t *testing.T) {
	l := openLedger(t)
	seedScenario(t, l)
	dubai, err := time.LoadLocation("Asia/Dubai")
	if err != nil {
		t.Fatal(err)
	}
	srv, _ := serve(t, l, admin.Options{Location: dubai, Version: "v1.2.3"})
	page := statusPage(t, srv, srv.URL+"/")

	counts := wellFormed(t, page)
	if counts["table"] != 3 || counts["svg"] != 3 || counts["script"] != 0 {
		t.Errorf("element counts: %d tables, %d svg, %d script; want 3, 3 (ingest, AED and USD drift), 0",
			counts["table"], counts["svg"], counts["script"])
	}
	frags := svgs(t, page)
	if len(frags) != 3 {
		t.Fatalf("%d SVG charts, want 3", len(frags))
	}
	// One drift chart per currency: amounts in AED and USD are never
	// added up. Run 3 saw no USD account: a zero stub.
	if usd := html.UnescapeString(frags[2]); !strings.Contains(usd, "Absolute drift per run, USD") ||
		!strings.Contains(usd, "run 2 (BREAKS, 2024-10-10 06:00 +04): drift 0.00 USD, gross 0.00 USD") {
		t.Errorf("USD drift chart:\n%s", frags[2])
	}

	mustContain := []string{
		// header: version, file, time in LEDGERD_TZ, latest verdict
		"v1.2.3", l.Path(), "2024-10-11 10:30:00 +04", `id="verdict">INCOMPLETE<`,
		// last reconcile and backfill, ingest per source
		"run #3 started 2024-10-11 06:00 +04 (4h 30m ago)",
		"<b>webhook</b>: 15 events, last 2024-10-10 12:00 +04",
		"<b>backfill</b>: 2 events, last 2024-10-10 13:00 +04",
		// balances: ledger vs Fuse in major units, the merchant drifting by 5.00
		"bank:" + merchantID, "990000.00", "989995.00",
		`<td class="num drift">5.00</td>`,
		"bank:" + payoutsID, "9487.61", `<td class="num drift zero">0.00</td>`,
		"bank:" + usdID, "-100.00", "not reported",
		"Contractors Ltd.",
		// open breaks only, with difference and age
		"balance_drift", "missing_at_fuse", missingTx, "12.50", "1d 4h",
		// runs with verdict badges
		`<span class="badge ok">RECONCILED</span>`, `<span class="badge bad">BREAKS</span>`,
		`<span class="badge warn">INCOMPLETE</span>`,
		// charts: events per hour, drift per run in AED
		"Events ingested per hour", "last 48 hours, all sources: 17 events",
		"Absolute drift per run, AED", "run 2 (BREAKS, 2024-10-10 06:00 +04): drift 5.00 AED, gross 17.50 AED",
	}
	// Compare text as a browser shows it (html/template writes "+" as
	// "&#43;").
	text := html.UnescapeString(page)
	for _, s := range mustContain {
		if !strings.Contains(text, s) {
			t.Errorf("status page lacks %q", s)
		}
	}
	// The hostile detail arrives escaped, as text.
	if !strings.Contains(page, "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; &#34;quotes&#34;") {
		t.Errorf("break detail not escaped")
	}
	mustNot := []string{
		"stale_pending",   // acknowledged: not an open break
		"status_mismatch", // resolved
		`<script>`,
	}
	for _, s := range mustNot {
		if strings.Contains(page, s) {
			t.Errorf("status page shows %q", s)
		}
	}
	// Only the merchant's row is highlighted.
	if n := strings.Count(page, `<tr class="drifting">`); n != 1 {
		t.Errorf("%d drifting rows, want 1", n)
	}
}

func TestStatusPageOnAnEmptyFile(t *testing.T) {
	l := openLedger(t)
	srv, _ := serve(t, l, admin.Options{})
	page := statusPage(t, srv, srv.URL+"/")
	wellFormed(t, page)
	svgs(t, page)
	for _, s := range []string{
		"NOT RECONCILED YET", "No balances yet", "No open breaks.", "No reconciliation run yet.",
		"no event has been received", "No reconciliation run with account figures yet.",
		"last 48 hours, all sources: 0 events",
	} {
		if !strings.Contains(page, s) {
			t.Errorf("empty status page lacks %q", s)
		}
	}
}

func TestUnknownPagesAre404(t *testing.T) {
	srv, _ := serve(t, openLedger(t), admin.Options{})
	if resp, _ := get(t, srv, "/favicon.ico"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET /favicon.ico = %d", resp.StatusCode)
	}
}

func TestMetricsExposeRuntimeProcessAndLedgerdMetrics(t *testing.T) {
	l := openLedger(t)
	srv, reg := serve(t, l, admin.Options{})
	// Another component's collectors on the same registry, as serve wires.
	m := webhook.NewMetrics(reg)
	m.CommitBatch(3)
	if resp, _ := get(t, srv, "/api/v1/balances"); resp.StatusCode != http.StatusOK {
		t.Fatal(resp.Status)
	}
	resp, body := get(t, srv, "/metrics")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics = %d", resp.StatusCode)
	}
	page := string(body)
	for _, s := range []string{
		"go_goroutines ", "go_memstats_alloc_bytes ", "process_cpu_seconds_total ", "process_open_fds ",
		"ledgerd_ledger_commit_batch_size_count 1",
		`ledgerd_admin_requests_total{code="200",handler="balances"} 1`,
	} {
		if !strings.Contains(page, s) {
			t.Errorf("/metrics lacks %q", s)
		}
	}
}

// TestMetricsExposeFreeSpaceAndTheQuarantinesFill: what the disk and
// quarantine alerts read, at each scrape.
func TestMetricsExposeFreeSpaceAndTheQuarantinesFill(t *testing.T) {
	l := openLedger(t)
	srv, _ := serve(t, l, admin.Options{})
	for i := range 3 {
		if _, err := l.Quarantine(context.Background(), ledger.Quarantined{Reason: "malformed_json", Detail: "x",
			Raw: []byte(fmt.Sprintf("junk %d", i))}); err != nil {
			t.Fatal(err)
		}
	}
	_, body := get(t, srv, "/metrics")
	page := string(body)
	for _, s := range []string{
		"ledgerd_quarantine_bodies 3\n",
		fmt.Sprintf("ledgerd_quarantine_bytes %d\n", 3*(len("junk 0")+len("x")+256)),
	} {
		if !strings.Contains(page, s) {
			t.Errorf("/metrics lacks %q", s)
		}
	}
	if v := metricValue(t, page, "ledgerd_quarantine_max_bytes"); v != ledger.DefaultQuarantineMaxBytes {
		t.Errorf("ledgerd_quarantine_max_bytes = %v, want %d", v, ledger.DefaultQuarantineMaxBytes)
	}
	free := metricValue(t, page, "ledgerd_data_dir_free_bytes")
	if want, err := l.FreeSpace(); err != nil || free <= 0 || math.Abs(free-float64(want)) > 64<<20 {
		t.Errorf("ledgerd_data_dir_free_bytes = %v, the ledger says %d (%v)", free, want, err)
	}
}

// TestMetricsCountTheQuarantineWithoutWaitingForTheReadPool: while the
// one reader is held, /metrics still answers at once; the quarantine's
// series come once its count, set off by the scrape, has had a reader.
func TestMetricsCountTheQuarantineWithoutWaitingForTheReadPool(t *testing.T) {
	l := reopen(t, closedSeedFile(t), ledger.Options{Readers: 1})
	srv, _ := serve(t, l, admin.Options{})
	conn, err := l.Reader().Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	resp, body := get(t, srv, "/metrics")
	if resp.StatusCode != http.StatusOK || time.Since(start) > 2*time.Second || strings.Contains(string(body), "ledgerd_quarantine_bodies") {
		t.Errorf("/metrics with the reader held: %d after %s, quarantine series %v", resp.StatusCode, time.Since(start),
			strings.Contains(string(body), "ledgerd_quarantine_bodies"))
	}
	conn.Close()
	for deadline := time.Now().Add(10 * time.Second); ; {
		_, body := get(t, srv, "/metrics")
		if strings.Contains(string(body), "ledgerd_quarantine_bodies 0\n") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the quarantine was never counted:\n%s", body)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// metricValue is the value of an unlabelled sample in a /metrics page.
func metricValue(t *testing.T, page, name string) float64 {
	t.Helper()
	for _, line := range strings.Split(page, "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("%s: %v", line, err)
			}
			return f
		}
	}
	t.Fatalf("/metrics has no %s", name)
	return 0
}

func TestNewAcceptsARegistryThatAlreadyHasTheRuntimeCollectors(t *testing.T) {
	l := openLedger(t)
	_, reg := serve(t, l, admin.Options{})
	// A second handler on the same registry (a test, or a restart of the
	// listener) must not panic on duplicate registration.
	h := admin.New(admin.Options{Ledger: l, Registry: reg})
	if h == nil {
		t.Fatal("nil handler")
	}
	if _, err := reg.Gather(); err != nil {
		t.Fatal(fmt.Errorf("gather: %w", err))
	}
}

// TestStatusPageShowsANewCriticalBreakAboveOlderWarnings: the page lists
// the first open breaks only; a balance drift found today stands above
// sixty warnings found before it (issue 15: the cap must never hide what
// matters, nor may the page).
func TestStatusPageShowsANewCriticalBreakAboveOlderWarnings(t *testing.T) {
	l := openLedger(t)
	err := l.Update(context.Background(), func(tx *ledger.Tx) error {
		if _, err := tx.Exec(`INSERT INTO recon_runs (id, started_at, finished_at, time_zone, as_of, verdict, accounts_checked,
			transactions_checked, breaks_open, breaks_new, breaks_resolved, pending, detail) VALUES
			(1, '2024-10-09T02:00:00.000000000Z', '2024-10-09T02:00:03.000000000Z', 'UTC', '2024-10-09T02:00:00.000000000Z', 'BREAKS', 1, 61, 61, 61, 0, 0, '')`); err != nil {
			return err
		}
		for i := range 60 {
			if _, err := tx.Exec(`INSERT INTO breaks (category, subject, severity, detail, state, first_seen, last_seen, first_run, last_run)
				VALUES ('missing_in_ledger', ?, 'warning', 'an old warning', 'open', ?, ?, 1, 1)`,
				fmt.Sprintf("old-%02d", i), fmt.Sprintf("2024-10-01T00:00:%02d.000000000Z", i), "2024-10-09T02:00:03.000000000Z"); err != nil {
				return err
			}
		}
		_, err := tx.Exec(`INSERT INTO breaks (category, subject, severity, fuse_account_id, currency, ledger_amount, fuse_amount,
			difference, detail, state, first_seen, last_seen, first_run, last_run)
			VALUES ('balance_drift', 'new-drift', 'critical', ?1, 'AED', 500, 0, 500, 'drift found today', 'open',
			'2024-10-09T02:00:03.000000000Z', '2024-10-09T02:00:03.000000000Z', 1, 1)`, merchantID)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	srv, _ := serve(t, l, admin.Options{})
	page := statusPage(t, srv, srv.URL+"/")
	if !strings.Contains(page, "drift found today") {
		t.Error("the status page does not show a new balance drift below 60 older warnings")
	}
	if i, j := strings.Index(page, "drift found today"), strings.Index(page, "an old warning"); i < 0 || j < 0 || i > j {
		t.Errorf("the drift (at %d) is not listed above the warnings (first at %d)", i, j)
	}
}
