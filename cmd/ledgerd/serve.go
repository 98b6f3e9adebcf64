package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/ledgerd/ledgerd/admin"
	"github.com/ledgerd/ledgerd/internal/daemon"
	"github.com/ledgerd/ledgerd/sdnotify"
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
	d, err := daemon.New(ctx, cfg, log, daemonOptions())
	if err != nil {
		return err
	}
	return serve(ctx, d)
}

// daemonOptions is how serve and the demo build their daemon.
func daemonOptions() daemon.Options {
	return daemon.Options{Version: version, Damaged: func(problem string) {
		_ = sdnotify.Status("database file damaged, writes refused: " + problem)
	}}
}

// serve runs d until ctx ends (SIGINT, SIGTERM) or a listener fails, then
// stops it within shutdownTimeout; a second signal aborts the wait. Under
// systemd it reports readiness, feeds the watchdog while the writer is
// alive, and says when it stops.
func serve(ctx context.Context, d *daemon.Daemon) error {
	log := d.Logger()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)

	failed := d.Start()
	if err := sdnotify.Ready(); err != nil {
		log.Warn("sd_notify READY failed", "err", err)
	}
	watchCtx, stopWatch := context.WithCancel(context.Background())
	defer stopWatch()
	// The watchdog asks whether the writer is alive, not whether the
	// disk has room (that is /readyz's question): a restart frees no disk.
	go sdnotify.WatchdogLoop(watchCtx, func() error {
		c, cancel := context.WithTimeout(watchCtx, 5*time.Second)
		defer cancel()
		return admin.ProbeWriter(c, d.Ledger())
	})

	var runErr error
loop:
	for {
		select {
		case <-ctx.Done():
			log.Info("stopping", "reason", "signal")
			break loop
		case err := <-failed:
			runErr = err
			log.Error("stopping", "reason", err)
			break loop
		case <-hup:
			// Logs go to stderr (journald under systemd): nothing to reopen.
			log.Info("SIGHUP: logs go to stderr, nothing to reopen")
		}
	}
	_ = sdnotify.Stopping()
	stopWatch()
	stopCtx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	again, stop := signal.NotifyContext(stopCtx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := d.Shutdown(again); err != nil && runErr == nil {
		runErr = err
	}
	return runErr
}
