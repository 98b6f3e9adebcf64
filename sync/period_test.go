package syncer_test

import (
	"context"
	"maps"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ledgerd/ledgerd/fuse/sandbox"
	"github.com/ledgerd/ledgerd/internal/metricstest"
	syncer "github.com/ledgerd/ledgerd/sync"
)

func TestSchedulePeriodIsTheLongestWaitBetweenTwoRuns(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Skipf("no time zone database: %v", err)
	}
	from := time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC) // a Monday
	cases := []struct {
		spec string
		loc  *time.Location
		want time.Duration
	}{
		{"@every 15m", nil, 15 * time.Minute},
		{"@every 1s", nil, time.Second},
		{"0 2 * * *", nil, 24 * time.Hour},
		{"@daily", nil, 24 * time.Hour},
		{"0 2 * * 1-5", nil, 72 * time.Hour},                    // Friday to Monday
		{"*/5 8-17 * * 1-5", nil, 62*time.Hour + 5*time.Minute}, // Friday 17:55 to Monday 08:00
		{"0 3 * * *", berlin, 25 * time.Hour},                   // the night the clocks go back
		{"0 0 1 1 *", nil, 366 * 24 * time.Hour},                // 2027 to 2028, a leap year
	}
	for _, c := range cases {
		got, err := syncer.SchedulePeriod(c.spec, c.loc, from)
		if err != nil || got != c.want {
			t.Errorf("SchedulePeriod(%q, %v) = %s, %v; want %s", c.spec, c.loc, got, err, c.want)
		}
	}
	for _, bad := range []string{"", "every 15m", "0 2 * *", "0 0 30 2 *"} {
		if got, err := syncer.SchedulePeriod(bad, nil, from); err == nil {
			t.Errorf("SchedulePeriod(%q) = %s, want an error", bad, got)
		}
	}
}

func TestExportScheduleExposesEachJobsPeriod(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	if err := syncer.ExportSchedule(reg, "backfill", "@every 15m", nil); err != nil {
		t.Fatal(err)
	}
	if err := syncer.ExportSchedule(reg, "reconcile", "0 2 * * *", time.UTC); err != nil {
		t.Fatal(err)
	}
	if err := syncer.ExportSchedule(reg, "broken", "0 2 * *", nil); err == nil {
		t.Error("a broken spec was exported")
	}
	got := metricstest.Values(t, reg)
	want := map[string]float64{"ledgerd_schedule_period_seconds{schedule=backfill}": 900,
		"ledgerd_schedule_period_seconds{schedule=reconcile}": 86400}
	if !maps.Equal(got, want) {
		t.Errorf("exported %v, want %v", got, want)
	}
}

// TestBackfillStateComesFromTheFile: the last success and the failing
// accounts are read from the file at each scrape, so a restart keeps
// them and a failed run shows at once.
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
