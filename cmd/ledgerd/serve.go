package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/ledgerd/ledgerd/admin"
	"github.com/ledgerd/ledgerd/config"
	"github.com/ledgerd/ledgerd/ledger"
	"github.com/ledgerd/ledgerd/reconcile"
	"github.com/ledgerd/ledgerd/replica"
	"github.com/ledgerd/ledgerd/sdnotify"
	syncer "github.com/ledgerd/ledgerd/sync"
	"github.com/ledgerd/ledgerd/webhook"
	"github.com/prometheus/client_golang/prometheus"
)

// shutdownTimeout bounds a graceful stop: in-flight webhooks finish and
// commit, the running job stops, the WAL is checkpointed.
const shutdownTimeout = 25 * time.Second

func cmdServe(ctx context.Context, e env, args []string) error {
	fs := newFlags(e, "serve", "[--db PATH]",
		`Runs ledgerd as a daemon: the webhook listener on $LEDGERD_LISTEN (path
$LEDGERD_WEBHOOK_PATH), the scheduled backfill and reconciliation (tuned by
the LEDGERD_RECONCILE_* variables, as ledgerd reconcile is), and the admin
listener on $LEDGERD_ADMIN_LISTEN (metrics, health, status page, JSON
API). A webhook is answered 2xx only once durably committed. SIGTERM or
SIGINT stops accepting webhooks, finishes in-flight requests and the running
job, checkpoints the WAL and closes the file, and exits 0 when nothing was
lost, even if a full disk refused the final checkpoint (the WAL keeps every
commit for the next start; a warning says so); a second signal aborts the
wait. At start it checks the file in the background (quick_check and the
events hash chain): a damaged file makes /readyz answer 503 and every
webhook 503, and the log and status page say what is wrong. With
LEDGERD_REPLICA_URL it replicates the file continuously (Litestream, every
LEDGERD_REPLICA_INTERVAL), leaves the WAL's checkpoints to Litestream, and
at a stop ships the last commits to the replica (ledgerd restore brings the
file back). Under systemd (Type=notify) it reports readiness and feeds the
watchdog.`)
	db := fs.String("db", "", "database file (default $LEDGERD_DB)")
	if err := parseNone(fs, args); err != nil {
		return err
	}
	cfg, log, err := loadConfig(ctx, e)
	if err != nil {
		return err
	}
	if *db != "" {
		cfg.DB = *db
	}
	d, err := newDaemon(ctx, cfg, log)
	if err != nil {
		return err
	}
	return d.run(ctx)
}

// daemon is everything `serve` runs, built in start order and stopped in
// reverse.
type daemon struct {
	cfg     *config.Config
	log     *slog.Logger
	reg     *prometheus.Registry
	ledger  *ledger.Ledger
	replica *replica.Replicator // nil without LEDGERD_REPLICA_URL
	servers []*namedServer
	// The scheduled jobs: nil without Fuse credentials.
	schedules []*syncer.Scheduler
	backfill  func(context.Context) error
	// syncer and reconciler are the jobs' own runners, for `demo`, which
	// triggers runs on demand: nil without Fuse credentials.
	syncer     *syncer.Syncer
	reconciler *reconcile.Reconciler
	// gc raises the collector's target while a reconciliation runs.
	gc gcTarget
	// backfillMu keeps the start-up catch-up and a scheduled run apart;
	// lastBackfill is the last run's error (readiness).
	backfillMu   sync.Mutex
	lastBackfill atomicError
	stopJobs     context.CancelFunc // cancels running jobs (set by run)
	catchUp      sync.WaitGroup     // the start-up backfill
	// The start-up integrity check, stopped before the file closes.
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

func newDaemon(ctx context.Context, cfg *config.Config, log *slog.Logger) (*daemon, error) {
	d := &daemon{cfg: cfg, log: log, reg: prometheus.NewRegistry()}
	hookMetrics := webhook.NewMetrics(d.reg)
	d.replica = replica.New(cfg.DB, replica.Options{Target: replica.TargetOf(cfg), Interval: cfg.ReplicaInterval,
		Logger: log, Registry: d.reg})
	l, err := ledger.Open(ctx, cfg.DB, ledger.Options{Logger: log, OnBatch: hookMetrics.CommitBatch,
		QuarantineMaxBytes: cfg.QuarantineMaxBytes, ExternalCheckpoints: d.replica != nil})
	if err != nil {
		return nil, err
	}
	d.ledger = l
	hook := webhook.NewHandler(webhook.Options{
		Store:              l,
		AllowCIDRs:         cfg.WebhookAllowCIDRs,
		TrustedProxies:     cfg.WebhookTrustedProxies,
		Secret:             []byte(cfg.WebhookSecret.Reveal()),
		TimestampTolerance: cfg.WebhookTimestampTolerance,
		Logger:             log,
		Metrics:            hookMetrics,
	})
	if err := d.listen("webhook", cfg.Listen, webhook.NewServer(cfg.Listen, cfg.WebhookPath, hook)); err != nil {
		d.ledger.Close()
		return nil, err
	}
	logWebhookIntake(log, cfg, d.servers[len(d.servers)-1].ln.Addr())
	adminHandler := admin.New(admin.Options{Ledger: l, Registry: d.reg, Logger: log, Location: cfg.Location,
		Version: version, Ready: d.ready, Replication: d.replica})
	if err := d.listen("admin", cfg.AdminListen, admin.NewServer(cfg.AdminListen, adminHandler)); err != nil {
		d.ledger.Close()
		return nil, err
	}
	if err := d.schedule(); err != nil {
		for _, s := range d.servers {
			s.ln.Close()
		}
		d.ledger.Close()
		return nil, err
	}
	if err := d.replica.Start(ctx, d.ledger); err != nil {
		for _, s := range d.servers {
			s.ln.Close()
		}
		d.ledger.Close()
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
func (d *daemon) schedule() error {
	cfg, log := d.cfg, d.log
	if cfg.FuseClientID == "" || cfg.FuseClientSecret.Reveal() == "" {
		log.Warn("no Fuse credentials (FUSE_CLIENT_ID, FUSE_CLIENT_SECRET): backfill and reconciliation are off; webhooks are still ingested")
		return nil
	}
	cm, err := syncer.NewClientMetrics(d.reg, log)
	if err != nil {
		return err
	}
	client, err := fuseClient(cfg, log, cm, "serve")
	if err != nil {
		return err
	}
	s, err := syncer.New(syncer.Options{Ledger: d.ledger, Client: client, Logger: log, Metrics: d.reg, ClientMetrics: cm})
	if err != nil {
		return err
	}
	d.syncer = s
	job := s.Job()
	d.backfill = func(ctx context.Context) error {
		if !d.backfillMu.TryLock() {
			log.Info("backfill already running: skipped")
			return nil
		}
		defer d.backfillMu.Unlock()
		err := job(ctx)
		d.lastBackfill.set(err)
		return err
	}
	ro := reconcileOptions(cfg)
	ro.Ledger, ro.Fuse, ro.Logger, ro.Metrics = d.ledger, client, log, reconcile.NewMetrics(d.reg)
	r, err := reconcile.New(ro)
	if err != nil {
		return err
	}
	d.reconciler = r
	reconcileJob := func(ctx context.Context) error {
		run, err := d.reconcile(ctx)
		if err != nil {
			return err
		}
		log.Info("reconciliation", "run", run.ID, "verdict", run.Verdict)
		return nil
	}
	for _, j := range []struct {
		name, spec string
		job        func(context.Context) error
	}{{"backfill", cfg.BackfillSchedule, d.backfill}, {"reconcile", cfg.ReconcileSchedule, reconcileJob}} {
		sc, err := syncer.NewScheduler(j.name, j.spec, cfg.Location, j.job, log)
		if err != nil {
			return fmt.Errorf("%w: %v", config.ErrInvalid, err)
		}
		d.schedules = append(d.schedules, sc)
	}
	return nil
}

// reconcile runs one reconciliation now, with the collector's target
// raised for it (gc.go).
func (d *daemon) reconcile(ctx context.Context) (reconcile.Run, error) {
	defer d.gc.raise(reconcileGCPercent)()
	return d.reconciler.Run(ctx, time.Time{})
}

// ready is the daemon's readiness beyond a writable file (which the admin
// package checks): the last backfill did not fail.
func (d *daemon) ready(context.Context) error {
	if err := d.lastBackfill.get(); err != nil {
		return fmt.Errorf("last backfill failed: %w", err)
	}
	return nil
}

// listen binds addr now, so that a port in use is an error at start, not a
// log line later.
func (d *daemon) listen(name, addr string, srv *http.Server) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		for _, s := range d.servers {
			s.ln.Close()
		}
		return fmt.Errorf("%w: %s listener on %s: %v", errUsage, name, addr, err)
	}
	d.servers = append(d.servers, &namedServer{name: name, srv: srv, ln: ln})
	return nil
}

func (d *daemon) run(ctx context.Context) error {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)

	errc := make(chan error, len(d.servers))
	for _, s := range d.servers {
		d.log.Info("listening", "listener", s.name, "addr", s.ln.Addr().String())
		go func() {
			if err := s.srv.Serve(s.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				errc <- fmt.Errorf("%s listener: %w", s.name, err)
			}
		}()
	}
	d.log.Info("ledgerd serving", "version", version, "db", d.ledger.Path(), "config", d.cfg)
	if err := sdnotify.Ready(); err != nil {
		d.log.Warn("sd_notify READY failed", "err", err)
	}
	jobsCtx, stopJobs := context.WithCancel(context.Background())
	defer stopJobs()
	d.stopJobs = stopJobs
	for _, sc := range d.schedules {
		sc.Start(jobsCtx)
	}
	if d.backfill != nil {
		// Catch up at once on what happened while ledgerd was down.
		d.catchUp.Add(1)
		go func() {
			defer d.catchUp.Done()
			if err := d.backfill(jobsCtx); err != nil && jobsCtx.Err() == nil {
				d.log.Error("start-up backfill failed", "err", err)
			}
		}()
	}
	integrityCtx, stopIntegrity := context.WithCancel(context.Background())
	defer stopIntegrity()
	d.stopIntegrity = stopIntegrity
	d.integrity.Add(1)
	go func() {
		defer d.integrity.Done()
		d.checkIntegrity(integrityCtx)
	}()
	watchCtx, stopWatch := context.WithCancel(context.Background())
	defer stopWatch()
	// The watchdog asks whether the writer is alive, not whether the
	// disk has room (that is /readyz's question): a restart frees no disk.
	go sdnotify.WatchdogLoop(watchCtx, func() error {
		c, cancel := context.WithTimeout(watchCtx, 5*time.Second)
		defer cancel()
		return admin.ProbeWriter(c, d.ledger)
	})

	var runErr error
loop:
	for {
		select {
		case <-ctx.Done():
			d.log.Info("stopping", "reason", "signal")
			break loop
		case err := <-errc:
			runErr = err
			d.log.Error("stopping", "reason", err)
			break loop
		case <-hup:
			// Logs go to stderr (journald under systemd): nothing to reopen.
			d.log.Info("SIGHUP: logs go to stderr, nothing to reopen")
		}
	}
	_ = sdnotify.Stopping()
	stopWatch()
	if err := d.shutdown(); err != nil && runErr == nil {
		runErr = err
	}
	return runErr
}

// checkIntegrity runs the ledger's integrity check once, in the
// background: readiness does not wait for it, however large the file. A
// damaged file is said loudly (log, systemd status, /readyz, the status
// page, a metric), and the ledger refuses writes from then on: webhooks
// get 503, so Fuse keeps them for 12 hours while the file is restored,
// instead of their being added to a chain that no longer verifies.
func (d *daemon) checkIntegrity(ctx context.Context) {
	d.log.Info("integrity check started", "checks", "quick_check, events hash chain")
	res, err := d.ledger.CheckIntegrity(ctx)
	took := slog.Duration("duration", time.Since(res.Started))
	switch {
	case err != nil:
		d.log.Info("integrity check stopped before the end", took)
	case res.State == ledger.IntegrityFailed:
		d.log.Error("integrity check failed: the database file is damaged; webhooks and every other write are refused "+
			"until it is restored from a backup", took, "problems", res.Problems)
		_ = sdnotify.Status("database file damaged, writes refused: " + res.Problems[0])
	default:
		d.log.Info("integrity check passed", took, "events", res.Events)
	}
}

// shutdown stops in reverse order of start: listeners (finishing in-flight
// requests and their commits), then the file. A second SIGINT/SIGTERM
// aborts the wait.
func (d *daemon) shutdown() error {
	ctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	again, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	for _, s := range d.servers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := s.srv.Shutdown(again); err != nil {
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
		if err := sc.Stop(again); err != nil {
			errs = append(errs, err)
		}
	}
	// The start-up catch-up, if still running, gets the same deadline.
	caughtUp := make(chan struct{})
	go func() { d.catchUp.Wait(); close(caughtUp) }()
	select {
	case <-caughtUp:
	case <-again.Done():
		d.stopJobs()
		<-caughtUp
	}
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
