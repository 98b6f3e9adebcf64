package ledger

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ledgerd/ledgerd"
	"github.com/ledgerd/ledgerd/internal/metricstest"
)

// series reads reg, leaving out zeros.
func series(t *testing.T, reg *prometheus.Registry) map[string]float64 {
	t.Helper()
	out := metricstest.Values(t, reg)
	maps.DeleteFunc(out, func(_ string, v float64) bool { return v == 0 })
	return out
}

func diffSeries(t *testing.T, what string, got, want map[string]float64) {
	t.Helper()
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: %s = %v, want %v", what, k, got[k], v)
		}
	}
	for k, v := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("%s: %s = %v, want 0", what, k, v)
		}
	}
}

// rescript is obs again under new event ids and bodies, from src: the same
// facts arriving once more, by another source or after a restart.
func rescript(obs []ledgerd.Observation, src ledgerd.Source, n int) []ledgerd.Observation {
	s := script{n: n}
	var out []ledgerd.Observation
	for _, o := range obs {
		o.Event = s.event(o.Event.Type+".again", o.Event.FuseTime, map[string]any{"again": o.Event.ID})
		o.Event.Source = src
		out = append(out, o)
	}
	return out
}

// TestMetricsCountATransactionOnceWhenNewAndOnceWhenFinal ingests the
// scenario's month by webhook, then the same facts again from the backfill
// and, after a restart, once more: each transaction is counted new once,
// by the source that showed it first, and final once, with its failure
// reason's code and its time from creation to the final state as Fuse
// stamps them (observed only where Fuse said when it was created). Run the
// usual way and through bulk ingest.
func TestMetricsCountATransactionOnceWhenNewAndOnceWhenFinal(t *testing.T) {
	for _, noBulk := range []bool{false, true} {
		t.Run(fmt.Sprintf("noBulk=%v", noBulk), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "ledgerd.db")
			reg := prometheus.NewPedanticRegistry()
			l, err := Open(context.Background(), path, Options{Metrics: NewMetrics(reg), noBulk: noBulk})
			if err != nil {
				t.Fatal(err)
			}
			obs := scenario()
			ingestAll(t, l, obs)
			want := map[string]float64{
				"ledgerd_transactions_first_seen_total{kind=local_payment_in,source=webhook}":      2,
				"ledgerd_transactions_first_seen_total{kind=local_payment_out,source=webhook}":     3,
				"ledgerd_transactions_first_seen_total{kind=internal_transfer_out,source=webhook}": 1,
				"ledgerd_transactions_first_seen_total{kind=internal_transfer_in,source=webhook}":  1,
				"ledgerd_transactions_first_seen_total{kind=exchange_out,source=webhook}":          1,
				"ledgerd_transactions_first_seen_total{kind=exchange_in,source=webhook}":           1,
				"ledgerd_transactions_final_total{kind=local_payment_in,status=settled}":           2,
				"ledgerd_transactions_final_total{kind=local_payment_out,status=executed}":         1,
				"ledgerd_transactions_final_total{kind=local_payment_out,status=failed}":           1,
				"ledgerd_transactions_final_total{kind=internal_transfer_out,status=settled}":      1,
				"ledgerd_transactions_final_total{kind=internal_transfer_in,status=settled}":       1,
				"ledgerd_transactions_final_total{kind=exchange_out,status=executed}":              1,
				"ledgerd_transactions_final_total{kind=exchange_in,status=settled}":                1,
				"ledgerd_transactions_failed_total{reason=bank_error}":                             1,
				// Created at minute 10, executed at 15; created at 20,
				// failed at 21; the transfer and the exchange a minute
				// each. The legs and payments first seen final carry no
				// creation time: not observed.
				"ledgerd_transaction_final_seconds_count{kind=local_payment_out}":     2,
				"ledgerd_transaction_final_seconds_sum{kind=local_payment_out}":       360,
				"ledgerd_transaction_final_seconds_count{kind=internal_transfer_out}": 1,
				"ledgerd_transaction_final_seconds_sum{kind=internal_transfer_out}":   60,
				"ledgerd_transaction_final_seconds_count{kind=exchange_out}":          1,
				"ledgerd_transaction_final_seconds_sum{kind=exchange_out}":            60,
			}
			diffSeries(t, "webhooks", series(t, reg), want)

			// The backfill shows the same transactions: known, nothing new.
			if _, err := l.IngestAll(context.Background(), rescript(obs, ledgerd.SourceBackfill, 1000), nil); err != nil {
				t.Fatal(err)
			}
			diffSeries(t, "the same again from the backfill", series(t, reg), want)
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}

			// A restart: fresh counters, the file remembers.
			reg = prometheus.NewPedanticRegistry()
			l, err = Open(context.Background(), path, Options{Metrics: NewMetrics(reg), noBulk: noBulk})
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			ingestAll(t, l, rescript(obs, ledgerd.SourceWebhook, 2000))
			diffSeries(t, "the same again after a restart", series(t, reg), map[string]float64{})

			// Transactions the backfill shows first, final already, with
			// their creation time: five, so that bulk ingest takes them.
			const A = "aaaaaaaa-0000-4000-8000-000000000001"
			s := script{n: 3000}
			var page []ledgerd.Observation
			for i := range 5 {
				o := s.tx(ledgerd.TransactionObservation{TransactionID: fmt.Sprintf("50000000-0000-4000-8000-%012d", i),
					AccountID: A, Kind: ledgerd.KindLocalPaymentOut, Status: ledgerd.StatusExecuted, Currency: "AED",
					Amounts: amounts(100, 0), CreatedAt: at(100), At: at(100).Add(7e9)})
				o.Event.Source = ledgerd.SourceBackfill
				page = append(page, o)
			}
			page[4].Transaction.Status, page[4].Transaction.FailureReason = ledgerd.StatusFailed, "Card declined"
			if _, err := l.IngestAll(context.Background(), page, nil); err != nil {
				t.Fatal(err)
			}
			diffSeries(t, "first seen by the backfill", series(t, reg), map[string]float64{
				"ledgerd_transactions_first_seen_total{kind=local_payment_out,source=backfill}": 5,
				"ledgerd_transactions_final_total{kind=local_payment_out,status=executed}":      4,
				"ledgerd_transactions_final_total{kind=local_payment_out,status=failed}":        1,
				"ledgerd_transactions_failed_total{reason=other}":                               1,
				"ledgerd_transaction_final_seconds_count{kind=local_payment_out}":               5,
				"ledgerd_transaction_final_seconds_sum{kind=local_payment_out}":                 35,
			})
		})
	}
}

// TestMetricsLeaveOutWhatDidNotCommit refuses a page whose last
// observation is invalid (all or nothing), and a new transaction whose
// entry would overflow its account's balance after its row was written:
// neither counts, and the next transaction still does.
func TestMetricsLeaveOutWhatDidNotCommit(t *testing.T) {
	var s script
	reg := prometheus.NewPedanticRegistry()
	l := openTest(t, Options{Metrics: NewMetrics(reg)})
	const A = "aaaaaaaa-0000-4000-8000-000000000001"
	in := func(id string, a int64) ledgerd.Observation {
		return s.tx(ledgerd.TransactionObservation{TransactionID: id, AccountID: A, Kind: ledgerd.KindLocalPaymentIn,
			Status: ledgerd.StatusSettled, At: at(1), Currency: "AED", Amounts: amounts(a, 0)})
	}
	ingestAll(t, l, []ledgerd.Observation{in("10000000-0000-4000-8000-0000000000f1", 1)})
	base := map[string]float64{
		"ledgerd_transactions_first_seen_total{kind=local_payment_in,source=webhook}": 1,
		"ledgerd_transactions_final_total{kind=local_payment_in,status=settled}":      1,
	}
	diffSeries(t, "one payment", series(t, reg), base)

	bad := in("10000000-0000-4000-8000-0000000000f3", 5)
	bad.Transaction.Currency = "XXX"
	if _, err := l.IngestAll(context.Background(), []ledgerd.Observation{in("10000000-0000-4000-8000-0000000000f2", 5), bad}, nil); !errors.Is(err, ErrRejected) {
		t.Fatalf("a page with an unknown currency: err = %v, want ErrRejected", err)
	}
	diffSeries(t, "after a refused page", series(t, reg), base)

	err := l.w.do(context.Background(), func(tx *wtx) error {
		_, err := tx.exec(`UPDATE balances SET posted = 9223372036854775807 - 10 WHERE ledger_account = ?`, BankAccount(A))
		tx.w.cache.reset(tx.w.cache.lastHash)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Ingest(context.Background(), in("10000000-0000-4000-8000-0000000000f4", 11)); !errors.Is(err, ledgerd.ErrOverflow) {
		t.Fatalf("an overflowing payment: err = %v, want ErrOverflow", err)
	}
	diffSeries(t, "after an overflowing payment", series(t, reg), base)

	if _, err := l.Ingest(context.Background(), in("10000000-0000-4000-8000-0000000000f5", 1)); err != nil {
		t.Fatal(err)
	}
	base["ledgerd_transactions_first_seen_total{kind=local_payment_in,source=webhook}"]++
	base["ledgerd_transactions_final_total{kind=local_payment_in,status=settled}"]++
	diffSeries(t, "the next payment", series(t, reg), base)
}

// TestMetricsForgetAUnitRolledBackToItsSavepoint puts two units in one
// group commit: one fails at once, which sends the batch round again one
// unit at a time; the other succeeds the first time and fails the second,
// after it noted a new transaction. The commit keeps nothing of it, and
// neither do the metrics.
func TestMetricsForgetAUnitRolledBackToItsSavepoint(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	l := openTest(t, Options{Metrics: NewMetrics(reg)})
	ctx := context.Background()
	entered, release := make(chan struct{}), make(chan struct{})
	blocked := make(chan error, 1)
	go func() {
		blocked <- l.w.do(ctx, func(*wtx) error { close(entered); <-release; return nil })
	}()
	// The writer runs the blocking unit; the two below queue meanwhile
	// and make up the next batch together.
	<-entered
	waitQueued := func(n int) {
		for len(l.w.reqs) < n {
			runtime.Gosched()
		}
	}
	errTwice := errors.New("fails the second time")
	runs := 0
	twice := make(chan error, 1)
	go func() {
		twice <- l.w.do(ctx, func(t *wtx) error {
			runs++
			t.facts = append(t.facts, learned{kind: ledgerd.KindLocalPaymentIn, source: ledgerd.SourceWebhook})
			if runs == 2 {
				return errTwice
			}
			return nil
		})
	}()
	waitQueued(1)
	always := make(chan error, 1)
	go func() { always <- l.w.do(ctx, func(*wtx) error { return ErrRejected }) }()
	waitQueued(2)
	close(release)
	if err := <-blocked; err != nil {
		t.Fatal(err)
	}
	if err := <-twice; !errors.Is(err, errTwice) || runs != 2 {
		t.Fatalf("the unit that fails the second time: err %v after %d runs", err, runs)
	}
	if err := <-always; !errors.Is(err, ErrRejected) {
		t.Fatalf("the unit that always fails: %v", err)
	}
	diffSeries(t, "after the batch", series(t, reg), map[string]float64{})
}
