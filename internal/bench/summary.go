package main

import (
	"fmt"
	"math"
	"strings"
	"sync"
)

// The summary (issue 9): one table at the top of BENCHMARKS.md with every
// headline figure of one `make bench` run beside its anchor. Benchmarks do
// not lay the table out: each records its raw figures under a name
// (options.record), and summaryRows below, the one place that knows the
// goals' wording, turns them into rows once every benchmark has run. A
// figure a benchmark did not record (it failed, or was not run) shows as a
// dash and its goal as not checked.

// figures are the numbers recorded during one run, by name.
type figures struct {
	mu sync.Mutex
	m  map[string]float64
}

func newFigures() *figures { return &figures{m: map[string]float64{}} }

func (f *figures) set(name string, v float64) {
	f.mu.Lock()
	f.m[name] = v
	f.mu.Unlock()
}

func (f *figures) get(name string) (float64, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	v, ok := f.m[name]
	return v, ok
}

// record keeps a figure of this run for the summary; a no-op when the run
// writes no summary (a single benchmark was asked for).
func (o options) record(name string, v float64) {
	if o.figures != nil {
		o.figures.set(name, v)
	}
}

// Names of the recorded figures. Units are in the names' last part.
const (
	figWebhookNoopRPS      = "webhook.noop.rps"
	figWebhookNoopP99      = "webhook.noop.p99_ms"
	figWebhookGroupRPS     = "webhook.group.rps"
	figWebhookGroupP99     = "webhook.group.p99_ms"
	figWebhookNaiveRPS     = "webhook.naive.rps"
	figWebhookFloorRPS     = "webhook.floor.rps"
	figWebhookUnsyncedRPS  = "webhook.unsynced.rps"
	figBackfillTPS         = "backfill.tps"
	figBackfillCeilingTPS  = "backfill.ceiling.tps"
	figBackfillReqFirst    = "backfill.requests.first"
	figBackfillReqAnchor   = "backfill.requests.pages_and_accounts"
	figBackfillReqNext     = "backfill.requests.next"
	figReconcileSeconds    = "reconcile.seconds"
	figReconcileMiB        = "reconcile.peak_mib"
	figLedgerCLISeconds    = "ledger_cli.seconds"
	figLedgerCLIMiB        = "ledger_cli.peak_mib"
	figHledgerSeconds      = "hledger.seconds"
	figHledgerMiB          = "hledger.peak_mib"
	figStorageBytesPerTx   = "storage.file.bytes_per_tx"
	figStorageVacuumPerTx  = "storage.vacuumed.bytes_per_tx"
	figStorageBookPerTx    = "storage.book.bytes_per_tx"
	figStorageBackfillOnly = "storage.backfill_only.bytes_per_tx"
	figServeFreshReadyMS   = "serve.fresh.ready_ms"
	figServeFreshRSSMiB    = "serve.fresh.rss_mib"
	figServeHistReadyMS    = "serve.history.ready_ms"
	figServeHistRSSMiB     = "serve.history.rss_mib"
	figFloorReadyMS        = "floor.ready_ms"
	figFloorRSSMiB         = "floor.rss_mib"
)

// pgledgerBytesPerTransfer is pgledger's published database growth per
// transfer (README, "Performance": 743 bytes/transfer, PostgreSQL 17,
// tables and indexes, measured on a live database).
const pgledgerBytesPerTransfer = 743

// summaryRow is one line of the table. ok reports whether the goal is
// met, given the figure and the anchor (both present); nil for a figure
// shown for information only.
type summaryRow struct {
	figure, anchor string
	fig, anc       string // figure names
	unit           string
	goal           string
	ok             func(fig, anc float64) bool
	command        string
}

func summaryRows() []summaryRow {
	ratioAtLeast := func(r float64) func(f, a float64) bool { return func(f, a float64) bool { return f/a >= r } }
	ratioAtMost := func(r float64) func(f, a float64) bool { return func(f, a float64) bool { return f <= r*a } }
	under := func(limit float64) func(f, _ float64) bool { return func(f, _ float64) bool { return f < limit } }
	return []summaryRow{
		{"webhook ingest, group commit", "durable floor: body and event_id only", figWebhookGroupRPS, figWebhookFloorRPS, "req/s",
			"≥ 0.50×", ratioAtLeast(0.5), "go run ./internal/bench webhook"},
		{"webhook ingest p99, group commit", "no-op Go handler p99", figWebhookGroupP99, figWebhookNoopP99, "ms",
			"< 20 ms", under(20), "go run ./internal/bench webhook"},
		{"webhook ingest, group commit", "one commit per request (naive)", figWebhookGroupRPS, figWebhookNaiveRPS, "req/s",
			"≥ 2×", ratioAtLeast(2), "go run ./internal/bench webhook"},
		{"webhook ingest, group commit", "no-op Go handler", figWebhookGroupRPS, figWebhookNoopRPS, "req/s",
			"none: the old ≥ 0.40× is retired (on 2 cores the durable floor itself reaches about half of it)", nil,
			"go run ./internal/bench webhook"},
		{"webhook ingest, group commit with synchronous=OFF (not durable)", "no-op Go handler", figWebhookUnsyncedRPS,
			figWebhookNoopRPS, "req/s", "none: shows what ledgerd's SQLite work costs without fsync", nil,
			"go run ./internal/bench webhook"},
		{"backfill", "raw SQLite inserts of the same rows", figBackfillTPS, figBackfillCeilingTPS, "tx/s",
			"≥ 1×", ratioAtLeast(1), "go run ./internal/bench backfill"},
		{"backfill API requests, first run of 100,000 transactions", "ceil(N / 2000) + accounts", figBackfillReqFirst,
			figBackfillReqAnchor, "req", fmt.Sprintf("≤ %.1f×", requestsFirstFactor), ratioAtMost(requestsFirstFactor),
			"go run ./internal/bench backfill"},
		{"backfill API requests, next run (1 % changed, a month-old payment executed, another returned)", "the first run's requests",
			figBackfillReqNext, figBackfillReqFirst, "req", fmt.Sprintf("≤ %.2f×", requestsNextShare),
			ratioAtMost(requestsNextShare), "go run ./internal/bench backfill"},
		{"reconcile, 1M transactions", "`ledger balance` (ledger-cli), same book", figReconcileSeconds, figLedgerCLISeconds, "s",
			fmt.Sprintf("< %d s and < 1×", reconcileGoalSeconds),
			func(f, a float64) bool { return f < reconcileGoalSeconds && f < a }, "go run ./internal/bench reconcile"},
		{"reconcile, 1M transactions", "`hledger balance`, same book", figReconcileSeconds, figHledgerSeconds, "s",
			"< 1×", func(f, a float64) bool { return f < a }, "go run ./internal/bench reconcile"},
		{"reconcile peak memory", "ledger-cli peak memory", figReconcileMiB, figLedgerCLIMiB, "MiB",
			fmt.Sprintf("< %d MiB", reconcileGoalMiB), under(reconcileGoalMiB), "go run ./internal/bench reconcile"},
		{"reconcile peak memory", "hledger peak memory", figReconcileMiB, figHledgerMiB, "MiB",
			fmt.Sprintf("< %d MiB", reconcileGoalMiB), under(reconcileGoalMiB), "go run ./internal/bench reconcile"},
		{"file size per transaction (webhooks + backfill)", "pgledger, per transfer", figStorageBytesPerTx, "pgledger", "B",
			"none: every raw event is kept on purpose", nil, "go run ./internal/bench storage"},
		{"the book alone per transaction (entries, postings, balances, indexes)", "pgledger, per transfer", figStorageBookPerTx, "pgledger", "B",
			"≤ 1×", func(f, a float64) bool { return f <= a }, "go run ./internal/bench storage"},
		{"serve: start to ready, fresh file", "minimal Go HTTP daemon", figServeFreshReadyMS, figFloorReadyMS, "ms",
			fmt.Sprintf("< %d ms", serveGoalReadyMS), under(serveGoalReadyMS), "go run ./internal/bench serve floor"},
		{"serve: start to ready, 20,000-transaction file", "minimal Go HTTP daemon", figServeHistReadyMS, figFloorReadyMS, "ms",
			fmt.Sprintf("< %d ms", serveGoalReadyMS), under(serveGoalReadyMS), "go run ./internal/bench serve floor"},
		{"serve: idle resident memory, fresh file", "minimal Go HTTP daemon", figServeFreshRSSMiB, figFloorRSSMiB, "MiB",
			fmt.Sprintf("< %d MiB", serveGoalRSSMiB), under(serveGoalRSSMiB), "go run ./internal/bench serve floor"},
		{"serve: idle resident memory, 20,000-transaction file", "minimal Go HTTP daemon", figServeHistRSSMiB, figFloorRSSMiB, "MiB",
			fmt.Sprintf("< %d MiB", serveGoalRSSMiB), under(serveGoalRSSMiB), "go run ./internal/bench serve floor"},
	}
}

// summarySection renders the table from the figures of this run.
func summarySection(f *figures) (string, int, int) {
	if _, ok := f.get("pgledger"); !ok {
		f.set("pgledger", pgledgerBytesPerTransfer)
	}
	var b strings.Builder
	b.WriteString("## Summary (issue 9)\n\n")
	b.WriteString("Every headline figure of this `make bench` run beside its anchor: what the same work costs without " +
		"ledgerd's logic (a no-op handler, raw inserts, a minimal Go daemon), or what established tools take for the " +
		"same book (ledger-cli, hledger), or a published figure (pgledger). Ratio is figure ÷ anchor. The sections below " +
		"say how each was measured.\n\n")
	b.WriteString("| figure | value | anchor | anchor value | ratio | goal | met? | command |\n")
	b.WriteString("|---|---:|---|---:|---:|---|:---:|---|\n")
	met, total := 0, 0
	for _, r := range summaryRows() {
		fv, fok := f.get(r.fig)
		av, aok := f.get(r.anc)
		value, anchor, ratio, verdict := "—", "—", "—", "not run"
		if fok {
			value = fmtFigure(fv, r.unit)
		}
		if aok {
			anchor = fmtFigure(av, r.unit)
		}
		if fok && aok && av != 0 {
			ratio = fmt.Sprintf("%.2f×", fv/av)
		}
		if fok && aok && r.ok == nil {
			verdict = "—"
		} else if fok && aok {
			total++
			if r.ok(fv, av) {
				verdict = "yes"
				met++
			} else {
				verdict = "**no**"
			}
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s | `%s` |\n", r.figure, value, r.anchor, anchor, ratio, r.goal,
			verdict, r.command)
	}
	fmt.Fprintf(&b, "\n%d of %d goals met in this run.\n", met, total)
	return b.String(), met, total
}

func fmtFigure(v float64, unit string) string {
	switch {
	case unit == "ms" && v < 100:
		return fmt.Sprintf("%.1f ms", v)
	case math.Abs(v) >= 100 || v == math.Trunc(v):
		return fmt.Sprintf("%s %s", groupThousands(math.Round(v)), unit)
	default:
		return fmt.Sprintf("%.1f %s", v, unit)
	}
}

// groupThousands writes 28285 as 28,285.
func groupThousands(v float64) string {
	s := fmt.Sprintf("%.0f", math.Abs(v))
	var out []byte
	for i := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	if v < 0 {
		return "-" + string(out)
	}
	return string(out)
}
