package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/ledgerd/ledgerd/config"
	"github.com/ledgerd/ledgerd/ledger"
	"github.com/ledgerd/ledgerd/replica"
)

func cmdRestore(ctx context.Context, e env, args []string) error {
	fs := newFlags(e, "restore", "--to PATH [--from URL] [--as-of TIME]",
		`Restores the ledger file from the replica serve writes to (Litestream, see
LEDGERD_REPLICA_URL) into a new file at PATH, then runs the checks of
ledgerd verify on it. PATH must not exist: restore never overwrites a file
(stop serve, move the old file and its -wal and -shm away, and restore to
its path). --from defaults to $LEDGERD_REPLICA_URL, with its credentials from
LEDGERD_REPLICA_ACCESS_KEY_ID and LEDGERD_REPLICA_SECRET_ACCESS_KEY (or their
_FILE). --as-of restores the file as it was at that time instead of its
latest state, as far back as the replica keeps (at least the last 24
hours, in steps of 30 seconds beyond the last few minutes). The file holds what reached the replica before the
machine stopped; what happened at Fuse since is brought back by the next
backfill, which serve runs when it starts. Exit 0 when the file is
restored and every check passes, 1 when a check fails (the file stays at
PATH for inspection) or the replica holds no backup, 2 on a usage error.`)
	from := fs.String("from", "", "replica URL: a directory, file:///path or s3://bucket/path?endpoint=…&region=… (default $LEDGERD_REPLICA_URL)")
	to := fs.String("to", "", "the new database file to write")
	asOf := fs.String("as-of", "", "restore the file as it was at this time (RFC 3339), not its latest state")
	if err := parseNone(fs, args); err != nil {
		return err
	}
	if *to == "" {
		return usageErrorf("--to PATH is required: the new file to restore into")
	}
	if _, err := os.Lstat(*to); err == nil {
		return usageErrorf("--to %s exists: restore never overwrites a file; move it away or choose a new path", *to)
	}
	var at time.Time
	if *asOf != "" {
		var err error
		if at, err = time.Parse(time.RFC3339Nano, *asOf); err != nil {
			return usageErrorf("--as-of %q: want an RFC 3339 time such as 2026-11-01T09:30:00Z", *asOf)
		}
	}
	cfg, log, err := loadConfig(ctx, e)
	if err != nil {
		return err
	}
	target := replica.TargetOf(cfg)
	if *from != "" {
		if err := config.CheckReplicaURL(*from); err != nil {
			return usageErrorf("--from: %v", err)
		}
		target.URL = *from
	}
	if target.URL == "" {
		return usageErrorf("no replica: give --from URL or set LEDGERD_REPLICA_URL")
	}

	start := time.Now()
	res, err := replica.Restore(ctx, target, *to, at, log)
	if errors.Is(err, replica.ErrNoBackup) {
		return fmt.Errorf("%w (at or before %s)", err, orLatest(*asOf))
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "restored %s from %s in %s: Litestream transaction %d, written to the replica at %s (%d files)\n",
		*to, target, time.Since(start).Round(time.Millisecond), res.TXID, res.ReplicatedAt.UTC().Format(time.RFC3339), res.Files)

	l, err := ledger.Open(ctx, *to, ledger.Options{Logger: log, ReadOnly: true})
	if err != nil {
		return fmt.Errorf("check the restored file: %w", err)
	}
	defer l.Close()
	start = time.Now()
	if err := printVerify(ctx, e, l, false); err != nil {
		fmt.Fprintf(e.stderr, "ledgerd restore: %s was restored but fails the checks above: do not start serve on it before you know why\n", *to)
		return err
	}
	fmt.Fprintf(e.stdout, "checked in %s\n", time.Since(start).Round(time.Millisecond))
	last := "(no event at all)"
	if sources, err := l.EventsBySource(ctx); err == nil {
		var newest time.Time
		for _, s := range sources {
			if s.Last.After(newest) {
				newest = s.Last
			}
		}
		if !newest.IsZero() {
			last = newest.In(cfg.Location).Format("2006-01-02 15:04:05 MST")
		}
	}
	fmt.Fprintf(e.stdout, `
The newest event in this file was received at %s.
Whatever happened at Fuse after the replica's last write is not in it,
and webhooks Fuse delivered since will not come again. The next backfill
brings it back: serve runs one when it starts on this file, or run
ledgerd backfill --db %s now. A reconciliation afterwards shows
whether anything is still missing.
`, last, *to)
	return nil
}

// orLatest names the time a restore asked for.
func orLatest(asOf string) string {
	if asOf == "" {
		return "now"
	}
	return asOf
}
