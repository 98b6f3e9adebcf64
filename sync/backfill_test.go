package syncer_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/ledgerd/ledgerd/fuse"
	"github.com/ledgerd/ledgerd/fuse/sandbox"
	"github.com/ledgerd/ledgerd/ledger"
	syncer "github.com/ledgerd/ledgerd/sync"
)

func TestBackfillHealsWhatDroppedWebhooksMissed(t *testing.T) {
	t.Parallel()
	// 500 transactions under -race, a tenth of their webhooks dropped,
	// leave differences on the accounts for the backfill to heal (the test
	// fails if there are none); 2000 healed more of the same kind and took
	// two minutes. make soak runs that size again.
	div := 40
	if longTests() {
		div = 10
	}
	n := scale(20_000, div)
	e := newEnv(t, envOptions{webhooks: true})
	e.sb.SetFaults(sandbox.Faults{Drop: 0.1})
	start := time.Now()
	gen := e.generate(10, n, true)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := e.sb.WaitIdle(ctx); err != nil {
		t.Fatal(err)
	}
	st := e.sb.Stats()
	t.Logf("%d transactions, %d events, %d webhooks dropped, delivered in %s",
		gen.Transactions, st.EventsEmitted, st.WebhooksDropped, time.Since(start).Round(time.Millisecond))
	if st.WebhooksDropped == 0 {
		t.Fatal("no webhook was dropped: the test proves nothing")
	}
	truth := e.sb.Truth()
	before := len(diffTruth(t, e.l, truth))
	if before == 0 {
		t.Fatal("the ledger already equals the truth from webhooks alone")
	}

	start = time.Now()
	sum := e.run(syncer.RunOptions{})
	t.Logf("backfill: %d accounts, %d pages, %d transactions (%d new events) in %s; %d differences healed",
		len(sum.Accounts), sum.Pages, sum.Transactions, sum.NewEvents, time.Since(start).Round(time.Millisecond), before)
	if len(sum.Accounts) != 10 || sum.Transactions != gen.Transactions {
		t.Errorf("backfill read %d accounts and %d transactions, want 10 and %d", len(sum.Accounts), sum.Transactions, gen.Transactions)
	}
	assertEqualsTruth(t, e.l, truth)

	// Every account has a recorded success, and the organisation's window
	// has moved on with no listing left in progress.
	for _, a := range truth.Accounts {
		cp, ok, err := e.l.Checkpoint(context.Background(), a.AccountID)
		if err != nil || !ok || cp.LastSuccessAt.IsZero() || cp.LastError != "" {
			t.Errorf("account %s: checkpoint %+v ok=%v err=%v", a.AccountID, cp, ok, err)
		}
	}
	if w := window(t, e, ledger.ScopeOrg); w.NextFrom.IsZero() || w.Listing != nil {
		t.Errorf("window after a complete run: %+v", w)
	}
	// A second run reads only the overlap window and learns nothing.
	sum = e.run(syncer.RunOptions{})
	if sum.NewEvents != 0 {
		t.Errorf("second run stored %d new events, want 0", sum.NewEvents)
	}
	assertEqualsTruth(t, e.l, truth)
}

func TestBackfillFromEmptyLedgerEqualsTruthWhateverThePageSize(t *testing.T) {
	t.Parallel()
	const accounts = 3
	n := scale(700, 2)
	sizes := []int{1, 7, fuse.MaxPageLimit}
	txs := make([]map[string]txRow, len(sizes))
	events := make([]int, len(sizes))
	// Each page size backfills a file of its own from a sandbox of its
	// own: the runs are independent, compared once all have ended.
	t.Run("sizes", func(t *testing.T) {
		for i, size := range sizes {
			t.Run(fmt.Sprintf("page size %d", size), func(t *testing.T) {
				t.Parallel()
				e := newEnv(t, envOptions{syncer: func(o *syncer.Options) { o.PageSize = size }})
				gen := e.generate(accounts, n, false)
				sum := e.run(syncer.RunOptions{})
				wantPages := (gen.Transactions + size - 1) / size
				if sum.Transactions != gen.Transactions || sum.NewEvents != gen.Transactions || sum.Pages != wantPages {
					t.Errorf("page size %d: %d transactions, %d new events, %d pages; want %d, %d, %d",
						size, sum.Transactions, sum.NewEvents, sum.Pages, gen.Transactions, gen.Transactions, wantPages)
				}
				assertEqualsTruth(t, e.l, e.sb.Truth())
				txs[i] = ledgerTransactions(t, e.l.Reader())
				events[i] = count(t, e.l.Reader(), "SELECT count(*) FROM events")
			})
		}
	})
	if t.Failed() {
		return
	}
	// The same seed gives the same history: the ledgers are equal too.
	ref, refEvents := txs[0], events[0]
	for i, size := range sizes[1:] {
		got := txs[i+1]
		if len(got) != len(ref) || events[i+1] != refEvents {
			t.Errorf("page size %d: %d transactions and %d events, page size 1 gave %d and %d", size, len(got), events[i+1], len(ref), refEvents)
		}
		for id, r := range ref {
			if got[id] != r {
				t.Errorf("page size %d: transaction %s is %+v, with page size 1 %+v", size, id, got[id], r)
			}
		}
	}
}

func TestLateStatusChangesAreSeenByTheNextRun(t *testing.T) {
	t.Parallel()
	frozen := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	e := newEnv(t, envOptions{sandbox: sandbox.Options{Now: func() time.Time { return frozen }}})
	e.generate(2, 50, false)
	truth := e.sb.Truth()
	from := truth.Accounts[0]
	// Payments in flight: created, not executed until the clock moves.
	var inFlight []fuse.Transaction
	for i := range 3 {
		inFlight = append(inFlight, e.payOut(from.AccountID, int64(1000+i)))
	}
	if _, err := e.sb.Fail(inFlight[2].ID, "beneficiary bank refused"); err != nil {
		t.Fatal(err)
	}
	e.run(syncer.RunOptions{})
	truth = e.sb.Truth()
	assertEqualsTruth(t, e.l, truth) // pending entries; available = current − in flight
	var acct sandbox.TruthAccount
	for _, a := range truth.Accounts {
		if a.AccountID == from.AccountID {
			acct = a
		}
	}
	if acct.Balance.Current == acct.Balance.Available {
		t.Fatal("nothing in flight: the test proves nothing")
	}

	e.sb.Advance(time.Minute) // submitted, then executed
	truth = e.sb.Truth()
	if diffs := diffTruth(t, e.l, truth); len(diffs) == 0 {
		t.Fatal("the ledger already shows the executions")
	}
	sum := e.run(syncer.RunOptions{})
	if sum.NewEvents != 2 {
		t.Errorf("second run stored %d new events, want 2 (the two executions)", sum.NewEvents)
	}
	assertEqualsTruth(t, e.l, truth)
}

func TestAccountWithoutAnyWebhookIsDiscoveredByTheListing(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	gen := e.generate(4, 40, false) // no webhook at all
	sum := e.run(syncer.RunOptions{})
	if len(sum.Accounts) != 4 {
		t.Fatalf("discovered %d accounts, want 4", len(sum.Accounts))
	}
	for _, id := range gen.AccountIDs {
		var name, fuseCur string
		if err := e.l.Reader().QueryRow(`SELECT name, fuse_current FROM fuse_accounts WHERE account_id = ?`, id).
			Scan(&name, &fuseCur); err != nil {
			t.Errorf("account %s: %v", id, err)
		}
	}
	assertEqualsTruth(t, e.l, e.sb.Truth())
}

func TestRunForOneAccountSinceATime(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	gen := e.generate(3, 90, false)
	one := gen.AccountIDs[1]
	sum := e.run(syncer.RunOptions{AccountIDs: []string{one}})
	if len(sum.Accounts) != 1 || sum.Accounts[0].AccountID != one {
		t.Fatalf("accounts %+v, want only %s", sum.Accounts, one)
	}
	got := count(t, e.l.Reader(), "SELECT count(*) FROM fuse_transactions WHERE account_id = ?", one)
	if got != sum.Transactions || got == 0 {
		t.Errorf("%d transactions of %s in the ledger, the run read %d", got, one, sum.Transactions)
	}
	if n := count(t, e.l.Reader(), "SELECT count(*) FROM fuse_accounts WHERE fuse_current IS NOT NULL"); n != 1 {
		t.Errorf("%d accounts with a Fuse balance, want 1", n)
	}

	// --since re-reads from that time, not from where the last listing
	// ended: everything is a duplicate.
	truth := e.sb.Truth()
	var mid time.Time
	var after int
	for _, x := range truth.Transactions {
		if x.AccountID == one {
			if mid.IsZero() {
				mid = x.CreatedAt.Add(time.Hour * 24 * 5)
			}
			if !x.CreatedAt.Before(mid) {
				after++
			}
		}
	}
	sum = e.run(syncer.RunOptions{AccountIDs: []string{one}, Since: mid})
	if sum.Transactions != after || sum.NewEvents != 0 {
		t.Errorf("since %s: read %d (want %d), %d new events (want 0)", mid, sum.Transactions, after, sum.NewEvents)
	}
	// A full run of everything completes the other accounts.
	e.run(syncer.RunOptions{Full: true})
	assertEqualsTruth(t, e.l, e.sb.Truth())

	// An account Fuse does not know fails alone.
	sum, err := e.s.Run(context.Background(), syncer.RunOptions{AccountIDs: []string{"00000000-0000-4000-8000-000000000000", one}})
	if err == nil || len(sum.Failed()) != 1 || sum.Accounts[1].Err != nil {
		t.Errorf("unknown account: err %v, summary %+v", err, sum)
	}
}

// A balance that comes back to a value read before is recorded again: an
// account read at B, then B+500.00, then B again (and B+500.00, B once
// more: a sweep account) shows what Fuse said last each time, while
// reading an unchanged balance adds no event.
func TestABalanceThatComesBackIsRecordedAgain(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	gen := e.generate(1, 5, false)
	id := gen.AccountIDs[0]
	current := func() int64 {
		t.Helper()
		var c int64
		if err := e.l.Reader().QueryRow(`SELECT fuse_current FROM fuse_accounts WHERE account_id = ?`, id).Scan(&c); err != nil {
			t.Fatal(err)
		}
		return c
	}
	events := func() int {
		t.Helper()
		return count(t, e.l.Reader(), `SELECT count(*) FROM events WHERE type = ?`, syncer.TypeAccount)
	}
	e.run(syncer.RunOptions{})
	base := current()
	for i, delta := range []int64{50_000, -50_000, 50_000, -50_000} {
		if _, err := e.sb.Adjust(sandbox.Adjustment{AccountID: id, Amount: delta}); err != nil {
			t.Fatal(err)
		}
		e.run(syncer.RunOptions{})
		want := base
		if delta > 0 {
			want += delta
		}
		if got := current(); got != want {
			t.Fatalf("read %d: fuse_current = %d, want %d (Fuse's balance)", i+2, got, want)
		}
	}
	before := events()
	e.run(syncer.RunOptions{})
	if after := events(); after != before {
		t.Errorf("reading an unchanged balance added %d account events", after-before)
	}
}
