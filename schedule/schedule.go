// Package schedule runs the daemon's periodic jobs (the backfill, the
// reconciliation) on cron schedules, with what robfig/cron leaves to its
// caller: a run skipped while the previous one goes on, panics recovered,
// errors logged once, and a stop that waits for the run in progress.
package schedule

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/robfig/cron/v3"
)

// Scheduler runs a job on a cron schedule (LEDGERD_BACKFILL_SCHEDULE in
// LEDGERD_TZ for the backfill): a run is skipped while the previous one is
// still going, a panic is recovered and logged, and each run's error is
// logged once, here. Create it with New, then Start and Stop.
type Scheduler struct {
	name string
	c    *cron.Cron
	job  func(context.Context) error
	log  *slog.Logger

	mu     sync.Mutex
	ctx    context.Context // the jobs' context, from Start
	cancel context.CancelFunc
}

// New parses spec (5 fields or a descriptor such as "@every 15m",
// as cron.ParseStandard reads it) in loc (nil: UTC) and returns a
// scheduler that will run job under the name given (for the logs).
func New(name, spec string, loc *time.Location, job func(context.Context) error, log *slog.Logger) (*Scheduler, error) {
	sched, err := cron.ParseStandard(spec)
	if err != nil {
		return nil, fmt.Errorf("%s schedule %q: %w", name, spec, err)
	}
	return newScheduler(name, sched, loc, job, log), nil
}

func newScheduler(name string, sched cron.Schedule, loc *time.Location, job func(context.Context) error, log *slog.Logger) *Scheduler {
	if loc == nil {
		loc = time.UTC
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("job", name)
	adapter := cronLogger{log}
	s := &Scheduler{
		name: name,
		job:  job,
		log:  log,
		// No SkipIfStillRunning: whether a job may overlap itself is the
		// job's to say (the daemon skips a backfill already running, for
		// every caller, in one place).
		c: cron.New(cron.WithLocation(loc), cron.WithLogger(adapter),
			cron.WithChain(cron.Recover(adapter))),
	}
	s.c.Schedule(sched, cron.FuncJob(s.runJob))
	return s
}

// runJob is one scheduled run.
func (s *Scheduler) runJob() {
	s.mu.Lock()
	ctx := s.ctx
	s.mu.Unlock()
	if ctx == nil || ctx.Err() != nil {
		return
	}
	start := time.Now()
	s.log.Debug("scheduled run started")
	if err := s.job(ctx); err != nil {
		s.log.Error("scheduled run failed", "err", err, "duration", time.Since(start).Round(time.Millisecond))
		return
	}
	s.log.Debug("scheduled run finished", "duration", time.Since(start).Round(time.Millisecond))
}

// Start starts the schedule. Jobs run under a context derived from ctx,
// cancelled when ctx is or when Stop's deadline passes.
func (s *Scheduler) Start(ctx context.Context) {
	s.mu.Lock()
	s.ctx, s.cancel = context.WithCancel(ctx)
	s.mu.Unlock()
	s.c.Start()
	s.log.Info("schedule started", "next", s.Next())
}

// Next is when the job runs next (zero before Start).
func (s *Scheduler) Next() time.Time {
	for _, e := range s.c.Entries() {
		return e.Next
	}
	return time.Time{}
}

// Stop stops scheduling and waits for a run in progress to finish. When
// ctx ends first, the run's context is cancelled (a backfill stops at its
// next page boundary, with every committed page kept) and Stop returns an
// error without waiting further.
func (s *Scheduler) Stop(ctx context.Context) error {
	done := s.c.Stop().Done()
	s.mu.Lock()
	cancel := s.cancel
	s.mu.Unlock()
	select {
	case <-done:
		if cancel != nil {
			cancel()
		}
		return nil
	case <-ctx.Done():
		if cancel != nil {
			cancel()
		}
		return fmt.Errorf("stop %s schedule: run still in progress: %w", s.name, ctx.Err())
	}
}

// cronLogger adapts slog to cron's logger: cron's chatter (schedule, wake,
// skip) at debug, its errors (recovered panics, with their stack) at error.
type cronLogger struct{ log *slog.Logger }

func (l cronLogger) Info(msg string, kv ...any) {
	l.log.Debug("cron "+msg, kv...)
}

func (l cronLogger) Error(err error, msg string, kv ...any) {
	if err == nil {
		err = errors.New("unknown")
	}
	l.log.Error("cron "+msg, append([]any{"err", err}, kv...)...)
}
