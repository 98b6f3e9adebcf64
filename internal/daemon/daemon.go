// Package daemon is what `ledgerd serve` runs: the webhook and admin
// listeners, the scheduled backfill and reconciliation through one Fuse
// client, and the start-up integrity check, built in start order by New,
// started by Start and stopped in reverse by Shutdown. The command around
// it (cmd/ledgerd) keeps flags, configuration, signals and systemd; the
// demo (internal/demo) drives the same daemon through its methods.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"time"

	"github.com/ledgerd/ledgerd/admin"
	"github.com/ledgerd/ledgerd/config"
	"github.com/ledgerd/ledgerd/internal/gcpercent"
	"github.com/ledgerd/ledgerd/ledger"
	"github.com/ledgerd/ledgerd/reconcile"
	"github.com/ledgerd/ledgerd/replica"
	"github.com/ledgerd/ledgerd/schedule"
	syncer "github.com/ledgerd/ledgerd/sync"
	"github.com/ledgerd/ledgerd/webhook"
	"github.com/prometheus/client_golang/prometheus"
)

// Options is what New takes beside the configuration.
type Options struct {
	// Version is ledgerd's, for the start-up log line and the status page.
	Version string
	// Damaged, when set, hears the first problem of a start-up integrity
	// check that failed (serve puts it in systemd's status line).
	Damaged func(problem string)
}

// Daemon is everything `serve` runs, built in start order and stopped in
// reverse.
type Daemon struct {
	cfg     *config.Config
	log     *slog.Logger
	opts    Options
	reg     *prometheus.Registry
	ledger  *ledger.Ledger
	replica *replica.Replicator // nil without LEDGERD_REPLICA_URL
	servers []*namedServer
	// The scheduled jobs and their runners: nil without Fuse credentials.
	schedules  []*schedule.Scheduler
	syncer     *syncer.Syncer
	reconciler *reconcile.Reconciler
	// backfills and reconciles each run one job at a time; lastBackfill is
	// the last backfill's error (readiness).
	backfills, reconciles single
	lastBackfill          atomicError
	// gc raises the collector's target while a reconciliation runs.
	gc gcpercent.Target
	// jobsCtx is the jobs' context, cancelled at Shutdown's deadline;
	// catchUp is the start-up backfill.
	jobsCtx  context.Context
	stopJobs context.CancelFunc
	catchUp  sync.WaitGroup
	// The start-up integrity check, stopped before the file closes.
	integrityCtx  context.Context
	stopIntegrity context.CancelFunc
	integrity     sync.WaitGroup
}

// atomicError holds the latest error of a job, nil when it succeeded.
type atomicError struct {
	mu  sync.Mutex
	err error
}

func (a *atomicError) set(err error) { a.mu.Lock(); a.err = err; a.mu.Unlock() }
func (a *atomicError) get() error    { a.mu.Lock(); defer a.mu.Unlock(); return a.err }

type namedServer struct {
	name string
	srv  *http.Server
	ln   net.Listener
}

// ListenError is a listener that could not bind its address at start: the
// address is the operator's to change (ledgerd exits 2).
type ListenError struct {
	Listener, Addr string
	Err            error
}

func (e *ListenError) Error() string {
	return fmt.Sprintf("%s listener on %s: %v", e.Listener, e.Addr, e.Err)
}

func (e *ListenError) Unwrap() error { return e.Err }

// New opens the file cfg names, binds the listeners (a port in use is an
// error now, not a log line later) and sets up the schedules; nothing runs
// until Start. On error, what it had opened is closed again.
func New(ctx context.Context, cfg *config.Config, log *slog.Logger, opts Options) (_ *Daemon, err error) {
	d := &Daemon{cfg: cfg, log: log, opts: opts, reg: prometheus.NewRegistry(),
		backfills: single{name: "backfill", log: log}, reconciles: single{name: "reconciliation", log: log}}
	d.jobsCtx, d.stopJobs = context.WithCancel(context.Background())
	d.integrityCtx, d.stopIntegrity = context.WithCancel(context.Background())
	defer func() {
		if err != nil {
			d.stopJobs()
			d.stopIntegrity()
			for _, s := range d.servers {
				s.ln.Close()
			}
			if d.ledger != nil {
				d.ledger.Close()
			}
		}
	}()
	hookMetrics := webhook.NewMetrics(d.reg)
	d.replica = replica.New(cfg.DB, replica.Options{Target: replica.TargetOf(cfg), Interval: cfg.ReplicaInterval,
		Logger: log, Registry: d.reg})
	d.ledger, err = ledger.Open(ctx, cfg.DB, ledger.Options{Logger: log, OnBatch: hookMetrics.CommitBatch,
		QuarantineMaxBytes: cfg.QuarantineMaxBytes, Metrics: ledger.NewMetrics(d.reg),
		ExternalCheckpoints: d.replica != nil})
	if err != nil {
		return nil, err
	}
	hook := webhook.NewHandler(webhook.Options{
		Store:              d.ledger,
		AllowCIDRs:         cfg.WebhookAllowCIDRs,
		TrustedProxies:     cfg.WebhookTrustedProxies,
		Secret:             []byte(cfg.WebhookSecret.Reveal()),
		TimestampTolerance: cfg.WebhookTimestampTolerance,
		Logger:             log,
		Metrics:            hookMetrics,
	})
	if err := d.listen("webhook", cfg.Listen, webhook.NewServer(cfg.Listen, cfg.WebhookPath, hook)); err != nil {
		return nil, err
	}
	logWebhookIntake(log, cfg, d.servers[len(d.servers)-1].ln.Addr())
	adminHandler := admin.New(admin.Options{Ledger: d.ledger, Registry: d.reg, Logger: log, Location: cfg.Location,
		Version: opts.Version, Ready: d.ready, Replication: d.replica})
	if err := d.listen("admin", cfg.AdminListen, admin.NewServer(cfg.AdminListen, adminHandler)); err != nil {
		return nil, err
	}
	if err := d.schedule(); err != nil {
		return nil, err
	}
	if err := d.replica.Start(ctx, d.ledger); err != nil {
		return nil, err
	}
	return d, nil
}

// logWebhookIntake says at start whom the webhook listener accepts events
// from, and warns when that is anyone who reaches it: it listens beyond
// loopback, LEDGERD_WEBHOOK_ALLOW_CIDRS is "any" and no
// LEDGERD_WEBHOOK_SECRET is set (Fuse documents no signature), so that the
// operator who opened it hears what that means.
func logWebhookIntake(log *slog.Logger, cfg *config.Config, addr net.Addr) {
	signature := "not required"
	if cfg.WebhookSecret.Reveal() != "" {
		signature = "required"
	}
	open := webhook.OpenToAnyone(cfg.WebhookAllowCIDRs)
	openTo := cfg.WebhookAllow
	if open {
		openTo = config.AllowAny
	}
	log.Info("webhook intake", "listen", addr.String(), "open_to", openTo,
		"trusted_proxies", len(cfg.WebhookTrustedProxies), "signature", signature)
	if !open || signature == "required" {
		return
	}
	if tcp, ok := addr.(*net.TCPAddr); ok && tcp.IP.IsLoopback() {
		return
	}
	log.Warn("the webhook listener accepts events from anyone who can reach it: set LEDGERD_WEBHOOK_ALLOW_CIDRS "+
		"to fuse (Fuse's addresses, see the README), LEDGERD_WEBHOOK_SECRET behind a signing proxy, or listen on loopback",
		"listen", addr.String())
}

// schedule sets up the backfill and the reconciliation on their cron
// schedules, both through one Fuse client (one live token). Without Fuse
// credentials ledgerd still ingests webhooks, and says so.
func (d *Daemon) schedule() error {
	cfg, log := d.cfg, d.log
	if cfg.FuseClientID == "" || cfg.FuseClientSecret.Reveal() == "" {
		log.Warn("no Fuse credentials (FUSE_CLIENT_ID, FUSE_CLIENT_SECRET): backfill and reconciliation are off; webhooks are still ingested")
		return nil
	}
	cm, err := syncer.NewClientMetrics(d.reg, log)
	if err != nil {
		return err
	}
	client, err := FuseClient(cfg, log, cm, "serve")
	if err != nil {
		return err
	}
	d.syncer, err = syncer.New(syncer.Options{Ledger: d.ledger, Client: client, Logger: log, Metrics: d.reg, ClientMetrics: cm})
	if err != nil {
		return err
	}
	ro := ReconcileOptions(cfg)
	ro.Ledger, ro.Fuse, ro.Logger, ro.Metrics = d.ledger, client, log, reconcile.NewMetrics(d.reg)
	if d.reconciler, err = reconcile.New(ro); err != nil {
		return err
	}
	for _, j := range []struct {
		name, spec string
		job        func(context.Context) error
	}{{"backfill", cfg.BackfillSchedule, d.backfillJob}, {"reconcile", cfg.ReconcileSchedule, d.reconcileJob}} {
		sc, err := schedule.New(j.name, j.spec, cfg.Location, j.job, log)
		if err == nil {
			err = schedule.ExportPeriod(d.reg, j.name, j.spec, cfg.Location)
		}
		if err != nil {
			return fmt.Errorf("%w: %v", config.ErrInvalid, err)
		}
		d.schedules = append(d.schedules, sc)
	}
	return nil
}

// ready is the daemon's readiness beyond a writable file (which the admin
// package checks): the last backfill did not fail.
func (d *Daemon) ready(context.Context) error {
	if err := d.lastBackfill.get(); err != nil {
		return fmt.Errorf("last backfill failed: %w", err)
	}
	return nil
}

// listen binds addr now, so that a port in use is an error at start, not a
// log line later.
func (d *Daemon) listen(name, addr string, srv *http.Server) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return &ListenError{Listener: name, Addr: addr, Err: err}
	}
	d.servers = append(d.servers, &namedServer{name: name, srv: srv, ln: ln})
	return nil
}

// Logger is the daemon's logger, for what runs it.
func (d *Daemon) Logger() *slog.Logger { return d.log }

// Ledger is the daemon's open file, for readers beside it (the demo, the
// watchdog's write probe).
func (d *Daemon) Ledger() *ledger.Ledger { return d.ledger }

// URL is the base URL of the listener named ("webhook" or "admin"),
// dialable (an unspecified host becomes loopback); "" for another name.
func (d *Daemon) URL(name string) string {
	for _, s := range d.servers {
		if s.name == name {
			return "http://" + Dialable(s.ln.Addr())
		}
	}
	return ""
}

// Dialable turns a listener's address into one a client can dial: an
// unspecified host (":8080", "[::]:8080") becomes loopback.
func Dialable(a net.Addr) string {
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil || !ap.Addr().IsUnspecified() {
		return a.String()
	}
	return netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), ap.Port()).String()
}

// Start serves: the listeners, the schedules, a backfill at once to catch
// up on what happened while ledgerd was down, and the file's integrity
// check, all in the background. A listener that stops with an error says
// so on the channel returned. Shutdown stops it all.
func (d *Daemon) Start() <-chan error {
	failed := make(chan error, len(d.servers))
	for _, s := range d.servers {
		d.log.Info("listening", "listener", s.name, "addr", s.ln.Addr().String())
		go func() {
			if err := s.srv.Serve(s.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				failed <- fmt.Errorf("%s listener: %w", s.name, err)
			}
		}()
	}
	d.log.Info("ledgerd serving", "version", d.opts.Version, "db", d.ledger.Path(), "config", d.cfg)
	for _, sc := range d.schedules {
		sc.Start(d.jobsCtx)
	}
	if d.syncer != nil {
		d.catchUp.Add(1)
		go func() {
			defer d.catchUp.Done()
			if err := d.backfillJob(d.jobsCtx); err != nil && d.jobsCtx.Err() == nil {
				d.log.Error("start-up backfill failed", "err", err)
			}
		}()
	}
	d.integrity.Add(1)
	go func() {
		defer d.integrity.Done()
		d.checkIntegrity(d.integrityCtx)
	}()
	return failed
}

// checkIntegrity runs the ledger's integrity check once, in the
// background: readiness does not wait for it, however large the file. A
// damaged file is said loudly (log, Options.Damaged, /readyz, the status
// page, a metric), and the ledger refuses writes from then on: webhooks
// get 503, so Fuse keeps them for 12 hours while the file is restored,
// instead of their being added to a chain that no longer verifies.
func (d *Daemon) checkIntegrity(ctx context.Context) {
	d.log.Info("integrity check started", "checks", "quick_check, events hash chain")
	res, err := d.ledger.CheckIntegrity(ctx)
	took := slog.Duration("duration", time.Since(res.Started))
	switch {
	case err != nil:
		d.log.Info("integrity check stopped before the end", took)
	case res.State == ledger.IntegrityFailed:
		d.log.Error("integrity check failed: the database file is damaged; webhooks and every other write are refused "+
			"until it is restored from a backup", took, "problems", res.Problems)
		if d.opts.Damaged != nil {
			d.opts.Damaged(res.Problems[0])
		}
	default:
		d.log.Info("integrity check passed", took, "events", res.Events)
	}
}

// Shutdown stops in reverse order of start: listeners (finishing in-flight
// requests and their commits), the jobs, then the file. When ctx ends
// first, the running jobs are cancelled (what they committed stays) and
// the listeners' wait is cut short.
func (d *Daemon) Shutdown(ctx context.Context) error {
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	for _, s := range d.servers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := s.srv.Shutdown(ctx); err != nil {
				mu.Lock()
				errs = append(errs, fmt.Errorf("stop %s listener: %w", s.name, err))
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	// Then the jobs: a running one finishes its page or run, or is
	// cancelled at the deadline; what it committed stays.
	for _, sc := range d.schedules {
		if err := sc.Stop(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	// The start-up catch-up, if still running, gets the same deadline.
	caughtUp := make(chan struct{})
	go func() { d.catchUp.Wait(); close(caughtUp) }()
	select {
	case <-caughtUp:
	case <-ctx.Done():
		d.stopJobs()
		<-caughtUp
	}
	d.stopJobs()
	d.stopIntegrity()
	d.integrity.Wait()
	untidy := false
	switch err := d.ledger.Close(); {
	case errors.Is(err, ledger.ErrNotCheckpointed):
		// A full disk: every acknowledged write is in the WAL, synced.
		untidy = true
		d.log.Warn("closed the database without finishing its housekeeping (see error): any WAL left beside "+
			"the file holds every commit, and the next start reads and checkpoints it; nothing is lost", "err", err)
	case err != nil:
		errs = append(errs, err)
	}
	// After the ledger: the replica gets the last frames it wrote.
	if err := d.replica.Close(); err != nil {
		errs = append(errs, err)
	}
	switch {
	case len(errs) == 0 && untidy:
		d.log.Info("stopped")
	case len(errs) == 0:
		d.log.Info("stopped cleanly")
	}
	return errors.Join(errs...)
}
