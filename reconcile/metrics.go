package reconcile

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/ledgerd/ledgerd/ledger"
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the reconciler's Prometheus collectors. A nil *Metrics
// records nothing. Drift gauges are in minor units of the currency label
// (a gauge is a float; an integer number of fils or cents up to 2^53 is
// exact in one).
//
// The last run and the breaks needing a person are read from the file at
// each scrape, once New has given the metrics their ledger: they stay
// right across a restart (the next scheduled run may be a day away),
// after `ledgerd breaks ack`, and after a `ledgerd reconcile` run beside
// serve, so that an alert on them neither clears on its own nor outlives
// the break.
type Metrics struct {
	runs       *prometheus.CounterVec
	netDrift   *prometheus.GaugeVec
	grossDrift *prometheus.GaugeVec
	file       *fileState
}

// NewMetrics creates the collectors and registers them with reg (nil: not
// registered, still usable).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
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
		file: newFileState(),
	}
	if reg != nil {
		reg.MustRegister(m.runs, m.netDrift, m.grossDrift, m.file)
	}
	return m
}

// watch makes the metrics read the last run and the breaks from l.
func (m *Metrics) watch(l *ledger.Ledger) {
	if m != nil {
		m.file.store.Store(NewStore(l))
	}
}

// observe records a finished run.
func (m *Metrics) observe(run Run, accounts []AccountResult) {
	if m == nil {
		return
	}
	m.runs.WithLabelValues(string(run.Verdict)).Inc()
	m.netDrift.Reset()
	m.grossDrift.Reset()
	for _, a := range accounts {
		m.netDrift.WithLabelValues(a.FuseAccountID, string(a.Currency)).Set(float64(a.Drift))
		m.grossDrift.WithLabelValues(a.FuseAccountID, string(a.Currency)).Set(float64(a.GrossDrift))
	}
}

// scrapeTimeout bounds the reads of one scrape.
const scrapeTimeout = 5 * time.Second

// fileState is the collector of what the file says of reconciliation.
type fileState struct {
	store                         atomic.Pointer[Store]
	lastRun, lastVerdict, lastDur *prometheus.Desc
	openBreaks, openBySeverity    *prometheus.Desc
}

func newFileState() *fileState {
	return &fileState{
		lastRun: prometheus.NewDesc("ledgerd_reconcile_last_run_timestamp_seconds",
			"When the last finished reconciliation run finished (Unix time); absent before the first.", nil, nil),
		lastVerdict: prometheus.NewDesc("ledgerd_reconcile_last_run_verdict",
			"1 for the verdict of the last finished run (RECONCILED, RECONCILED_WITH_PENDING, BREAKS, INCOMPLETE), 0 for the others.",
			[]string{"verdict"}, nil),
		lastDur: prometheus.NewDesc("ledgerd_reconcile_last_run_duration_seconds",
			"How long the last finished reconciliation run took.", nil, nil),
		openBreaks: prometheus.NewDesc("ledgerd_reconcile_open_breaks",
			"Breaks needing a person, by category and state (open or acknowledged), as the file holds them now.",
			[]string{"category", "state"}, nil),
		openBySeverity: prometheus.NewDesc("ledgerd_reconcile_open_breaks_by_severity",
			"Breaks needing a person, by severity (critical: money is wrong; warning; info) and state (open or acknowledged), as the file holds them now.",
			[]string{"severity", "state"}, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *fileState) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.lastRun, c.lastVerdict, c.lastDur, c.openBreaks, c.openBySeverity} {
		ch <- d
	}
}

// Collect implements prometheus.Collector. A read that fails fails the
// scrape (the handler answers 500 and logs why) rather than leaving an
// alert on these series silent.
func (c *fileState) Collect(ch chan<- prometheus.Metric) {
	s := c.store.Load()
	if s == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), scrapeTimeout)
	defer cancel()
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	switch run, err := s.Run(ctx, 0); {
	case errors.Is(err, ErrNotFound):
	case err != nil:
		ch <- prometheus.NewInvalidMetric(c.lastVerdict, err)
	default:
		gauge(c.lastRun, float64(run.FinishedAt.UnixNano())/1e9)
		gauge(c.lastDur, run.FinishedAt.Sub(run.StartedAt).Seconds())
		for _, v := range []Verdict{Reconciled, ReconciledWithPending, Breaks, Incomplete} {
			x := 0.0
			if v == run.Verdict {
				x = 1
			}
			gauge(c.lastVerdict, x, string(v))
		}
	}
	counts, err := s.openBreakCounts(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(c.openBreaks, err)
		return
	}
	type catState struct {
		c Category
		s State
	}
	type sevState struct {
		v Severity
		s State
	}
	byCategory, bySeverity := map[catState]int{}, map[sevState]int{}
	for _, n := range counts {
		byCategory[catState{n.category, n.state}] += n.n
		bySeverity[sevState{n.severity, n.state}] += n.n
	}
	for _, st := range []State{Open, Acknowledged} {
		for _, cat := range Categories {
			gauge(c.openBreaks, float64(byCategory[catState{cat, st}]), string(cat), string(st))
		}
		for _, sev := range severityOrder {
			gauge(c.openBySeverity, float64(bySeverity[sevState{sev, st}]), string(sev), string(st))
		}
	}
}

// breakCount is how many breaks of a category and severity are in a state.
type breakCount struct {
	category Category
	severity Severity
	state    State
	n        int
}

// openBreakCounts counts the breaks needing a person (open or
// acknowledged) by category, severity and state.
func (s *Store) openBreakCounts(ctx context.Context) ([]breakCount, error) {
	rows, err := s.l.Reader().QueryContext(ctx, `SELECT category, severity, state, count(*) FROM breaks
		WHERE state IN ('open', 'acknowledged') GROUP BY category, severity, state`)
	if err != nil {
		return nil, fmt.Errorf("count open breaks: %w", err)
	}
	defer rows.Close()
	var out []breakCount
	for rows.Next() {
		var b breakCount
		if err := rows.Scan(&b.category, &b.severity, &b.state, &b.n); err != nil {
			return nil, fmt.Errorf("count open breaks: %w", err)
		}
		out = append(out, b)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("count open breaks: %w", err)
	}
	return out, nil
}
