// Package demo is `ledgerd demo`: the built-in Fuse sandbox and a real
// daemon on loopback, a company's business day of traffic through the Fuse
// API with webhooks dropped, duplicated and reordered, and the story of
// what ledgerd makes of it (reconciliations around a backfill, a planted
// discrepancy, a report). It drives the daemon through its methods only;
// its stream (stream.go) also feeds the end-to-end tests.
package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/time/rate"

	"github.com/ledgerd/ledgerd"
	"github.com/ledgerd/ledgerd/config"
	"github.com/ledgerd/ledgerd/fuse"
	"github.com/ledgerd/ledgerd/fuse/sandbox"
	"github.com/ledgerd/ledgerd/internal/atomicfile"
	"github.com/ledgerd/ledgerd/internal/daemon"
	"github.com/ledgerd/ledgerd/internal/term"
	"github.com/ledgerd/ledgerd/logging"
	"github.com/ledgerd/ledgerd/reconcile"
)

// Adjustment is the planted bank-side discrepancy on the operating
// account, in minor units: AED 150.00 gone at Fuse with no transaction.
const Adjustment = -150_00

// Options is one demo: where it tells its story, what it starts from, and
// how it runs the daemon.
type Options struct {
	// Out is where the story is told.
	Out io.Writer
	// Config is the loaded configuration: Run points it at the built-in
	// sandbox, Dir and loopback listeners (the admin listener stays where
	// it is).
	Config *config.Config
	// Dir is the demo's directory, prepared by the caller: the file, the
	// report and the log go there.
	Dir string
	// Seed is the seed of every choice: operations, amounts, ids, faults.
	Seed int64
	// Duration, when positive, ends the demo this long after Start.
	Duration time.Duration
	// Start is when the demo started (Duration counts from it).
	Start time.Time
	// Daemon is how the daemon is built, as serve builds it.
	Daemon daemon.Options
	// Serve runs the daemon until its context ends, as serve does.
	Serve func(context.Context, *daemon.Daemon) error
}

// Run runs the demo: the built-in sandbox and a real daemon on loopback,
// the story (accounts, a day of traffic with webhook faults, three
// reconciliations around a backfill and a planted discrepancy, a report),
// then serving until ctx ends or Duration has passed since Start.
func Run(ctx context.Context, o Options) error {
	cfg, start := o.Config, o.Start
	logPath := filepath.Join(o.Dir, "ledgerd.log")
	logFile, err := os.OpenFile(logPath, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	defer logFile.Close()
	log := logging.New(logFile, cfg.LogFormat, cfg.LogLevel)

	plan := NewPlan(o.Seed)
	base := DayStart(start, cfg.Location)

	sbLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("built-in sandbox: %w", err)
	}
	defer sbLn.Close()
	sandboxURL := "http://" + sbLn.Addr().String()
	cfg.DB = filepath.Join(o.Dir, "ledgerd.db")
	cfg.Listen = "127.0.0.1:0"
	cfg.FuseBaseURL = sandboxURL + "/v1"
	cfg.FuseAuthURL, cfg.FuseAudience = sandboxURL+sandbox.TokenPath, fuse.DefaultAudience
	cfg.FuseClientID, cfg.FuseClientSecret = "sandbox", config.NewSecret("sandbox")
	// The sandbox posts from loopback, and nothing else reaches the
	// listener.
	cfg.WebhookTrustedProxies = nil
	if cfg.WebhookAllow, cfg.WebhookAllowCIDRs, err = config.ParseAllow(config.AllowLoopback); err != nil {
		return err
	}
	// The day's webhooks carry Fuse timestamps hours old: widen the
	// staleness check to cover the day instead of turning it off.
	if need := start.Sub(base).Truncate(time.Hour) + 2*time.Hour; cfg.WebhookTimestampTolerance != 0 &&
		cfg.WebhookTimestampTolerance < need {
		cfg.WebhookTimestampTolerance = need
	}

	d, err := daemon.New(ctx, cfg, log, o.Daemon)
	if err != nil {
		return err
	}
	hookURL, adminURL := d.URL("webhook")+cfg.WebhookPath, d.URL("admin")
	sb := sandbox.New(sandbox.Options{
		Seed:          o.Seed,
		WebhookURL:    hookURL,
		WebhookSecret: cfg.WebhookSecret.Reveal(),
		Now:           func() time.Time { return base },
		Logger:        log.With("component", "sandbox"),
		// The emulated Fuse closes its days where ledgerd does: the
		// demo shows a real difference, not the zones' (README).
		HistoryZone: cfg.Location,
		// Virtual accounts' fees come from the primary account as fee
		// debits, as Fuse takes them.
		FeesFromPrimary: true,
	})
	sbSrv := &http.Server{Handler: sb, ReadHeaderTimeout: 10 * time.Second}
	go sbSrv.Serve(sbLn) //nolint:errcheck // ends with Shutdown
	defer func() {
		c, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = sbSrv.Shutdown(c)
		sb.Close()
	}()

	runCtx, stop := context.WithCancel(ctx)
	if o.Duration > 0 {
		runCtx, stop = context.WithDeadline(ctx, start.Add(o.Duration))
	}
	defer stop()
	// The demo runs the backfill itself, at the point of the story where
	// it heals: until then serve's start-up catch-up and its schedule
	// stay out of the way.
	d.PauseBackfill()
	daemonDone := make(chan error, 1)
	go func() { daemonDone <- o.Serve(runCtx, d) }()

	dm := &demoRun{out: o.Out, log: log, cfg: cfg, d: d, sb: sb, seed: o.Seed, plan: plan, start: start,
		dir: o.Dir, sandboxURL: sandboxURL, hookURL: hookURL, adminURL: adminURL, logPath: logPath}
	scenarioErr := dm.scenario(runCtx)
	if scenarioErr == nil {
		dm.printNext(o.Duration)
		select {
		case <-runCtx.Done():
		case err := <-daemonDone:
			daemonDone <- err
		}
	}
	stop()
	daemonErr := <-daemonDone
	switch {
	case scenarioErr == nil:
	case ctx.Err() != nil:
		fmt.Fprintf(o.Out, "\nInterrupted before the demo finished; what it did so far is in %s.\n", cfg.DB)
		scenarioErr = nil
	case runCtx.Err() != nil:
		scenarioErr = fmt.Errorf("--duration %s ran out before the demo finished its story: allow it at least 30s", o.Duration)
	}
	if err := errors.Join(scenarioErr, daemonErr); err != nil {
		return err
	}
	fmt.Fprintf(o.Out, "\nStopped cleanly after %s. The file, the report and the log stay in %s/.\n",
		time.Since(start).Round(100*time.Millisecond), o.Dir)
	return nil
}

// DayStart is when the demo's business day starts on the sandbox
// clock: 09:00 in loc yesterday, or the day before when today began less
// than demoEndMargin ago. The sandbox's clock stands still but for the
// stream's own moves, so that every event happens in the same order
// whatever the machine's speed; the day (a plan ends well before
// midnight) has ended at least demoEndMargin before now, so that nothing
// Fuse did is after a reconciliation's cut-off or within its grace
// period, and every reconciliation's daily check compares the day: the
// planted discrepancy shows on it as well, whatever the time of day the
// demo runs.
func DayStart(now time.Time, loc *time.Location) time.Time {
	n := now.In(loc)
	back := 1
	if time.Date(n.Year(), n.Month(), n.Day(), 0, 0, 0, 0, loc).Add(demoEndMargin).After(now) {
		back = 2
	}
	return time.Date(n.Year(), n.Month(), n.Day()-back, 9, 0, 0, 0, loc)
}

// demoRun is one demo: what it started and what it prints.
type demoRun struct {
	out                                   io.Writer
	log                                   *slog.Logger
	cfg                                   *config.Config
	d                                     *daemon.Daemon
	sb                                    *sandbox.Sandbox
	seed                                  int64
	plan                                  Plan
	start                                 time.Time
	dir, sandboxURL, hookURL, adminURL    string
	logPath                               string
	names                                 map[string]string // Fuse account id → name
	firstReconciliation, scenarioDuration time.Duration
	reportFiles                           []string
	breakID                               int64 // the planted discrepancy's break
}

func (dm *demoRun) printf(format string, args ...any) { fmt.Fprintf(dm.out, format, args...) }

// scenario tells the story; the daemon's scheduled backfills resume once
// the demo's own backfill has run.
func (dm *demoRun) scenario(ctx context.Context) error {
	dm.printf("ledgerd demo (seed %d): the built-in Fuse sandbox and ledgerd serve, on loopback\n\n", dm.seed)
	dm.printf("  Fuse sandbox  %s/v1 (controls under /sandbox/)\n", dm.sandboxURL)
	dm.printf("  webhooks      %s\n", dm.hookURL)
	dm.printf("  status page   %s/\n", dm.adminURL)
	dm.printf("  SQLite file   %s\n\n", dm.cfg.DB)
	if err := waitReady(ctx, dm.adminURL+"/readyz"); err != nil {
		return err
	}
	client, err := fuse.New(fuse.Config{BaseURL: dm.sandboxURL + "/v1", AuthURL: dm.sandboxURL + sandbox.TokenPath, ClientID: "sandbox", ClientSecret: "sandbox",
		RateLimit: rate.Inf, Logger: dm.log.With("component", "demo")})
	if err != nil {
		return err
	}
	st := NewStreamer(dm.sb, client, dm.seed)
	dm.sb.SetFaults(Faults())
	dayStart := dm.sb.Now()
	if err := st.Open(ctx); err != nil {
		return err
	}
	dm.names = map[string]string{}
	var names []string
	for _, a := range st.accounts {
		dm.names[a.id] = a.name
		names = append(names, fmt.Sprintf("%s (%s)", a.name, a.currency))
	}
	dm.printf("1. Opened a business customer, %s, and its accounts through the Fuse API:\n   %s;\n   funded with AED 250,000.00, USD 40,000.00 and EUR 25,000.00 from outside.\n",
		demoCompany, strings.Join(names, ", "))

	if err := st.Stream(ctx, dm.plan); err != nil {
		return err
	}
	dm.sb.SetFaults(sandbox.Faults{})
	if err := dm.sb.WaitIdle(ctx); err != nil {
		return err
	}
	c := st.counts
	loc := dm.cfg.Location
	dm.printf("2. Drove %d operations through the API over a business day of sandbox time\n   (%s to %s %s):",
		demoOps-c.skipped, dayStart.In(loc).Format("Mon Jan 2 15:04"), dm.sb.Now().In(loc).Format("15:04"), loc)
	dm.printf(" %d inbound payments, %d supplier payments and\n   %d salaries (%d failed at the bank), %d transfers to Payroll, %d currency exchanges.\n",
		c.inbound, c.payments, c.payroll, c.failed, c.transfers, c.exchanges)
	stats := dm.sb.Stats()
	var stored int64
	sources, err := dm.d.Ledger().EventsBySource(ctx)
	if err != nil {
		return err
	}
	for _, s := range sources {
		if s.Source == ledgerd.SourceWebhook {
			stored = s.Events
		}
	}
	quarantined, err := dm.d.Ledger().QuarantineCount(ctx)
	if err != nil {
		return err
	}
	dm.printf("   Fuse emitted %d webhooks; the sandbox dropped %d, duplicated %d and reordered %d.\n",
		stats.EventsEmitted, stats.WebhooksDropped, stats.WebhooksDuplicated, stats.WebhooksReordered)
	dm.printf("   ledgerd acknowledged %d deliveries and stored %d distinct events (duplicates change nothing)",
		stats.WebhooksDelivered, stored)
	if quarantined > 0 {
		dm.printf("; %d quarantined", quarantined)
	}
	dm.printf(".\n")

	run1, err := dm.reconcile(ctx)
	if err != nil {
		return err
	}
	dm.firstReconciliation = time.Since(dm.start)
	bs1, err := reconcile.NewStore(dm.d.Ledger()).RunBreaks(ctx, run1.ID)
	if err != nil {
		return err
	}
	dm.printf("3. Reconciliation #%d, on webhooks alone: %s (%s).\n", run1.ID, run1.Verdict, wrap(breakSummary(bs1, "nothing missing"), 60))

	before, err := dm.d.Ledger().TransactionStates(ctx)
	if err != nil {
		return err
	}
	sum, err := dm.d.Backfill(ctx)
	dm.d.ResumeBackfill()
	if err != nil {
		return fmt.Errorf("backfill: %w", err)
	}
	after, err := dm.d.Ledger().TransactionStates(ctx)
	if err != nil {
		return err
	}
	var added, booked, moved int
	for id, now := range after {
		was, ok := before[id]
		switch {
		case !ok:
			added++
		case was.Entry == "none" && now.Entry != "none":
			booked++
		case was != now:
			moved++
		}
	}
	dm.printf("4. Backfill read %s (%d transactions, %d pages) and healed what the dropped webhooks\n   had left out: %s the ledger had never seen, %d booked once their amounts arrived,\n   %d moved on to their final status.\n",
		term.Plural(len(sum.Accounts), "account"), sum.Transactions, sum.Pages, term.Plural(added, "transaction"), booked, moved)

	run2, err := dm.reconcile(ctx)
	if err != nil {
		return err
	}
	dm.printf("5. Reconciliation #%d: %s; %d transactions on %s checked, %d breaks resolved.\n", run2.ID, run2.Verdict,
		run2.TransactionsChecked, term.Plural(run2.AccountsChecked, "account"), run2.BreaksResolved)

	operating := st.accounts[acctOperating]
	if _, err := dm.sb.Adjust(sandbox.Adjustment{AccountID: operating.id, Amount: Adjustment}); err != nil {
		return fmt.Errorf("plant the discrepancy: %w", err)
	}
	cur := ledgerd.Currency(operating.currency)
	dm.printf("6. Planted a bank-side discrepancy: Fuse's balance of %s moved by %s %s with no\n   transaction and no webhook (the sandbox's POST /sandbox/adjustments).\n",
		operating.name, cur, ledgerd.Amount(Adjustment).Format(cur))

	run3, err := dm.reconcile(ctx)
	if err != nil {
		return err
	}
	bs3, err := reconcile.NewStore(dm.d.Ledger()).RunBreaks(ctx, run3.ID)
	if err != nil {
		return err
	}
	dm.printf("7. Reconciliation #%d: %s; %s:\n", run3.ID, run3.Verdict, breakSummary(bs3, "no break"))
	for _, b := range bs3 {
		dm.printf("   #%d %s\n", b.ID, dm.describe(b))
		if b.Category == reconcile.BalanceDrift && b.FuseAccountID == operating.id {
			dm.breakID = b.ID
		}
	}

	if err := dm.writeReport(ctx, run3.ID); err != nil {
		return err
	}
	dm.printf("8. Report of run #%d for finance in %s/: %s.\n", run3.ID, filepath.Join(dm.dir, "report"), strings.Join(dm.reportFiles, ", "))

	rep, err := dm.d.Ledger().Verify(ctx)
	if err != nil {
		return err
	}
	if !rep.OK() {
		return fmt.Errorf("ledgerd verify failed on the demo file: %+v", rep)
	}
	dm.printf("9. ledgerd verify: all %d checks passed (integrity, balance, the events' hash chain).\n", len(rep.Checks))
	dm.scenarioDuration = time.Since(dm.start)
	return nil
}

// reconcile runs one reconciliation now, through the daemon's reconciler.
func (dm *demoRun) reconcile(ctx context.Context) (reconcile.Run, error) {
	run, err := dm.d.Reconcile(ctx)
	if err != nil {
		return run, fmt.Errorf("reconcile: %w", err)
	}
	dm.log.Info("reconciliation", "run", run.ID, "verdict", run.Verdict)
	return run, nil
}

// breakSummary counts breaks by category: "3 breaks: 2 missing_in_ledger,
// 1 balance_drift".
func breakSummary(bs []reconcile.Break, none string) string {
	if len(bs) == 0 {
		return none
	}
	counts := map[reconcile.Category]int{}
	for _, b := range bs {
		counts[b.Category]++
	}
	var parts []string
	for _, c := range reconcile.Categories {
		if n := counts[c]; n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, c))
		}
	}
	return term.Plural(len(bs), "break") + ": " + strings.Join(parts, ", ")
}

// wrap breaks s after commas so that no line but the first is longer
// than width, indenting the rest for the numbered list.
func wrap(s string, width int) string {
	var b strings.Builder
	line := 0
	for i, part := range strings.Split(s, ", ") {
		switch {
		case i == 0:
		case line+2+len(part) > width:
			b.WriteString(",\n   ")
			line = 0
		default:
			b.WriteString(", ")
			line += 2
		}
		b.WriteString(part)
		line += len(part)
	}
	return b.String()
}

// describe renders one break in a line, amounts in major units.
func (dm *demoRun) describe(b reconcile.Break) string {
	subject := b.Subject
	if name := dm.names[b.FuseAccountID]; name != "" && b.FuseTransactionID == "" {
		subject = name
	}
	line := fmt.Sprintf("%-14s %-8s %s", b.Category, b.Severity, subject)
	if b.Category == reconcile.ClosingBalanceDrift {
		return line + ": " + b.Detail // the day it names is the point
	}
	if b.LedgerAmount != nil && b.FuseAmount != nil && b.Difference != nil {
		line += fmt.Sprintf(": ledger %s %s, Fuse %s, difference %s", b.Currency, b.LedgerAmount.Format(b.Currency),
			b.FuseAmount.Format(b.Currency), b.Difference.Format(b.Currency))
	}
	return line
}

// writeReport writes run id as CSV, JSON and XLSX under DIR/report.
func (dm *demoRun) writeReport(ctx context.Context, id int64) error {
	rep, err := reconcile.NewStore(dm.d.Ledger()).Report(ctx, id, dm.cfg.Location)
	if err != nil {
		return err
	}
	dir := filepath.Join(dm.dir, "report")
	files := []string{filepath.Join(dir, "report.xlsx"), filepath.Join(dir, "report.json")}
	if err := atomicfile.Write(files[0], rep.WriteXLSX); err != nil {
		return err
	}
	if err := atomicfile.Write(files[1], rep.WriteJSON); err != nil {
		return err
	}
	csvs, err := rep.WriteCSV(dir)
	if err != nil {
		return err
	}
	for _, f := range append(files, csvs...) {
		dm.reportFiles = append(dm.reportFiles, filepath.Base(f))
	}
	return nil
}

// printNext says where everything is and what to try.
func (dm *demoRun) printNext(duration time.Duration) {
	self := "ledgerd"
	if filepath.Base(os.Args[0]) == "ledgerd" {
		self = os.Args[0]
	}
	db := dm.cfg.DB
	dm.printf("\nFirst reconciliation %s after start; the whole story took %s.\n\n",
		dm.firstReconciliation.Round(100*time.Millisecond), dm.scenarioDuration.Round(100*time.Millisecond))
	dm.printf("  Status page   %s/\n", dm.adminURL)
	dm.printf("  JSON API      %s/api/v1/breaks   %s/api/v1/runs   %s/metrics\n", dm.adminURL, dm.adminURL, dm.adminURL)
	dm.printf("  SQLite file   %s\n", db)
	dm.printf("  Report        %s/\n", filepath.Join(dm.dir, "report"))
	dm.printf("  Log           %s\n\n", dm.logPath)
	dm.printf("Try next, while it runs (the file is safe to read; see the README's \"Querying the file\"):\n")
	for _, line := range []string{
		fmt.Sprintf(`sqlite3 -readonly -box %s "SELECT ledger_account, currency, posted, fuse_current, posted - fuse_current AS drift FROM v_balances WHERE fuse_current IS NOT NULL"`, db),
		fmt.Sprintf(`sqlite3 -readonly -box %s "SELECT id, category, subject, difference, age_days FROM v_open_breaks"`, db),
		fmt.Sprintf(`sqlite3 -readonly -box %s "SELECT kind, status, count(*) FROM v_transactions GROUP BY 1, 2"`, db),
		fmt.Sprintf("%s balances --db %s", self, db),
		fmt.Sprintf(`%s breaks ack %d --note "bank charge, booked by finance" --db %s`, self, dm.breakID, db),
		fmt.Sprintf("FUSE_BASE_URL=%s/v1 FUSE_AUTH_URL=%s%s FUSE_CLIENT_ID=sandbox FUSE_CLIENT_SECRET=sandbox %s reconcile --db %s",
			dm.sandboxURL, dm.sandboxURL, sandbox.TokenPath, self, db),
		fmt.Sprintf("%s export --format hledger --db %s", self, db),
	} {
		dm.printf("  %s\n", line)
	}
	if duration > 0 {
		left := time.Until(dm.start.Add(duration)).Round(time.Second)
		dm.printf("\nServing for %s more (--duration %s); Ctrl-C stops it sooner.\n", max(left, 0), duration)
	} else {
		dm.printf("\nServing until Ctrl-C.\n")
	}
}

// waitReady polls url until it answers 200.
func waitReady(ctx context.Context, url string) error {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	var last error
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("%s: %s", url, resp.Status)
		}
		last = err
		select {
		case <-ctx.Done():
			return fmt.Errorf("ledgerd serve never became ready: %w", errors.Join(ctx.Err(), last))
		case <-tick.C:
		}
	}
}
