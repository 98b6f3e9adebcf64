package main

import (
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/time/rate"

	"github.com/ledgerd/ledgerd"
	"github.com/ledgerd/ledgerd/fuse"
	"github.com/ledgerd/ledgerd/fuse/sandbox"
	"github.com/ledgerd/ledgerd/internal/holdtx"
	"github.com/ledgerd/ledgerd/ledger"
	syncer "github.com/ledgerd/ledgerd/sync"
)

// Backfill API requests (issue 16): Fuse has no update stamp, so a
// backfill reads windows of creation time and re-reads what the ledger
// does not hold final. What matters against Fuse is requests: how many a
// first backfill of N transactions costs, and how many the next one costs
// after the most recent 1 % (payments in flight at the first) changed
// state and a payment created a month ago changed today. Both at the
// default page size, with the sandbox counting every API request.

// requestFigures are the request counts of the two runs.
type requestFigures struct {
	transactions, accounts, inFlight int
	first, next                      int // API requests of each run
	firstDur, nextDur                time.Duration
	nextRead, nextNew, nextReread    int
}

// Goals of issue 16.
const (
	requestsFirstFactor = 1.1  // × (ceil(N / page size) + accounts)
	requestsNextShare   = 0.10 // × the first run's
)

// firstBudget is ceil(N / page size) + accounts: one request per page and
// one per account, the anchor of the first run's goal.
func (f requestFigures) firstBudget() int {
	return (f.transactions+syncer.DefaultPageSize-1)/syncer.DefaultPageSize + f.accounts
}

func benchBackfillRequests(ctx context.Context) (requestFigures, error) {
	f := requestFigures{transactions: backfillTransactions, accounts: backfillAccounts, inFlight: backfillTransactions / 100}
	dir, err := os.MkdirTemp("", "ledgerd-bench-requests-")
	if err != nil {
		return f, err
	}
	defer os.RemoveAll(dir)

	sb, _, err := generatedSandbox(f.transactions-f.inFlight, 40*24*time.Hour)
	if err != nil {
		return f, err
	}
	defer sb.Close()
	hold := holdtx.New(sb)
	srv := httptest.NewServer(hold)
	defer srv.Close()
	client, err := fuse.New(fuse.Config{BaseURL: srv.URL + "/v1", AuthURL: srv.URL + sandbox.TokenPath,
		ClientID: "sandbox", ClientSecret: "sandbox", RateLimit: rate.Inf})
	if err != nil {
		return f, err
	}
	truth := sb.Truth()
	// The most recent 1 %: payments in flight at the first run.
	for i := range f.inFlight {
		a := truth.Accounts[i%len(truth.Accounts)]
		if _, err := client.CreatePayment(ctx, a.AccountID, fuse.CreatePaymentRequest{
			Amount: 100 + int64(i), Purpose: fuse.PurposeGoodsBought, ExternalReference: "catering",
			Beneficiary: fuse.Beneficiary{Type: fuse.BeneficiaryBusiness, AccountHolderName: "Noor Catering LLC",
				AccountIdentifier: fuse.Identifier{IBAN: "AE070331234567890123456"},
				Address:           fuse.Address{CountryCode: "AE", Line1: "Al Quoz 3", Line2: "Dubai"},
				Bank:              &fuse.BeneficiaryBank{Code: "EBILAEAD"}},
		}); err != nil {
			return f, fmt.Errorf("payment in flight: %w", err)
		}
	}
	// A payment created over a month ago, shown in flight by the first
	// run and executed today (the sandbox moves a payment on within
	// seconds, so internal/holdtx shows it held back until then).
	// And another, executed a month ago, that the beneficiary's bank
	// returns today: a local_return_payment created today.
	held, returned := "", ""
	for _, x := range truth.Transactions {
		if x.Kind == ledgerd.KindLocalPaymentOut && x.Status == ledgerd.StatusExecuted && backfillClock.Sub(x.CreatedAt) > 30*24*time.Hour {
			if held == "" {
				held = x.TransactionID
			} else {
				returned = x.TransactionID
				break
			}
		}
	}
	if returned == "" {
		return f, fmt.Errorf("no two payments over a month old in the history")
	}
	hold.Hold(held)

	l, err := ledger.Open(ctx, filepath.Join(dir, "requests.db"), ledger.Options{})
	if err != nil {
		return f, err
	}
	defer l.Close()
	s, err := syncer.New(syncer.Options{Ledger: l, Client: client})
	if err != nil {
		return f, err
	}
	requests := func() int {
		n := 0
		for _, v := range sb.Stats().APIRequests {
			n += v
		}
		return n
	}
	before := requests()
	sum, err := s.Run(ctx, syncer.RunOptions{})
	if err != nil {
		return f, fmt.Errorf("first backfill: %w", err)
	}
	f.first, f.firstDur = requests()-before, sum.Finished.Sub(sum.Started)
	if sum.Transactions != f.transactions {
		return f, fmt.Errorf("first backfill read %d transactions, the sandbox has %d", sum.Transactions, f.transactions)
	}

	sb.Advance(time.Minute) // the payments in flight execute
	hold.Release()          // and the month-old one executes today
	if _, err := sb.ReturnPayment(returned, ""); err != nil {
		return f, fmt.Errorf("return a month-old payment: %w", err)
	}
	before = requests()
	sum, err = s.Run(ctx, syncer.RunOptions{})
	if err != nil {
		return f, fmt.Errorf("next backfill: %w", err)
	}
	f.next, f.nextDur = requests()-before, sum.Finished.Sub(sum.Started)
	f.nextRead, f.nextNew, f.nextReread = sum.Transactions, sum.NewEvents, sum.Reread
	if f.nextNew != f.inFlight+2 {
		return f, fmt.Errorf("next backfill learned %d changes, want the %d payments executed since the first and the return",
			f.nextNew, f.inFlight+1)
	}
	return f, nil
}

// section renders the request counts, and records them for the summary.
func (f requestFigures) section(o options) string {
	o.record(figBackfillReqFirst, float64(f.first))
	o.record(figBackfillReqAnchor, float64(f.firstBudget()))
	o.record(figBackfillReqNext, float64(f.next))
	var b strings.Builder
	fmt.Fprintf(&b, "\n### API requests (issue 16)\n\n")
	fmt.Fprintf(&b, "Fuse has no update stamp: the backfill lists the organisation's transactions (`GET /v1/transactions`) "+
		"in a window of creation time from where the last listing ended, and reads again whatever the ledger does not "+
		"hold final, by starting the window earlier or one by one (`GET /v1/transactions/{id}`), whichever costs fewer "+
		"requests. %d transactions over %d accounts (the sandbox, seed 1, a history of 40 days whose most recent 1 %%, "+
		"%d payments, are still in flight), default page size %d, every API request counted by the sandbox (the token "+
		"apart). The first run starts from an empty ledger; the next one follows after the payments in flight executed "+
		"and one payment created over a month before, which the first run saw in flight, executed today, and another, "+
		"executed a month ago, was returned today (a local_return_payment created today). (The sandbox moves a payment "+
		"on within seconds of its creation, so the first is shown held back until then by `internal/holdtx`.)\n\n",
		f.transactions, f.accounts, f.inFlight, syncer.DefaultPageSize)
	fmt.Fprintf(&b, "| run | transactions read | of which one by one | API requests | seconds | goal | |\n")
	fmt.Fprintf(&b, "|---|---:|---:|---:|---:|---|:---:|\n")
	firstGoal := requestsFirstFactor * float64(f.firstBudget())
	nextGoal := requestsNextShare * float64(f.first)
	fmt.Fprintf(&b, "| first backfill | %d | 0 | %d | %.2f | ≤ %.1f × (ceil(%d / %d) + %d) = %.1f | %s |\n",
		f.transactions, f.first, f.firstDur.Seconds(), requestsFirstFactor, f.transactions, syncer.DefaultPageSize,
		f.accounts, firstGoal, yesNo(float64(f.first) <= firstGoal))
	fmt.Fprintf(&b, "| next backfill (1 %% changed, a month-old payment executed, another returned) | %d | %d | %d | %.2f | ≤ %.0f %% of the first = %.1f | %s |\n",
		f.nextRead, f.nextReread, f.next, f.nextDur.Seconds(), 100*requestsNextShare, nextGoal, yesNo(float64(f.next) <= nextGoal))
	fmt.Fprintf(&b, "\nThe first run is one account page and one listing page per %d transactions. The next one is one "+
		"account page, the pages of the window (the payments in flight were created inside it), and one request for the "+
		"month-old payment: a window reaching back a month would have cost a page per %d transactions created since. "+
		"The return was created today, inside the window: it costs no request of its own.\n",
		syncer.DefaultPageSize, syncer.DefaultPageSize)
	return b.String()
}
