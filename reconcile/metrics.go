package reconcile

import (
	"context"

	"github.com/ledgerd/ledgerd/ledger"
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the reconciler's Prometheus collectors. A nil *Metrics
// records nothing. Drift gauges are in minor units of the currency label
// (a gauge is a float; an integer number of fils or cents up to 2^53 is
// exact in one).
type Metrics struct {
	openBreaks  *prometheus.GaugeVec
	lastRun     prometheus.Gauge
	lastVerdict *prometheus.GaugeVec
	lastDur     prometheus.Gauge
	runs        *prometheus.CounterVec
	netDrift    *prometheus.GaugeVec
	grossDrift  *prometheus.GaugeVec
}

// NewMetrics creates the collectors and registers them with reg (nil: not
// registered, still usable).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		openBreaks: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "ledgerd_reconcile_open_breaks",
			Help: "Breaks needing a person after the last run, by category and state (open or acknowledged).",
		}, []string{"category", "state"}),
		lastRun: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "ledgerd_reconcile_last_run_timestamp_seconds",
			Help: "When the last reconciliation run finished (Unix time).",
		}),
		lastVerdict: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "ledgerd_reconcile_last_run_verdict",
			Help: "1 for the verdict of the last run (RECONCILED, RECONCILED_WITH_PENDING, BREAKS, INCOMPLETE), 0 for the others.",
		}, []string{"verdict"}),
		lastDur: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "ledgerd_reconcile_last_run_duration_seconds",
			Help: "How long the last reconciliation run took.",
		}),
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ledgerd_reconcile_runs_total",
			Help: "Reconciliation runs by verdict.",
		}, []string{"verdict"}),
		netDrift: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "ledgerd_reconcile_drift_net_minor",
			Help: "Ledger posted balance minus Fuse balance at the last run, per Fuse account and currency, in minor units.",
		}, []string{"account", "currency"}),
		grossDrift: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "ledgerd_reconcile_drift_gross_minor",
			Help: "Sum of the absolute differences behind the net drift (errors that cancel out still count), in minor units.",
		}, []string{"account", "currency"}),
	}
	if reg != nil {
		reg.MustRegister(m.openBreaks, m.lastRun, m.lastVerdict, m.lastDur, m.runs, m.netDrift, m.grossDrift)
	}
	return m
}

// observe records a finished run.
func (m *Metrics) observe(ctx context.Context, l *ledger.Ledger, run Run, accounts []AccountResult) {
	if m == nil {
		return
	}
	m.runs.WithLabelValues(string(run.Verdict)).Inc()
	m.lastRun.Set(float64(run.FinishedAt.UnixNano()) / 1e9)
	m.lastDur.Set(run.FinishedAt.Sub(run.StartedAt).Seconds())
	for _, v := range []Verdict{Reconciled, ReconciledWithPending, Breaks, Incomplete} {
		x := 0.0
		if v == run.Verdict {
			x = 1
		}
		m.lastVerdict.WithLabelValues(string(v)).Set(x)
	}
	m.netDrift.Reset()
	m.grossDrift.Reset()
	for _, a := range accounts {
		m.netDrift.WithLabelValues(a.FuseAccountID, string(a.Currency)).Set(float64(a.Drift))
		m.grossDrift.WithLabelValues(a.FuseAccountID, string(a.Currency)).Set(float64(a.GrossDrift))
	}
	m.openBreaks.Reset()
	for _, c := range Categories {
		for _, s := range []State{Open, Acknowledged} {
			m.openBreaks.WithLabelValues(string(c), string(s)).Set(0)
		}
	}
	rows, err := l.Reader().QueryContext(ctx, `SELECT category, state, count(*) FROM breaks
		WHERE state IN ('open', 'acknowledged') GROUP BY category, state`)
	if err != nil {
		return
	}
	defer rows.Close()
	for rows.Next() {
		var c, s string
		var n int
		if rows.Scan(&c, &s, &n) == nil {
			m.openBreaks.WithLabelValues(c, s).Set(float64(n))
		}
	}
}
