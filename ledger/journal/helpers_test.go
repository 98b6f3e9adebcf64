package journal_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/ledgerd/ledgerd"
	"github.com/ledgerd/ledgerd/fuse"
	"github.com/ledgerd/ledgerd/fuse/sandbox"
	"github.com/ledgerd/ledgerd/ledger"
	"golang.org/x/time/rate"
)

// world is a Fuse sandbox on loopback, its clock frozen at the end of a
// month, a client for it, and a ledger file that books what it does.
type world struct {
	t      *testing.T
	sb     *sandbox.Sandbox
	client *fuse.Client
	l      *ledger.Ledger
}

func newWorld(t *testing.T, seed int64) *world {
	t.Helper()
	end := time.Date(2026, 3, 31, 18, 0, 0, 0, time.UTC)
	w := &world{t: t, sb: sandbox.New(sandbox.Options{Seed: seed, Now: func() time.Time { return end }})}
	t.Cleanup(w.sb.Close)
	srv := httptest.NewServer(w.sb)
	t.Cleanup(srv.Close)
	var err error
	w.client, err = fuse.New(fuse.Config{BaseURL: srv.URL + "/v1", AuthURL: srv.URL + sandbox.TokenPath,
		ClientID: "sandbox", ClientSecret: "sandbox", RateLimit: rate.Inf, MaxRetries: -1})
	if err != nil {
		t.Fatal(err)
	}
	if w.l, err = ledger.Open(context.Background(), filepath.Join(t.TempDir(), "ledgerd.db"), ledger.Options{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := w.l.Close(); err != nil {
			t.Errorf("close ledger: %v", err)
		}
	})
	return w
}

// month fills the sandbox with a month of traffic (5% failures) and books
// every transaction, each carried by its own backfill event.
func (w *world) month(accounts, transactions int) sandbox.Truth {
	w.t.Helper()
	if _, err := w.sb.Generate(sandbox.GenerateOptions{Accounts: accounts, Transactions: transactions,
		Span: 30 * 24 * time.Hour, FailureRate: 0.05}); err != nil {
		w.t.Fatal(err)
	}
	truth := w.sb.Truth()
	var legs []sandbox.Leg
	for _, x := range truth.Transactions {
		legs = append(legs, x.Leg)
	}
	w.ingest(legs...)
	return truth
}

// pay sends a payment from accountID and books it while it is in flight.
func (w *world) pay(accountID string, amount int64) {
	w.t.Helper()
	tx, err := w.client.CreatePayment(context.Background(), accountID, fuse.CreatePaymentRequest{
		Amount: amount, Purpose: fuse.PurposeGoodsBought, ExternalReference: "INV",
		Beneficiary: fuse.Beneficiary{Type: fuse.BeneficiaryBusiness, AccountHolderName: "Desert Logistics FZE",
			AccountIdentifier: fuse.Identifier{IBAN: "AE070331234567890123456"},
			Address:           fuse.Address{CountryCode: "AE", Line1: "Al Quoz 3", Line2: "Dubai"},
			Bank:              &fuse.BeneficiaryBank{Code: "EBILAEAD"}},
	})
	if err != nil {
		w.t.Fatal(err)
	}
	leg, ok := w.sb.Transaction(tx.ID)
	if !ok {
		w.t.Fatalf("no transaction %s", tx.ID)
	}
	w.ingest(leg)
}

// ingest books legs as the backfill would: the object as Fuse lists it,
// converted by fuse.Transaction.Observation.
func (w *world) ingest(legs ...sandbox.Leg) {
	w.t.Helper()
	var all []ledgerd.Observation
	for i, leg := range legs {
		o, err := leg.Wire().Observation()
		if err != nil {
			w.t.Fatal(err)
		}
		raw, _ := json.Marshal(o)
		all = append(all, ledgerd.Observation{
			Event: ledgerd.Event{ID: fmt.Sprintf("test-%s-%06d", o.TransactionID, i), Type: "backfill.transaction",
				Source: ledgerd.SourceBackfill, FuseTime: o.At, ReceivedAt: w.sb.Now(), Raw: raw},
			Transaction: &o,
		})
	}
	if _, err := w.l.IngestAll(context.Background(), all, nil); err != nil {
		w.t.Fatal(err)
	}
}
