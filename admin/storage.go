package admin

import (
	"context"
	"errors"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/ledgerd/ledgerd/ledger"
	"github.com/prometheus/client_golang/prometheus"
)

// storage is the collector of what the alerts need to know of the
// database's storage, read at each scrape: the free space beside the file
// (readiness fails under 1 MiB, webhooks get 503 before that) and how full
// the quarantine is (past its cap a body that belongs there is refused
// with 503). Neither waits for the read pool: the quarantine's size is
// kept in memory once the table has been counted, which the first scrape
// after start sets off in the background.
type storage struct {
	ledger                           *ledger.Ledger
	log                              *slog.Logger
	counting                         atomic.Bool
	free, qBodies, qBytes, qMaxBytes *prometheus.Desc
}

// countTimeout bounds the one count of the quarantine after start.
const countTimeout = time.Minute

func newStorage(l *ledger.Ledger, log *slog.Logger) *storage {
	return &storage{
		ledger: l,
		log:    log,
		free: prometheus.NewDesc("ledgerd_data_dir_free_bytes",
			"Bytes an unprivileged process can still write on the file system of the database file and its WAL (statfs).", nil, nil),
		qBodies: prometheus.NewDesc("ledgerd_quarantine_bodies",
			"Bodies kept in quarantine, in every state (none is ever deleted: it only grows).", nil, nil),
		qBytes: prometheus.NewDesc("ledgerd_quarantine_bytes",
			"Size of the quarantine as its cap counts it: each body as kept, its detail and 256 bytes a row.", nil, nil),
		qMaxBytes: prometheus.NewDesc("ledgerd_quarantine_max_bytes",
			"The quarantine's cap (LEDGERD_QUARANTINE_MAX_BYTES): past it a body that belongs there is refused with 503.", nil, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *storage) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.free, c.qBodies, c.qBytes, c.qMaxBytes} {
		ch <- d
	}
}

// Collect implements prometheus.Collector. Free space that cannot be
// read fails the scrape (the handler answers 500 and logs why) rather
// than leaving an alert on it silent; a platform that cannot tell leaves
// the series out, as does a quarantine not counted yet.
func (c *storage) Collect(ch chan<- prometheus.Metric) {
	switch free, err := c.ledger.FreeSpace(); {
	case errors.Is(err, errors.ErrUnsupported):
	case err != nil:
		ch <- prometheus.NewInvalidMetric(c.free, err)
	default:
		ch <- prometheus.MustNewConstMetric(c.free, prometheus.GaugeValue, float64(free))
	}
	u, ok := c.ledger.QuarantineUsage()
	if !ok {
		c.count()
		return
	}
	for _, g := range []struct {
		d *prometheus.Desc
		v int64
	}{{c.qBodies, u.Bodies}, {c.qBytes, u.Bytes}, {c.qMaxBytes, u.MaxBytes}} {
		ch <- prometheus.MustNewConstMetric(g.d, prometheus.GaugeValue, float64(g.v))
	}
}

// count counts the quarantine in the background, once at a time.
func (c *storage) count() {
	if !c.counting.CompareAndSwap(false, true) {
		return
	}
	go func() {
		defer c.counting.Store(false)
		ctx, cancel := context.WithTimeout(context.Background(), countTimeout)
		defer cancel()
		if err := c.ledger.CountQuarantine(ctx); err != nil {
			c.log.Warn("count the quarantine for its metrics", "err", err)
		}
	}()
}
