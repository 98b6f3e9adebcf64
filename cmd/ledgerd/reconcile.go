package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/ledgerd/ledgerd/config"
	"github.com/ledgerd/ledgerd/internal/daemon"
	"github.com/ledgerd/ledgerd/internal/gcpercent"
	"github.com/ledgerd/ledgerd/internal/term"
	"github.com/ledgerd/ledgerd/reconcile"
)

func cmdReconcile(ctx context.Context, e env, args []string) error {
	fs := newFlags(e, "reconcile", "[--as-of TIME] [--json] [--db PATH] [tuning flags]",
		`Runs one reconciliation of the ledger against Fuse, as of --as-of (default
now): reads every Fuse account with its balance and every Fuse transaction
through the API (FUSE_BASE_URL, FUSE_AUTH_URL, FUSE_CLIENT_ID, FUSE_CLIENT_SECRET), merges
them with the ledger account by account, and checks the ledger on its own
(unpaired transfer legs, duplicates, conflicting observations, unbalanced
entries). Every difference is a break, kept across runs (see ledgerd breaks).
Prints a summary and the breaks this run saw.

Verdicts: RECONCILED; RECONCILED_WITH_PENDING (money in flight on both sides
at the cut-off); BREAKS; INCOMPLETE (Fuse could not be read completely:
never green, and no break is resolved). Exit 0 on the first two, 1 on
BREAKS or INCOMPLETE, 2 on a usage or configuration error (credentials
Fuse's token endpoint refuses included: then no run is recorded).`)
	asOf := fs.String("as-of", "", "cut-off as an RFC 3339 time (default now)")
	asJSON := fs.Bool("json", false, "print the run as JSON instead of the summary")
	db := fs.String("db", "", "database file (default $LEDGERD_DB)")
	// The tuning flags default to their environment variables (as serve's
	// scheduled runs use them): 0 here means "not given".
	ledgerGrace := fs.Duration("ledger-grace", 0,
		"how long the ledger may lag Fuse (webhooks in flight, next backfill) before a difference counts"+
			fromEnv("LEDGERD_RECONCILE_LEDGER_GRACE"))
	fuseGrace := fs.Duration("fuse-grace", 0,
		"how long Fuse's listings may lag the ledger before a transaction counts as missing at Fuse"+
			fromEnv("LEDGERD_RECONCILE_FUSE_GRACE"))
	staleAfter := fs.Duration("stale-after", 0,
		"how long a transaction may stay in flight on both sides before it is a stale_pending break"+
			fromEnv("LEDGERD_RECONCILE_STALE_PENDING"))
	maxNew := fs.Int("max-new-breaks", 0,
		"most new breaks one run records: every critical break is recorded even past it, the others fill what is left,\n"+
			"most severe first; what is left out is counted in one too_many_breaks break and in the run's detail"+
			fromEnv("LEDGERD_RECONCILE_MAX_NEW_BREAKS"))
	maxLookups := fs.Int("max-lookups", 0,
		"most transactions a run looks up one by one at Fuse (GET /transactions/{id}) when the ledger has them and\n"+
			"Fuse's listing does not; past it (or --lookup-time) the rest are not checked and the run is INCOMPLETE"+
			fromEnv("LEDGERD_RECONCILE_MAX_LOOKUPS"))
	lookupTime := fs.Duration("lookup-time", 0,
		"most time a run spends looking transactions up one by one (see --max-lookups), all calls together;\n"+
			"past it the rest are not checked and the run is INCOMPLETE"+fromEnv("LEDGERD_RECONCILE_LOOKUP_TIME"))
	workers := fs.Int("workers", 0, "accounts read and compared at once"+fromEnv("LEDGERD_RECONCILE_WORKERS"))
	if err := parseNone(fs, args); err != nil {
		return err
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	var at time.Time
	if *asOf != "" {
		var err error
		if at, err = time.Parse(time.RFC3339Nano, *asOf); err != nil {
			return usageErrorf("--as-of %q: want an RFC 3339 time such as 2026-11-01T00:00:00Z", *asOf)
		}
	}
	for name, d := range map[string]time.Duration{"ledger-grace": *ledgerGrace, "fuse-grace": *fuseGrace,
		"stale-after": *staleAfter, "lookup-time": *lookupTime} {
		if given[name] && d <= 0 {
			return usageErrorf("--%s %s: want a positive duration", name, d)
		}
	}
	if (given["max-new-breaks"] && *maxNew < 1) || (given["max-lookups"] && *maxLookups < 1) || (given["workers"] && *workers < 1) {
		return usageErrorf("--max-new-breaks, --max-lookups and --workers must be at least 1")
	}
	o, err := openLedger(ctx, e, *db)
	if err != nil {
		return err
	}
	defer o.ledger.Close()
	cfg, log, l := o.cfg, o.log, o.ledger
	client, err := daemon.FuseClient(cfg, log, nil, "reconcile")
	if err != nil {
		return err
	}
	if err := checkCredentials(ctx, client); err != nil {
		return err
	}
	opts := daemon.ReconcileOptions(cfg)
	opts.Ledger, opts.Fuse, opts.Logger = l, client, log
	// A tuning flag given on the command line wins over its variable; 0,
	// its default, means not given (an explicit 0 was refused above).
	override(&opts.LedgerGrace, *ledgerGrace)
	override(&opts.FuseGrace, *fuseGrace)
	override(&opts.StalePendingAfter, *staleAfter)
	override(&opts.MaxNewBreaks, *maxNew)
	override(&opts.MaxLookups, *maxLookups)
	override(&opts.LookupTime, *lookupTime)
	override(&opts.Workers, *workers)
	r, err := reconcile.New(opts)
	if err != nil {
		return err
	}
	var gc gcpercent.Target
	done := gc.Raise(gcpercent.Reconcile)
	run, err := r.Run(ctx, at)
	done()
	if err != nil {
		return err
	}
	if *asJSON {
		if err := printJSON(e.stdout, run); err != nil {
			return err
		}
	} else {
		bs, err := reconcile.NewStore(l).RunBreaks(ctx, run.ID)
		if err != nil {
			return err
		}
		printRun(e.stdout, run, bs, cfg.Location)
	}
	if !run.Verdict.OK() {
		return errProblem
	}
	return nil
}

// override sets *dst to v unless v is its type's zero value.
func override[T comparable](dst *T, v T) {
	var zero T
	if v != zero {
		*dst = v
	}
}

// fromEnv is the end of a tuning flag's usage line: its default is the
// environment variable name, whose own default config.Describe knows.
func fromEnv(name string) string {
	for _, v := range config.Describe() {
		if v.Name == name {
			return fmt.Sprintf(" (default $%s, which defaults to %s)", name, v.Default)
		}
	}
	return fmt.Sprintf(" (default $%s)", name)
}

// maxPrinted bounds the breaks the summary lists; ledgerd breaks list and
// ledgerd report show them all.
const maxPrinted = 25

// printRun writes a run's summary for a person at a terminal.
func printRun(w io.Writer, run reconcile.Run, bs []reconcile.Break, loc *time.Location) {
	fmt.Fprintf(w, "reconciliation run %d as of %s (%s): %s\n", run.ID,
		run.AsOf.In(loc).Format(time.RFC3339), loc, run.Verdict)
	fmt.Fprintf(w, "  %d Fuse accounts and %d transactions checked, %d in flight at the cut-off, in %s\n",
		run.AccountsChecked, run.TransactionsChecked, run.Pending, run.FinishedAt.Sub(run.StartedAt).Round(time.Millisecond))
	fmt.Fprintf(w, "  breaks: %d seen, %d new, %d resolved since the last run\n", run.BreaksOpen, run.BreaksNew, run.BreaksResolved)
	if run.Detail != "" {
		fmt.Fprintf(w, "  %s\n", run.Detail)
	}
	if len(bs) == 0 {
		return
	}
	fmt.Fprintln(w)
	printBreaks(w, bs[:min(len(bs), maxPrinted)], loc)
	if len(bs) > maxPrinted {
		fmt.Fprintf(w, "… and %d more: ledgerd breaks list, or ledgerd report --run %d --format xlsx --out report.xlsx\n",
			len(bs)-maxPrinted, run.ID)
	}
}

// printBreaks writes breaks as a table, amounts in major units.
func printBreaks(w io.Writer, bs []reconcile.Break, loc *time.Location) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tCATEGORY\tSEVERITY\tSTATE\tACCOUNT\tTRANSACTION\tCCY\tDIFFERENCE\tFIRST SEEN\tDETAIL")
	for _, b := range bs {
		d := ""
		if b.Difference != nil {
			d = b.Difference.Format(b.Currency)
		}
		detail := b.Detail
		if b.AckNote != "" {
			detail = "[ack: " + b.AckNote + "] " + detail
		}
		if len(detail) > 120 {
			detail = detail[:117] + "..."
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", b.ID, b.Category, b.Severity, b.State,
			term.Printable(dash(b.FuseAccountID)), term.Printable(dash(b.FuseTransactionID)), dash(string(b.Currency)), dash(d),
			b.FirstSeen.In(loc).Format(time.RFC3339), term.Printable(strings.ReplaceAll(detail, "\t", " ")))
	}
	tw.Flush()
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
