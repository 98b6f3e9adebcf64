package deploy

import (
	_ "embed"
	"regexp"
	"slices"
)

// rules is prometheus/ledgerd-rules.yml, the alert rules for ledgerd:
// rules_test.go checks and unit-tests them with promtool, and
// cmd/ledgerd's tests check that every metric they read is one a running
// ledgerd serves.
//
//go:embed prometheus/ledgerd-rules.yml
var rules string

// Rules returns the text of prometheus/ledgerd-rules.yml.
func Rules() string { return rules }

// metricName matches the names of the metrics the rules read: ledgerd's
// own and the process collector's (process_start_time_seconds). The
// series Prometheus makes itself (up) are not served by ledgerd.
var metricName = regexp.MustCompile(`\b(?:ledgerd|process)_[a-z0-9_]*[a-z0-9]\b`)

// RuleMetrics returns, sorted and once each, the names of the metrics the
// rules read, in their expressions and in the annotations that send an
// operator to a metric.
func RuleMetrics() []string {
	names := metricName.FindAllString(rules, -1)
	slices.Sort(names)
	return slices.Compact(names)
}
