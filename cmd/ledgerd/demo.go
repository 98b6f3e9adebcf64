package main

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
	"github.com/ledgerd/ledgerd/logging"
	"github.com/ledgerd/ledgerd/reconcile"
	syncer "github.com/ledgerd/ledgerd/sync"
)

// demoMarker marks a directory the demo created, so that it never replaces
// a ledgerd.db it did not write.
const demoMarker = ".ledgerd-demo"

// demoAdjustment is the planted bank-side discrepancy on the operating
// account, in minor units: AED 150.00 gone at Fuse with no transaction.
const demoAdjustment = -150_00

func cmdDemo(ctx context.Context, e env, args []string) error {
	fs := newFlags(e, "demo", "[--dir DIR] [--duration D] [--seed N]",
		`Shows ledgerd at work with nothing to configure and no network but
loopback. It starts the built-in Fuse sandbox and a real "ledgerd serve"
against it, both on free loopback ports, then:

  1. opens a business customer and four accounts through the Fuse API;
  2. drives a business day of traffic through the API (inbound payments,
     supplier payments and salaries, some failing at the bank, internal
     transfers, currency exchanges) while the sandbox drops, duplicates
     and reorders some of the webhooks;
  3. reconciles on webhooks alone, runs the backfill that heals what was
     dropped, and reconciles again;
  4. plants one bank-side discrepancy (a balance change at Fuse with no
     transaction), reconciles a third time, and writes that run's report.

It prints where the status page, the SQLite file and the report are, and
what to try next, then keeps serving until Ctrl-C (or until --duration has
passed since it started). The file is DIR/ledgerd.db, the report
DIR/report/ (CSV, JSON, XLSX), the daemon's log DIR/ledgerd.log; each run
starts them afresh. A directory holding a ledgerd.db the demo did not
create is refused.

The same --seed gives the same accounts, transactions, faults and breaks;
dates follow the clock (the business day is yesterday, the last day that
has ended, so that the reconciliations' daily check compares it). The
demo ignores FUSE_* and LEDGERD_DB; it honours LEDGERD_ADMIN_LISTEN when
set (default: a free loopback port), LEDGERD_TZ and the log settings.
Exit 0 after Ctrl-C or --duration, 1 when a step failed or --duration ran
out first, 2 on a usage error.`)
	dir := fs.String("dir", "ledgerd-demo", "directory for the file, the report and the log")
	duration := fs.Duration("duration", 0, "stop by itself this long after starting (0: serve until Ctrl-C)")
	seed := fs.Int64("seed", 1, "seed of every choice: operations, amounts, ids, webhook faults")
	if err := parseNone(fs, args); err != nil {
		return err
	}
	if *duration < 0 {
		return usageErrorf("--duration must not be negative")
	}
	start := time.Now()
	cfg, _, err := loadConfig(ctx, e)
	if err != nil {
		return err
	}
	if err := prepareDemoDir(*dir); err != nil {
		return err
	}
	logPath := filepath.Join(*dir, "ledgerd.log")
	logFile, err := os.OpenFile(logPath, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	defer logFile.Close()
	log := logging.New(logFile, cfg.LogFormat, cfg.LogLevel)

	plan := newDemoPlan(*seed)
	base := demoDayStart(start, cfg.Location)

	sbLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("built-in sandbox: %w", err)
	}
	defer sbLn.Close()
	sandboxURL := "http://" + sbLn.Addr().String()
	cfg.DB = filepath.Join(*dir, "ledgerd.db")
	cfg.Listen = "127.0.0.1:0"
	if v, ok := e.lookup.Lookup("LEDGERD_ADMIN_LISTEN"); !ok || v == "" {
		cfg.AdminListen = "127.0.0.1:0"
	}
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

	d, err := newDaemon(ctx, cfg, log)
	if err != nil {
		return err
	}
	hookURL, adminURL := d.url("webhook")+cfg.WebhookPath, d.url("admin")
	sb := sandbox.New(sandbox.Options{
		Seed:          *seed,
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
	if *duration > 0 {
		runCtx, stop = context.WithDeadline(ctx, start.Add(*duration))
	}
	defer stop()
	// The demo runs the backfill itself, at the point of the story where
	// it heals: holding the lock until then keeps serve's start-up
	// catch-up and its schedule out of the way.
	d.backfillMu.Lock()
	locked := true
	unlock := func() {
		if locked {
			locked = false
			d.backfillMu.Unlock()
		}
	}
	defer unlock()
	daemonDone := make(chan error, 1)
	go func() { daemonDone <- d.run(runCtx) }()

	dm := &demoRun{out: e.stdout, log: log, cfg: cfg, d: d, sb: sb, seed: *seed, plan: plan, start: start,
		dir: *dir, sandboxURL: sandboxURL, hookURL: hookURL, adminURL: adminURL, logPath: logPath}
	scenarioErr := dm.scenario(runCtx, unlock)
	if scenarioErr == nil {
		dm.printNext(*duration)
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
		fmt.Fprintf(e.stdout, "\nInterrupted before the demo finished; what it did so far is in %s.\n", cfg.DB)
		scenarioErr = nil
	case runCtx.Err() != nil:
		scenarioErr = fmt.Errorf("--duration %s ran out before the demo finished its story: allow it at least 30s", *duration)
	}
	if err := errors.Join(scenarioErr, daemonErr); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "\nStopped cleanly after %s. The file, the report and the log stay in %s/.\n",
		time.Since(start).Round(100*time.Millisecond), *dir)
	return nil
}

// demoDayStart is when the demo's business day starts on the sandbox
// clock: 09:00 in loc yesterday, or the day before when today began less
// than demoEndMargin ago. The sandbox's clock stands still but for the
// stream's own moves, so that every event happens in the same order
// whatever the machine's speed; the day (a plan ends well before
// midnight) has ended at least demoEndMargin before now, so that nothing
// Fuse did is after a reconciliation's cut-off or within its grace
// period, and every reconciliation's daily check compares the day: the
// planted discrepancy shows on it as well, whatever the time of day the
// demo runs.
func demoDayStart(now time.Time, loc *time.Location) time.Time {
	n := now.In(loc)
	back := 1
	if time.Date(n.Year(), n.Month(), n.Day(), 0, 0, 0, 0, loc).Add(demoEndMargin).After(now) {
		back = 2
	}
	return time.Date(n.Year(), n.Month(), n.Day()-back, 9, 0, 0, 0, loc)
}

// url is a listener's base URL, dialable (an unspecified host becomes
// loopback).
func (d *daemon) url(name string) string {
	for _, s := range d.servers {
		if s.name == name {
			return "http://" + dialable(s.ln.Addr())
		}
	}
	return ""
}

// prepareDemoDir creates dir, or clears what an earlier demo left in it.
func prepareDemoDir(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("%w: --dir %s: %v", errUsage, dir, err)
	}
	// Only a directory the demo made, or an empty one, is cleared: in any
	// other, ledgerd.log or report/ may be someone's files.
	marker := filepath.Join(dir, demoMarker)
	if _, err := os.Stat(marker); err != nil {
		entries, err := os.ReadDir(dir)
		if err != nil {
			return fmt.Errorf("%w: --dir %s: %v", errUsage, dir, err)
		}
		if len(entries) > 0 {
			return usageErrorf("--dir %s is not empty and was not made by the demo; choose an empty or a new directory", dir)
		}
	}
	for _, name := range []string{"ledgerd.db", "ledgerd.db-wal", "ledgerd.db-shm", "ledgerd.log"} {
		if err := os.Remove(filepath.Join(dir, name)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	if err := os.RemoveAll(filepath.Join(dir, "report")); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Join(dir, "report"), 0o755); err != nil {
		return err
	}
	return os.WriteFile(marker, []byte("Created by `ledgerd demo`, which replaces ledgerd.db, ledgerd.log and report/ here on each run.\n"), 0o644)
}

// demoRun is one demo: what it started and what it prints.
type demoRun struct {
	out                                   io.Writer
	log                                   *slog.Logger
	cfg                                   *config.Config
	d                                     *daemon
	sb                                    *sandbox.Sandbox
	seed                                  int64
	plan                                  demoPlan
	start                                 time.Time
	dir, sandboxURL, hookURL, adminURL    string
	logPath                               string
	names                                 map[string]string // Fuse account id → name
	firstReconciliation, scenarioDuration time.Duration
	reportFiles                           []string
	breakID                               int64 // the planted discrepancy's break
}

func (dm *demoRun) printf(format string, args ...any) { fmt.Fprintf(dm.out, format, args...) }

// scenario tells the story; unlock releases the backfill lock once the
// demo's own backfill has run.
func (dm *demoRun) scenario(ctx context.Context, unlock func()) error {
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
	st := newStreamer(dm.sb, client, dm.seed)
	dm.sb.SetFaults(demoFaults)
	dayStart := dm.sb.Now()
	if err := st.open(ctx); err != nil {
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

	if err := st.stream(ctx, dm.plan); err != nil {
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
	sources, err := dm.d.ledger.EventsBySource(ctx)
	if err != nil {
		return err
	}
	for _, s := range sources {
		if s.Source == ledgerd.SourceWebhook {
			stored = s.Events
		}
	}
	quarantined, err := dm.d.ledger.QuarantineCount(ctx)
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
	bs1, err := reconcile.NewStore(dm.d.ledger).RunBreaks(ctx, run1.ID)
	if err != nil {
		return err
	}
	dm.printf("3. Reconciliation #%d, on webhooks alone: %s (%s).\n", run1.ID, run1.Verdict, wrap(breakSummary(bs1, "nothing missing"), 60))

	before, err := dm.d.ledger.TransactionStates(ctx)
	if err != nil {
		return err
	}
	sum, err := dm.d.syncer.Run(ctx, syncer.RunOptions{})
	dm.d.lastBackfill.set(err)
	unlock()
	if err != nil {
		return fmt.Errorf("backfill: %w", err)
	}
	after, err := dm.d.ledger.TransactionStates(ctx)
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
		plural(len(sum.Accounts), "account"), sum.Transactions, sum.Pages, plural(added, "transaction"), booked, moved)

	run2, err := dm.reconcile(ctx)
	if err != nil {
		return err
	}
	dm.printf("5. Reconciliation #%d: %s; %d transactions on %s checked, %d breaks resolved.\n", run2.ID, run2.Verdict,
		run2.TransactionsChecked, plural(run2.AccountsChecked, "account"), run2.BreaksResolved)

	operating := st.accounts[acctOperating]
	if _, err := dm.sb.Adjust(sandbox.Adjustment{AccountID: operating.id, Amount: demoAdjustment}); err != nil {
		return fmt.Errorf("plant the discrepancy: %w", err)
	}
	cur := ledgerd.Currency(operating.currency)
	dm.printf("6. Planted a bank-side discrepancy: Fuse's balance of %s moved by %s %s with no\n   transaction and no webhook (the sandbox's POST /sandbox/adjustments).\n",
		operating.name, cur, ledgerd.Amount(demoAdjustment).Format(cur))

	run3, err := dm.reconcile(ctx)
	if err != nil {
		return err
	}
	bs3, err := reconcile.NewStore(dm.d.ledger).RunBreaks(ctx, run3.ID)
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

	rep, err := dm.d.ledger.Verify(ctx)
	if err != nil {
		return err
	}
	if !rep.OK() {
		return fmt.Errorf("%w: ledgerd verify failed on the demo file: %+v", errProblem, rep)
	}
	dm.printf("9. ledgerd verify: all %d checks passed (integrity, balance, the events' hash chain).\n", len(rep.Checks))
	dm.scenarioDuration = time.Since(dm.start)
	return nil
}

// reconcile runs one reconciliation now, through the daemon's reconciler.
func (dm *demoRun) reconcile(ctx context.Context) (reconcile.Run, error) {
	run, err := dm.d.reconcile(ctx)
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
	return plural(len(bs), "break") + ": " + strings.Join(parts, ", ")
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
	rep, err := reconcile.NewStore(dm.d.ledger).Report(ctx, id, dm.cfg.Location)
	if err != nil {
		return err
	}
	dir := filepath.Join(dm.dir, "report")
	files := []string{filepath.Join(dir, "report.xlsx"), filepath.Join(dir, "report.json")}
	if err := writeFile(files[0], dm.d.ledger.Path(), rep.WriteXLSX); err != nil {
		return err
	}
	if err := writeFile(files[1], dm.d.ledger.Path(), rep.WriteJSON); err != nil {
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
