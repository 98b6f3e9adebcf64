package reconcile_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/ledgerd/ledgerd"
	"github.com/ledgerd/ledgerd/admin"
	"github.com/ledgerd/ledgerd/fuse/sandbox"
	"github.com/ledgerd/ledgerd/reconcile"
)

// lookupRoute is the sandbox's name for GET /transactions/{id} in its
// request counts.
const lookupRoute = "GET /transactions/{transaction_id}"

// forge books n webhook observations for transactions Fuse has never
// heard of on account: status only ("executed" for a payment out), as a
// forged or misrouted webhook carries, ten days before the cut-off.
func (w *world) forge(account string, n int) {
	w.t.Helper()
	obs := make([]ledgerd.TransactionObservation, n)
	for i := range obs {
		obs[i] = ledgerd.TransactionObservation{TransactionID: uuid.NewString(), AccountID: account,
			Kind: ledgerd.KindLocalPaymentOut, Status: ledgerd.StatusExecuted, At: t0.Add(-10 * 24 * time.Hour)}
	}
	w.ingestAs(ledgerd.SourceWebhook, obs...)
}

// TestForgedWebhooksNeitherHideBalanceDriftsNorOutlastTheLookupBudget is
// issue 15's run, with the default cap and budget: 2,000 forged webhooks
// for transactions Fuse does not know (each an incomplete break, and
// absent from Fuse's listing) on the two accounts whose balances really
// drift. Both balance_drift breaks are recorded, in the report and the
// API; the cap keeps warnings before infos and says what it left out;
// lookups stop at the budget and the run is INCOMPLETE.
func TestForgedWebhooksNeitherHideBalanceDriftsNorOutlastTheLookupBudget(t *testing.T) {
	t.Parallel()
	w := newWorld(t, 5)
	truth := w.month(4, 200)
	// Infos: failed transactions the ledger never heard of.
	skip := map[string]bool{}
	for _, x := range truth.Transactions {
		if x.Status == ledgerd.StatusFailed && len(skip) < 3 {
			skip[x.TransactionID] = true
		}
	}
	if len(skip) == 0 {
		t.Fatal("no failed transaction in the month")
	}
	w.ingest(without(truth.Transactions, skip)...)
	a, b := truth.Accounts[0].AccountState, truth.Accounts[1].AccountState
	for _, adj := range []sandbox.Adjustment{{AccountID: a.AccountID, Amount: 123_45}, {AccountID: b.AccountID, Amount: 67_89}} {
		if _, err := w.sb.Adjust(adj); err != nil {
			t.Fatal(err)
		}
	}
	w.forge(a.AccountID, 1000)
	w.forge(b.AccountID, 1000)
	w.ahead = time.Hour // the forged webhooks are past every grace period

	run := w.run(w.reconciler(nil))

	// The budget: exactly the default number of lookups, the rest left.
	if got := w.sb.Stats().APIRequests[lookupRoute]; got != reconcile.DefaultMaxLookups {
		t.Errorf("%d lookups, want the budget of %d", got, reconcile.DefaultMaxLookups)
	}
	left := 2000 - reconcile.DefaultMaxLookups
	if run.Verdict != reconcile.Incomplete || !strings.Contains(run.Detail, fmt.Sprintf("ran out after %d lookups", reconcile.DefaultMaxLookups)) ||
		!strings.Contains(run.Detail, fmt.Sprintf("%d transactions the ledger has and Fuse's listings do not were not looked up", left)) {
		t.Errorf("verdict %s, detail %q: want INCOMPLETE naming the %d not looked up", run.Verdict, run.Detail, left)
	}

	// The cap: both drifts, then warnings up to the cap; no info.
	got := w.seen(run)
	for _, x := range []struct {
		acct sandbox.AccountState
		adj  int64
	}{{a, 123_45}, {b, 67_89}} {
		d, ok := got[drift(x.acct.AccountID, x.acct.Currency)]
		if !ok || d.Difference == nil || int64(*d.Difference) != -x.adj {
			t.Errorf("balance drift of %s: %+v (recorded %v), want difference %d", x.acct.AccountID, d, ok, -x.adj)
		}
	}
	missingAtFuse := 0
	bySeverity := map[reconcile.Severity]int{}
	for k, br := range got {
		bySeverity[br.Severity]++
		if k.Category == reconcile.MissingAtFuse {
			missingAtFuse++
		}
	}
	// 2 drifts + 998 warnings + the summary; every one new.
	maxNew := reconcile.DefaultMaxNewBreaks
	if len(got) != maxNew+1 || run.BreaksNew != maxNew+1 || bySeverity[reconcile.Info] != 0 ||
		bySeverity[reconcile.Critical] != 3 || bySeverity[reconcile.Warning] != maxNew-2 {
		t.Errorf("%d breaks (%d new) by severity %v; want %d: 2 drifts, %d warnings, the summary, no info",
			len(got), run.BreaksNew, bySeverity, maxNew+1, maxNew-2)
	}
	if missingAtFuse > reconcile.DefaultMaxLookups {
		t.Errorf("%d missing_at_fuse breaks for %d lookups: some were never looked up", missingAtFuse, reconcile.DefaultMaxLookups)
	}
	// Left out: every finding (2 drifts, 2,000 incomplete, one
	// missing_at_fuse per lookup, one missing_in_ledger per skipped
	// payment) beyond the cap. Which warnings: those that arrived last,
	// mostly incomplete (a missing_at_fuse whose lookup was still under
	// way while the other account's incomplete breaks poured in may be
	// among them).
	leftOut := 2 + 2000 + reconcile.DefaultMaxLookups + len(skip) - maxNew
	tm, ok := got[key{reconcile.TooManyBreaks, "new_breaks_cap"}]
	wantInfo := fmt.Sprintf("info: missing_in_ledger %d", len(skip))
	if !ok || !strings.Contains(tm.Detail, fmt.Sprintf("%d new breaks were not recorded", leftOut)) ||
		!strings.Contains(tm.Detail, wantInfo) || !strings.Contains(tm.Detail, "warning: ") {
		t.Errorf("summary break %+v: want %d left out, with %q and the warnings", tm, leftOut, wantInfo)
	}
	// Which warnings are left out depends on the order they were found
	// in (equal severity keeps the first): only the counts are fixed.
	if !strings.Contains(run.Detail, fmt.Sprintf("left out %d (warning: ", leftOut)) ||
		!strings.Contains(run.Detail, wantInfo) {
		t.Errorf("run detail %q does not say what the cap left out", run.Detail)
	}

	// The report: drifts at the top of its breaks section, the left-out
	// counts in its run section.
	rep, err := reconcile.NewStore(w.l).Report(context.Background(), run.ID, nil)
	if err != nil {
		t.Fatal(err)
	}
	var jb bytes.Buffer
	if err := rep.WriteJSON(&jb); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Run    map[string]any   `json:"run"`
		Breaks []map[string]any `json:"breaks"`
	}
	if err := json.Unmarshal(jb.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Breaks) != maxNew+1 || doc.Breaks[0]["category"] != "balance_drift" || doc.Breaks[1]["category"] != "balance_drift" ||
		doc.Breaks[2]["category"] != "too_many_breaks" {
		t.Errorf("report breaks: %d, first %v", len(doc.Breaks), doc.Breaks[:min(3, len(doc.Breaks))])
	}
	if d, _ := doc.Run["detail"].(string); !strings.Contains(d, wantInfo) {
		t.Errorf("report run detail %q does not say what the cap left out", d)
	}

	// The API shows the run's drifts.
	srv := httptest.NewServer(admin.New(admin.Options{Ledger: w.l}))
	defer srv.Close()
	resp, err := http.Get(fmt.Sprintf("%s/api/v1/runs/%d", srv.URL, run.ID))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var api struct { // the run's fields, its accounts and its breaks
		Detail string
		Breaks []struct{ Category string }
	}
	if err := json.NewDecoder(resp.Body).Decode(&api); err != nil {
		t.Fatal(err)
	}
	drifts := 0
	for _, br := range api.Breaks {
		if br.Category == "balance_drift" {
			drifts++
		}
	}
	if drifts != 2 || !strings.Contains(api.Detail, wantInfo) {
		t.Errorf("/api/v1/runs/%d: %d balance drifts, detail %q", run.ID, drifts, api.Detail)
	}
}

// TestTheLookupTimeBudgetStopsLookupsAndMakesTheRunIncomplete: on a clock
// where each lookup takes a second, a budget of five seconds allows five.
// The other transactions are left unchecked: not reported missing_at_fuse,
// and their breaks from an earlier run stay open, since the run is
// INCOMPLETE and resolves nothing.
func TestTheLookupTimeBudgetStopsLookupsAndMakesTheRunIncomplete(t *testing.T) {
	t.Parallel()
	w := newWorld(t, 9)
	truth := w.month(2, 60)
	w.ingest(without(truth.Transactions, nil)...)
	w.forge(truth.Accounts[0].AccountID, 30)
	w.ahead = time.Hour
	// Within the default budget (and on the frozen clock), every one is
	// looked up and is missing at Fuse.
	first := w.run(w.reconciler(nil))
	if n := w.sb.Stats().APIRequests[lookupRoute]; n != 30 || first.Verdict != reconcile.Breaks {
		t.Fatalf("first run: %d lookups, verdict %s (%s); want 30, BREAKS", n, first.Verdict, first.Detail)
	}
	var ticks atomic.Int64
	base := w.now()
	// Every reading of the clock is a second later than the one before:
	// with one worker, a lookup (a reading before, one after) takes a
	// second.
	clock := func() time.Time { return base.Add(time.Duration(ticks.Add(1)) * time.Second) }
	run := w.run(w.reconciler(func(o *reconcile.Options) {
		o.Now, o.Workers, o.LookupTime, o.MaxLookups = clock, 1, 5*time.Second, 1000
	}))
	n := w.sb.Stats().APIRequests[lookupRoute] - 30
	if n != 5 {
		t.Errorf("%d lookups, want 5 (one second each, five seconds of budget)", n)
	}
	missing := 0
	for k := range w.seen(run) {
		if k.Category == reconcile.MissingAtFuse {
			missing++
		}
	}
	if missing != n {
		t.Errorf("%d missing_at_fuse breaks for %d lookups: want one per lookup, none unconfirmed", missing, n)
	}
	if run.Verdict != reconcile.Incomplete || run.BreaksResolved != 0 ||
		!strings.Contains(run.Detail, fmt.Sprintf("%d transactions the ledger has and Fuse's listings do not were not looked up", 30-n)) {
		t.Errorf("verdict %s (%d resolved), detail %q: want INCOMPLETE naming the %d not looked up",
			run.Verdict, run.BreaksResolved, run.Detail, 30-n)
	}
	open, err := reconcile.NewStore(w.l).Breaks(context.Background(), reconcile.Open)
	if err != nil {
		t.Fatal(err)
	}
	still := 0
	for _, b := range open {
		if b.Category == reconcile.MissingAtFuse {
			still++
		}
	}
	if still != 30 {
		t.Errorf("%d missing_at_fuse breaks open after the run that ran out of budget, want the 30 of the first run", still)
	}
}
