package schedule_test

import (
	"maps"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ledgerd/ledgerd/internal/metricstest"
	"github.com/ledgerd/ledgerd/schedule"
)

func TestPeriodIsTheLongestWaitBetweenTwoRuns(t *testing.T) {
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
		got, err := schedule.Period(c.spec, c.loc, from)
		if err != nil || got != c.want {
			t.Errorf("SchedulePeriod(%q, %v) = %s, %v; want %s", c.spec, c.loc, got, err, c.want)
		}
	}
	for _, bad := range []string{"", "every 15m", "0 2 * *", "0 0 30 2 *"} {
		if got, err := schedule.Period(bad, nil, from); err == nil {
			t.Errorf("SchedulePeriod(%q) = %s, want an error", bad, got)
		}
	}
}

func TestExportPeriodExposesEachJobsPeriod(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	if err := schedule.ExportPeriod(reg, "backfill", "@every 15m", nil); err != nil {
		t.Fatal(err)
	}
	if err := schedule.ExportPeriod(reg, "reconcile", "0 2 * * *", time.UTC); err != nil {
		t.Fatal(err)
	}
	if err := schedule.ExportPeriod(reg, "broken", "0 2 * *", nil); err == nil {
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
