package reconcile

import (
	"context"
	"fmt"
	"strings"

	"github.com/ledgerd/ledgerd"
	"github.com/ledgerd/ledgerd/ledger"
)

// The checks below need only the ledger. Each is one SQL statement over
// the whole book whose result is the breaks themselves, so their memory
// does not grow with history either.

// checker is where the checks read: the run's checks connection, or the
// pool when it could not spare one.
func (st *runState) checker() *ledger.BulkReader {
	if st.checks != nil {
		return st.checks
	}
	return st.r.opts.Ledger.PoolReader()
}

// ledgerChecks runs every ledger-only check.
func (st *runState) ledgerChecks(ctx context.Context) error {
	for _, check := range []func(context.Context) error{
		st.unpairedLegs, st.duplicates, st.statusConflicts, st.currencyConflicts, st.feeConflicts, st.unbalancedEntries,
	} {
		if err := check(ctx); err != nil {
			return err
		}
	}
	return nil
}

// unpairedLegs reports the transfer and exchange legs that do not cancel
// in clearing (ledger.BulkReader.UnpairedLegs says how they are paired).
func (st *runState) unpairedLegs(ctx context.Context) error {
	groups, err := st.checker().UnpairedLegs(ctx, st.asOf, st.ledgerGrace)
	if err != nil {
		return err
	}
	var fs []Finding
	for _, g := range groups {
		c := g.Currency
		left := g.Amount * ledgerd.Amount(g.Sum) // |sum| legs of one amount: bounded by MaxAmount × rows
		missing, acct := "receiving", g.Src
		if g.Sum < 0 {
			missing, acct = "sending", g.Dst
		}
		f := Finding{Category: UnpairedLeg, Subject: g.First, Severity: Warning,
			FuseAccountID: acct, FuseTransactionID: g.First, Currency: c, LedgerAmount: amt(left), Difference: amt(left)}
		if c == "" {
			// Legs on an account whose currency the ledger never
			// learned: a break carries no amounts it cannot name the
			// currency of (the detail tells them in minor units).
			f.LedgerAmount, f.Difference = nil, nil
		}
		f.Detail = fmt.Sprintf("%s of %s from %s to %s (key %q): booked %s; the %s leg is missing, %s stays in clearing",
			g.Family, fmtAmt(amt(g.Amount), c), g.Src, g.Dst, g.Key, g.Legs, missing, fmtAmt(&left, c))
		fs = append(fs, f)
	}
	return st.emitAll(ctx, fs)
}

// duplicates reports one external_id booked more than once as the same
// kind on the same account and not failed: a payment sent twice.
func (st *runState) duplicates(ctx context.Context) error {
	var fs []Finding
	err := st.checker().Duplicates(ctx, func(d ledger.Duplicate) error {
		fs = append(fs, Finding{Category: Duplicate, Subject: d.AccountID + "/" + d.Kind + "/" + d.ExternalID, Severity: Warning,
			FuseAccountID: d.AccountID, FuseTransactionID: d.First,
			Detail: fmt.Sprintf("%d %s transactions with external_id %q on account %s: %s", d.Count, d.Kind, d.ExternalID,
				d.AccountID, d.IDs)})
		return nil
	})
	if err != nil {
		return err
	}
	return st.emitAll(ctx, fs)
}

// statusConflicts turns the ledger's evidence of two terminal statuses
// into breaks; the evidence is permanent, so they stay until acknowledged.
func (st *runState) statusConflicts(ctx context.Context) error {
	var fs []Finding
	err := st.checker().StatusConflicts(ctx, func(c ledger.Conflict) error {
		if n := len(fs); n > 0 && fs[n-1].Subject == c.Subject {
			fs[n-1].Detail += ", then " + c.Observed
			return nil
		}
		fs = append(fs, Finding{Category: StatusConflict, Subject: c.Subject, Severity: Critical,
			FuseAccountID: c.AccountID, FuseTransactionID: c.Subject, Currency: c.Currency,
			Detail: fmt.Sprintf("observations disagree: the ledger kept %s, and was also told %s", c.Kept, c.Observed)})
		return nil
	})
	if err != nil {
		return err
	}
	return st.emitAll(ctx, fs)
}

// currencyConflicts turns the ledger's evidence of transactions in another
// currency than their account's, which it did not book, into breaks
// naming the event that said it (one per event: the subject is
// "event:<seq>", apart from the transaction's own currency_mismatch when
// Fuse disagrees with the ledger). Like status conflicts, they stay until
// acknowledged.
func (st *runState) currencyConflicts(ctx context.Context) error {
	var fs []Finding
	err := st.checker().CurrencyConflicts(ctx, func(x ledger.CurrencyConflict) error {
		c, fa := x.Currency, x.Instructed
		fs = append(fs, Finding{Category: CurrencyMismatch, Subject: fmt.Sprintf("event:%d", x.Seq), Severity: Critical,
			FuseAccountID: x.AccountID, FuseTransactionID: x.Subject, Currency: c, FuseAmount: fa,
			Detail: fmt.Sprintf("event %s (seq %d) puts %s %s (%s, %s) on account %s, whose currency is %s: the ledger did not book it (nothing in %s on %s)",
				x.EventID, x.Seq, x.Kind, x.Subject, x.Status, fmtAmt(fa, c), x.AccountID, x.Kept, x.Observed,
				ledger.BankAccount(x.AccountID))})
		return nil
	})
	if err != nil {
		return err
	}
	return st.emitAll(ctx, fs)
}

// unbalancedEntries reads v_unbalanced_entries, which must be empty.
func (st *runState) unbalancedEntries(ctx context.Context) error {
	var fs []Finding
	err := st.checker().UnbalancedEntries(ctx, func(u ledger.UnbalancedEntry) error {
		c := u.Currency
		fs = append(fs, Finding{Category: UnbalancedEntry, Subject: fmt.Sprintf("entry:%d/%s", u.EntryID, c), Severity: Critical,
			FuseAccountID: u.AccountID, FuseTransactionID: u.TransactionID, Currency: c, LedgerAmount: amt(u.Imbalance),
			Difference: amt(u.Imbalance),
			Detail: fmt.Sprintf("entry %d of transaction %s: postings sum to %s %s, not zero (ledger.Ingest refuses this: the file was written by something else)",
				u.EntryID, u.TransactionID, u.Imbalance.Format(c), c)})
		return nil
	})
	if err != nil {
		return err
	}
	return st.emitAll(ctx, fs)
}

func (st *runState) emitAll(ctx context.Context, fs []Finding) error {
	for _, f := range fs {
		if err := st.emit(ctx, f); err != nil {
			return err
		}
	}
	return nil
}

// categoryCounts renders counts by category for a run's detail.
func categoryCounts(counts map[Category]int) string {
	var parts []string
	for _, c := range Categories {
		if n := counts[c]; n > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", c, n))
		}
	}
	return strings.Join(parts, ", ")
}
