package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sethvargo/go-envconfig"
)

// demoReport is what the test reads of DIR/report/report.json.
type demoReport struct {
	Run struct {
		ID      int64  `json:"id"`
		Verdict string `json:"verdict"`
	} `json:"run"`
	Breaks []struct {
		Category   string `json:"category"`
		State      string `json:"state"`
		Account    string `json:"fuse_account_id"`
		Difference string `json:"difference"`
		Currency   string `json:"currency"`
	} `json:"breaks"`
}

// TestDemoRunsTheStoryAndStopsAfterItsDuration runs `ledgerd demo` as
// `make run` does, with a --duration: while it serves, its status page and
// API show the planted breaks; it then stops by itself with exit 0, leaving
// a file that verifies and a report whose only breaks are the planted
// discrepancy's: its balance drift today and its closing balance drift on
// the business day.
func TestDemoRunsTheStoryAndStopsAfterItsDuration(t *testing.T) {
	t.Parallel() // mostly waiting for --duration
	dir := filepath.Join(t.TempDir(), "demo")
	pr, pw := io.Pipe()
	done := make(chan int, 1)
	var stderr strings.Builder
	start := time.Now()
	go func() {
		done <- run(context.Background(), []string{"demo", "--dir", dir, "--duration", "20s", "--seed", "7"},
			envconfig.MapLookuper(map[string]string{}), pw, &stderr)
		pw.Close()
	}()
	var out strings.Builder
	var adminURL string
	sc := bufio.NewScanner(pr)
	for sc.Scan() {
		line := sc.Text()
		out.WriteString(line + "\n")
		if u, ok := strings.CutPrefix(strings.TrimSpace(line), "Status page"); ok {
			adminURL = strings.TrimSuffix(strings.TrimSpace(u), "/")
		}
		if strings.HasPrefix(line, "Serving for") {
			break
		}
	}
	if adminURL == "" {
		t.Fatalf("the demo never got to serving:\n%s\nstderr:\n%s", out.String(), stderr.String())
	}
	// While it serves: the JSON API and the status page.
	var breaks []struct {
		Category string `json:"category"`
		State    string `json:"state"`
	}
	getJSON(t, adminURL+"/api/v1/breaks", &breaks)
	if len(breaks) != 2 || breaks[0].Category != "balance_drift" || breaks[1].Category != "closing_balance_drift" {
		t.Errorf("open breaks while serving: %+v, want the balance_drift and the closing_balance_drift", breaks)
	}
	var runs []struct {
		Verdict *string `json:"verdict"`
	}
	getJSON(t, adminURL+"/api/v1/runs", &runs)
	if len(runs) != 3 || *runs[0].Verdict != "BREAKS" || *runs[1].Verdict != "RECONCILED" || *runs[2].Verdict != "BREAKS" {
		t.Errorf("runs, newest first: %d, want BREAKS, RECONCILED, BREAKS", len(runs))
	}
	page := getBody(t, adminURL+"/")
	for _, want := range []string{"balance_drift", "Operating", "150.00"} {
		if !strings.Contains(page, want) {
			t.Errorf("status page lacks %q", want)
		}
	}
	rest, _ := io.ReadAll(pr)
	out.Write(rest)
	if code := <-done; code != 0 {
		t.Fatalf("demo exit %d, want 0\n%s\nstderr:\n%s", code, out.String(), stderr.String())
	}
	// It ran its whole duration (the upper end only catches a demo that
	// does not stop by itself; a loaded machine may take long to wind down).
	if took := time.Since(start); took < 20*time.Second || took > 2*time.Minute {
		t.Errorf("demo with --duration 20s took %s", took)
	}
	for _, line := range strings.Split(out.String(), "\n") {
		if strings.HasPrefix(line, "First reconciliation") {
			t.Log(line)
		}
	}
	for _, want := range []string{"1. Opened", "4. Backfill", "RECONCILED", "7. Reconciliation #3: BREAKS",
		"balance_drift", "difference 150.00", "all 8 checks passed", "Stopped cleanly"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}

	db := filepath.Join(dir, "ledgerd.db")
	if code, vout, verr := ledgerdRun(t, nil, "verify", "--db", db); code != 0 {
		t.Errorf("verify %s: exit %d\n%s%s", db, code, vout, verr)
	}
	for _, f := range []string{"report.xlsx", "report.json", "run.csv", "accounts.csv", "breaks.csv"} {
		if fi, err := os.Stat(filepath.Join(dir, "report", f)); err != nil || fi.Size() == 0 {
			t.Errorf("report file %s: %v", f, err)
		}
	}
	raw, err := os.ReadFile(filepath.Join(dir, "report", "report.json"))
	if err != nil {
		t.Fatal(err)
	}
	var rep demoReport
	if err := json.Unmarshal(raw, &rep); err != nil {
		t.Fatalf("report.json: %v", err)
	}
	if rep.Run.ID != 3 || rep.Run.Verdict != "BREAKS" {
		t.Errorf("report of run %d, verdict %s; want run 3, BREAKS", rep.Run.ID, rep.Run.Verdict)
	}
	if len(rep.Breaks) != 2 {
		t.Fatalf("report has %d breaks, want only the planted discrepancy's two: %+v", len(rep.Breaks), rep.Breaks)
	}
	for i, cat := range []string{"balance_drift", "closing_balance_drift"} {
		if b := rep.Breaks[i]; b.Category != cat || b.State != "open" || b.Currency != "AED" || b.Difference != "150.00" ||
			b.Account != rep.Breaks[0].Account {
			t.Errorf("planted break %d: %+v, want an open AED %s of 150.00 on the operating account", i, b, cat)
		}
	}
	readmeQueriesRun(t, db)
}

// readmeQueriesRun runs the README's example queries with the sqlite3 CLI
// against the demo's file, as a reader of the README would.
func readmeQueriesRun(t *testing.T, db string) {
	t.Helper()
	sqlite3, err := exec.LookPath("sqlite3")
	if err != nil {
		t.Log("sqlite3 not installed (scripts/install-deps.sh): the README's queries are not checked")
		return
	}
	readme, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(readme), "```sql\n")
	block, _, ok2 := strings.Cut(rest, "```")
	if !ok || !ok2 || !strings.Contains(block, "v_open_breaks") {
		t.Fatalf("README has no sql block with the example queries")
	}
	cmd := exec.Command(sqlite3, "-readonly", "-bail", db)
	cmd.Stdin = strings.NewReader(block)
	out, err := cmd.CombinedOutput()
	if err != nil || strings.Contains(string(out), "Error") {
		t.Errorf("the README's queries against the demo file: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "balance_drift") {
		t.Errorf("the README's queries do not show the planted break:\n%s", out)
	}
}

// The demo clears only a directory it made, or an empty one: someone's
// ledgerd.db, ledgerd.log or report/ elsewhere are left alone.
func TestDemoRefusesADirectoryItDidNotCreate(t *testing.T) {
	for _, name := range []string{"ledgerd.db", "ledgerd.log", filepath.Join("report", "2026-10-close.xlsx")} {
		dir := t.TempDir()
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("precious"), 0o644); err != nil {
			t.Fatal(err)
		}
		code, _, errOut := ledgerdRun(t, nil, "demo", "--dir", dir, "--duration", "1s")
		if code != 2 || !strings.Contains(errOut, "was not made by the demo") {
			t.Errorf("demo over a foreign %s: exit %d, %s; want 2", name, code, errOut)
		}
		if b, _ := os.ReadFile(p); string(b) != "precious" {
			t.Errorf("the foreign %s was touched", name)
		}
	}
	if code, _, _ := ledgerdRun(t, nil, "demo", "--duration", "-1s"); code != 2 {
		t.Errorf("negative --duration: exit %d, want 2", code)
	}
}

func TestDemoFailsWhenItsDurationRunsOut(t *testing.T) {
	code, _, errOut := ledgerdRun(t, nil, "demo", "--dir", filepath.Join(t.TempDir(), "d"), "--duration", "1ms")
	if code != 1 || !strings.Contains(errOut, "ran out") {
		t.Errorf("--duration 1ms: exit %d, %s; want 1 saying it ran out", code, errOut)
	}
}

func getBody(t *testing.T, url string) string {
	t.Helper()
	code, body := getStatus(t, url)
	if code != http.StatusOK {
		t.Fatalf("GET %s: %d %s", url, code, body)
	}
	return body
}

func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(getBody(t, url)), v); err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
}
