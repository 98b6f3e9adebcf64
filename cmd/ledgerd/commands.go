package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/ledgerd/ledgerd/config"
	"github.com/ledgerd/ledgerd/fuse"
	"github.com/ledgerd/ledgerd/ledger"
)

// checkCredentials fetches the client's first token before a one-shot
// command starts its work, so that credentials Fuse's token endpoint
// refuses are the configuration error they are (exit 2, one line naming
// FUSE_CLIENT_ID masked) instead of a run that fails on every account.
// Any other failure is left to the run, which reports it as it always has.
func checkCredentials(ctx context.Context, c *fuse.Client) error {
	if err := c.Authenticate(ctx); errors.Is(err, fuse.ErrCredentialsRefused) {
		return fmt.Errorf("%w: %w", config.ErrInvalid, err)
	}
	return nil
}

// opened is what most commands start from: the configuration, the
// logger, and the open file.
type opened struct {
	cfg    *config.Config
	log    *slog.Logger
	ledger *ledger.Ledger
}

// openLedger loads the configuration and opens the file it names; --db
// overrides LEDGERD_DB.
func openLedger(ctx context.Context, e env, dbFlag string) (opened, error) {
	return openLedgerWith(ctx, e, dbFlag, ledger.Options{})
}

// openLedgerWith is openLedger with options (its Logger is the
// configured one).
func openLedgerWith(ctx context.Context, e env, dbFlag string, opts ledger.Options) (opened, error) {
	cfg, log, err := loadConfig(ctx, e)
	if err != nil {
		return opened{}, err
	}
	path := cfg.DB
	if dbFlag != "" {
		path = dbFlag
	}
	opts.Logger = log
	// With a replica, serve's Litestream may be reading the WAL: a
	// command's TRUNCATE at close could cut it under Litestream.
	opts.KeepWALAtClose = cfg.ReplicaURL != ""
	l, err := ledger.Open(ctx, path, opts)
	if err != nil {
		return opened{}, err
	}
	return opened{cfg: cfg, log: log, ledger: l}, nil
}

func cmdMigrate(ctx context.Context, e env, args []string) error {
	fs := newFlags(e, "migrate", "[--db PATH]",
		`Creates the SQLite file at $LEDGERD_DB (default ledgerd.db) if it does not
exist, or upgrades an older file's schema in place, one version per
transaction. A file written by a newer ledgerd is refused. A file (or its
-wal or -shm) that others can read is made private (0600), with a warning.
Every other command but verify does the same on start. migrate also
rewrites running balances that differ from the sum of the postings (derived
data; verify names them), and is safe to run while serve runs.`)
	db := fs.String("db", "", "database file (default $LEDGERD_DB)")
	if err := parseNone(fs, args); err != nil {
		return err
	}
	o, err := openLedger(ctx, e, *db)
	if err != nil {
		return err
	}
	l := o.ledger
	n, err := l.RepairBalances(ctx)
	if err != nil {
		l.Close()
		return err
	}
	if n > 0 {
		fmt.Fprintf(e.stdout, "%s: rewrote %d running balances from the postings\n", l.Path(), n)
	}
	fmt.Fprintf(e.stdout, "%s: schema version %d\n", l.Path(), ledger.SchemaVersion())
	return l.Close()
}

func cmdBalances(ctx context.Context, e env, args []string) error {
	fs := newFlags(e, "balances", "[--json] [--as-of TIME] [--db PATH]",
		`Prints every ledger account's balance per currency: posted (settled),
pending (in flight), available (posted minus money on its way out), and for
bank accounts the balance Fuse last reported and the drift between the two.
Amounts are in major units in the table and integer minor units in --json.`)
	asJSON := fs.Bool("json", false, "print a JSON array, amounts in minor units")
	asOf := fs.String("as-of", "", "balances as of this Fuse time (RFC 3339), from the postings")
	db := fs.String("db", "", "database file (default $LEDGERD_DB)")
	if err := parseNone(fs, args); err != nil {
		return err
	}
	var at time.Time
	if *asOf != "" {
		var err error
		if at, err = time.Parse(time.RFC3339Nano, *asOf); err != nil {
			return usageErrorf("--as-of %q: want an RFC 3339 time such as 2026-11-01T00:00:00Z", *asOf)
		}
	}
	o, err := openLedger(ctx, e, *db)
	if err != nil {
		return err
	}
	l := o.ledger
	defer l.Close()
	var bs []ledger.Balance
	if at.IsZero() {
		bs, err = l.Balances(ctx)
	} else {
		bs, err = l.BalancesAsOf(ctx, at)
	}
	if err != nil {
		return err
	}
	return printList(e.stdout, bs, *asJSON, "no balances yet: nothing has been ingested", printBalances)
}

// printBalances writes balances as a table, amounts in major units.
func printBalances(w io.Writer, bs []ledger.Balance) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "LEDGER ACCOUNT\tCCY\tPOSTED\tPENDING\tAVAILABLE\tFUSE CURRENT\tDRIFT\t")
	for _, b := range bs {
		fuse, drift := "", ""
		if b.FuseCurrent != nil {
			fuse = b.FuseCurrent.Format(b.Currency)
			if d, err := b.Posted.Sub(*b.FuseCurrent); err == nil {
				drift = d.Format(b.Currency)
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", b.LedgerAccount, b.Currency,
			b.Posted.Format(b.Currency), b.Pending.Format(b.Currency), b.Available.Format(b.Currency), fuse, drift)
	}
	return tw.Flush()
}

// printList prints rows for a program or a person: with asJSON a JSON
// array (amounts in minor units), else none when there are no rows, else
// the table that table writes.
func printList[T any](w io.Writer, rows []T, asJSON bool, none string, table func(io.Writer, []T) error) error {
	if asJSON {
		return printJSON(w, rows)
	}
	if len(rows) == 0 {
		fmt.Fprintln(w, none)
		return nil
	}
	return table(w, rows)
}

// printJSON writes v as indented JSON.
func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func cmdVerify(ctx context.Context, e env, args []string) error {
	fs := newFlags(e, "verify", "[--json] [--db PATH]",
		`Checks the file: SQLite's integrity_check and foreign keys, every entry
balancing to zero per currency, no posting on an unknown account, running
balances equal to the postings, entry states matching Fuse statuses, and
the events hash chain (tampering with a stored event breaks it), and that
no one but the owner can read the file. A check does not change what it
checks: verify only reads. It creates no file, refuses a file at an older
schema version instead of upgrading it, and reports a file readable by
others instead of making it private ("ledgerd migrate" does both). Exit 0
when every check passes, 1 with a report of what failed.`)
	asJSON := fs.Bool("json", false, "print the report as JSON")
	db := fs.String("db", "", "database file (default $LEDGERD_DB)")
	if err := parseNone(fs, args); err != nil {
		return err
	}
	o, err := openLedgerWith(ctx, e, *db, ledger.Options{ReadOnly: true})
	if err != nil {
		return err
	}
	defer o.ledger.Close()
	return printVerify(ctx, e, o.ledger, *asJSON)
}

// printVerify runs the checks on l and prints the report, as a table or
// JSON; the error wraps errProblem when a check failed (exit 1).
func printVerify(ctx context.Context, e env, l *ledger.Ledger, asJSON bool) error {
	rep, err := l.Verify(ctx)
	if err != nil {
		return err
	}
	if asJSON {
		if err := printJSON(e.stdout, rep); err != nil {
			return err
		}
	} else {
		for _, c := range rep.Checks {
			mark := "ok  "
			if !c.OK {
				mark = "FAIL"
			}
			fmt.Fprintf(e.stdout, "%s %s\n", mark, c.Name)
			for _, d := range c.Details {
				fmt.Fprintf(e.stdout, "       %s\n", d)
			}
		}
	}
	if !rep.OK() {
		var failed []string
		for _, c := range rep.Checks {
			if !c.OK {
				failed = append(failed, c.Name)
			}
		}
		fmt.Fprintf(e.stderr, "ledgerd verify: %s: %s\n", l.Path(), strings.Join(failed, "; "))
		return errProblem
	}
	if !asJSON {
		fmt.Fprintf(e.stdout, "%s: all %d checks passed\n", l.Path(), len(rep.Checks))
	}
	return nil
}

func cmdVersion(_ context.Context, e env, args []string) error {
	fs := newFlags(e, "version", "", "Prints ledgerd's version and the newest schema version it knows.")
	if err := parseNone(fs, args); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "ledgerd %s (schema %d)\n", version, ledger.SchemaVersion())
	return nil
}
