package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/ledgerd/ledgerd/config"
	"github.com/ledgerd/ledgerd/fuse"
	"github.com/ledgerd/ledgerd/internal/gcpercent"
	"github.com/ledgerd/ledgerd/reconcile"
	syncer "github.com/ledgerd/ledgerd/sync"
)

// Errors of Backfill and Reconcile.
var (
	// ErrSkipped: a backfill is already running; the one asked for is
	// skipped, not queued.
	ErrSkipped = errors.New("backfill already running: skipped")
	// ErrNoFuse: without Fuse credentials there is no backfill and no
	// reconciliation to run.
	ErrNoFuse = errors.New("no Fuse credentials: backfill and reconciliation are off")
)

// single runs one job at a time: a run asked for while one is going is
// skipped with a log line, never queued. It is the one place where ledgerd
// skips a job already running, whoever asks: the schedule, the start-up
// catch-up or a caller (the demo). Paused, it also skips the runs nobody
// asked for (the schedule's and the catch-up) and still runs those asked
// for.
type single struct {
	name string
	log  *slog.Logger

	mu      sync.Mutex
	running bool
	paused  bool
}

// run runs job unless a run is going, or unless asked while paused; it
// says whether job ran.
func (s *single) run(asked bool, job func()) bool {
	s.mu.Lock()
	switch {
	case s.running:
		s.mu.Unlock()
		s.log.Info(s.name + " already running: skipped")
		return false
	case s.paused && !asked:
		s.mu.Unlock()
		s.log.Info(s.name + " paused: skipped")
		return false
	}
	s.running = true
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.running = false
		s.mu.Unlock()
	}()
	job()
	return true
}

func (s *single) pause(paused bool) {
	s.mu.Lock()
	s.paused = paused
	s.mu.Unlock()
}

// PauseBackfill skips the scheduled backfills, and the start-up catch-up
// when called before Start, until ResumeBackfill; Backfill still runs. The
// demo heals the book with its own backfill, at the point of its story
// where it shows.
func (d *Daemon) PauseBackfill() { d.backfills.pause(true) }

// ResumeBackfill lets the scheduled backfills run again.
func (d *Daemon) ResumeBackfill() { d.backfills.pause(false) }

// Backfill runs one backfill now, over every account from where the last
// listing ended, and keeps its outcome for readiness. While another
// backfill runs it is skipped and returns ErrSkipped.
func (d *Daemon) Backfill(ctx context.Context) (sum syncer.Summary, err error) {
	if d.syncer == nil {
		return sum, ErrNoFuse
	}
	if !d.backfills.run(true, func() { sum, err = d.backfill(ctx) }) {
		return sum, ErrSkipped
	}
	return sum, err
}

// backfillJob is the backfill the schedule and the start-up catch-up run:
// skipped, with nil, while another runs or while paused.
func (d *Daemon) backfillJob(ctx context.Context) (err error) {
	d.backfills.run(false, func() { _, err = d.backfill(ctx) })
	return err
}

func (d *Daemon) backfill(ctx context.Context) (syncer.Summary, error) {
	sum, err := d.syncer.Run(ctx, syncer.RunOptions{})
	d.lastBackfill.set(err)
	return sum, err
}

// Reconcile runs one reconciliation now, as of now, with the collector's
// target raised for it. It runs even while a scheduled one does: two runs
// at once are safe, and the one asked for must happen (the demo counts its
// runs).
func (d *Daemon) Reconcile(ctx context.Context) (reconcile.Run, error) {
	if d.reconciler == nil {
		return reconcile.Run{}, ErrNoFuse
	}
	defer d.gc.Raise(gcpercent.Reconcile)()
	return d.reconciler.Run(ctx, time.Time{})
}

// reconcileJob is the scheduled reconciliation: skipped, with nil, while
// the previous scheduled one runs.
func (d *Daemon) reconcileJob(ctx context.Context) (err error) {
	d.reconciles.run(false, func() {
		var run reconcile.Run
		if run, err = d.Reconcile(ctx); err == nil {
			d.log.Info("reconciliation", "run", run.ID, "verdict", run.Verdict)
		}
	})
	return err
}

// FuseClient builds the Fuse API client from the configuration, for the
// daemon and for the commands that call Fuse once; what names the command
// that needs it, for the error when credentials are missing (a
// configuration error: exit 2).
func FuseClient(cfg *config.Config, log *slog.Logger, m fuse.Metrics, what string) (*fuse.Client, error) {
	if cfg.FuseClientID == "" || cfg.FuseClientSecret.Reveal() == "" {
		return nil, fmt.Errorf("%w: %s needs Fuse credentials: set FUSE_CLIENT_ID and FUSE_CLIENT_SECRET (or FUSE_CLIENT_ID_FILE and FUSE_CLIENT_SECRET_FILE)", config.ErrInvalid, what)
	}
	c, err := fuse.New(fuse.Config{BaseURL: cfg.FuseBaseURL, AuthURL: cfg.FuseAuthURL, Audience: cfg.FuseAudience,
		ClientID: cfg.FuseClientID, ClientSecret: cfg.FuseClientSecret.Reveal(), Logger: log, Metrics: m})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", config.ErrInvalid, err)
	}
	return c, nil
}

// ReconcileOptions is how the environment tunes every reconciliation:
// serve's scheduled runs, and ledgerd reconcile unless a flag says
// otherwise.
func ReconcileOptions(cfg *config.Config) reconcile.Options {
	return reconcile.Options{Location: cfg.Location, LedgerGrace: cfg.ReconcileLedgerGrace,
		FuseGrace: cfg.ReconcileFuseGrace, StalePendingAfter: cfg.ReconcileStalePending,
		MaxNewBreaks: cfg.ReconcileMaxNewBreaks, MaxLookups: cfg.ReconcileMaxLookups,
		LookupTime: cfg.ReconcileLookupTime, Workers: cfg.ReconcileWorkers}
}
