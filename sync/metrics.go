package syncer

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ledgerd/ledgerd/ledger"
)

// metrics are the backfill's Prometheus collectors. A nil *metrics records
// nothing.
type metrics struct {
	transactions *prometheus.CounterVec
	pages        prometheus.Counter
	lastSuccess  *prometheus.GaugeVec
	errors       *prometheus.CounterVec
	runs         *prometheus.CounterVec
	runDuration  prometheus.Histogram
	file         *fileState
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	if reg == nil {
		return nil, nil
	}
	m := &metrics{
		transactions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ledgerd_backfill_transactions_total",
			Help: "Transaction objects the backfill read and committed, by result: new (the ledger learned something) or duplicate (already known, e.g. the overlap window).",
		}, []string{"result"}),
		pages: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ledgerd_backfill_pages_total",
			Help: "Transaction listing pages fetched from Fuse by the backfill.",
		}),
		lastSuccess: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "ledgerd_backfill_account_last_success_timestamp_seconds",
			Help: "When the backfill last finished an account without error (Unix time).",
		}, []string{"account_id"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ledgerd_backfill_errors_total",
			Help: "Backfill failures of an account, of a transaction listing (every account it covers fails with it, counted once) or of the account listing, by kind: server_error, rate_limited, timeout, network, unauthorized, not_found, bad_response, repeated_cursor, broken_listing, invalid_object, rejected, storage, concurrent_run (another backfill moved the window), other.",
		}, []string{"kind"}),
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ledgerd_backfill_runs_total",
			Help: "Backfill runs by result: ok, failed (some account failed) or interrupted.",
		}, []string{"result"}),
		runDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "ledgerd_backfill_run_duration_seconds",
			Help:    "Duration of a whole backfill run.",
			Buckets: prometheus.ExponentialBuckets(0.1, 2, 14),
		}),
	}
	var err error
	m.transactions = register(reg, m.transactions, &err)
	m.pages = register(reg, m.pages, &err)
	m.lastSuccess = register(reg, m.lastSuccess, &err)
	m.errors = register(reg, m.errors, &err)
	m.runs = register(reg, m.runs, &err)
	m.runDuration = register(reg, m.runDuration, &err)
	m.file = register(reg, newFileState(), &err)
	if err != nil {
		return nil, fmt.Errorf("syncer: register metrics: %w", err)
	}
	return m, nil
}

// register registers c, or returns the collector already registered under
// the same name (two Syncers on one registry share their counters).
func register[C prometheus.Collector](reg prometheus.Registerer, c C, errp *error) C {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing
			}
		}
		if *errp == nil {
			*errp = err
		}
	}
	return c
}

func (m *metrics) page(txs, fresh int) {
	if m == nil {
		return
	}
	m.transactions.WithLabelValues("new").Add(float64(fresh))
	m.transactions.WithLabelValues("duplicate").Add(float64(txs - fresh))
}

func (m *metrics) pageFetched() {
	if m != nil {
		m.pages.Inc()
	}
}

func (m *metrics) success(accountID string, at time.Time) {
	if m != nil {
		m.lastSuccess.WithLabelValues(accountID).Set(float64(at.UnixNano()) / 1e9)
	}
}

func (m *metrics) error(err error) {
	if m != nil {
		m.errors.WithLabelValues(errKind(err)).Inc()
	}
}

func (m *metrics) run(sum Summary, interrupted bool) {
	if m == nil {
		return
	}
	result := "ok"
	switch {
	case interrupted:
		result = "interrupted"
	case len(sum.Failed()) > 0 || sum.DiscoveryErr != nil:
		result = "failed"
	}
	m.runs.WithLabelValues(result).Inc()
	m.runDuration.Observe(sum.Finished.Sub(sum.Started).Seconds())
}

// watch makes the metrics read the backfill's state from l.
func (m *metrics) watch(l *ledger.Ledger) {
	if m != nil {
		m.file.ledger.Store(l)
	}
}

// scrapeTimeout bounds the reads of one scrape.
const scrapeTimeout = 5 * time.Second

// fileState is the collector of what the file says of the backfill
// (sync_checkpoints), read at each scrape: it holds across restarts, and
// counts a `ledgerd backfill` run beside serve, so that an alert on it
// neither clears when ledgerd restarts nor fires while backfills succeed.
type fileState struct {
	ledger               atomic.Pointer[ledger.Ledger]
	lastSuccess, failing *prometheus.Desc
}

func newFileState() *fileState {
	return &fileState{
		lastSuccess: prometheus.NewDesc("ledgerd_backfill_last_success_timestamp_seconds",
			"When a backfill last finished an account without error, by any process (Unix time, from the file); absent until one has.",
			nil, nil),
		failing: prometheus.NewDesc("ledgerd_backfill_failing_accounts",
			"Fuse accounts whose last backfill failed (from the file).", nil, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *fileState) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.lastSuccess
	ch <- c.failing
}

// Collect implements prometheus.Collector. A read that fails fails the
// scrape (the handler answers 500 and logs why) rather than leaving an
// alert on these series silent.
func (c *fileState) Collect(ch chan<- prometheus.Metric) {
	l := c.ledger.Load()
	if l == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), scrapeTimeout)
	defer cancel()
	p, err := l.SyncProgress(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(c.lastSuccess, err)
		return
	}
	if !p.LastSuccess.IsZero() {
		ch <- prometheus.MustNewConstMetric(c.lastSuccess, prometheus.GaugeValue, float64(p.LastSuccess.UnixNano())/1e9)
	}
	ch <- prometheus.MustNewConstMetric(c.failing, prometheus.GaugeValue, float64(p.Failing))
}
