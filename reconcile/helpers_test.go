package reconcile_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/ledgerd/ledgerd"
	"github.com/ledgerd/ledgerd/fuse"
	"github.com/ledgerd/ledgerd/fuse/sandbox"
	"github.com/ledgerd/ledgerd/ledger"
	"github.com/ledgerd/ledgerd/ledger/ledgertest"
	"github.com/ledgerd/ledgerd/reconcile"
	"golang.org/x/time/rate"
)

// t0 is the frozen sandbox clock of every world: the end of a month.
var t0 = time.Date(2026, 3, 31, 18, 0, 0, 0, time.UTC)

// world is a Fuse sandbox on loopback, a client for it, and a ledger file.
// The sandbox clock is frozen at t0 and moves only by Advance; the
// reconciler's clock is the sandbox's plus ahead, so that a test can run
// the reconciliation later than the bank's last move (a bank that is
// stuck) without anything at the bank advancing.
type world struct {
	t      *testing.T
	sb     *sandbox.Sandbox
	srv    *httptest.Server
	client *fuse.Client
	l      *ledger.Ledger
	ahead  time.Duration
	n      int
}

func newWorld(t *testing.T, seed int64) *world {
	t.Helper()
	return newWorldWith(t, sandbox.Options{Seed: seed})
}

// newWorldWith is newWorld with the sandbox's options (its clock frozen at
// t0 unless opts.Now says otherwise).
func newWorldWith(t *testing.T, opts sandbox.Options) *world {
	t.Helper()
	w := &world{t: t}
	if opts.Now == nil {
		opts.Now = func() time.Time { return t0 }
	}
	w.sb = sandbox.New(opts)
	t.Cleanup(w.sb.Close)
	w.srv, w.client = serveFuse(t, w.sb)
	var err error
	path := filepath.Join(t.TempDir(), "ledgerd.db")
	ledgertest.NewFile(t, path)
	w.l, err = ledger.Open(context.Background(), path, ledger.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := w.l.Close(); err != nil {
			t.Errorf("close ledger: %v", err)
		}
	})
	return w
}

// serveFuse serves h on loopback and returns a client of it that does not
// retry.
func serveFuse(t *testing.T, h http.Handler) (*httptest.Server, *fuse.Client) {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	client, err := fuse.New(fuse.Config{BaseURL: srv.URL + "/v1", AuthURL: srv.URL + sandbox.TokenPath, ClientID: "sandbox", ClientSecret: "sandbox",
		RateLimit: rate.Inf, MaxRetries: -1})
	if err != nil {
		t.Fatal(err)
	}
	return srv, client
}

func (w *world) now() time.Time { return w.sb.Now().Add(w.ahead) }

// reconciler returns a reconciler on the world's clock; mod adjusts its
// options.
func (w *world) reconciler(mod func(*reconcile.Options)) *reconcile.Reconciler {
	w.t.Helper()
	o := reconcile.Options{Ledger: w.l, Fuse: w.client, Now: w.now, Workers: 3, ScratchDir: w.t.TempDir()}
	if mod != nil {
		mod(&o)
	}
	r, err := reconcile.New(o)
	if err != nil {
		w.t.Fatal(err)
	}
	return r
}

func (w *world) run(r *reconcile.Reconciler) reconcile.Run {
	w.t.Helper()
	run, err := r.Run(context.Background(), time.Time{})
	if err != nil {
		w.t.Fatalf("run: %v", err)
	}
	return run
}

// ingest books transactions as the backfill would: the object as Fuse
// lists it (Leg.Wire), converted by fuse.Transaction.Observation.
func (w *world) ingest(txs ...sandbox.Leg) {
	w.t.Helper()
	var obs []ledgerd.TransactionObservation
	for _, t := range txs {
		o, err := t.Wire().Observation()
		if err != nil {
			w.t.Fatal(err)
		}
		obs = append(obs, o)
	}
	w.ingestObs(obs...)
}

// ingestObs books observations, each carried by its own backfill event.
func (w *world) ingestObs(obs ...ledgerd.TransactionObservation) {
	w.t.Helper()
	w.ingestAs(ledgerd.SourceBackfill, obs...)
}

// ingestAs books observations, each carried by its own event from src.
func (w *world) ingestAs(src ledgerd.Source, obs ...ledgerd.TransactionObservation) {
	w.t.Helper()
	var all []ledgerd.Observation
	for _, o := range obs {
		w.n++
		raw, _ := json.Marshal(o)
		all = append(all, ledgerd.Observation{
			Event: ledgerd.Event{ID: fmt.Sprintf("test-%06d", w.n), Type: string(src) + ".transaction",
				Source: src, FuseTime: o.At, ReceivedAt: w.now(), Raw: raw},
			Transaction: &o,
		})
	}
	for len(all) > 0 {
		n := min(len(all), 2000)
		if _, err := w.l.IngestAll(context.Background(), all[:n], nil); err != nil {
			w.t.Fatal(err)
		}
		all = all[n:]
	}
}

// month fills the sandbox with a month of traffic across accounts in four
// currencies (inbound funds, payments, internal transfers, exchanges, 5%
// failures) and returns the ground truth.
func (w *world) month(accounts, transactions int) sandbox.Truth {
	w.t.Helper()
	if _, err := w.sb.Generate(sandbox.GenerateOptions{Accounts: accounts, Transactions: transactions,
		Span: 30 * 24 * time.Hour, FailureRate: 0.05}); err != nil {
		w.t.Fatal(err)
	}
	return w.sb.Truth()
}

func (w *world) pay(accountID string, amount int64, externalID string) sandbox.Leg {
	w.t.Helper()
	tx, err := w.client.CreatePayment(context.Background(), accountID, fuse.CreatePaymentRequest{
		Amount: amount, Purpose: fuse.PurposeGoodsBought, ExternalReference: "INV", ExternalID: externalID,
		Beneficiary: fuse.Beneficiary{Type: fuse.BeneficiaryBusiness, AccountHolderName: "Desert Logistics FZE",
			AccountIdentifier: fuse.Identifier{IBAN: "AE070331234567890123456"},
			Address:           fuse.Address{CountryCode: "AE", Line1: "Al Quoz 3", Line2: "Dubai"},
			Bank:              &fuse.BeneficiaryBank{Code: "EBILAEAD"}},
	})
	if err != nil {
		w.t.Fatal(err)
	}
	return w.latest(tx.ID)
}

func (w *world) latest(id string) sandbox.Leg {
	w.t.Helper()
	tx, ok := w.sb.Transaction(id)
	if !ok {
		w.t.Fatalf("no transaction %s", id)
	}
	return tx
}

// key is a break as the tests name it.
type key struct {
	Category reconcile.Category
	Subject  string
}

func (k key) String() string { return string(k.Category) + " " + k.Subject }

// seen returns the breaks run saw, by key.
func (w *world) seen(run reconcile.Run) map[key]reconcile.Break {
	w.t.Helper()
	bs, err := reconcile.NewStore(w.l).RunBreaks(context.Background(), run.ID)
	if err != nil {
		w.t.Fatal(err)
	}
	out := map[key]reconcile.Break{}
	for _, b := range bs {
		out[key{b.Category, b.Subject}] = b
	}
	return out
}

// assertExactly fails unless run saw exactly the expected breaks.
func (w *world) assertExactly(run reconcile.Run, want map[key]bool) map[key]reconcile.Break {
	w.t.Helper()
	got := w.seen(run)
	var missing, extra []string
	for k := range want {
		if _, ok := got[k]; !ok {
			missing = append(missing, k.String())
		}
	}
	for k, b := range got {
		if !want[k] {
			extra = append(extra, k.String()+": "+b.Detail)
		}
	}
	sort.Strings(missing)
	sort.Strings(extra)
	if len(missing) > 0 || len(extra) > 0 {
		w.t.Errorf("breaks of run %d (%s, %s):\nmissing:\n  %s\nunexpected:\n  %s", run.ID, run.Verdict, run.Detail,
			strings.Join(missing, "\n  "), strings.Join(extra, "\n  "))
	}
	return got
}

// exec writes to the file behind ledgerd's back, as a person with sqlite3
// (or a bug) could.
func (w *world) exec(q string, args ...any) {
	w.t.Helper()
	db, err := sql.Open("sqlite", "file:"+w.l.Path()+"?_pragma=busy_timeout(10000)&_pragma=foreign_keys(1)")
	if err != nil {
		w.t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(q, args...); err != nil {
		w.t.Fatalf("%s: %v", q, err)
	}
}

// picker chooses transactions of the truth to plant breaks on, each on an
// account no earlier pick used, so that each account's drift has one
// cause.
type picker struct {
	t     *testing.T
	truth sandbox.Truth
	used  map[string]bool
	taken map[string]bool
}

func newPicker(t *testing.T, truth sandbox.Truth) *picker {
	return &picker{t: t, truth: truth, used: map[string]bool{}, taken: map[string]bool{}}
}

func (p *picker) use(ids ...string) {
	for _, id := range ids {
		p.used[id] = true
	}
}

// account picks an unused account, optionally of a currency.
func (p *picker) account(currency string) sandbox.AccountState {
	p.t.Helper()
	for _, a := range p.truth.Accounts {
		if !p.used[a.AccountID] && (currency == "" || a.Currency == currency) {
			p.used[a.AccountID] = true
			return a.AccountState
		}
	}
	p.t.Fatalf("no unused %s account left", currency)
	return sandbox.AccountState{}
}

// tx picks a transaction of kind and status on an unused account, from the
// middle of the month (far from every grace period), not the account's
// first (so that the account's currency is known from another).
func (p *picker) tx(kind ledgerd.Kind, status ledgerd.Status, extra func(sandbox.TruthTransaction) bool) sandbox.TruthTransaction {
	p.t.Helper()
	firsts := map[string]bool{}
	for _, x := range p.truth.Transactions {
		if !firsts[x.AccountID] {
			firsts[x.AccountID] = true
			p.taken[x.TransactionID+"#first"] = true
		}
	}
	for _, x := range p.truth.Transactions[len(p.truth.Transactions)/3:] {
		if x.Kind != kind || x.Status != status || p.used[x.AccountID] || p.taken[x.TransactionID] ||
			p.taken[x.TransactionID+"#first"] || (extra != nil && !extra(x)) {
			continue
		}
		p.used[x.AccountID] = true
		p.taken[x.TransactionID] = true
		return x
	}
	p.t.Fatalf("no %s %s transaction on an unused account", kind, status)
	return sandbox.TruthTransaction{}
}

func without(txs []sandbox.TruthTransaction, skip map[string]bool) []sandbox.Leg {
	var out []sandbox.Leg
	for _, x := range txs {
		if !skip[x.TransactionID] {
			out = append(out, x.Leg)
		}
	}
	return out
}

func keys(ks ...key) map[key]bool {
	m := map[key]bool{}
	for _, k := range ks {
		m[k] = true
	}
	return m
}

func drift(acct, cur string) key {
	return key{reconcile.BalanceDrift, acct + "/" + cur}
}

func closing(acct string) key {
	return key{reconcile.ClosingBalanceDrift, acct}
}
