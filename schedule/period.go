package schedule

import (
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/robfig/cron/v3"
)

// How far Period looks ahead: the longest gap between the next
// periodRuns runs, within periodSpan. A thousand runs of a schedule that
// runs every five minutes in working hours span more than a week, so its
// weekend is the period; a yearly schedule still shows two runs.
const (
	periodRuns = 1000
	periodSpan = 2 * 366 * 24 * time.Hour
)

// Period is the longest wait between two consecutive runs of a
// cron spec (as New reads it) in loc, looking ahead from from:
// "@every 15m" is 15 minutes, "0 2 * * *" a day, "0 2 * * 1-5" three days
// (Friday to Monday). An alert that a job has not succeeded for two
// periods waits that long whatever the schedule.
func Period(spec string, loc *time.Location, from time.Time) (time.Duration, error) {
	sched, err := cron.ParseStandard(spec)
	if err != nil {
		return 0, fmt.Errorf("schedule %q: %w", spec, err)
	}
	if loc == nil {
		loc = time.UTC
	}
	prev := sched.Next(from.In(loc))
	end := prev.Add(periodSpan)
	var longest time.Duration
	for range periodRuns {
		next := sched.Next(prev)
		if next.IsZero() || next.After(end) {
			break
		}
		longest = max(longest, next.Sub(prev))
		prev = next
	}
	if longest == 0 {
		return 0, fmt.Errorf("schedule %q runs less than twice in two years", spec)
	}
	return longest, nil
}

// ExportPeriod registers with reg, as
// ledgerd_schedule_period_seconds{schedule=name}, the period of a job's
// cron spec in loc (Period from now), for the alerts that a job has
// not succeeded for too long.
func ExportPeriod(reg prometheus.Registerer, name, spec string, loc *time.Location) error {
	period, err := Period(spec, loc, time.Now())
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	g := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "ledgerd_schedule_period_seconds",
		Help: "The longest wait between two runs of a scheduled job (backfill, reconcile) on its cron schedule (LEDGERD_*_SCHEDULE in LEDGERD_TZ).",
	}, []string{"schedule"})
	if err := reg.Register(g); err != nil {
		are, ok := err.(prometheus.AlreadyRegisteredError)
		if !ok {
			return fmt.Errorf("schedule: register metrics: %w", err)
		}
		if g, ok = are.ExistingCollector.(*prometheus.GaugeVec); !ok {
			return fmt.Errorf("schedule: register metrics: %w", err)
		}
	}
	g.WithLabelValues(name).Set(period.Seconds())
	return nil
}
