package reconcile_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ledgerd/ledgerd/fuse/sandbox"
	"github.com/ledgerd/ledgerd/reconcile"
	"github.com/prometheus/client_golang/prometheus"
)

// TestABreakOpensPersistsResolvesAndStaysAcknowledged follows breaks over
// five runs: they open, persist (same row, first_seen kept, last_seen
// moving), resolve when the sandbox or the ledger is fixed, reopen when the
// condition comes back, and an acknowledged break keeps its state and note
// while it lasts.
func TestABreakOpensPersistsResolvesAndStaysAcknowledged(t *testing.T) {
	t.Parallel()
	pl := plantMonth(t)
	w := pl.w
	ctx := context.Background()
	reg := prometheus.NewRegistry()
	metrics := reconcile.NewMetrics(reg)
	r := w.reconciler(func(o *reconcile.Options) { o.Metrics = metrics })

	run1 := w.run(r)
	first := w.assertExactly(run1, pl.want)
	if run1.BreaksNew != len(pl.want) || run1.BreaksOpen != len(pl.want) {
		t.Fatalf("run 1: %d new, %d open, want %d", run1.BreaksNew, run1.BreaksOpen, len(pl.want))
	}
	if n := gauge(t, reg, "ledgerd_reconcile_open_breaks", "missing_at_fuse", "open"); n != 1 {
		t.Errorf("open missing_at_fuse breaks metric = %v, want 1", n)
	}

	// Run 2, an hour later: the same rows, seen again.
	w.ahead += time.Hour
	run2 := w.run(r)
	second := w.assertExactly(run2, pl.want)
	if run2.BreaksNew != 0 || run2.BreaksResolved != 0 {
		t.Errorf("run 2: %d new, %d resolved, want 0 and 0", run2.BreaksNew, run2.BreaksResolved)
	}
	for k, b := range second {
		a := first[k]
		if b.ID != a.ID || !b.FirstSeen.Equal(a.FirstSeen) || !b.LastSeen.After(a.LastSeen) ||
			b.FirstRun != run1.ID || b.LastRun != run2.ID || b.State != reconcile.Open {
			t.Errorf("%s: run 1 %+v, run 2 %+v", k, a, b)
		}
	}

	// A person acknowledges the fabricated transaction: it cannot be undone
	// at the bank.
	fab := second[key{reconcile.MissingAtFuse, pl.fabricated}]
	note := "booked by hand in January; reversal ticket FIN-1432"
	if _, err := reconcile.NewStore(w.l).AckBreak(ctx, fab.ID, note, w.now()); err != nil {
		t.Fatal(err)
	}

	// Fix two causes: the bank reverses its adjustment, and the missing
	// inbound payment reaches the ledger.
	if _, err := w.sb.Adjust(sandbox.Adjustment{AccountID: pl.adjusted.AccountID, Amount: -pl.adjustment}); err != nil {
		t.Fatal(err)
	}
	w.ingest(pl.skipped.Leg)
	w.ahead += time.Hour
	run3 := w.run(r)
	fixed := keys(drift(pl.adjusted.AccountID, pl.adjusted.Currency), closing(pl.adjusted.AccountID),
		key{reconcile.MissingInLedger, pl.skipped.TransactionID}, drift(pl.skipped.AccountID, pl.skipped.Currency),
		closing(pl.skipped.AccountID))
	still := map[key]bool{}
	for k := range pl.want {
		if !fixed[k] {
			still[k] = true
		}
	}
	third := w.assertExactly(run3, still)
	if run3.BreaksResolved != len(fixed) || run3.Verdict != reconcile.Breaks {
		t.Errorf("run 3: %d resolved (want %d), verdict %s", run3.BreaksResolved, len(fixed), run3.Verdict)
	}
	for k := range fixed {
		b, err := reconcile.NewStore(w.l).Break(ctx, second[k].ID)
		if err != nil || b.State != reconcile.Resolved || b.ResolvedAt == nil || b.LastRun != run2.ID {
			t.Errorf("%s after the fix: %+v %v", k, b, err)
		}
	}
	if b := third[key{reconcile.MissingAtFuse, pl.fabricated}]; b.State != reconcile.Acknowledged || b.AckNote != note || b.AckAt == nil {
		t.Errorf("acknowledged break after run 3: %+v", b)
	}
	if n := gauge(t, reg, "ledgerd_reconcile_open_breaks", "missing_at_fuse", "acknowledged"); n != 1 {
		t.Errorf("acknowledged missing_at_fuse metric = %v, want 1", n)
	}

	// The bank adjusts the same account again: the same breaks reopen
	// (its balance today, and its closing balance of the day).
	if _, err := w.sb.Adjust(sandbox.Adjustment{AccountID: pl.adjusted.AccountID, Amount: 1}); err != nil {
		t.Fatal(err)
	}
	w.ahead += time.Hour
	run4 := w.run(r)
	k := drift(pl.adjusted.AccountID, pl.adjusted.Currency)
	for _, k := range []key{k, closing(pl.adjusted.AccountID)} {
		b := w.seen(run4)[k]
		if b.ID != second[k].ID || b.State != reconcile.Open || b.ResolvedAt != nil || run4.BreaksNew != 2 ||
			b.Difference == nil || *b.Difference != -1 {
			t.Errorf("reopened break: %+v (run 4: %d new)", b, run4.BreaksNew)
		}
	}
	if _, err := reconcile.NewStore(w.l).AckBreak(ctx, second[fixed2(fixed)].ID, "too late", w.now()); err == nil {
		t.Error("acknowledging a resolved break succeeded")
	}
	runs, err := reconcile.NewStore(w.l).Runs(ctx, 10)
	if err != nil || len(runs) != 4 || runs[0].ID != run4.ID {
		t.Errorf("runs: %+v %v", runs, err)
	}
}

func fixed2(m map[key]bool) key {
	for k := range m {
		if k.Category == reconcile.MissingInLedger {
			return k
		}
	}
	return key{}
}

// TestARunThatCannotReadFuseIsIncompleteAndResolvesNothing: Fuse answering
// 503 to everything makes the run INCOMPLETE (exit 1, never green), and
// the breaks of the last complete run stay open even though their cause
// was fixed, until a complete run sees it.
func TestARunThatCannotReadFuseIsIncompleteAndResolvesNothing(t *testing.T) {
	t.Parallel()
	w := newWorld(t, 5)
	truth := w.month(4, 200)
	w.ingest(without(truth.Transactions, nil)...)
	a := truth.Accounts[1].AccountState
	if _, err := w.sb.Adjust(sandbox.Adjustment{AccountID: a.AccountID, Amount: 5_00}); err != nil {
		t.Fatal(err)
	}
	r := w.reconciler(nil)
	run := w.run(r)
	w.assertExactly(run, keys(drift(a.AccountID, a.Currency)))

	if _, err := w.sb.Adjust(sandbox.Adjustment{AccountID: a.AccountID, Amount: -5_00}); err != nil {
		t.Fatal(err)
	}
	w.sb.SetFaults(sandbox.Faults{HTTP5xx: 1})
	run = w.run(r)
	if run.Verdict != reconcile.Incomplete || run.Verdict.OK() || run.BreaksResolved != 0 || !contains(run.Detail, "503") {
		t.Errorf("run with Fuse down: %+v", run)
	}
	bs, err := reconcile.NewStore(w.l).Breaks(context.Background(), reconcile.Open)
	if err != nil || len(bs) != 1 {
		t.Errorf("open breaks after an incomplete run: %+v %v", bs, err)
	}

	w.sb.SetFaults(sandbox.Faults{})
	run = w.run(r)
	if run.Verdict != reconcile.Reconciled || run.BreaksResolved != 1 {
		t.Errorf("run after Fuse is back: %+v", run)
	}
}

// TestOneBrokenListingMakesTheRunIncomplete: a single account whose
// listing fails is enough.
func TestOneBrokenListingMakesTheRunIncomplete(t *testing.T) {
	t.Parallel()
	w := newWorld(t, 9)
	truth := w.month(4, 100)
	w.ingest(without(truth.Transactions, nil)...)
	// A listing that hands back its own cursor never ends: the client's
	// loop guard stops it with an error.
	w.sb.SetFaults(sandbox.Faults{RepeatCursor: true})
	run := w.run(w.reconciler(func(o *reconcile.Options) { o.PageLimit = 5 }))
	if run.Verdict != reconcile.Incomplete || !contains(run.Detail, "repeated a cursor") {
		t.Errorf("run: %s %s", run.Verdict, run.Detail)
	}
}

// TestAListingInAnotherShapeMakesTheRunIncomplete: a 200 whose body is
// not Fuse's listing envelope {results, pages: {next, size}} (here the
// shape we modelled before the reference, and envelopes missing a part)
// is an error that makes the run INCOMPLETE, never an empty page that
// would make the run look complete.
func TestAListingInAnotherShapeMakesTheRunIncomplete(t *testing.T) {
	t.Parallel()
	w := newWorld(t, 12)
	truth := w.month(4, 100)
	w.ingest(without(truth.Transactions, nil)...)
	for _, body := range []string{
		`{"data":[],"next_cursor":null}`,
		`{"results":[]}`,
		`{"results":[],"pages":{"next":null}}`,
		`{"pages":{"next":null,"size":100}}`,
	} {
		_, client := serveFuse(t, http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/transactions") {
				rw.Header().Set("Content-Type", "application/json")
				_, _ = io.WriteString(rw, body)
				return
			}
			w.sb.ServeHTTP(rw, r)
		}))
		run := w.run(w.reconciler(func(o *reconcile.Options) { o.Fuse = client }))
		if run.Verdict != reconcile.Incomplete || !contains(run.Detail, "not a listing envelope") {
			t.Errorf("%s: run %s %s", body, run.Verdict, run.Detail)
		}
	}
}

// gauge reads one gauge of reg by name and label values (in label order).
func gauge(t *testing.T, reg *prometheus.Registry, name string, values ...string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metrics:
		for _, m := range mf.GetMetric() {
			if len(m.GetLabel()) != len(values) {
				continue
			}
			for i, l := range m.GetLabel() {
				if l.GetValue() != values[i] {
					continue metrics
				}
			}
			return m.GetGauge().GetValue()
		}
	}
	t.Fatalf("no gauge %s%v", name, values)
	return 0
}
