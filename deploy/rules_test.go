package deploy

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// promtool returns the path of promtool (Debian's prometheus package).
func promtool(t *testing.T) string {
	t.Helper()
	return tool(t, "promtool", "prometheus", "the alert rule checks")
}

// tool returns the path of the program name, which
// scripts/install-deps.sh installs from the Debian package pkg; under CI
// a missing program fails the test, elsewhere the test skips what it
// needs the program for, with a note.
func tool(t *testing.T, name, pkg, what string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s not found: scripts/install-deps.sh installs it (package %s)", name, pkg)
		}
		t.Skipf("%s not found (apt-get install %s, or scripts/install-deps.sh); skipping %s", name, pkg, what)
	}
	return p
}

// TestAlertRulesPassPromtoolCheckAndTheirUnitTests runs the real tool on
// the rules: `promtool check rules` (syntax, PromQL, templates) and
// `promtool test rules` on ledgerd-rules_test.yml (each alert fires with
// its labels and annotations where it must, and not where it must not).
func TestAlertRulesPassPromtoolCheckAndTheirUnitTests(t *testing.T) {
	bin := promtool(t)
	for _, args := range [][]string{
		{"check", "rules", "ledgerd-rules.yml"},
		{"test", "rules", "ledgerd-rules_test.yml"},
	} {
		cmd := exec.Command(bin, args...)
		cmd.Dir = "prometheus"
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "SUCCESS") {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}

var (
	alertName    = regexp.MustCompile(`(?m)^\s*- alert: (\S+)\s*$`)
	testedAlert  = regexp.MustCompile(`(?m)^\s*alertname: (\S+)\s*\n\s*exp_alerts:`)
	runbookURL   = regexp.MustCompile(`runbook_url: "https://github\.com/ledgerd/ledgerd/blob/main/README\.md#([a-z0-9-]+)"`)
	readmeHeader = regexp.MustCompile(`(?m)^#{1,6} (.+)$`)
)

// TestEveryAlertIsUnitTestedAndPointsAtItsREADMESection: each alert has a
// promtool test in which it fires, and a runbook_url that is its own
// section of the README (its name as GitHub makes the anchor).
func TestEveryAlertIsUnitTestedAndPointsAtItsREADMESection(t *testing.T) {
	tests, err := os.ReadFile(filepath.Join("prometheus", "ledgerd-rules_test.yml"))
	if err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile(filepath.Join("..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	anchors := map[string]bool{}
	for _, m := range readmeHeader.FindAllStringSubmatch(string(readme), -1) {
		anchors[githubAnchor(m[1])] = true
	}
	var fired []string
	for _, m := range testedAlert.FindAllStringSubmatch(string(tests), -1) {
		fired = append(fired, m[1])
	}
	alerts := alertName.FindAllStringSubmatch(Rules(), -1)
	urls := runbookURL.FindAllStringSubmatch(Rules(), -1)
	if len(alerts) == 0 || len(urls) != len(alerts) {
		t.Fatalf("%d alerts, %d runbook URLs: want one each", len(alerts), len(urls))
	}
	for i, m := range alerts {
		name := m[1]
		if !slices.Contains(fired, name) {
			t.Errorf("%s: no promtool test in which it fires", name)
		}
		anchor := urls[i][1]
		if anchor != strings.ToLower(name) {
			t.Errorf("%s: runbook_url points at #%s, not at its own section", name, anchor)
		}
		if !anchors[anchor] {
			t.Errorf("%s: README.md has no section #%s", name, anchor)
		}
	}
}

// githubAnchor is the anchor GitHub gives a heading: lower case, spaces to
// hyphens, punctuation other than hyphens and underscores dropped.
func githubAnchor(heading string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(strings.TrimSpace(heading)) {
		switch {
		case r == ' ':
			b.WriteByte('-')
		case r == '-' || r == '_' || (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9'):
			b.WriteRune(r)
		}
	}
	return b.String()
}

func TestRuleMetricsAreTheNamesTheRulesRead(t *testing.T) {
	got := RuleMetrics()
	for _, want := range []string{"ledgerd_transactions_final_total", "ledgerd_transaction_final_seconds_sum",
		"ledgerd_replica_lag_seconds", "process_start_time_seconds", "ledgerd_schedule_period_seconds"} {
		if !slices.Contains(got, want) {
			t.Errorf("RuleMetrics() lacks %s: %v", want, got)
		}
	}
	for _, name := range got {
		if strings.HasSuffix(name, "_") || strings.Contains(name, "-") {
			t.Errorf("RuleMetrics() holds %q, not a metric name", name)
		}
	}
}
