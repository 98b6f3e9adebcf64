package syncer_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/time/rate"

	"github.com/ledgerd/ledgerd/fuse"
	"github.com/ledgerd/ledgerd/fuse/sandbox"
	"github.com/ledgerd/ledgerd/ledger"
	"github.com/ledgerd/ledgerd/ledger/ledgertest"
	syncer "github.com/ledgerd/ledgerd/sync"
)

const killPageSize = 7

// The kill child: when LEDGERD_SYNC_KILL_URL (the sandbox root) is set, TestKillChild
// backfills the file LEDGERD_SYNC_KILL_DB from the sandbox at that URL
// (served by the parent test), printing "page N" after each committed
// page, until the parent kills it.
func TestKillChild(t *testing.T) {
	url := os.Getenv("LEDGERD_SYNC_KILL_URL")
	if url == "" {
		t.Skip("kill child: run by TestKilledBackfillRunAgainEqualsAnUninterruptedRun")
	}
	l, err := ledger.Open(context.Background(), os.Getenv("LEDGERD_SYNC_KILL_DB"), ledger.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, "open:", err)
		os.Exit(3)
	}
	c, err := fuse.New(fuse.Config{BaseURL: url + "/v1", AuthURL: url + sandbox.TokenPath, ClientID: testClientID, ClientSecret: testClientSecret, RateLimit: rate.Inf})
	if err != nil {
		fmt.Fprintln(os.Stderr, "client:", err)
		os.Exit(3)
	}
	s, err := syncer.New(syncer.Options{Ledger: l, Client: c, PageSize: killPageSize})
	if err != nil {
		fmt.Fprintln(os.Stderr, "syncer:", err)
		os.Exit(3)
	}
	_, err = s.Run(context.Background(), syncer.RunOptions{Progress: func(p syncer.Progress) {
		fmt.Printf("page %d\n", p.Pages)
	}})
	if err != nil {
		fmt.Fprintln(os.Stderr, "backfill:", err)
		os.Exit(4)
	}
	fmt.Println("done")
}

// TestKilledBackfillRunAgainEqualsAnUninterruptedRun: a backfill killed
// (SIGKILL) three times part way through the organisation's listing, each
// time resumed from the cursor its last committed page saved, then run to
// the end, leaves the same ledger, event for event, as one run that was
// never interrupted.
func TestKilledBackfillRunAgainEqualsAnUninterruptedRun(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("spawns processes")
	}
	frozen := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	e := newEnv(t, envOptions{
		sandbox: sandbox.Options{Now: func() time.Time { return frozen }},
		syncer:  func(o *syncer.Options) { o.PageSize = killPageSize },
	})
	e.generate(5, scale(1200, 2), false)
	e.run(syncer.RunOptions{}) // the uninterrupted run, into e.l

	// The killed runs and the last one see the listing in another order:
	// resuming from the saved cursor does not depend on it.
	e.sb.SetFaults(sandbox.Faults{ListOrder: "shuffle"})
	path := filepath.Join(t.TempDir(), "killed.db")
	ledgertest.NewFile(t, path)
	for round, after := range []int{2, 15, 40} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestKillChild$", "-test.v=false")
		cmd.Env = append(os.Environ(), "LEDGERD_SYNC_KILL_URL="+e.srv.URL, "LEDGERD_SYNC_KILL_DB="+path)
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		var stderr strings.Builder
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(stdout)
		pages := 0
		for sc.Scan() {
			if v, ok := strings.CutPrefix(sc.Text(), "page "); ok {
				pages, _ = strconv.Atoi(v)
				if pages >= after {
					_ = cmd.Process.Kill()
					break
				}
			}
		}
		_, _ = io.Copy(io.Discard, stdout) // let the child end
		err = cmd.Wait()
		ws, _ := cmd.ProcessState.Sys().(syscall.WaitStatus)
		if err == nil || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
			t.Fatalf("round %d: child ended with %v, not SIGKILL; stderr:\n%s", round, err, stderr.String())
		}
		t.Logf("round %d: killed after %d committed pages", round, pages)
	}

	// Run again to the end, in this process.
	l, err := ledger.Open(context.Background(), path, ledger.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	s, err := syncer.New(syncer.Options{Ledger: l, Client: e.c, PageSize: killPageSize})
	if err != nil {
		t.Fatal(err)
	}
	sum, err := s.Run(context.Background(), syncer.RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("final run: %d pages, %d transactions, %d new events", sum.Pages, sum.Transactions, sum.NewEvents)

	assertEqualsTruth(t, l, e.sb.Truth())
	want, got := ledgerTransactions(t, e.l.Reader()), ledgerTransactions(t, l.Reader())
	if len(got) != len(want) {
		t.Fatalf("%d transactions after the kills, %d after an uninterrupted run", len(got), len(want))
	}
	for id, w := range want {
		if got[id] != w {
			t.Errorf("transaction %s: %+v after the kills, %+v uninterrupted", id, got[id], w)
		}
	}
	if a, b := eventIDs(t, l), eventIDs(t, e.l); !slices.Equal(a, b) {
		t.Errorf("%d events after the kills, %d uninterrupted: not the same set", len(a), len(b))
	}
	bal := func(l *ledger.Ledger) string {
		bs, err := l.Balances(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		for _, x := range bs {
			fmt.Fprintf(&b, "%s %s %d %d %d\n", x.LedgerAccount, x.Currency, x.Posted, x.Pending, x.Available)
		}
		return b.String()
	}
	if a, b := bal(l), bal(e.l); a != b {
		t.Errorf("balances differ:\nafter the kills %s\nuninterrupted   %s", a, b)
	}
}
