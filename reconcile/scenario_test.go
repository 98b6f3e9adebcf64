package reconcile_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/ledgerd/ledgerd"
	"github.com/ledgerd/ledgerd/fuse"
	"github.com/ledgerd/ledgerd/fuse/sandbox"
	"github.com/ledgerd/ledgerd/ledger"
	"github.com/ledgerd/ledgerd/reconcile"
)

// TestACleanMonthWithMoneyInFlightReconcilesWithPending books a month of
// traffic exactly as Fuse has it, plus what is in flight at the cut-off: a
// payment and an internal transfer created seconds before it (pending on
// both sides), an inbound payment that just settled, and a payment Fuse
// executed 31 seconds ago whose webhook the ledger has not had yet (within
// the grace period). Nothing is a break.
func TestACleanMonthWithMoneyInFlightReconcilesWithPending(t *testing.T) {
	t.Parallel()
	w := newWorld(t, 7)
	truth := w.month(8, 600)
	w.ingest(without(truth.Transactions, nil)...)

	aed := truth.Accounts[0].AccountState
	late := w.pay(aed.AccountID, 150_00, "late-webhook")
	w.ingest(late) // created; "executed" has not arrived
	w.sb.Advance(6 * time.Second)

	inFlight := w.pay(aed.AccountID, 99_00, "")
	var peer sandbox.AccountState
	for _, a := range truth.Accounts[1:] {
		if a.Currency == aed.Currency {
			peer = a.AccountState
			break
		}
	}
	transfer, err := w.client.CreateInternalTransfer(context.Background(),
		fuse.CreateInternalTransferRequest{FromAccountID: aed.AccountID, ToAccountID: peer.AccountID, Amount: 10_00, ExternalReference: "rent"})
	if err != nil {
		t.Fatal(err)
	}
	inbound, err := w.sb.InboundPayment(sandbox.InboundPayment{AccountID: peer.AccountID, Amount: 500_00, RemitterName: "Client"})
	if err != nil {
		t.Fatal(err)
	}
	w.ingest(inFlight, w.latest(transfer.ID), inbound)
	w.ahead = 30 * time.Second

	run := w.run(w.reconciler(nil))
	w.assertExactly(run, nil)
	if run.Verdict != reconcile.ReconciledWithPending || run.Pending != 3 {
		t.Errorf("verdict %s with %d pending, want RECONCILED_WITH_PENDING with 3 (payment, transfer, late webhook); %s",
			run.Verdict, run.Pending, run.Detail)
	}
	if run.AccountsChecked != 8 || run.TransactionsChecked != len(truth.Transactions)+4 {
		t.Errorf("checked %d accounts and %d transactions, want 8 and %d", run.AccountsChecked, run.TransactionsChecked,
			len(truth.Transactions)+4)
	}
	accts, err := reconcile.NewStore(w.l).RunAccounts(context.Background(), run.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range accts {
		want := int64(0)
		if a.FuseAccountID == aed.AccountID {
			// Fuse executed the late payment; the ledger still has it pending.
			want = late.AmountWithFee
		}
		if int64(a.Drift) != want || a.FuseBalance == nil {
			t.Errorf("account %s %s: drift %d (fuse %v), want %d", a.FuseAccountID, a.Currency, a.Drift, a.FuseBalance, want)
		}
	}

	// Once the late webhook arrives, nothing is pending but what is in
	// flight at the bank.
	w.ingest(w.latest(late.TransactionID))
	run = w.run(w.reconciler(nil))
	w.assertExactly(run, nil)
	if run.Verdict != reconcile.ReconciledWithPending || run.Pending != 2 {
		t.Errorf("verdict %s with %d pending, want RECONCILED_WITH_PENDING with 2", run.Verdict, run.Pending)
	}
}

// TestAPlainMonthReconciles: no traffic in flight, no difference: green.
func TestAPlainMonthReconciles(t *testing.T) {
	t.Parallel()
	w := newWorld(t, 3)
	truth := w.month(4, 200)
	w.ingest(without(truth.Transactions, nil)...)
	run := w.run(w.reconciler(nil))
	w.assertExactly(run, nil)
	if run.Verdict != reconcile.Reconciled {
		t.Errorf("verdict %s, want RECONCILED (%s)", run.Verdict, run.Detail)
	}
}

// planted is a month with one planted cause per break category, and the
// exact breaks each cause must produce.
type planted struct {
	w    *world
	want map[key]bool
	// a few plants the lifecycle tests fix later
	adjusted    sandbox.AccountState
	adjustment  int64
	skipped     sandbox.TruthTransaction
	fabricated  string
	conflicting string
}

// plantMonth builds a month of traffic on 16 accounts and plants, each on
// accounts of its own:
//
//	balance_drift      Fuse adjusts a balance with no transaction
//	missing_in_ledger  an inbound payment the ledger never got
//	missing_at_fuse    a transaction only the ledger has
//	amount_mismatch    a payment booked 1.00 larger
//	currency_mismatch  an inbound payment observed in another currency
//	status_mismatch    an executed payment booked as failed
//	account_mismatch   an inbound payment booked on another account
//	unpaired_leg       a transfer whose receiving leg never arrived
//	stale_pending      a payment the bank has kept in flight for 2 days
//	duplicate          one external_id paid twice
//	incomplete         a payment whose amounts never arrived
//	status_conflict    executed, then an observation saying failed
//	unbalanced_entry   a posting written behind ledgerd's back
//
// with the balance_drift each money-moving plant causes on its accounts,
// and its closing_balance_drift: every plant that moves money does so on
// a day the run's daily check compares (the month, or the adjustment on
// the sandbox's last day, two days before the run).
func plantMonth(t *testing.T) *planted {
	w := newWorld(t, 11)
	truth := w.month(16, 1200)
	p := newPicker(t, truth)
	pl := &planted{w: w, want: map[key]bool{}}
	want := func(ks ...key) {
		for _, k := range ks {
			pl.want[k] = true
			if k.Category == reconcile.BalanceDrift {
				pl.want[closing(strings.Split(k.Subject, "/")[0])] = true
			}
		}
	}
	skip := map[string]bool{}
	var extra []ledgerd.TransactionObservation
	obsOf := func(x sandbox.Leg) ledgerd.TransactionObservation {
		o, err := x.Wire().Observation()
		if err != nil {
			t.Fatal(err)
		}
		return o
	}

	// balance_drift
	pl.adjusted, pl.adjustment = p.account(""), 123_45
	if _, err := w.sb.Adjust(sandbox.Adjustment{AccountID: pl.adjusted.AccountID, Amount: pl.adjustment}); err != nil {
		t.Fatal(err)
	}
	want(drift(pl.adjusted.AccountID, pl.adjusted.Currency))

	// missing_in_ledger
	pl.skipped = p.tx(ledgerd.KindLocalPaymentIn, ledgerd.StatusSettled, nil)
	skip[pl.skipped.TransactionID] = true
	want(key{reconcile.MissingInLedger, pl.skipped.TransactionID}, drift(pl.skipped.AccountID, pl.skipped.Currency))

	// missing_at_fuse
	c := p.account("")
	pl.fabricated = uuid.NewString()
	extra = append(extra, ledgerd.TransactionObservation{TransactionID: pl.fabricated, AccountID: c.AccountID,
		Kind: ledgerd.KindLocalPaymentIn, Status: ledgerd.StatusSettled, Currency: ledgerd.Currency(c.Currency),
		Amounts: &ledgerd.TxAmounts{Instructed: 77_00, WithFee: 77_00}, At: t0.Add(-10 * 24 * time.Hour)})
	want(key{reconcile.MissingAtFuse, pl.fabricated}, drift(c.AccountID, c.Currency))

	// amount_mismatch
	x := p.tx(ledgerd.KindLocalPaymentOut, ledgerd.StatusExecuted, nil)
	skip[x.TransactionID] = true
	o := obsOf(x.Leg)
	o.Amounts.Instructed += 1_00
	o.Amounts.WithFee += 1_00
	extra = append(extra, o)
	want(key{reconcile.AmountMismatch, x.TransactionID}, drift(x.AccountID, x.Currency))

	// currency_mismatch: the ledger is told USD for a payment on an account
	// in another currency. It books nothing (no USD on the account: no
	// USD drift) and a break names the event; Fuse has the payment in the
	// account's currency, so the comparison finds the currencies differ
	// and the account misses the payment.
	x = p.tx(ledgerd.KindLocalPaymentIn, ledgerd.StatusSettled, func(x sandbox.TruthTransaction) bool { return x.Currency != "USD" })
	skip[x.TransactionID] = true
	o = obsOf(x.Leg)
	o.Currency = "USD"
	extra = append(extra, o)
	inUSD := x.TransactionID
	want(key{reconcile.CurrencyMismatch, x.TransactionID}, drift(x.AccountID, x.Currency))

	// status_mismatch
	x = p.tx(ledgerd.KindLocalPaymentOut, ledgerd.StatusExecuted, nil)
	skip[x.TransactionID] = true
	o = obsOf(x.Leg)
	o.Status = ledgerd.StatusFailed
	extra = append(extra, o)
	want(key{reconcile.StatusMismatch, x.TransactionID}, drift(x.AccountID, x.Currency))

	// account_mismatch
	x = p.tx(ledgerd.KindLocalPaymentIn, ledgerd.StatusSettled, nil)
	other := p.account(x.Currency)
	skip[x.TransactionID] = true
	o = obsOf(x.Leg)
	o.AccountID = other.AccountID
	extra = append(extra, o)
	want(key{reconcile.AccountMismatch, x.TransactionID}, drift(x.AccountID, x.Currency), drift(other.AccountID, x.Currency))

	// unpaired_leg: the receiving leg of a transfer never arrives.
	var in sandbox.TruthTransaction
	for _, y := range truth.Transactions {
		if y.Kind == ledgerd.KindInternalTransferIn && !p.used[y.AccountID] && y.CreatedAt.Before(t0.Add(-24*time.Hour)) {
			in = y
			break
		}
	}
	if in.TransactionID == "" {
		t.Fatal("no transfer to plant an unpaired leg on")
	}
	p.use(in.AccountID)
	skip[in.TransactionID] = true
	want(key{reconcile.MissingInLedger, in.TransactionID}, key{reconcile.UnpairedLeg, in.PairedTransactionID},
		drift(in.AccountID, in.Currency))

	// incomplete: the executed payment's amounts never arrive.
	x = p.tx(ledgerd.KindLocalPaymentOut, ledgerd.StatusExecuted, nil)
	skip[x.TransactionID] = true
	o = obsOf(x.Leg)
	o.Amounts, o.Currency = nil, ""
	extra = append(extra, o)
	want(key{reconcile.IncompleteData, x.TransactionID}, drift(x.AccountID, x.Currency))

	// status_conflict: executed, and later an observation saying failed.
	x = p.tx(ledgerd.KindLocalPaymentOut, ledgerd.StatusExecuted, nil)
	pl.conflicting = x.TransactionID
	o = obsOf(x.Leg)
	o.Status, o.At = ledgerd.StatusFailed, o.At.Add(time.Second)
	extra = append(extra, o)
	want(key{reconcile.StatusConflict, x.TransactionID})

	w.ingest(without(truth.Transactions, skip)...)
	w.ingestObs(extra...)
	var usdSeq int64
	if err := w.l.Reader().QueryRow(`SELECT event_seq FROM observation_conflicts WHERE subject = ? AND field = ?`,
		inUSD, ledger.FieldAccountCurrency).Scan(&usdSeq); err != nil {
		t.Fatalf("the payment in USD left no evidence: %v", err)
	}
	want(key{reconcile.CurrencyMismatch, "event:" + itoa(usdSeq)})

	// unbalanced_entry: one more posting on an entry, written around
	// ledgerd. It touches expense:fees, so no bank balance moves.
	x = p.tx(ledgerd.KindLocalPaymentOut, ledgerd.StatusExecuted, func(x sandbox.TruthTransaction) bool { return x.FeeAmount > 0 })
	var entryID, seq int64
	if err := w.l.Reader().QueryRow(`SELECT id, created_seq FROM entries WHERE transaction_id = ?`, x.TransactionID).Scan(&entryID, &seq); err != nil {
		t.Fatal(err)
	}
	w.exec(`INSERT INTO postings (entry_id, ledger_account, currency, amount, effective_at, seq)
		VALUES (?, 'expense:fees', ?, 1, '2026-03-15T00:00:00.000000000Z', ?)`, entryID, x.Currency, seq)
	want(key{reconcile.UnbalancedEntry, entryIDSubject(entryID, x.Currency)})

	// duplicate: the same payment sent twice, both executed.
	k := p.account("")
	d1, d2 := w.pay(k.AccountID, 250_00, "INV-2026-0331"), w.pay(k.AccountID, 250_00, "INV-2026-0331")
	w.sb.Advance(6 * time.Second)
	w.ingest(w.latest(d1.TransactionID), w.latest(d2.TransactionID))
	want(key{reconcile.Duplicate, k.AccountID + "/local_payment_out/INV-2026-0331"})

	// stale_pending: a payment the bank keeps in flight; the run is two
	// days later and the sandbox's clock (the bank) has not moved.
	s := p.account("")
	stuck := w.pay(s.AccountID, 40_00, "")
	w.ingest(stuck)
	want(key{reconcile.StalePending, stuck.TransactionID})
	w.ahead = 2*24*time.Hour + time.Hour
	return pl
}

func entryIDSubject(id int64, cur string) string {
	return "entry:" + itoa(id) + "/" + cur
}

func itoa(n int64) string {
	const digits = "0123456789"
	if n == 0 {
		return "0"
	}
	var b []byte
	for ; n > 0; n /= 10 {
		b = append([]byte{digits[n%10]}, b...)
	}
	return string(b)
}

// TestEveryPlantedBreakIsFoundAndNothingElse is the scenario suite: each
// category planted in a month of traffic is found, with the balance drift
// it causes, and nothing else is reported.
func TestEveryPlantedBreakIsFoundAndNothingElse(t *testing.T) {
	t.Parallel()
	pl := plantMonth(t)
	w := pl.w
	run := w.run(w.reconciler(nil))
	got := w.assertExactly(run, pl.want)
	if run.Verdict != reconcile.Breaks {
		t.Errorf("verdict %s, want BREAKS", run.Verdict)
	}
	covered := map[reconcile.Category]bool{}
	for k := range got {
		covered[k.Category] = true
	}
	for _, c := range reconcile.Categories {
		// An unknown type needs a Fuse that lists one: its own test
		// (TestATransactionOfAnUnknownTypeIsACriticalBreakNotAGuess).
		if !covered[c] && c != reconcile.TooManyBreaks && c != reconcile.UnknownTransaction {
			t.Errorf("category %s not found", c)
		}
	}
	// The unpaired leg's break names the leg that was booked.
	for k, b := range got {
		if k.Category == reconcile.UnpairedLeg && !strings.Contains(b.Detail, "booked "+k.Subject+" (") {
			t.Errorf("unpaired leg %s: detail %q does not list the leg booked", k.Subject, b.Detail)
		}
	}
	// The adjustment is the only cause of its account's drift, and no
	// transaction explains it.
	b := got[drift(pl.adjusted.AccountID, pl.adjusted.Currency)]
	if b.Difference == nil || int64(*b.Difference) != -pl.adjustment || b.Severity != reconcile.Critical {
		t.Errorf("adjusted account's drift: %+v, want difference %d", b, -pl.adjustment)
	}
	// The skipped inbound payment explains its account's drift exactly.
	b = got[drift(pl.skipped.AccountID, pl.skipped.Currency)]
	if b.Difference == nil || int64(*b.Difference) != -(pl.skipped.InstructedAmount-pl.skipped.FeeAmount) {
		t.Errorf("drift of the account missing a payment: %+v", b)
	}
	if b.Detail == "" || !contains(b.Detail, pl.skipped.TransactionID) {
		t.Errorf("drift detail does not name the transaction that explains it: %q", b.Detail)
	}
	for k, b := range got {
		if k.Category == reconcile.StalePending && !contains(b.Detail, "bucket 2-7d") {
			t.Errorf("stale pending detail %q does not name the 2-7d bucket", b.Detail)
		}
	}

	// Spooling each account to a scratch file instead of sorting in memory
	// finds the same breaks.
	run2 := w.run(w.reconciler(func(o *reconcile.Options) { o.SpillThreshold = 7; o.Workers = 1 }))
	w.assertExactly(run2, pl.want)
	if run2.BreaksNew != 0 || run2.TransactionsChecked != run.TransactionsChecked {
		t.Errorf("spooled run: %d new breaks, %d transactions checked; want 0 and %d", run2.BreaksNew,
			run2.TransactionsChecked, run.TransactionsChecked)
	}
}

// TestTheCapOnNewBreaksKeepsEveryCriticalBreak: past MaxNewBreaks every
// critical break is still recorded and the cap leaves out the rest, which
// one too_many_breaks break counts by severity and category. They open on
// the next run with room, and the summary resolves. A run over the cap
// still sees every break recorded before it, so it resolves none of them.
func TestTheCapOnNewBreaksKeepsEveryCriticalBreak(t *testing.T) {
	t.Parallel()
	pl := plantMonth(t)
	w := pl.w
	below := map[reconcile.Category]bool{reconcile.ClosingBalanceDrift: true, reconcile.UnpairedLeg: true,
		reconcile.StalePending: true, reconcile.Duplicate: true, reconcile.IncompleteData: true} // plantMonth's warnings
	summary := key{reconcile.TooManyBreaks, "new_breaks_cap"}
	critical := map[key]bool{summary: true}
	warnings := 0
	for k := range pl.want {
		if !below[k.Category] {
			critical[k] = true
		} else {
			warnings++
		}
	}
	closings := warnings - 4
	run := w.run(w.reconciler(func(o *reconcile.Options) { o.MaxNewBreaks = 5 }))
	got := w.assertExactly(run, critical)
	for k, b := range got {
		if b.Severity != reconcile.Critical {
			t.Errorf("%s recorded past the cap with severity %s", k, b.Severity)
		}
	}
	summaryID := got[summary].ID
	leftOut := fmt.Sprintf("warning: closing_balance_drift %d, unpaired_leg 1, stale_pending 1, duplicate 1, incomplete 1", closings)
	if tm := got[summary]; !contains(tm.Detail, fmt.Sprintf("%d new breaks were not recorded", warnings)) || !contains(tm.Detail, leftOut) {
		t.Errorf("summary break %q, want the %d warnings left out (%s)", tm.Detail, warnings, leftOut)
	}
	if run.Verdict != reconcile.Breaks || run.BreaksNew != len(critical) ||
		!contains(run.Detail, fmt.Sprintf("left out %d (%s)", warnings, leftOut)) {
		t.Errorf("verdict %s, %d new, detail %q; want BREAKS, %d new, the %d left out", run.Verdict, run.BreaksNew,
			run.Detail, len(critical), warnings)
	}

	// The next run has room: the warnings open, the summary resolves.
	run = w.run(w.reconciler(func(o *reconcile.Options) { o.MaxNewBreaks = len(pl.want) }))
	got = w.assertExactly(run, pl.want)
	for k, b := range got {
		if below[k.Category] != (b.Severity == reconcile.Warning) {
			t.Errorf("%s has severity %s", k, b.Severity)
		}
	}
	tm, err := reconcile.NewStore(w.l).Break(context.Background(), summaryID)
	if err != nil || tm.State != reconcile.Resolved || run.BreaksNew != warnings || run.BreaksResolved != 1 {
		t.Errorf("summary break %+v %v; run %d new, %d resolved: want the %d warnings new, the summary resolved",
			tm, err, run.BreaksNew, run.BreaksResolved, warnings)
	}

	// Over the cap again (forged webhooks: 3 incomplete and 3
	// missing_at_fuse warnings for a cap of 1), the run still sees every
	// break recorded before, and resolves none.
	w.forge(w.sb.Truth().Accounts[0].AccountID, 3)
	w.ahead += time.Hour
	run = w.run(w.reconciler(func(o *reconcile.Options) { o.MaxNewBreaks = 1 }))
	got = w.seen(run)
	for k := range pl.want {
		if _, ok := got[k]; !ok {
			t.Errorf("%s not seen by the run over the cap", k)
		}
	}
	if _, ok := got[summary]; !ok || run.BreaksResolved != 0 || run.BreaksNew != 2 || len(got) != len(pl.want)+2 {
		t.Errorf("run over the cap: %d breaks, %d new, %d resolved; want the %d before, 1 warning and the summary new, none resolved",
			len(got), run.BreaksNew, run.BreaksResolved, len(pl.want))
	}
}

func contains(s, sub string) bool {
	return len(sub) == 0 || (len(s) >= len(sub) && indexOf(s, sub) >= 0)
}

func indexOf(s, sub string) int {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return i
		}
	}
	return -1
}
