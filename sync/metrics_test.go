package syncer_test

import (
	"context"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ledgerd/ledgerd/fuse/sandbox"
	syncer "github.com/ledgerd/ledgerd/sync"
)

func TestMetricsCountWhatTheRunDid(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewPedanticRegistry()
	e := newEnv(t, envOptions{syncer: func(o *syncer.Options) {
		o.Metrics = reg
		o.PageSize = 10
	}})
	gen := e.generate(2, 45, false)
	sum := e.run(syncer.RunOptions{})
	e.run(syncer.RunOptions{Full: true}) // everything again: duplicates

	want := func(name string, labels map[string]string, v float64) {
		t.Helper()
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			if mf.GetName() != name {
				continue
			}
		metric:
			for _, m := range mf.GetMetric() {
				for _, lp := range m.GetLabel() {
					if want, ok := labels[lp.GetName()]; ok && want != lp.GetValue() {
						continue metric
					}
				}
				got := m.GetCounter().GetValue() + m.GetGauge().GetValue()
				if got != v {
					t.Errorf("%s%v = %v, want %v", name, labels, got, v)
				}
				return
			}
		}
		t.Errorf("%s%v not found", name, labels)
	}
	want("ledgerd_backfill_transactions_total", map[string]string{"result": "new"}, float64(gen.Transactions))
	want("ledgerd_backfill_transactions_total", map[string]string{"result": "duplicate"}, float64(gen.Transactions))
	want("ledgerd_backfill_pages_total", nil, float64(2*sum.Pages))
	want("ledgerd_backfill_runs_total", map[string]string{"result": "ok"}, 2)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	stamped := map[string]bool{}
	for _, mf := range mfs {
		if mf.GetName() == "ledgerd_backfill_account_last_success_timestamp_seconds" {
			for _, m := range mf.GetMetric() {
				stamped[m.GetLabel()[0].GetValue()] = m.GetGauge().GetValue() > 0
			}
		}
	}
	for _, id := range gen.AccountIDs {
		if !stamped[id] {
			t.Errorf("no last success time for %s", id)
		}
	}

	e.sb.SetFaults(sandbox.Faults{HTTP5xx: 1})
	if _, err := e.s.Run(context.Background(), syncer.RunOptions{}); err == nil {
		t.Fatal("a run with Fuse down succeeded")
	}
	// The account listing, and the transaction listing that runs anyway.
	want("ledgerd_backfill_errors_total", map[string]string{"kind": "server_error"}, 2)
	want("ledgerd_backfill_runs_total", map[string]string{"result": "failed"}, 1)
}
