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

	"github.com/ledgerd/ledgerd/config"
	"github.com/ledgerd/ledgerd/ledger"
	"github.com/ledgerd/ledgerd/webhook"
	"github.com/prometheus/client_golang/prometheus"
)

// shutdownTimeout bounds a graceful stop: in-flight webhooks finish and
// commit, the running job stops, the WAL is checkpointed.
const shutdownTimeout = 25 * time.Second

func cmdServe(ctx context.Context, e env, args []string) error {
	fs := newFlags(e, "serve", "[--db PATH]",
		`Runs ledgerd as a daemon: the webhook listener on $LEDGERD_LISTEN (path
$LEDGERD_WEBHOOK_PATH), the scheduled backfill and reconciliation, and the
admin listener on $LEDGERD_ADMIN_LISTEN (metrics, health, status page, JSON
API). A webhook is answered 2xx only once durably committed. SIGTERM or
SIGINT stops accepting webhooks, finishes in-flight requests and the running
job, checkpoints the WAL and closes the file; a second signal aborts the
wait. Under systemd (Type=notify) it reports readiness and feeds the
watchdog.`)
	db := fs.String("db", "", "database file (default $LEDGERD_DB)")
	if err := parse(fs, args); err != nil {
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
	servers []*namedServer
}

type namedServer struct {
	name string
	srv  *http.Server
	ln   net.Listener
}

func newDaemon(ctx context.Context, cfg *config.Config, log *slog.Logger) (*daemon, error) {
	d := &daemon{cfg: cfg, log: log, reg: prometheus.NewRegistry()}
	hookMetrics := webhook.NewMetrics(d.reg)
	l, err := ledger.Open(ctx, cfg.DB, ledger.Options{Logger: log, OnBatch: hookMetrics.CommitBatch})
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
	return d, nil
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
	if err := d.shutdown(); err != nil && runErr == nil {
		runErr = err
	}
	return runErr
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
	if err := d.ledger.Close(); err != nil {
		errs = append(errs, err)
	}
	if len(errs) == 0 {
		d.log.Info("stopped cleanly")
	}
	return errors.Join(errs...)
}
