package syncer

import (
	"fmt"
	"log/slog"
	"maps"
	"strconv"
	gosync "sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ledgerd/ledgerd/fuse"
)

// ClientMetrics is a fuse.Metrics for the client the backfill uses: it
// exports the client's requests, retries and token fetches to Prometheus
// (when given a registerer), logs every retry and token fetch so that a
// run's log says what Fuse did to it (a 503, a 429 and its wait, a token
// that expired mid-run, a page past the timeout), and counts retries by
// reason for the run's summary. Safe for concurrent use.
type ClientMetrics struct {
	log      *slog.Logger
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	retries  *prometheus.CounterVec
	tokens   *prometheus.CounterVec

	mu     gosync.Mutex
	counts map[string]int64 // retries by reason
}

var _ fuse.Metrics = (*ClientMetrics)(nil)

// NewClientMetrics returns a ClientMetrics that logs to log (nil: discard)
// and registers its collectors with reg (nil: none).
func NewClientMetrics(reg prometheus.Registerer, log *slog.Logger) (*ClientMetrics, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	m := &ClientMetrics{log: log, counts: map[string]int64{}}
	if reg == nil {
		return m, nil
	}
	m.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "ledgerd_fuse_requests_total",
		Help: "HTTP attempts to the Fuse API by endpoint and status (0: no response).",
	}, []string{"endpoint", "status"})
	m.duration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "ledgerd_fuse_request_duration_seconds",
		Help:    "Duration of HTTP attempts to the Fuse API.",
		Buckets: prometheus.ExponentialBuckets(0.005, 2, 14),
	}, []string{"endpoint"})
	m.retries = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "ledgerd_fuse_retries_total",
		Help: "Fuse API attempts that were retried, by endpoint and reason (rate_limited, server_error, timeout, network, unauthorized, in_progress, truncated_body).",
	}, []string{"endpoint", "reason"})
	m.tokens = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "ledgerd_fuse_token_fetches_total",
		Help: "Requests for a Fuse access token, by result.",
	}, []string{"result"})
	var err error
	m.requests = register(reg, m.requests, &err)
	m.duration = register(reg, m.duration, &err)
	m.retries = register(reg, m.retries, &err)
	m.tokens = register(reg, m.tokens, &err)
	if err != nil {
		return nil, fmt.Errorf("syncer: register fuse client metrics: %w", err)
	}
	return m, nil
}

// Request implements fuse.Metrics.
func (m *ClientMetrics) Request(endpoint string, status int, d time.Duration) {
	if m.requests != nil {
		m.requests.WithLabelValues(endpoint, strconv.Itoa(status)).Inc()
		m.duration.WithLabelValues(endpoint).Observe(d.Seconds())
	}
}

// TokenFetch implements fuse.Metrics.
func (m *ClientMetrics) TokenFetch(ok bool) {
	result := "ok"
	if !ok {
		result = "refused"
	}
	if m.tokens != nil {
		m.tokens.WithLabelValues(result).Inc()
	}
	m.log.Info("fuse access token fetched", "result", result)
}

// Retry implements fuse.Metrics.
func (m *ClientMetrics) Retry(endpoint, reason string) {
	if m.retries != nil {
		m.retries.WithLabelValues(endpoint, reason).Inc()
	}
	m.mu.Lock()
	m.counts[reason]++
	m.mu.Unlock()
	m.log.Warn("fuse call will be retried", "endpoint", endpoint, "reason", reason)
}

// Retries returns how many attempts were retried so far, by reason.
func (m *ClientMetrics) Retries() map[string]int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return maps.Clone(m.counts)
}
