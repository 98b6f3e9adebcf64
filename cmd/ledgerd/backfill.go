package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	gosync "sync"
	"time"

	"github.com/mattn/go-isatty"

	"github.com/ledgerd/ledgerd/fuse"
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

	var bar *progressBar
	if isTerminal(e.stdout) {
		// Log lines go above the bar: each one clears the bar's line
		// first, and the bar is drawn again below it.
		bar = &progressBar{w: e.stdout}
		e.stderr = bar.logWriter(e.stderr)
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
	client, err := fuseClient(cfg, log, cm, "backfill")
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
		opts.Progress = bar.update
	}
	sum, runErr := s.Run(ctx, opts)
	if bar != nil {
		bar.done()
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
		plural(len(s.Accounts), "account"), len(s.Failed()), thousands(s.Pages), thousands(s.Transactions), thousands(s.NewEvents),
		s.Finished.Sub(s.Started).Round(time.Millisecond), thousands(int(s.Rate())))
	if s.Reread > 0 || s.NotFound > 0 {
		line += fmt.Sprintf("; %s read one by one (not final)", thousands(s.Reread))
		if s.NotFound > 0 {
			line += fmt.Sprintf(", %s unknown to Fuse", thousands(s.NotFound))
		}
	}
	if s.Unknown > 0 {
		line += fmt.Sprintf("; %s of unknown type or state, kept unbooked", thousands(s.Unknown))
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

// thousands renders n with thin separators: 20,000.
func thousands(n int) string {
	s := strconv.Itoa(n)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && (isatty.IsTerminal(f.Fd()) || isatty.IsCygwinTerminal(f.Fd()))
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

// progressBar redraws one terminal line: accounts done, transactions
// ingested, rate. Redraws are limited to ten a second; log lines written
// through logWriter appear above it.
type progressBar struct {
	w     io.Writer
	mu    gosync.Mutex
	last  time.Time
	state syncer.Progress
	drawn bool
}

const barWidth = 24

func (b *progressBar) update(p syncer.Progress) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.state = p
	if now := time.Now(); now.Sub(b.last) >= 100*time.Millisecond || p.AccountsDone == p.AccountsTotal {
		b.last = now
		b.draw()
	}
}

// logWriter returns w wrapped so that each write first clears the bar's
// line and then draws the bar again.
func (b *progressBar) logWriter(w io.Writer) io.Writer {
	return writerFunc(func(p []byte) (int, error) {
		b.mu.Lock()
		defer b.mu.Unlock()
		if b.drawn {
			fmt.Fprint(b.w, "\r\033[K")
		}
		n, err := w.Write(p)
		if b.drawn {
			b.draw()
		}
		return n, err
	})
}

type writerFunc func(p []byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// draw writes the bar; b.mu is held.
func (b *progressBar) draw() {
	p := b.state
	filled := 0
	if p.AccountsTotal > 0 {
		filled = barWidth * p.AccountsDone / p.AccountsTotal
	}
	rate := 0
	if s := p.Elapsed.Seconds(); s > 0 {
		rate = int(float64(p.Transactions) / s)
	}
	failed := ""
	if p.AccountsFailed > 0 {
		failed = fmt.Sprintf(" (%d failed)", p.AccountsFailed)
	}
	fmt.Fprintf(b.w, "\r\033[K[%s%s] %d/%d accounts%s  %s transactions  %s/s",
		strings.Repeat("#", filled), strings.Repeat("-", barWidth-filled),
		p.AccountsDone, p.AccountsTotal, failed, thousands(p.Transactions), thousands(rate))
	b.drawn = true
}

// done draws the final state and ends the line.
func (b *progressBar) done() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.drawn {
		b.draw()
		fmt.Fprintln(b.w)
	}
}
