package gcpercent

import (
	"runtime/debug"
	"testing"
)

// gcPercent reads the collector's target without changing it.
func gcPercent() int {
	p := debug.SetGCPercent(100)
	debug.SetGCPercent(p)
	return p
}

func TestGCTargetRaisedWhileAnyRunAndRestoredAfterTheLast(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	var g Target
	first := g.Raise(Reconcile)
	second := g.Raise(Reconcile) // overlapping runs (schedule and demo)
	if p := gcPercent(); p != Reconcile {
		t.Fatalf("during runs: GOGC %d, want %d", p, Reconcile)
	}
	first()
	if p := gcPercent(); p != Reconcile {
		t.Fatalf("one run left: GOGC %d, want %d", p, Reconcile)
	}
	second()
	if p := gcPercent(); p != 100 {
		t.Fatalf("after the last run: GOGC %d, want 100", p)
	}
}

func TestGCTargetKeepsAHigherSettingOrTheCollectorOff(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	for _, was := range []int{1000, -1} {
		debug.SetGCPercent(was)
		var g Target
		done := g.Raise(Reconcile)
		if p := gcPercent(); p != was {
			t.Errorf("GOGC %d during a run: %d, want it kept", was, p)
		}
		done()
		if p := gcPercent(); p != was {
			t.Errorf("GOGC %d after a run: %d, want it kept", was, p)
		}
	}
}
