package syncer_test

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ledgerd/ledgerd/fuse/sandbox"
	"github.com/ledgerd/ledgerd/internal/metricstest"
	syncer "github.com/ledgerd/ledgerd/sync"
)

func TestBackfillStateComesFromTheFile(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	e := newEnv(t, envOptions{syncer: func(o *syncer.Options) { o.Metrics, o.PageSize = reg, 3 }})
	gauges := func(reg *prometheus.Registry) map[string]float64 { return metricstest.Values(t, reg) }
	if g := gauges(reg); g["ledgerd_backfill_failing_accounts{}"] != 0 {
		t.Errorf("before any run: %v", g)
	} else if _, ok := g["ledgerd_backfill_last_success_timestamp_seconds{}"]; ok {
		t.Errorf("a last success before any run: %v", g)
	}
	gen := e.generate(2, 10, false)
	sum := e.run(syncer.RunOptions{})
	g := gauges(reg)
	last := g["ledgerd_backfill_last_success_timestamp_seconds{}"]
	if at := time.Unix(0, int64(last*1e9)); at.Before(sum.Started.Add(-time.Second)) || at.After(sum.Finished.Add(time.Second)) ||
		g["ledgerd_backfill_failing_accounts{}"] != 0 {
		t.Errorf("after a run from %s to %s: last success %s, %v", sum.Started, sum.Finished, at, g)
	}

	// A listing that never ends: every account it covers fails.
	e.sb.SetFaults(sandbox.Faults{RepeatCursor: true})
	if _, err := e.s.Run(context.Background(), syncer.RunOptions{Full: true}); err == nil {
		t.Fatal("a run over a broken listing succeeded")
	}
	if g := gauges(reg); g["ledgerd_backfill_failing_accounts{}"] != float64(len(gen.AccountIDs)) ||
		g["ledgerd_backfill_last_success_timestamp_seconds{}"] != last {
		t.Errorf("after a failed run: %v, want %d failing and the last success kept", g, len(gen.AccountIDs))
	}

	// A restart: a new syncer, nothing run yet.
	reg = prometheus.NewPedanticRegistry()
	if _, err := syncer.New(syncer.Options{Ledger: e.l, Client: e.c, Metrics: reg}); err != nil {
		t.Fatal(err)
	}
	if g := gauges(reg); g["ledgerd_backfill_last_success_timestamp_seconds{}"] != last {
		t.Errorf("after a restart: %v, want the last success kept", g)
	}
}
