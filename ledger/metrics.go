package ledger

import (
	"database/sql"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ledgerd/ledgerd"
)

// Metrics are what the ledger's commits teach it about Fuse transactions,
// as Prometheus collectors: which source showed each transaction first
// (the webhook delivery rate only ledgerd can measure: a transaction the
// backfill found first is one whose webhook was late or lost), how
// transactions end and why they fail, and how long Fuse took from creation
// to the final state. The writer counts a transaction when the row that
// makes it new or final commits, so a transaction already in the file,
// seen again after a restart or by another source, is never counted
// twice. A nil *Metrics records nothing.
type Metrics struct {
	firstSeen *prometheus.CounterVec
	final     *prometheus.CounterVec
	failed    *prometheus.CounterVec
	took      *prometheus.HistogramVec

	// The series of every known label value, looked up once rather than
	// by label values on every commit. Read-only after NewMetrics.
	firstSeenOf map[sourceKind]prometheus.Counter
	finalOf     map[kindStatus]prometheus.Counter
	failedOf    map[string]prometheus.Counter
	tookOf      map[ledgerd.Kind]prometheus.Observer
}

type sourceKind struct {
	source ledgerd.Source
	kind   ledgerd.Kind
}

type kindStatus struct {
	kind   ledgerd.Kind
	status ledgerd.Status
}

// FinalBuckets are the buckets, in seconds, of the time from a
// transaction's creation to its final state: those an integration is
// asked to watch (5, 10, 30, 60 and 120 s; an average above 60 s is
// alerted on).
var FinalBuckets = []float64{5, 10, 30, 60, 120}

// NewMetrics creates the collectors and registers them with reg (nil: not
// registered, still usable). Every series of a known source, kind, status
// and failure code exists from the start at zero, so that rates over them
// are defined before the first transaction.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		firstSeen: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ledgerd_transactions_first_seen_total",
			Help: "Fuse transactions new to the ledger, by the source of the observation that showed each first (webhook, backfill, sandbox) and kind. A transaction the backfill shows first is one whose webhook was late or lost.",
		}, []string{"source", "kind"}),
		final: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ledgerd_transactions_final_total",
			Help: "Fuse transactions that reached a final status (executed, settled: the money moved; failed), by kind and status, counted once each when the ledger learns it.",
		}, []string{"kind", "status"}),
		failed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ledgerd_transactions_failed_total",
			Help: "Fuse transactions that failed, by failure_reason code: one of Fuse's (insufficient_funds, internal_accounts_differ, account_frozen, bank_error, system_error, compliance_error, quote_error), unspecified, or other.",
		}, []string{"reason"}),
		took: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "ledgerd_transaction_final_seconds",
			Help:    "Time from a Fuse transaction's creation to its final status, both as Fuse stamps them, by kind; a transaction first seen final without its creation time is not observed.",
			Buckets: FinalBuckets,
		}, []string{"kind"}),
		firstSeenOf: map[sourceKind]prometheus.Counter{},
		finalOf:     map[kindStatus]prometheus.Counter{},
		failedOf:    map[string]prometheus.Counter{},
		tookOf:      map[ledgerd.Kind]prometheus.Observer{},
	}
	for _, k := range ledgerd.Kinds {
		for _, src := range []ledgerd.Source{ledgerd.SourceWebhook, ledgerd.SourceBackfill, ledgerd.SourceSandbox} {
			m.firstSeenOf[sourceKind{src, k}] = m.firstSeen.WithLabelValues(string(src), string(k))
		}
		for _, st := range []ledgerd.Status{ledgerd.StatusExecuted, ledgerd.StatusSettled, ledgerd.StatusFailed} {
			m.finalOf[kindStatus{k, st}] = m.final.WithLabelValues(string(k), string(st))
		}
		m.tookOf[k] = m.took.WithLabelValues(string(k))
	}
	for _, c := range append(ledgerd.FailureCodes[:len(ledgerd.FailureCodes):len(ledgerd.FailureCodes)],
		ledgerd.FailureUnspecified, ledgerd.FailureOther) {
		m.failedOf[c] = m.failed.WithLabelValues(c)
	}
	if reg != nil {
		reg.MustRegister(m.firstSeen, m.final, m.failed, m.took)
	}
	return m
}

// learned is what one observation taught the ledger about a transaction,
// kept by the write transaction until it commits (wtx.facts).
type learned struct {
	kind ledgerd.Kind
	// source is set when the observation made the transaction known: its
	// row was inserted.
	source ledgerd.Source
	// final is the final status the observation brought, "" if none;
	// reason the failure reason with it; created and at the Fuse times the
	// duration is taken from (created NULL: unknown).
	final       ledgerd.Status
	reason      string
	created, at sql.NullString
}

// noteNew keeps, for the metrics, that o made its transaction known.
func (t *wtx) noteNew(src ledgerd.Source, o *ledgerd.TransactionObservation, at, created sql.NullString) {
	if t.w.metrics == nil {
		return
	}
	f := learned{kind: o.Kind, source: src}
	if o.Status.Terminal() {
		f.final, f.reason, f.at = o.Status, o.FailureReason, at
		// The creation time only when Fuse said it: a webhook that shows
		// a transaction first in its final state carries no creation time
		// (txTimes then takes the state's own).
		if !o.CreatedAt.IsZero() {
			f.created = created
		}
	}
	t.facts = append(t.facts, f)
}

// noteFinal keeps, for the metrics, that o moved a known transaction to a
// final status; created is the earliest Fuse time known of it.
func (t *wtx) noteFinal(o *ledgerd.TransactionObservation, at, created sql.NullString) {
	if t.w.metrics == nil {
		return
	}
	t.facts = append(t.facts, learned{kind: o.Kind, final: o.Status, reason: o.FailureReason, created: created, at: at})
}

// record counts what a committed transaction taught the ledger.
func (m *Metrics) record(facts []learned) {
	if m == nil {
		return
	}
	for _, f := range facts {
		if f.source != "" {
			if c, ok := m.firstSeenOf[sourceKind{f.source, f.kind}]; ok {
				c.Inc()
			}
		}
		if f.final == "" {
			continue
		}
		if c, ok := m.finalOf[kindStatus{f.kind, f.final}]; ok {
			c.Inc()
		}
		if f.final == ledgerd.StatusFailed {
			m.failedOf[ledgerd.FailureCode(f.reason)].Inc()
		}
		created, err1 := parseTime(f.created)
		at, err2 := parseTime(f.at)
		if err1 != nil || err2 != nil || created.IsZero() || at.IsZero() || at.Before(created) {
			continue
		}
		if o, ok := m.tookOf[f.kind]; ok {
			o.Observe(at.Sub(created).Seconds())
		}
	}
}
