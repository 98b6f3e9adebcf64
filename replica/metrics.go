package replica

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the ledgerd_replica_* series, for alerts on a replica that
// falls behind or fails.
type metrics struct {
	rounds   prometheus.Counter
	errors   prometheus.Counter
	duration prometheus.Histogram
}

// newMetrics registers the series on reg; the gauges read r's status when
// scraped.
func newMetrics(reg prometheus.Registerer, r *Replicator, scheme string) *metrics {
	m := &metrics{
		rounds: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ledgerd_replica_rounds_total",
			Help: "Replication rounds (read the WAL, upload to the replica) that ended, failed or not.",
		}),
		errors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ledgerd_replica_errors_total",
			Help: "Replication rounds that failed: the replica falls behind until one succeeds.",
		}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "ledgerd_replica_round_duration_seconds",
			Help:    "How long a replication round took; the recovery point is at most the interval plus one round old.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
		}),
	}
	status := func(f func(Status) float64) func() float64 {
		return func() float64 { return f(r.Status()) }
	}
	reg.MustRegister(m.rounds, m.errors, m.duration,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name:        "ledgerd_replica_info",
			Help:        "1 while serve replicates the file; the label says to what kind of replica.",
			ConstLabels: prometheus.Labels{"type": scheme},
		}, func() float64 { return 1 }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "ledgerd_replica_lag_seconds",
			Help: "Age of the recovery point: a crash now loses at most the commits of these last seconds (counted from start until the first round ends).",
		}, status(func(s Status) float64 { return s.Lag(r.opts.Now()).Seconds() })),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "ledgerd_replica_replicated_timestamp_seconds",
			Help: "The recovery point, Unix time: every commit before it is on the replica; 0 until the first round ends.",
		}, status(func(s Status) float64 { return unixSeconds(s.ReplicatedAt) })),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "ledgerd_replica_local_txid",
			Help: "Litestream's last transaction read from the WAL.",
		}, status(func(s Status) float64 { return float64(s.LocalTXID) })),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "ledgerd_replica_replicated_txid",
			Help: "Litestream's last transaction on the replica.",
		}, status(func(s Status) float64 { return float64(s.ReplicatedTXID) })),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "ledgerd_replica_last_error_timestamp_seconds",
			Help: "When a replication round last failed, Unix time; 0 if none has.",
		}, status(func(s Status) float64 { return unixSeconds(s.LastErrorAt) })),
	)
	return m
}

func unixSeconds(t time.Time) float64 {
	if t.IsZero() {
		return 0
	}
	return float64(t.UnixNano()) / 1e9
}
