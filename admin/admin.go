// Package admin is ledgerd's admin listener: liveness and readiness probes,
// Prometheus metrics, a read-only JSON API over balances, breaks and
// reconciliation runs, and a server-rendered status page for people. It only
// reads the ledger (through its read-only pool); the one write it takes is
// the readiness probe's rewrite of the write_probe row on the ledger's
// writer, which proves a webhook could be stored now. There is no write
// path: every route answers GET and HEAD only, because the listener has no
// authentication and is meant for loopback (LEDGERD_ADMIN_LISTEN).
package admin

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/ledgerd/ledgerd/ledger"
	"github.com/ledgerd/ledgerd/reconcile"
	"github.com/ledgerd/ledgerd/replica"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Options configure New. Ledger is required.
type Options struct {
	// Ledger is the open database the API and the status page read.
	Ledger *ledger.Ledger
	// Registry is what /metrics serves; New adds the Go runtime and
	// process collectors and the admin listener's own request counter to
	// it. Nil: a fresh registry.
	Registry *prometheus.Registry
	// Logger receives errors the handlers answer with 500; default discard.
	Logger *slog.Logger
	// Now is the clock for ages and chart windows; default time.Now.
	Now func() time.Time
	// Location is the time zone times are shown in on the status page
	// (LEDGERD_TZ); default UTC. The JSON API keeps the stored UTC text.
	Location *time.Location
	// Ready, when set, adds the daemon's own readiness checks to /readyz
	// (for example: the last backfill is failing). A non-nil error makes
	// /readyz answer 503 with its message.
	Ready func(ctx context.Context) error
	// ReadyTimeout bounds how long /readyz waits for the ledger's writer
	// before it answers 503; default 3s. /readyz also answers 503 once
	// the ledger's integrity check (ledger.CheckIntegrity, which serve
	// runs at start) has found the file damaged.
	ReadyTimeout time.Duration
	// Version is shown in the status page's header.
	Version string
	// Replication, when set, is the continuous replication the status
	// page shows (*replica.Replicator; a nil one is replication off).
	Replication Replication
}

// Replication is what the status page reads of continuous replication.
type Replication interface {
	Status() replica.Status
}

// defaultReadyTimeout bounds the readiness probe's wait for the ledger's
// writer: long enough for a busy group commit, shorter than a prober's
// own timeout.
const defaultReadyTimeout = 3 * time.Second

// book is what the admin listener reads of the ledger; *ledger.Ledger
// implements it.
type book interface {
	Path() string
	Integrity() ledger.Integrity
	Balances(ctx context.Context) ([]ledger.Balance, error)
	AccountNames(ctx context.Context) (map[string]string, error)
	SyncProgress(ctx context.Context) (ledger.SyncProgress, error)
	EventsBySource(ctx context.Context) ([]ledger.SourceEvents, error)
	EventsPerHour(ctx context.Context, since time.Time) ([]ledger.HourEvents, error)
}

// runStore is what the admin listener reads of reconciliation runs and
// breaks; *reconcile.Store implements it.
type runStore interface {
	Runs(ctx context.Context, limit int) ([]reconcile.Run, error)
	Report(ctx context.Context, id int64, loc *time.Location) (reconcile.Report, error)
	Breaks(ctx context.Context, states ...reconcile.State) ([]reconcile.Break, error)
	MostSevereBreaks(ctx context.Context, state reconcile.State, limit int) ([]reconcile.Break, error)
	BreakCounts(ctx context.Context) (map[reconcile.State]int, error)
	DriftByRun(ctx context.Context, fromRun int64) ([]reconcile.RunDrift, error)
}

// handler holds what every route needs.
type handler struct {
	ledger  book
	runs    runStore
	log     *slog.Logger
	now     func() time.Time
	loc     *time.Location
	ready   func(ctx context.Context) error
	version string
	timeout time.Duration
	probe   writeProbe
	replica Replication // nil: not shown
}

// New returns the admin listener's handler: /healthz, /readyz, /metrics,
// the status page at /, and the JSON API under /api/v1/. It panics if
// opts.Ledger is nil (a wiring bug, not a runtime condition).
func New(opts Options) http.Handler {
	if opts.Ledger == nil {
		panic("admin.New: Options.Ledger is nil")
	}
	h := &handler{
		ledger:  opts.Ledger,
		runs:    reconcile.NewStore(opts.Ledger),
		log:     opts.Logger,
		now:     opts.Now,
		loc:     opts.Location,
		ready:   opts.Ready,
		version: opts.Version,
		timeout: opts.ReadyTimeout,
		probe:   writeProbe{ledger: opts.Ledger},
		replica: opts.Replication,
	}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	if h.now == nil {
		h.now = time.Now
	}
	if h.loc == nil {
		h.loc = time.UTC
	}
	if h.timeout <= 0 {
		h.timeout = defaultReadyTimeout
	}
	if h.version == "" {
		h.version = "dev"
	}
	reg := opts.Registry
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	register(reg, collectors.NewGoCollector())
	register(reg, collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	requests := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "ledgerd_admin_requests_total",
		Help: "Requests to the admin listener, by route and HTTP status code.",
	}, []string{"handler", "code"})
	requests = register(reg, requests)
	registerIntegrity(reg, opts.Ledger)
	register(reg, newStorage(opts.Ledger, h.log))

	mux := http.NewServeMux()
	route := func(pattern, name string, f http.HandlerFunc) {
		mux.Handle(pattern, promhttp.InstrumentHandlerCounter(
			requests.MustCurryWith(prometheus.Labels{"handler": name}), f))
	}
	// GET patterns also match HEAD; other methods never get this far.
	route("GET /healthz", "healthz", h.healthz)
	route("GET /readyz", "readyz", h.readyz)
	mux.Handle("GET /metrics", promhttp.InstrumentMetricHandler(reg,
		promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg, ErrorLog: slogErrorLog{h.log}})))
	route("GET /{$}", "status", h.statusPage)
	route("GET /api/v1/balances", "balances", h.apiBalances)
	route("GET /api/v1/breaks", "breaks", h.apiBreaks)
	route("GET /api/v1/runs", "runs", h.apiRuns)
	route("GET /api/v1/runs/{id}", "run", h.apiRun)
	route("GET /api/", "api_not_found", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "not_found", "no such API endpoint: "+r.URL.Path)
	})
	return loopbackHosts(readOnly(securityHeaders(mux)))
}

// loopbackHosts answers 421 to a request that reached a loopback address
// under a Host that is neither localhost nor an IP address. The listener
// has no authentication and listens on loopback by default; a web page in
// the operator's browser could otherwise read it through a name of its own
// that it points at 127.0.0.1 (DNS rebinding). On any other address the
// operator chose who reaches it, and any Host is served.
func loopbackHosts(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if local, ok := r.Context().Value(http.LocalAddrContextKey).(*net.TCPAddr); ok && local.IP.IsLoopback() {
			host := r.Host
			if h, _, err := net.SplitHostPort(host); err == nil {
				host = h
			}
			host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
			if _, err := netip.ParseAddr(host); err != nil && !strings.EqualFold(host, "localhost") {
				writeError(w, http.StatusMisdirectedRequest, "misdirected_request",
					"the admin listener on loopback answers only to localhost or an IP address as Host")
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// register adds c to reg, or returns the collector already registered
// under the same descriptors (the serve wiring may have added the Go
// collector itself).
func register[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing
			}
			return c
		}
		panic(err)
	}
	return c
}

// readOnly answers 405 to every method but GET and HEAD: the admin
// listener has no authentication, so it must have no write path.
func readOnly(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			writeError(w, http.StatusMethodNotAllowed, "method_not_allowed",
				r.Method+" is not allowed: the admin listener is read-only (GET, HEAD)")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// securityHeaders sets headers that keep the status page and the API from
// being framed, sniffed, cached or made to load anything from elsewhere.
func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("Cache-Control", "no-store")
		hd.Set("Referrer-Policy", "no-referrer")
		hd.Set("Content-Security-Policy",
			"default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'")
		next.ServeHTTP(w, r)
	})
}

// NewServer returns an http.Server for the admin handler with timeouts
// that keep a slow or idle client from holding a connection: the
// listener is for probes, scrapes and a person's browser.
func NewServer(addr string, h http.Handler) *http.Server {
	return &http.Server{
		Addr:              addr,
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
	}
}

// slogErrorLog adapts a slog.Logger to promhttp's Println-style logger.
type slogErrorLog struct{ log *slog.Logger }

func (l slogErrorLog) Println(v ...any) {
	l.log.Error("serve metrics", "detail", v)
}
