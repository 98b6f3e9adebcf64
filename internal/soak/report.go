package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"time"
)

// summary is the soak's machine-readable result (soak-summary.json).
type summary struct {
	Passed   bool     `json:"passed"`
	Failures []string `json:"failures,omitempty"`
	Examples []string `json:"examples,omitempty"`

	Seed            uint64    `json:"seed"`
	StartedAt       time.Time `json:"started_at"`
	FinishedAt      time.Time `json:"finished_at"`
	DurationSeconds float64   `json:"duration_s"`
	TrafficSeconds  float64   `json:"traffic_s"`
	DrainSeconds    float64   `json:"drain_s"`
	SimulatedHours  float64   `json:"simulated_h"`
	SandboxSpan     string    `json:"sandbox_span"`
	Command         string    `json:"command"`
	Machine         machine   `json:"machine"`

	Operations      map[string]int `json:"operations"`
	OperationsTotal int            `json:"operations_total"`
	TrafficErrors   int            `json:"traffic_errors"`
	Accounts        int            `json:"accounts"`
	Transactions    int            `json:"transactions"`

	EventsEmitted         int `json:"events"`
	WebhookAttempts       int `json:"webhook_attempts"`
	WebhookAttemptsFailed int `json:"webhook_attempts_failed"`
	WebhooksDropped       int `json:"webhooks_dropped"`
	WebhooksDuplicated    int `json:"webhooks_duplicated"`
	WebhooksReordered     int `json:"webhooks_reordered"`
	WebhooksGivenUp       int `json:"webhooks_given_up"`
	API429                int `json:"api_429"`
	API5xx                int `json:"api_5xx"`
	TokenRequests         int `json:"token_requests"`
	Unauthorized          int `json:"api_401"`

	Kills                 int     `json:"kills"`
	MinKills              int     `json:"min_kills"`
	Starts                int     `json:"starts"`
	StartToListenMedianMS float64 `json:"start_to_listen_median_ms"`
	StartToListenMaxMS    float64 `json:"start_to_listen_max_ms"`
	CleanStop             bool    `json:"clean_stop"`

	// Commands that write the file, run from the shell beside the daemon
	// (by command), and `ledgerd verify` run after each kill.
	CLIWrites             map[string]int `json:"cli_writes"`
	CLIWritesTotal        int            `json:"cli_writes_total"`
	CLIFailed             int            `json:"cli_failed"`
	VerifyAfterKill       int            `json:"verify_after_kill"`
	VerifyAfterKillFailed int            `json:"verify_after_kill_failed"`

	Acknowledged          int `json:"acknowledged"`
	AcknowledgedCopies    int `json:"acknowledged_copies"`
	EventsStored          int `json:"events_stored"`
	Entries               int `json:"entries"`
	Postings              int `json:"postings"`
	Quarantined           int `json:"quarantined"`
	Lost                  int `json:"lost"`
	Duplicates            int `json:"duplicates"`
	TransactionMismatches int `json:"transaction_mismatches"`
	BalanceMismatches     int `json:"balance_mismatches"`

	BackfillExit     int    `json:"backfill_exit"`
	ReconcileExit    int    `json:"reconcile_exit"`
	ReconcileVerdict string `json:"reconcile_verdict"`
	VerifyExit       int    `json:"verify_exit"`
}

type machine struct {
	OS        string `json:"os"`
	Arch      string `json:"arch"`
	CPUs      int    `json:"cpus"`
	CPU       string `json:"cpu"`
	GoVersion string `json:"go_version"`
	Revision  string `json:"revision"`
}

func describeMachine() machine {
	m := machine{OS: runtime.GOOS, Arch: runtime.GOARCH, CPUs: runtime.NumCPU(), GoVersion: runtime.Version()}
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
		f.Close()
	}
	if out, err := exec.Command("git", "describe", "--tags", "--always", "--dirty").Output(); err == nil {
		m.Revision = strings.TrimSpace(string(out))
	}
	return m
}

// writeReports writes soak-summary.json and RELIABILITY.md into o.outDir.
func writeReports(o options, sum summary) error {
	sum.Machine = describeMachine()
	sum.Command = fmt.Sprintf("make soak  (go run ./internal/soak -duration %s -simulated %s -kills %d -seed %d)",
		o.duration, o.simulated, o.minKills, sum.Seed)
	b, err := json.MarshalIndent(sum, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(o.outDir, "soak-summary.json"), append(b, '\n'), 0o644); err != nil {
		return err
	}
	path := filepath.Join(o.outDir, "RELIABILITY.md")
	return os.WriteFile(path, []byte(keepSections(path, reliabilityMD(sum))), 0o644)
}

// Sections of RELIABILITY.md that others write, each between its markers:
// the restore drill's (by hand, from the drill in cmd/ledgerd and
// `ledgerd restore`), then the operator probes' (internal/probe, which make
// soak runs after the soak).
var keptSections = [][2]string{
	{"<!-- drill:begin -->", "<!-- drill:end -->"},
	{"<!-- probes:begin -->", "<!-- probes:end -->"},
}

// keepSections appends to md the kept sections of the file at path, those
// it has, so that a soak does not erase the drill's report or the last
// probes' table.
func keepSections(path, md string) string {
	old, err := os.ReadFile(path)
	if err != nil {
		return md
	}
	s := string(old)
	for _, m := range keptSections {
		i, j := strings.Index(s, m[0]), strings.Index(s, m[1])
		if i < 0 || j < i {
			continue
		}
		md = strings.TrimRight(md, "\n") + "\n\n" + s[i:j+len(m[1])] + "\n"
	}
	return md
}

func reliabilityMD(s summary) string {
	var b strings.Builder
	verdict := "PASSED"
	if !s.Passed {
		verdict = "FAILED"
	}
	fmt.Fprintf(&b, `# Reliability

ledgerd handles money, so its claim to keep working under load, faults,
crashes and bad input is measured, not asserted. This page is written by
`+"`make soak`"+` (internal/soak); the same figures are in
soak-summary.json. The other proofs run in `+"`make test`"+` and `+"`make fuzz`"+`
(see the end of this page).

## Soak: %s

A day of Fuse traffic (%.0f hours of sandbox time) in %.0f seconds of wall
time, with webhooks dropped, duplicated, reordered and delayed, API 503s
and 429s, tokens expiring every sandbox hour, while the `+"`ledgerd serve`"+`
process was killed with SIGKILL at random moments and started again on
the same port, and commands that write the same file ran from the shell
beside it (`+"`backfill`"+`, `+"`quarantine replay`"+`, `+"`reconcile`"+`,
`+"`breaks ack`"+`, `+"`migrate`"+`), with `+"`ledgerd verify`"+` after every kill.
Then the faults were cleared, deliveries drained, and the binary's own
`+"`backfill`"+`, `+"`reconcile`"+` and `+"`verify`"+` ran.

| figure | value |
| --- | --- |
| operations (payments, inbound, transfers, exchanges, failures) | %d |
| Fuse transactions (legs) | %d |
| webhook events emitted | %d |
| webhook attempts (of which refused or failed: daemon down) | %d (%d) |
| webhooks dropped / duplicated / reordered by the faults | %d / %d / %d |
| API 503 / 429 injected, token requests | %d / %d, %d |
| SIGKILLs (restarts) | %d (%d starts) |
| start to listening, median / max | %.0f ms / %.0f ms |
| writing commands beside the daemon: backfill / quarantine replay / reconcile / breaks ack / migrate (failed) | %d: %d / %d / %d / %d / %d (%d) |
| `+"`ledgerd verify`"+` green after a kill | %d of %d |
| **acknowledged events** (2xx to the sandbox) | **%d** |
| **lost** (acknowledged, not in the file) | **%d** |
| **duplicates** (events or entries twice) | **%d** |
| transactions differing from Fuse's truth | %d |
| account balances differing from Fuse's truth | %d |
| events / entries / postings in the file | %d / %d / %d |
| final reconciliation | %s |
| `+"`ledgerd verify`"+` exit | %d |
| clean stop on SIGTERM after the kills | %v |

`, verdict, s.SimulatedHours, s.TrafficSeconds, s.OperationsTotal, s.Transactions, s.EventsEmitted,
		s.WebhookAttempts, s.WebhookAttemptsFailed, s.WebhooksDropped, s.WebhooksDuplicated, s.WebhooksReordered,
		s.API5xx, s.API429, s.TokenRequests, s.Kills, s.Starts, s.StartToListenMedianMS, s.StartToListenMaxMS,
		s.CLIWritesTotal, s.CLIWrites[cliBackfill], s.CLIWrites[cliReplay], s.CLIWrites[cliReconcile], s.CLIWrites[cliAck],
		s.CLIWrites[cliMigrate], s.CLIFailed, s.VerifyAfterKill-s.VerifyAfterKillFailed, s.VerifyAfterKill,
		s.Acknowledged, s.Lost, s.Duplicates, s.TransactionMismatches, s.BalanceMismatches,
		s.EventsStored, s.Entries, s.Postings, s.ReconcileVerdict, s.VerifyExit, s.CleanStop)
	if len(s.Failures) > 0 {
		b.WriteString("Failures:\n\n")
		for _, f := range s.Failures {
			fmt.Fprintf(&b, "- %s\n", f)
		}
		b.WriteString("\n")
	}
	keys := make([]string, 0, len(s.Operations))
	for k := range s.Operations {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	b.WriteString("Operations by kind (`_refused`: Fuse said no, e.g. insufficient funds): ")
	for i, k := range keys {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s %d", k, s.Operations[k])
	}
	fmt.Fprintf(&b, ".\n\nRun: `%s`, %s to %s, on %s/%s, %d CPUs (%s), %s, revision %s.\n",
		s.Command, s.StartedAt.Format(time.RFC3339), s.FinishedAt.Format(time.RFC3339), s.Machine.OS, s.Machine.Arch,
		s.Machine.CPUs, s.Machine.CPU, s.Machine.GoVersion, s.Machine.Revision)
	b.WriteString(`
What the soak checks at the end: every event the daemon answered 2xx is
in the events table; no event_id and no transaction's entry is there twice;
every Fuse transaction has the status, amounts and entry state the truth
implies and no other transaction exists; every account's posted and
available balance (` + "`ledgerd balances --json`" + `) equals Fuse's current and
available; ` + "`ledgerd reconcile`" + ` says RECONCILED or RECONCILED_WITH_PENDING;
` + "`ledgerd verify`" + ` exits 0. During the run: every writing command run
beside the daemon succeeds (exit 1 only as an answer: an account the
backfill could not read under the API faults, breaks found), and
` + "`ledgerd verify`" + ` passes on the file each SIGKILL left.

## The other proofs

- Deterministic simulation (` + "`go test ./internal/sim`" + `): seeded random walks
  of webhook deliveries (with drops, duplicates, reordering and listener
  downtime), backfill pages, reconciliations, restarts and traffic on a
  frozen sandbox clock; at every quiescent point the ledger equals an
  oracle computed from the sandbox's truth in plain Go, every
  acknowledged webhook is stored once, and a reconciliation is green. A
  failure prints its seed; ` + "`LEDGERD_SIM_SEED=N`" + ` replays it,
  ` + "`LEDGERD_SIM_SEEDS=K`" + ` runs K fresh seeds.
- Crash tests (` + "`go test ./ledger ./webhook ./sync`" + `): SIGKILL of a child
  process mid-ingest, mid-webhook-load and mid-backfill; nothing
  acknowledged is lost and a resumed backfill equals an uninterrupted one.
- Fuzzing (` + "`make fuzz`" + `, FUZZTIME each): webhook decoding, Fuse API pages,
  accounts and error bodies, the configuration, the report writers;
  crashers are kept in each package's testdata/fuzz.
- Security (` + "`go test ./cmd/ledgerd ./webhook ./ledger`" + `): no secret, token or
  IBAN in logs at debug level, admin listener on loopback by default,
  body and header limits, files 0600 (with -wal and -shm), HMAC and IP
  allow list enforced before anything is read or kept, no write path
  without authentication.
`)
	return b.String()
}
