package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/ledgerd/ledgerd/internal/demo"
)

// demoMarker marks a directory the demo created, so that it never replaces
// a ledgerd.db it did not write.
const demoMarker = ".ledgerd-demo"

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
	if v, ok := e.lookup.Lookup("LEDGERD_ADMIN_LISTEN"); !ok || v == "" {
		cfg.AdminListen = "127.0.0.1:0"
	}
	return demo.Run(ctx, demo.Options{Out: e.stdout, Config: cfg, Dir: *dir, Seed: *seed, Duration: *duration,
		Start: start, Daemon: daemonOptions(), Serve: serve})
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
