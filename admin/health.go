package admin

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/ledgerd/ledgerd/ledger"
	"github.com/prometheus/client_golang/prometheus"
)

// Readiness of the database. Ready means that a webhook posted now would be
// stored and acknowledged. A probe that writes one row (ledger.ProbeWrite)
// is the heart of it, but on its own it can pass where webhooks fail: on a
// full disk SQLite reuses its WAL from the beginning after a checkpoint, so
// a one-row commit still fits while a batch of webhooks needs pages the
// checkpoint cannot add to the file. Two more rules close that gap: the
// file system must have minFreeBytes free (statfs), and the writer's own
// last failure for the storage's sake (ledger.LastWriteFault) must not be
// recent; a later commit of real work clears it at once.
const (
	// minFreeBytes is the free space below which the database counts as
	// full: a few group commits of webhooks and the checkpoint that copies
	// them into the file.
	minFreeBytes = 1 << 20
	// faultWindow bounds how long a write that failed for the storage's
	// sake keeps /readyz at 503 when nothing has committed since: with
	// no traffic, one transient failure must not keep ledgerd unready
	// for hours.
	faultWindow = 30 * time.Second
)

// errProbeStuck reports that an earlier write probe is still waiting for
// the ledger's writer.
var errProbeStuck = errors.New("an earlier write probe is still waiting for the ledger's writer")

// ProbeWritable reports whether a webhook posted now would be stored: the
// database's file system has at least 1 MiB free, no write has failed for
// the storage's sake (disk full, I/O error, lock held too long) in the last
// 30 s with none committed since, and a write of the write_probe row
// through the ledger's single writer commits durably. It gives up when ctx
// ends even if the writer never answers; the probe's goroutine then
// finishes whenever the writer does.
func ProbeWritable(ctx context.Context, l *ledger.Ledger) error {
	return probe(ctx, notWritable, func(ctx context.Context) error { return writable(ctx, l) })
}

// notWritable begins every answer of ProbeWritable that is not nil.
const notWritable = "database not writable"

// writable is ProbeWritable's checks, waiting for the writer as long as it
// takes; its errors do not say notWritable yet.
func writable(ctx context.Context, l *ledger.Ledger) error {
	switch free, err := l.FreeSpace(); {
	case err != nil && !errors.Is(err, errors.ErrUnsupported):
		return err
	case err == nil && free < minFreeBytes:
		return fmt.Errorf("%s free on its file system, less than %s", kib(free), kib(minFreeBytes))
	}
	if at, err := l.LastWriteFault(); err != nil {
		if ago := time.Since(at); ago < faultWindow {
			return fmt.Errorf("a write failed %s ago and none has committed since: %w", ago.Round(time.Second), err)
		}
	}
	return l.ProbeWrite(ctx)
}

// ProbeWriter reports whether the ledger's writer is alive: an empty
// transaction through it takes the write lock and commits nothing. It
// passes on a full disk, which is what the systemd watchdog needs: a
// restart cannot free the disk, while a stuck writer is what a restart
// fixes.
func ProbeWriter(ctx context.Context, l *ledger.Ledger) error {
	return probe(ctx, "the ledger's writer is stuck", l.ProbeLock)
}

// probe runs fn on the writer and waits for it at most until ctx ends.
func probe(ctx context.Context, what string, fn func(context.Context) error) error {
	done := make(chan error, 1)
	go func() {
		// Not ctx: once queued, the writer waits for the unit anyway, and a
		// cancelled context would only turn the answer into a lie.
		done <- fn(context.WithoutCancel(ctx))
	}()
	select {
	case err := <-done:
		if err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("%s: no answer from the ledger's writer: %w", what, ctx.Err())
	}
}

// kib formats a byte count in KiB.
func kib(n uint64) string { return fmt.Sprintf("%d KiB", n>>10) }

// writeProbe runs ProbeWritable at most once at a time, so that a stuck
// writer and a prober calling every second do not pile up goroutines.
type writeProbe struct {
	ledger   *ledger.Ledger
	inflight atomic.Bool
}

func (p *writeProbe) check(ctx context.Context) error {
	if !p.inflight.CompareAndSwap(false, true) {
		return fmt.Errorf("%s: %w", notWritable, errProbeStuck)
	}
	// One goroutine that waits for the writer however long it takes, and
	// only then lets the next check probe again.
	return probe(ctx, notWritable, func(ctx context.Context) error {
		defer p.inflight.Store(false)
		return writable(ctx, p.ledger)
	})
}

// healthz is liveness: the process answers HTTP. It deliberately checks
// nothing else, so that a restart is not triggered by a problem a restart
// cannot fix (Fuse down, disk full); /readyz reports those.
func (h *handler) healthz(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// readyz is readiness: the start-up integrity check has not found the
// file damaged, the database is writable (ProbeWritable) within
// Options.ReadyTimeout, and the daemon's own checks (Options.Ready) pass.
// On a damaged file the write probe is not run: the ledger refuses every
// write, and the integrity check's findings say why.
func (h *handler) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), h.timeout)
	defer cancel()
	var problems []string
	if in := h.ledger.Integrity(); in.State == ledger.IntegrityFailed {
		problems = append(problems, "integrity check failed, the database file is damaged and writes are refused: "+
			strings.Join(in.Problems, "; "))
	} else if err := h.probe.check(ctx); err != nil {
		problems = append(problems, err.Error())
	}
	if h.ready != nil {
		if err := h.ready(ctx); err != nil {
			problems = append(problems, err.Error())
		}
	}
	if len(problems) > 0 {
		h.log.Warn("not ready", "problems", problems)
		writeError(w, http.StatusServiceUnavailable, "not_ready", strings.Join(problems, "; "))
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

// integrityStates are the values of ledgerd_integrity_check's state label.
var integrityStates = []ledger.IntegrityState{
	ledger.IntegrityUnchecked, ledger.IntegrityChecking, ledger.IntegrityOK, ledger.IntegrityFailed,
}

// registerIntegrity adds ledgerd_integrity_check: 1 for the state the
// integrity check is in, 0 for the others (alert on state="failed").
func registerIntegrity(reg prometheus.Registerer, l *ledger.Ledger) {
	for _, st := range integrityStates {
		register(reg, prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "ledgerd_integrity_check",
			Help: "The start-up integrity check of the database file (quick_check and the events hash chain): " +
				"1 for its state (unchecked, checking, ok, failed: the file is damaged and writes are refused), 0 for the others.",
			ConstLabels: prometheus.Labels{"state": string(st)},
		}, func() float64 {
			if l.Integrity().State == st {
				return 1
			}
			return 0
		}))
	}
}
