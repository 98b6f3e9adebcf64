package admin

import (
	"context"
	"errors"
	"time"

	"github.com/ledgerd/ledgerd/ledger"
	"github.com/prometheus/client_golang/prometheus"
)

// scrapeTimeout bounds the reads of one scrape.
const scrapeTimeout = 5 * time.Second

// storage is the collector of what the alerts need to know of the
// database's storage, read at each scrape: the free space beside the file
// (readiness fails under 1 MiB, webhooks get 503 before that) and how full
// the quarantine is (past its cap a body that belongs there is refused
// with 503).
type storage struct {
	ledger                           *ledger.Ledger
	free, qBodies, qBytes, qMaxBytes *prometheus.Desc
}

func newStorage(l *ledger.Ledger) *storage {
	return &storage{
		ledger: l,
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

// Collect implements prometheus.Collector. A read that fails fails the
// scrape (the handler answers 500 and logs why) rather than leaving an
// alert on these series silent; a platform that cannot tell free space
// leaves that series out.
func (c *storage) Collect(ch chan<- prometheus.Metric) {
	gauge := func(d *prometheus.Desc, v int64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, float64(v))
	}
	switch free, err := c.ledger.FreeSpace(); {
	case errors.Is(err, errors.ErrUnsupported):
	case err != nil:
		ch <- prometheus.NewInvalidMetric(c.free, err)
	default:
		ch <- prometheus.MustNewConstMetric(c.free, prometheus.GaugeValue, float64(free))
	}
	ctx, cancel := context.WithTimeout(context.Background(), scrapeTimeout)
	defer cancel()
	u, err := c.ledger.QuarantineUsage(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(c.qBytes, err)
		return
	}
	gauge(c.qBodies, u.Bodies)
	gauge(c.qBytes, u.Bytes)
	gauge(c.qMaxBytes, u.MaxBytes)
}
