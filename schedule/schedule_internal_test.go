package schedule

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ledgerd/ledgerd/internal/logbuf"
)

// every is a cron schedule firing every d, finer than cron's one-second
// descriptors, so that the tests are quick.
type every time.Duration

func (d every) Next(t time.Time) time.Time { return t.Add(time.Duration(d)) }

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestSchedulerRecoversAPanicAndRunsAgain(t *testing.T) {
	var logs logbuf.Buffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	var runs atomic.Int64
	s := newScheduler("backfill", every(20*time.Millisecond), time.UTC, func(ctx context.Context) error {
		switch runs.Add(1) {
		case 1:
			panic("boom in the job")
		case 2:
			return errors.New("fuse: 503")
		}
		return nil
	}, log)
	s.Start(context.Background())
	waitFor(t, "three runs", func() bool { return runs.Load() >= 3 })
	if err := s.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	out := logs.String()
	for _, want := range []string{"level=ERROR msg=\"cron panic\"", "boom in the job", "level=ERROR msg=\"scheduled run failed\"", "fuse: 503", "job=backfill"} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
}

func TestSchedulerStopCancelsTheRunningJobsAtTheDeadline(t *testing.T) {
	var runs, cancelled atomic.Int64
	s := newScheduler("backfill", every(10*time.Millisecond), time.UTC, func(ctx context.Context) error {
		runs.Add(1)
		<-ctx.Done() // a long backfill, until shutdown cancels it
		cancelled.Add(1)
		return ctx.Err()
	}, nil)
	s.Start(context.Background())
	waitFor(t, "two ticks running at once (the job, not the scheduler, decides on overlap)", func() bool { return runs.Load() >= 2 })
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := s.Stop(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Stop = %v, want the deadline", err)
	}
	waitFor(t, "every run to see its context cancelled", func() bool { return cancelled.Load() == runs.Load() })
}

func TestNewSchedulerReadsTheSpecInItsTimeZone(t *testing.T) {
	dubai, err := time.LoadLocation("Asia/Dubai")
	if err != nil {
		t.Fatal(err)
	}
	s, err := New("backfill", "30 2 * * *", dubai, func(context.Context) error { return nil }, nil)
	if err != nil {
		t.Fatal(err)
	}
	s.Start(context.Background())
	defer s.Stop(context.Background())
	next := s.Next().In(dubai)
	if next.Hour() != 2 || next.Minute() != 30 || !next.After(time.Now()) {
		t.Errorf("next run %s, want 02:30 Dubai time, in the future", next)
	}
	if _, err := New("backfill", "every fifteen minutes", time.UTC, nil, nil); err == nil {
		t.Error("a bad spec was accepted")
	}
	if _, err := New("backfill", "@every 15m", nil, nil, nil); err != nil {
		t.Errorf("the default spec: %v", err)
	}
}
