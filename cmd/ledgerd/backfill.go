package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/ledgerd/ledgerd/fuse"
	"github.com/ledgerd/ledgerd/internal/daemon"
	"github.com/ledgerd/ledgerd/internal/term"
	syncer "github.com/ledgerd/ledgerd/sync"
)

func cmdBackfill(ctx context.Context, e env, args []string) error {
	fs := newFlags(e, "backfill", "[--account ID]... [--since TIME | --full] [--page-size N] [--db PATH]",
		`Reads Fuse once and heals whatever webhooks missed: lists every account
(so an account whose account_opened webhook was lost still appears, with
the balance Fuse reports), then the organisation's transactions (with
--account, each account's own) created since the last complete listing
ended, less a 10-minute overlap, and reads again every transaction the
ledger does not hold final yet, by an earlier start or one by one,
whichever costs fewer requests. Each page commits with the listing's
cursor, so an interrupted run resumes where it stopped with no gap and no
duplicate. Objects already in the ledger are recognised and change
nothing; transactions of a type or state Fuse does not document are kept
unbooked and counted in the summary.

Needs FUSE_BASE_URL, FUSE_AUTH_URL, FUSE_CLIENT_ID and FUSE_CLIENT_SECRET
(or their _FILE variants). Shows a progress bar on a terminal and prints
one summary line otherwise. Exit 0 when every account was read, 1 when any
failed (the others are still committed), 2 on a usage or configuration
error, credentials Fuse's token endpoint refuses included.
"ledgerd serve" runs the same backfill on LEDGERD_BACKFILL_SCHEDULE.`)
	var accounts []string
	fs.Func("account", "backfill only this Fuse account id (repeatable); default every account", func(s string) error {
		if strings.TrimSpace(s) == "" {
			return errors.New("empty account id")
		}
		accounts = append(accounts, strings.TrimSpace(s))
		return nil
	})
	since := fs.String("since", "", "list transactions created since this time (RFC 3339) instead of since the last listing ended")
	full := fs.Bool("full", false, "list every transaction from the start, ignoring where the last listing ended")
	pageSize := fs.Int("page-size", syncer.DefaultPageSize, fmt.Sprintf("transactions per page, 1..%d", fuse.MaxPageLimit))
	db := fs.String("db", "", "database file (default $LEDGERD_DB)")
	if err := parseNone(fs, args); err != nil {
		return err
	}
	var from time.Time
	if *since != "" {
		if *full {
			return usageErrorf("--since and --full are exclusive")
		}
		var err error
		if from, err = time.Parse(time.RFC3339Nano, *since); err != nil {
			return usageErrorf("--since %q: want an RFC 3339 time such as 2026-11-01T00:00:00Z", *since)
		}
	}
	if *pageSize < 1 || *pageSize > fuse.MaxPageLimit {
		return usageErrorf("--page-size %d: want 1..%d", *pageSize, fuse.MaxPageLimit)
	}

	var bar *term.ProgressBar
	if term.IsTerminal(e.stdout) {
		// Log lines go above the bar: each one clears the bar's line
		// first, and the bar is drawn again below it.
		bar = term.NewProgressBar(e.stdout)
		e.stderr = bar.LogWriter(e.stderr)
	}
	o, err := openLedger(ctx, e, *db)
	if err != nil {
		return err
	}
	defer o.ledger.Close()
	cfg, log, l := o.cfg, o.log, o.ledger
	cm, err := syncer.NewClientMetrics(nil, log)
	if err != nil {
		return err
	}
	client, err := daemon.FuseClient(cfg, log, cm, "backfill")
	if err != nil {
		return err
	}
	if err := checkCredentials(ctx, client); err != nil {
		return err
	}
	s, err := syncer.New(syncer.Options{Ledger: l, Client: client, Logger: log, ClientMetrics: cm, PageSize: *pageSize})
	if err != nil {
		return err
	}

	opts := syncer.RunOptions{AccountIDs: accounts, Since: from, Full: *full}
	if bar != nil {
		opts.Progress = bar.Update
	}
	sum, runErr := s.Run(ctx, opts)
	if bar != nil {
		bar.Done()
	}
	fmt.Fprintln(e.stdout, summaryLine(sum))
	if sum.DiscoveryErr != nil {
		fmt.Fprintf(e.stderr, "ledgerd backfill: %v\n", sum.DiscoveryErr)
	}
	for _, g := range sum.FailureGroups() {
		fmt.Fprintf(e.stderr, "ledgerd backfill: %s: %v\n", g.Accounts(), g.Err)
	}
	switch {
	case runErr == nil:
		return nil
	case errors.Is(runErr, syncer.ErrAccountsFailed):
		return errProblem // each failure is printed above
	}
	return runErr
}

// summaryLine says what a run did, in one line.
func summaryLine(s syncer.Summary) string {
	line := fmt.Sprintf("backfill: %s (%d failed), %s pages, %s transactions (%s new) in %s, %s/s",
		term.Plural(len(s.Accounts), "account"), len(s.Failed()), term.Thousands(s.Pages), term.Thousands(s.Transactions),
		term.Thousands(s.NewEvents), s.Finished.Sub(s.Started).Round(time.Millisecond), term.Thousands(int(s.Rate())))
	if s.Reread > 0 || s.NotFound > 0 {
		line += fmt.Sprintf("; %s read one by one (not final)", term.Thousands(s.Reread))
		if s.NotFound > 0 {
			line += fmt.Sprintf(", %s unknown to Fuse", term.Thousands(s.NotFound))
		}
	}
	if s.Unknown > 0 {
		line += fmt.Sprintf("; %s of unknown type or state, kept unbooked", term.Thousands(s.Unknown))
	}
	if len(s.Retries) > 0 {
		var rs []string
		for _, r := range []string{fuse.ReasonServerError, fuse.ReasonRateLimited, fuse.ReasonTimeout,
			fuse.ReasonNetwork, fuse.ReasonUnauthorized, fuse.ReasonInProgress, fuse.ReasonBadBody} {
			if n := s.Retries[r]; n > 0 {
				rs = append(rs, fmt.Sprintf("%s %d", r, n))
			}
		}
		line += "; retried: " + strings.Join(rs, ", ")
	}
	return line
}
