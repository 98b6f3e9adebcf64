package webhook

import (
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the listener's Prometheus collectors. A nil *Metrics records
// nothing.
type Metrics struct {
	events      *prometheus.CounterVec
	duration    *prometheus.HistogramVec
	quarantine  *prometheus.CounterVec
	refused     *prometheus.CounterVec
	commitBatch prometheus.Histogram

	// The series of every request of a known type and result, looked up
	// once instead of by label values on every request; a series still
	// appears only once it is first used. byType is read-only after
	// NewMetrics.
	byType   map[string]*[len(results)]atomic.Pointer[prometheus.Counter]
	byResult [len(results)]atomic.Pointer[prometheus.Observer]

	// otherTypes are the types ledgerd does not handle that have a label
	// of their own (typeLabel).
	mu         sync.Mutex
	otherTypes map[string]bool
}

// results are the values of the result label.
var results = [...]string{resultAccepted, resultDuplicate, resultUnhandled, resultQuarantined, resultRefused, resultUnavailable}

func resultIndex(result string) int {
	for i, r := range results {
		if r == result {
			return i
		}
	}
	return -1
}

// NewMetrics creates the collectors and registers them with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ledgerd_webhook_events_total",
			Help: "Webhook requests by event type and result (accepted, duplicate, unhandled, quarantined, refused, unavailable).",
		}, []string{"type", "result"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "ledgerd_webhook_duration_seconds",
			Help:    "Time from request to response, including the durable commit.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"result"}),
		quarantine: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ledgerd_webhook_quarantined_total",
			Help: "Webhook bodies kept in quarantine, by reason.",
		}, []string{"reason"}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ledgerd_webhook_quarantine_refused_total",
			Help: "Webhook bodies that belonged in quarantine but were refused with 503 because it is full (LEDGERD_QUARANTINE_MAX_BYTES), by reason.",
		}, []string{"reason"}),
		commitBatch: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "ledgerd_ledger_commit_batch_size",
			Help:    "Writes that shared one durable commit (group commit).",
			Buckets: []float64{1, 2, 4, 8, 16, 32, 64, 128, 256},
		}),
	}
	reg.MustRegister(m.events, m.duration, m.quarantine, m.refused, m.commitBatch)
	m.byType = make(map[string]*[len(results)]atomic.Pointer[prometheus.Counter], len(handlers)+len(recognised)+1)
	m.otherTypes = map[string]bool{}
	for _, typ := range slices.Concat(Types(), recognisedTypes(), []string{"unknown"}) {
		m.byType[typ] = new([len(results)]atomic.Pointer[prometheus.Counter])
	}
	return m
}

// CommitBatch records the size of one group commit; pass it as
// ledger.Options.OnBatch.
func (m *Metrics) CommitBatch(n int) {
	if m != nil {
		m.commitBatch.Observe(float64(n))
	}
}

// Types ledgerd does not know (a type Fuse adds, say) are counted under
// their own type while it looks like a Fuse event type and fewer than
// maxOtherTypes such types have been seen, else as typeOther:
// the sender chooses the type, and every label value is a series kept for
// the life of the process.
const (
	typeOther     = "other"
	maxOtherTypes = 32
)

func (m *Metrics) typeLabel(typ string) string {
	if len(typ) > clipLen || strings.IndexFunc(typ, func(r rune) bool { return (r < 'a' || r > 'z') && r != '_' }) >= 0 {
		return typeOther
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.otherTypes[typ] {
		if len(m.otherTypes) >= maxOtherTypes {
			return typeOther
		}
		m.otherTypes[typ] = true
	}
	return typ
}

func (m *Metrics) observe(typ, result string, d time.Duration) {
	if m == nil {
		return
	}
	i := resultIndex(result)
	series, known := m.byType[typ]
	if i < 0 || !known {
		if !known {
			typ = m.typeLabel(typ)
		}
		m.events.WithLabelValues(typ, result).Inc()
		m.duration.WithLabelValues(result).Observe(d.Seconds())
		return
	}
	c := series[i].Load()
	if c == nil {
		c = new(m.events.WithLabelValues(typ, result))
		series[i].Store(c)
	}
	(*c).Inc()
	o := m.byResult[i].Load()
	if o == nil {
		o = new(m.duration.WithLabelValues(result))
		m.byResult[i].Store(o)
	}
	(*o).Observe(d.Seconds())
}

func (m *Metrics) quarantined(reason string) {
	if m != nil {
		m.quarantine.WithLabelValues(reason).Inc()
	}
}

func (m *Metrics) quarantineRefused(reason string) {
	if m != nil {
		m.refused.WithLabelValues(reason).Inc()
	}
}
