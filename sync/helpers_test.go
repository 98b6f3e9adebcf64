package syncer_test

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	gosync "sync"
	"testing"
	"time"

	"golang.org/x/time/rate"

	"github.com/ledgerd/ledgerd"
	"github.com/ledgerd/ledgerd/fuse"
	"github.com/ledgerd/ledgerd/fuse/sandbox"
	"github.com/ledgerd/ledgerd/internal/logbuf"
	"github.com/ledgerd/ledgerd/ledger"
	"github.com/ledgerd/ledgerd/ledger/ledgertest"
	syncer "github.com/ledgerd/ledgerd/sync"
	"github.com/ledgerd/ledgerd/webhook"
)

const (
	testClientID     = "ledgerd-sync-test"
	testClientSecret = "sync-test-secret-7f3a"
)

// env is a sandbox on loopback, a ledger in a real file, a fuse client and
// a Syncer over them, with every log line kept.
type env struct {
	t    *testing.T
	sb   *sandbox.Sandbox
	srv  *httptest.Server
	path string
	l    *ledger.Ledger
	c    *fuse.Client
	cm   *syncer.ClientMetrics
	s    *syncer.Syncer
	logs *logBuffer
	// waits are the waits the client asked for between retries.
	waits *waitLog
}

type envOptions struct {
	sandbox sandbox.Options
	syncer  func(*syncer.Options)
	client  func(*fuse.Config)
	path    string // ledger file; "" for a new one
	// webhooks delivers the sandbox's webhooks to the real listener in
	// front of the same ledger.
	webhooks bool
	// wrap, when set, stands between the client and the sandbox.
	wrap func(http.Handler) http.Handler
	// fuseClock makes the syncer's clock the sandbox's, as when this
	// host's and Fuse's agree (by default it is this host's, far ahead of
	// a frozen sandbox's).
	fuseClock bool
}

func newEnv(t *testing.T, o envOptions) *env {
	t.Helper()
	e := &env{t: t, logs: &logBuffer{}, waits: &waitLog{}}
	e.path = o.path
	if e.path == "" {
		e.path = filepath.Join(t.TempDir(), "ledgerd.db")
		ledgertest.NewFile(t, e.path)
	}
	e.openLedger()
	if o.webhooks {
		// The real webhook listener in front of the same file.
		hooks := httptest.NewServer(webhook.NewServer("", "/webhooks/fuse",
			webhook.NewHandler(webhook.Options{Store: e.l})).Handler)
		t.Cleanup(hooks.Close)
		o.sandbox.WebhookURL = hooks.URL + "/webhooks/fuse"
	}
	o.sandbox.ClientID, o.sandbox.ClientSecret = testClientID, testClientSecret
	if o.sandbox.Seed == 0 {
		o.sandbox.Seed = 7
	}
	e.sb = sandbox.New(o.sandbox)
	t.Cleanup(e.sb.Close)
	var h http.Handler = e.sb
	if o.wrap != nil {
		h = o.wrap(h)
	}
	e.srv = httptest.NewServer(h)
	t.Cleanup(e.srv.Close)
	modS := o.syncer
	if o.fuseClock {
		modS = func(so *syncer.Options) {
			so.Now = e.sb.Now
			if o.syncer != nil {
				o.syncer(so)
			}
		}
	}
	e.newSyncer(modS, o.client)
	return e
}

func (e *env) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func (e *env) openLedger() {
	e.t.Helper()
	l, err := ledger.Open(context.Background(), e.path, ledger.Options{})
	if err != nil {
		e.t.Fatal(err)
	}
	e.l = l
	e.t.Cleanup(func() { _ = l.Close() })
}

func (e *env) newSyncer(modS func(*syncer.Options), modC func(*fuse.Config)) {
	e.t.Helper()
	cm, err := syncer.NewClientMetrics(nil, e.logger())
	if err != nil {
		e.t.Fatal(err)
	}
	e.cm = cm
	cfg := fuse.Config{
		BaseURL:      e.srv.URL + "/v1",
		AuthURL:      e.srv.URL + sandbox.TokenPath,
		ClientID:     testClientID,
		ClientSecret: testClientSecret,
		RateLimit:    rate.Inf,
		BaseBackoff:  time.Millisecond,
		MaxBackoff:   20 * time.Millisecond,
		Metrics:      cm,
		Logger:       e.logger(),
		Sleep:        e.waits.sleep,
	}
	if modC != nil {
		modC(&cfg)
	}
	c, err := fuse.New(cfg)
	if err != nil {
		e.t.Fatal(err)
	}
	e.c = c
	so := syncer.Options{Ledger: e.l, Client: c, Logger: e.logger(), ClientMetrics: cm}
	if modS != nil {
		modS(&so)
	}
	s, err := syncer.New(so)
	if err != nil {
		e.t.Fatal(err)
	}
	e.s = s
}

// run backfills and fails the test on error.
func (e *env) run(opts syncer.RunOptions) syncer.Summary {
	e.t.Helper()
	sum, err := e.s.Run(context.Background(), opts)
	if err != nil {
		e.t.Fatalf("backfill: %v\nlog:\n%s", err, e.logs.tail(40))
	}
	return sum
}

// generate creates a history of n transaction legs over accounts accounts.
func (e *env) generate(accounts, n int, webhooks bool) sandbox.GenerateResult {
	e.t.Helper()
	res, err := e.sb.Generate(sandbox.GenerateOptions{
		Accounts: accounts, Transactions: n, FailureRate: 0.05, Webhooks: webhooks,
		Currencies: []string{"AED", "USD", "EUR", "GBP"}, Span: 10 * 24 * time.Hour,
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return res
}

// payOut sends a local payment out of an account through the API; it
// stays in flight until the sandbox clock moves it on.
func (e *env) payOut(accountID string, amount int64) fuse.Transaction {
	e.t.Helper()
	tx, err := e.c.CreatePayment(context.Background(), accountID, fuse.CreatePaymentRequest{
		Amount: amount, Purpose: fuse.PurposeGoodsBought, ExternalReference: "catering",
		Beneficiary: fuse.Beneficiary{Type: fuse.BeneficiaryBusiness, AccountHolderName: "Noor Catering LLC",
			AccountIdentifier: fuse.Identifier{IBAN: "AE070331234567890123456"},
			Address:           fuse.Address{CountryCode: "AE", Line1: "Al Quoz 3", Line2: "Dubai"},
			Bank:              &fuse.BeneficiaryBank{Code: "EBILAEAD"}},
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return tx
}

// window reads a scope's sync window.
func window(t *testing.T, e *env, scope string) ledger.SyncWindow {
	t.Helper()
	w, err := e.l.SyncWindow(context.Background(), scope)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// apiRequests counts the API requests the sandbox has answered (the
// token endpoint apart).
func apiRequests(sb *sandbox.Sandbox) int {
	n := 0
	for _, v := range sb.Stats().APIRequests {
		n += v
	}
	return n
}

// waitLog records the client's waits between retries and waits a little
// for real (at most 5 ms), so that tests are fast but a Retry-After the
// client honoured is visible.
type waitLog struct {
	mu    gosync.Mutex
	waits []time.Duration
	// onWait, when set, runs at every wait (a test clears a fault there).
	onWait func()
}

func (w *waitLog) sleep(ctx context.Context, d time.Duration) error {
	w.mu.Lock()
	w.waits = append(w.waits, d)
	hook := w.onWait
	w.mu.Unlock()
	if hook != nil {
		hook()
	}
	t := time.NewTimer(min(d, 5*time.Millisecond))
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (w *waitLog) all() []time.Duration {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]time.Duration(nil), w.waits...)
}

// logBuffer is a log sink the run and the test share.
type logBuffer struct{ logbuf.Buffer }

// lines returns the log lines containing every one of words.
func (b *logBuffer) lines(words ...string) []string {
	var out []string
	for _, ln := range strings.Split(b.String(), "\n") {
		ok := ln != ""
		for _, w := range words {
			ok = ok && strings.Contains(ln, w)
		}
		if ok {
			out = append(out, ln)
		}
	}
	return out
}

func (b *logBuffer) tail(n int) string {
	ls := strings.Split(strings.TrimSpace(b.String()), "\n")
	return strings.Join(ls[max(0, len(ls)-n):], "\n")
}

// txRow is what the ledger keeps of a Fuse transaction, in the terms of
// the sandbox's truth.
type txRow struct {
	Kind, Account, Currency, Status, Counterpart string
	Instructed, Fee, WithFee                     int64
	CounterpartCurrency                          string
	CounterpartAmount                            int64
	EntryState                                   string
}

func ledgerTransactions(t *testing.T, db *sql.DB) map[string]txRow {
	t.Helper()
	rows, err := db.Query(`SELECT transaction_id, kind, account_id, COALESCE(currency, ''), status,
		COALESCE(counterpart_account_id, ''), COALESCE(instructed_amount, -1), COALESCE(fee_amount, -1),
		COALESCE(amount_with_fee, -1), COALESCE(counterpart_currency, ''), COALESCE(counterpart_amount, -1), entry_state
		FROM v_transactions`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]txRow{}
	for rows.Next() {
		var id string
		var r txRow
		if err := rows.Scan(&id, &r.Kind, &r.Account, &r.Currency, &r.Status, &r.Counterpart,
			&r.Instructed, &r.Fee, &r.WithFee, &r.CounterpartCurrency, &r.CounterpartAmount, &r.EntryState); err != nil {
			t.Fatal(err)
		}
		out[id] = r
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func truthRow(x sandbox.TruthTransaction) txRow {
	r := txRow{Kind: string(x.Kind), Account: x.AccountID, Currency: x.Currency, Status: string(x.Status),
		Counterpart: x.CounterpartAccountID, Instructed: x.InstructedAmount, Fee: x.FeeAmount,
		WithFee: x.AmountWithFee, CounterpartCurrency: x.CounterpartCurrency, CounterpartAmount: -1}
	if x.CounterpartAmount != nil {
		r.CounterpartAmount = *x.CounterpartAmount
	}
	switch x.Status {
	case ledgerd.StatusExecuted, ledgerd.StatusSettled:
		r.EntryState = "posted"
	case ledgerd.StatusFailed:
		r.EntryState = "voided"
	default:
		r.EntryState = "pending"
	}
	return r
}

// diffTruth lists every way the ledger differs from the sandbox's truth:
// each transaction (kind, account, counterpart, currency, amounts, status
// and the entry's state), each bank account's posted, pending and
// available balance against Fuse's current and available, and the ledger's
// own invariants. Empty means equal.
func diffTruth(t *testing.T, l *ledger.Ledger, truth sandbox.Truth) []string {
	t.Helper()
	var diffs []string
	got := ledgerTransactions(t, l.Reader())
	for _, x := range truth.Transactions {
		want := truthRow(x)
		g, ok := got[x.TransactionID]
		switch {
		case !ok:
			diffs = append(diffs, fmt.Sprintf("transaction %s (%s %s): missing", x.TransactionID, x.Kind, x.Status))
		case g != want:
			diffs = append(diffs, fmt.Sprintf("transaction %s:\n  ledger %+v\n  fuse   %+v", x.TransactionID, g, want))
		}
		delete(got, x.TransactionID)
	}
	for id := range got {
		diffs = append(diffs, fmt.Sprintf("transaction %s: in the ledger, not at Fuse", id))
	}

	bals, err := l.Balances(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	type bal struct{ posted, pending, available int64 }
	byAcct := map[string]bal{}
	for _, b := range bals {
		if b.FuseAccountID != nil {
			byAcct[*b.FuseAccountID+"/"+string(b.Currency)] = bal{int64(b.Posted), int64(b.Pending), int64(b.Available)}
		}
	}
	for _, a := range truth.Accounts {
		key := a.AccountID + "/" + a.Currency
		b, ok := byAcct[key]
		inFlight := a.Balance.Current - a.Balance.Available
		switch {
		case !ok && (a.Balance.Current != 0 || a.Balance.Available != 0):
			diffs = append(diffs, fmt.Sprintf("account %s: no ledger balance, Fuse says %d", key, a.Balance.Current))
		case b.posted != a.Balance.Current:
			diffs = append(diffs, fmt.Sprintf("account %s: posted %d, Fuse current %d", key, b.posted, a.Balance.Current))
		case b.available != a.Balance.Available:
			diffs = append(diffs, fmt.Sprintf("account %s: available %d, Fuse available %d", key, b.available, a.Balance.Available))
		case -b.pending < inFlight:
			// Pending outflows are at least what Fuse holds back (pending
			// inflows may add to the ledger's pending as well).
			diffs = append(diffs, fmt.Sprintf("account %s: pending %d, Fuse holds %d in flight", key, b.pending, inFlight))
		}
	}

	var n int
	if err := l.Reader().QueryRow(`SELECT count(*) FROM observation_conflicts`).Scan(&n); err != nil || n != 0 {
		diffs = append(diffs, fmt.Sprintf("%d observation conflicts (%v)", n, err))
	}
	rep, err := l.Verify(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() {
		diffs = append(diffs, fmt.Sprintf("verify: %+v", rep))
	}
	sort.Strings(diffs)
	return diffs
}

func assertEqualsTruth(t *testing.T, l *ledger.Ledger, truth sandbox.Truth) {
	t.Helper()
	if diffs := diffTruth(t, l, truth); len(diffs) > 0 {
		t.Fatalf("ledger differs from the sandbox's truth in %d ways; first ones:\n%s", len(diffs), strings.Join(diffs[:min(len(diffs), 10)], "\n"))
	}
}

func count(t *testing.T, db *sql.DB, q string, args ...any) int {
	t.Helper()
	var n int
	if err := db.QueryRow(q, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// scale is n, or n/div under the race detector, whose instrumentation makes
// SQLite (transpiled C) about ten times slower.
func scale(n, div int) int {
	if raceEnabled {
		return max(n/div, 1)
	}
	return n
}

// longTests reports whether LEDGERD_LONG_TESTS=1 asks for the long
// variants (make soak runs them): larger histories than make test needs
// to prove each property.
func longTests() bool { return os.Getenv("LEDGERD_LONG_TESTS") == "1" }
