package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"

	"github.com/ledgerd/ledgerd/internal/atomicfile"
	"github.com/ledgerd/ledgerd/reconcile"
)

func cmdReport(ctx context.Context, e env, args []string) error {
	fs := newFlags(e, "report", "[--run latest|ID] --format csv|json|xlsx --out PATH [--db PATH]",
		`Writes a reconciliation run for finance, in three sections:
  run       id, started_at, finished_at, time_zone, as_of, verdict, counts, detail
  accounts  fuse_account_id, name, currency, ledger_posted, ledger_pending,
            fuse_balance, drift, gross_drift (one row per Fuse account and currency)
  breaks    break_id, category, severity, fuse_account_id, fuse_transaction_id,
            currency, ledger_amount, fuse_amount, difference, first_seen,
            last_seen, age_days, state, detail, ack_note
Amounts are decimal strings in major units with the currency's decimals
(AED 2, JPY 0, BHD 3), never floats; in XLSX they are numbers shown with
those decimals. Times are RFC 3339 in LEDGERD_TZ, with their offset.

  --format csv   PATH is a directory: run.csv, accounts.csv, breaks.csv
                 (RFC 4180, UTF-8, header row)
  --format json  PATH is a file ("-": standard output): one object
                 {"run": {...}, "accounts": [...], "breaks": [...]}
  --format xlsx  PATH is a file: sheets Run, Accounts, Breaks`)
	runFlag := fs.String("run", "latest", "the run to report: latest (the latest finished run) or its id")
	format := fs.String("format", "", "csv, json or xlsx")
	out := fs.String("out", "", "where to write (a directory for csv, a file otherwise)")
	db := fs.String("db", "", "database file (default $LEDGERD_DB)")
	if err := parseNone(fs, args); err != nil {
		return err
	}
	var id int64
	if *runFlag != "latest" {
		n, err := strconv.ParseInt(*runFlag, 10, 64)
		if err != nil || n <= 0 {
			return usageErrorf("--run %q: want latest or a run id", *runFlag)
		}
		id = n
	}
	switch *format {
	case "csv", "json", "xlsx":
	case "":
		return usageErrorf("--format is required: csv, json or xlsx")
	default:
		return usageErrorf("--format %q: want csv, json or xlsx", *format)
	}
	if *out == "" {
		return usageErrorf("--out is required")
	}
	o, err := openLedger(ctx, e, *db)
	if err != nil {
		return err
	}
	cfg, l := o.cfg, o.ledger
	defer l.Close()
	rep, err := reconcile.NewStore(l).Report(ctx, id, cfg.Location)
	if errors.Is(err, reconcile.ErrNotFound) {
		return usageErrorf("%v", err)
	}
	if err != nil {
		return err
	}
	switch *format {
	case "csv":
		paths, err := rep.WriteCSV(*out)
		if err != nil {
			return err
		}
		for _, p := range paths {
			fmt.Fprintln(e.stdout, p)
		}
		return nil
	case "json":
		if *out == "-" {
			return rep.WriteJSON(e.stdout)
		}
		return writeFile(*out, l.Path(), rep.WriteJSON)
	default:
		if err := writeFile(*out, l.Path(), rep.WriteXLSX); err != nil {
			return err
		}
		fmt.Fprintln(e.stdout, *out)
		return nil
	}
}

// writeFile writes path through write, all or nothing and private
// (atomicfile.Write). It refuses to write over the database it read (or its
// -wal or -shm): an --out naming the wrong file must not destroy the
// ledger.
func writeFile(path, dbPath string, write func(io.Writer) error) error {
	if fi, err := os.Stat(path); err == nil {
		for _, p := range []string{dbPath, dbPath + "-wal", dbPath + "-shm"} {
			if dfi, err := os.Stat(p); err == nil && os.SameFile(fi, dfi) {
				return usageErrorf("--out %s is the database %s; name another file", path, p)
			}
		}
		if fi.IsDir() {
			return usageErrorf("--out %s is a directory; name a file", path)
		}
	}
	return atomicfile.Write(path, write)
}
