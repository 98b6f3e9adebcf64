package reconcile_test

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ledgerd/ledgerd/fuse/sandbox"
	"github.com/ledgerd/ledgerd/internal/metricstest"
	"github.com/ledgerd/ledgerd/reconcile"
)

// TestMetricsReadTheLastRunAndTheBreaksFromTheFile: the last verdict and
// the breaks needing a person are what the file holds at each scrape, not
// what this process last did: nothing before the first run, an
// acknowledgement made elsewhere (`ledgerd breaks ack`) counts at once,
// and after a restart the last verdict and the open breaks are there
// before any run.
func TestMetricsReadTheLastRunAndTheBreaksFromTheFile(t *testing.T) {
	t.Parallel()
	w := newWorld(t, 3)
	acct, err := w.sb.OpenAccount(sandbox.AccountSpec{Currency: "AED", Balance: 500_00})
	if err != nil {
		t.Fatal(err)
	}
	w.sb.Advance(time.Minute)
	for _, x := range w.sb.Truth().Transactions {
		w.ingest(x.Leg)
	}
	reg := prometheus.NewPedanticRegistry()
	r := w.reconciler(func(o *reconcile.Options) { o.Metrics = reconcile.NewMetrics(reg) })
	got := metricstest.Values(t, reg)
	if _, ok := got["ledgerd_reconcile_last_run_verdict{verdict=RECONCILED}"]; ok {
		t.Errorf("a last verdict before any run: %v", got)
	}
	if n := got["ledgerd_reconcile_open_breaks_by_severity{severity=critical,state=open}"]; n != 0 {
		t.Errorf("critical open breaks before any run: %v", n)
	}
	if run := w.run(r); run.Verdict != reconcile.Reconciled {
		t.Fatalf("first run: %s, %s", run.Verdict, run.Detail)
	}
	if got := metricstest.Values(t, reg); got["ledgerd_reconcile_last_run_verdict{verdict=RECONCILED}"] != 1 || got["ledgerd_reconcile_last_run_verdict{verdict=BREAKS}"] != 0 {
		t.Errorf("after a green run: %v", got)
	}

	// The bank moves money the ledger never hears of: a critical balance
	// drift.
	if _, err := w.sb.Adjust(sandbox.Adjustment{AccountID: acct.AccountID, Amount: 7_00}); err != nil {
		t.Fatal(err)
	}
	w.ahead += time.Hour
	run := w.run(r)
	if run.Verdict != reconcile.Breaks {
		t.Fatalf("run after the adjustment: %s, %s", run.Verdict, run.Detail)
	}
	want := map[string]float64{
		"ledgerd_reconcile_last_run_verdict{verdict=BREAKS}":                              1,
		"ledgerd_reconcile_last_run_verdict{verdict=RECONCILED}":                          0,
		"ledgerd_reconcile_last_run_timestamp_seconds{}":                                  float64(run.FinishedAt.UnixNano()) / 1e9,
		"ledgerd_reconcile_open_breaks{category=balance_drift,state=open}":                1,
		"ledgerd_reconcile_open_breaks_by_severity{severity=critical,state=open}":         1,
		"ledgerd_reconcile_open_breaks_by_severity{severity=critical,state=acknowledged}": 0,
	}
	check := func(what string, got map[string]float64) {
		t.Helper()
		for k, v := range want {
			if g, ok := got[k]; !ok || g != v {
				t.Errorf("%s: %s = %v (present %v), want %v", what, k, g, ok, v)
			}
		}
	}
	check("after the run that found the drift", metricstest.Values(t, reg))

	// Someone acknowledges the drift from the command line: no run needed.
	var driftID int64
	for _, b := range w.seen(run) {
		if b.Category == reconcile.BalanceDrift {
			driftID = b.ID
		}
	}
	if _, err := reconcile.NewStore(w.l).AckBreak(context.Background(), driftID, "bank fee, booked by hand", w.now()); err != nil {
		t.Fatal(err)
	}
	want["ledgerd_reconcile_open_breaks{category=balance_drift,state=open}"] = 0
	want["ledgerd_reconcile_open_breaks{category=balance_drift,state=acknowledged}"] = 1
	want["ledgerd_reconcile_open_breaks_by_severity{severity=critical,state=open}"] = 0
	want["ledgerd_reconcile_open_breaks_by_severity{severity=critical,state=acknowledged}"] = 1
	check("after the acknowledgement", metricstest.Values(t, reg))

	// A restart: new metrics, no run yet.
	reg = prometheus.NewPedanticRegistry()
	w.reconciler(func(o *reconcile.Options) { o.Metrics = reconcile.NewMetrics(reg) })
	check("after a restart", metricstest.Values(t, reg))
}
