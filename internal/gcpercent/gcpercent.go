// Package gcpercent raises the Go garbage collector's target (GOGC) while
// reconciliations run. The setting is the process's, so the commands that
// run reconciliations decide it (ledgerd reconcile, and the daemon behind
// serve and the demo), not the reconcile package.
package gcpercent

import (
	"runtime/debug"
	"sync"
)

// Reconcile is the collector's target while a reconciliation runs. A run
// allocates its way through millions of short-lived rows while its live
// heap stays small, so at Go's default of 100 the collector runs hundreds
// of times and costs a tenth of the run's CPU; at 400 it runs a quarter as
// often, for a peak heap that stays bounded (a multiple of the live heap,
// which does not grow with history).
const Reconcile = 400

// Target raises the collector's target while at least one run is under
// way, and puts it back after the last. A process already running with a
// higher GOGC, or with the collector off, keeps its setting. The zero
// value is ready to use.
type Target struct {
	mu   sync.Mutex
	runs int
	was  int // the target before the first run
}

// Raise raises the target to percent for one run, and returns the function
// that ends it.
func (g *Target) Raise(percent int) (done func()) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.runs == 0 {
		g.was = debug.SetGCPercent(percent)
		if g.was < 0 || g.was > percent {
			debug.SetGCPercent(g.was)
		}
	}
	g.runs++
	return func() {
		g.mu.Lock()
		defer g.mu.Unlock()
		if g.runs--; g.runs == 0 {
			debug.SetGCPercent(g.was)
		}
	}
}
