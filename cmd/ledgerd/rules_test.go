package main

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ledgerd/ledgerd/deploy"
	"github.com/ledgerd/ledgerd/fuse/sandbox"
)

// servedNames returns the metric names on a /metrics page: those of its
// TYPE lines (a histogram's base name) and of its samples (its _bucket,
// _sum and _count).
func servedNames(page string) map[string]bool {
	names := map[string]bool{}
	for _, line := range strings.Split(page, "\n") {
		if rest, ok := strings.CutPrefix(line, "# TYPE "); ok {
			names[strings.Fields(rest)[0]] = true
			continue
		}
		if line == "" || line[0] == '#' {
			continue
		}
		if i := strings.IndexAny(line, "{ "); i > 0 {
			names[line[:i]] = true
		}
	}
	return names
}

// TestEveryMetricTheAlertRulesReadIsServed runs `ledgerd serve` as its own
// process against the sandbox, replicating to a directory, with schedules of seconds and Fuse failing
// now and then, until it has taken a webhook, backfilled, retried and
// reconciled, and checks that its /metrics serves every metric
// deploy/prometheus/ledgerd-rules.yml reads: the rules cannot drift from
// the code unnoticed (promtool tests them against made-up series only).
func TestEveryMetricTheAlertRulesReadIsServed(t *testing.T) {
	t.Parallel() // mostly waiting on another process
	sb := sandbox.New(sandbox.Options{Seed: 4})
	defer sb.Close()
	if _, err := sb.Generate(sandbox.GenerateOptions{Accounts: 2, Transactions: 30}); err != nil {
		t.Fatal(err)
	}
	// Some requests fail with 503, so that retries are counted.
	sb.SetFaults(sandbox.Faults{HTTP5xx: 0.2})
	api := httptest.NewServer(sb)
	defer api.Close()
	p := startLedgerd(t, map[string]string{
		"LEDGERD_DB":                 filepath.Join(t.TempDir(), "ledgerd.db"),
		"LEDGERD_REPLICA_URL":        filepath.Join(t.TempDir(), "replica"),
		"LEDGERD_LISTEN":             "127.0.0.1:0",
		"LEDGERD_ADMIN_LISTEN":       "127.0.0.1:0",
		"LEDGERD_LOG_FORMAT":         "json",
		"LEDGERD_BACKFILL_SCHEDULE":  "@every 1s",
		"LEDGERD_RECONCILE_SCHEDULE": "@every 2s",
		"FUSE_BASE_URL":              api.URL + "/v1",
		"FUSE_AUTH_URL":              api.URL + sandbox.TokenPath,
		"FUSE_CLIENT_ID":             "sandbox",
		"FUSE_CLIENT_SECRET":         "sandbox",
	}, "serve")

	body, err := os.ReadFile(filepath.Join("..", "..", "webhook", "testdata", "seed", "inbound_local_payment_settled.json"))
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPost, p.hookURL+"/webhooks/fuse", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Fuse-Timestamp", time.Now().UTC().Format(time.RFC3339))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("webhook: %s", resp.Status)
	}

	want := deploy.RuleMetrics()
	var missing []string
	var page string
	for deadline := time.Now().Add(60 * time.Second); ; {
		page = getBody(t, p.admin+"/metrics")
		served := servedNames(page)
		missing = missing[:0]
		for _, name := range want {
			if !served[name] {
				missing = append(missing, name)
			}
		}
		if len(missing) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond) // between polls, as waitFor does
	}
	if len(missing) > 0 {
		t.Errorf("the alert rules read metrics ledgerd does not serve: %v\n%s", missing, p.logText())
	}
	if len(want) < 20 {
		t.Errorf("the rules read only %v", want)
	}
	// The sandbox sends no webhooks here: every transaction of its history
	// is the backfill's find, the one posted above the webhook's.
	if n := metricSum(page, "ledgerd_transactions_first_seen_total", `source="webhook"`); n != 1 {
		t.Errorf("transactions first seen by webhook: %v, want 1", n)
	}
	if n, all := metricSum(page, "ledgerd_transactions_first_seen_total", `source="backfill"`), len(sb.Truth().Transactions); n != float64(all) {
		t.Errorf("transactions first seen by the backfill: %v, want the sandbox's %d", n, all)
	}
	p.terminate(t)
}
