package admin

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"

	"github.com/ledgerd/ledgerd/ledger"
)

// errProbeStuck reports that an earlier write probe is still waiting for
// the ledger's writer.
var errProbeStuck = errors.New("an earlier write probe is still waiting for the ledger's writer")

// ProbeWritable reports whether the ledger can still take its write lock:
// it runs an empty transaction through the ledger's single writer, which
// begins it with BEGIN IMMEDIATE (the RESERVED lock every ingest needs) and
// commits it. Success also proves the writer's queue is moving. It gives up
// when ctx ends even if the writer never answers; the probe's goroutine then
// finishes whenever the writer does. The serve wiring can use it as the
// systemd watchdog's health check.
func ProbeWritable(ctx context.Context, l *ledger.Ledger) error {
	done := make(chan error, 1)
	go func() {
		// Not ctx: once queued, the writer waits for the unit anyway, and a
		// cancelled context would only turn the answer into a lie.
		done <- l.Update(context.WithoutCancel(ctx), func(tx *ledger.Tx) error {
			var n int
			return tx.QueryRow("SELECT count(*) FROM sqlite_schema").Scan(&n)
		})
	}()
	select {
	case err := <-done:
		if err != nil {
			return fmt.Errorf("database not writable: %w", err)
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("database not writable: no answer from the ledger's writer: %w", ctx.Err())
	}
}

// writeProbe runs ProbeWritable at most once at a time, so that a stuck
// writer and a prober calling every second do not pile up goroutines.
type writeProbe struct {
	ledger   *ledger.Ledger
	inflight atomic.Bool
}

func (p *writeProbe) check(ctx context.Context) error {
	if !p.inflight.CompareAndSwap(false, true) {
		return fmt.Errorf("database not writable: %w", errProbeStuck)
	}
	done := make(chan error, 1)
	go func() {
		defer p.inflight.Store(false)
		done <- ProbeWritable(context.WithoutCancel(ctx), p.ledger)
	}()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return fmt.Errorf("database not writable: no answer from the ledger's writer: %w", ctx.Err())
	}
}

// healthz is liveness: the process answers HTTP. It deliberately checks
// nothing else, so that a restart is not triggered by a problem a restart
// cannot fix (Fuse down, disk full); /readyz reports those.
func (h *handler) healthz(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// readyz is readiness: the database takes the write lock within
// Options.ReadyTimeout, and the daemon's own checks (Options.Ready) pass.
func (h *handler) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), h.timeout)
	defer cancel()
	var problems []string
	if err := h.probe.check(ctx); err != nil {
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
