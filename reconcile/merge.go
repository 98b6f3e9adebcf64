package reconcile

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/ledgerd/ledgerd"
	"github.com/ledgerd/ledgerd/fuse"
	"github.com/ledgerd/ledgerd/ledger"
)

// accountJob is one account to merge: one Fuse lists (fuse set), or one
// only the ledger has transactions on (fuse nil).
type accountJob struct {
	id     string
	fuse   *fuse.Account
	readAt time.Time // when Fuse's balance was read
	// What the ledger knew of the account before the run.
	ledgerName     string
	ledgerCurrency string
}

// AccountResult is what a run saw of one Fuse account in one currency: a
// row of recon_run_accounts. Its JSON names are the external contract of
// the accounts of /api/v1/runs/{id} (admin.RunAccount).
type AccountResult struct {
	FuseAccountID string           `json:"fuse_account_id"`
	Name          string           `json:"name"`
	Currency      ledgerd.Currency `json:"currency"`
	LedgerPosted  ledgerd.Amount   `json:"ledger_posted"`
	LedgerPending ledgerd.Amount   `json:"ledger_pending"`
	// FuseBalance is nil when Fuse does not list the account.
	FuseBalance *ledgerd.Amount `json:"fuse_balance"`
	// Drift is LedgerPosted − FuseBalance (net); GrossDrift the sum of
	// the absolute differences that make it up.
	Drift      ledgerd.Amount `json:"drift"`
	GrossDrift ledgerd.Amount `json:"gross_drift"`
}

// currencyTotals accumulates one account's figures in one currency.
type currencyTotals struct {
	posted, pending       ledgerd.Amount // running balances, corrected to the cut-off below
	postedCorr, pendCorr  ledgerd.Amount
	fuseRollback          ledgerd.Amount // Fuse effects after the cut-off, within the balance read
	explained, inGrace    ledgerd.Amount // Σ (ledger − Fuse) per transaction
	gross                 ledgerd.Amount // Σ |ledger − Fuse| outside the grace period
	explain               []string
	explainN              int
	haveBalance, touched  bool
	postedErr, overflowed bool
}

// maxExplain bounds the transactions a balance_drift break lists.
const maxExplain = 10

// merger merges one account.
type merger struct {
	st   *runState
	job  accountJob
	snap *ledger.Snapshot
	curs map[ledgerd.Currency]*currencyTotals
	days *dayCheck // the daily check's days (closing.go); nil: none
}

func (m *merger) cur(c ledgerd.Currency) *currencyTotals {
	t := m.curs[c]
	if t == nil {
		t = &currencyTotals{}
		m.curs[c] = t
	}
	return t
}

func add(dst *ledgerd.Amount, v ledgerd.Amount, bad *bool) {
	s, err := dst.Add(v)
	if err != nil {
		*bad = true
		return
	}
	*dst = s
}

func abs(a ledgerd.Amount) ledgerd.Amount {
	if a < 0 {
		if n, err := a.Neg(); err == nil {
			return n
		}
		return ledgerd.MaxAmount
	}
	return a
}

// delta records one transaction's difference (ledger − Fuse) on the
// account's balance in c.
func (m *merger) delta(c ledgerd.Currency, d ledgerd.Amount, grace bool, txID string, why string) {
	if d == 0 {
		return
	}
	t := m.cur(c)
	t.touched = true
	if grace {
		add(&t.inGrace, d, &t.overflowed)
		return
	}
	add(&t.explained, d, &t.overflowed)
	add(&t.gross, abs(d), &t.overflowed)
	t.explainN++
	if len(t.explain) < maxExplain {
		t.explain = append(t.explain, fmt.Sprintf("%s %s %s", txID, why, d.Format(c)))
	}
}

// mergeAccount reads one account's Fuse transactions, then, in one read
// transaction of the ledger (so that its running balance and its rows are
// one snapshot), walks both in transaction_id order.
func (st *runState) mergeAccount(ctx context.Context, job accountJob) error {
	var set fuseSet = emptySet{}
	if job.fuse != nil {
		s, _, err := st.r.readTransactions(ctx, job.id, func(t fuse.Transaction, why error) error {
			return st.emit(ctx, Finding{Category: UnknownTransaction, Subject: t.ID, Severity: Critical,
				FuseAccountID: job.id, FuseTransactionID: t.ID, Currency: ledgerd.Currency(t.Currency),
				Detail: fmt.Sprintf("Fuse lists %v; it is not booked: look at it at Fuse", why)})
		})
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			st.incomplete("list transactions of account %s: %v", job.id, err)
			return nil
		}
		set = s
	}
	defer set.close()
	days, err := st.readHistory(ctx, job)
	if err != nil {
		return err
	}

	b := st.r.opts.Ledger.PoolReader()
	if cap(st.ledger) > 0 {
		select {
		case b = <-st.ledger:
		case <-ctx.Done():
			return ctx.Err()
		}
		defer func(b *ledger.BulkReader) { st.ledger <- b }(b)
	}
	snap, err := b.Snapshot(ctx)
	if err != nil {
		return err
	}
	defer snap.Close()
	m := &merger{st: st, job: job, snap: snap, curs: map[ledgerd.Currency]*currencyTotals{}, days: days}
	if err := m.readBalances(ctx); err != nil {
		return err
	}
	if err := m.accountChecks(ctx); err != nil {
		return err
	}
	cur, err := snap.AccountTransactions(ctx, job.id)
	if err != nil {
		return err
	}
	defer cur.Close()
	// The cursor fills l in place: ledgerTx is the ledger's row with the
	// merge's methods.
	var l ledgerTx
	nextL := func() (bool, error) { return cur.Next((*ledger.StoredTransaction)(&l)) }
	f, fok, err := set.next()
	if err != nil {
		return err
	}
	lok, err := nextL()
	if err != nil {
		return err
	}
	for fok || lok {
		switch {
		case fok && (!lok || f.ID < l.ID):
			err = m.fuseOnly(ctx, f)
			if err == nil {
				f, fok, err = set.next()
			}
		case lok && (!fok || l.ID < f.ID):
			err = m.ledgerOnly(ctx, &l)
			if err == nil {
				lok, err = nextL()
			}
		default:
			err = m.pair(ctx, f, &l)
			if err == nil {
				f, fok, err = set.next()
			}
			if err == nil {
				lok, err = nextL()
			}
		}
		if err != nil {
			return fmt.Errorf("merge account %s: %w", job.id, err)
		}
	}
	if err := m.finish(ctx); err != nil {
		return err
	}
	return m.closingChecks(ctx)
}

// readBalances reads the account's running balances, in the merge's
// snapshot.
func (m *merger) readBalances(ctx context.Context) error {
	return m.snap.BankBalances(ctx, m.job.id, func(c ledgerd.Currency, posted, pending ledgerd.Amount) {
		t := m.cur(c)
		t.posted, t.pending, t.haveBalance = posted, pending, true
	})
}

// accountChecks compares what the two sides say of the account itself.
func (m *merger) accountChecks(ctx context.Context) error {
	j := m.job
	if j.fuse == nil {
		return m.st.emit(ctx, Finding{Category: MissingAtFuse, Subject: j.id, Severity: Critical, FuseAccountID: j.id,
			Currency: ledgerd.Currency(j.ledgerCurrency),
			Detail:   "the ledger has transactions on this account; Fuse does not list it"})
	}
	if j.ledgerCurrency != "" && j.ledgerCurrency != j.fuse.Currency {
		return m.st.emit(ctx, Finding{Category: CurrencyMismatch, Subject: j.id, Severity: Critical, FuseAccountID: j.id,
			Currency: ledgerd.Currency(j.fuse.Currency),
			Detail:   fmt.Sprintf("account currency: ledger %s, Fuse %s", j.ledgerCurrency, j.fuse.Currency)})
	}
	return nil
}

// correct folds a ledger row into the corrections that bring the running
// balance back to the cut-off.
func (m *merger) correct(l *ledgerTx) (totals, error) {
	t, err := l.totals(m.st.asOfS)
	if err != nil {
		return t, err
	}
	if err := m.days.note(l); err != nil {
		return t, err
	}
	if l.Currency.Valid && (t.postedCorr != 0 || t.pendingCorr != 0) {
		c := m.cur(ledgerd.Currency(l.Currency.String))
		add(&c.postedCorr, t.postedCorr, &c.postedErr)
		add(&c.pendCorr, t.pendingCorr, &c.postedErr)
	}
	return t, nil
}

// rollback takes out of Fuse's balance what happened after the cut-off
// but before the balance was read.
func (m *merger) rollback(f *fuseTx) error {
	if terminalState(f.Status) != succeeded || !f.StateAt.After(m.st.asOf) || f.StateAt.After(m.job.readAt) {
		return nil
	}
	e, err := f.effect()
	if err != nil {
		return err
	}
	c := m.cur(ledgerd.Currency(f.Currency))
	add(&c.fuseRollback, e, &c.overflowed)
	return nil
}

func severityOf(s lifeState) Severity {
	switch s {
	case succeeded:
		return Critical
	case inFlight:
		return Warning
	}
	return Info
}

// fuseOnly handles a transaction Fuse lists on the account and the ledger
// does not have on it.
func (m *merger) fuseOnly(ctx context.Context, f *fuseTx) error {
	if err := m.rollback(f); err != nil {
		return err
	}
	fs := f.stateAt(m.st.asOf)
	if fs == absent {
		return nil
	}
	m.st.checked.Add(1)
	fe, err := f.effectAt(m.st.asOf)
	if err != nil {
		return err
	}
	neg, _ := fe.Neg()
	cur := ledgerd.Currency(f.Currency)
	// Booked on another account?
	other, booked, err := m.snap.Transaction(ctx, f.ID)
	switch {
	case err != nil:
		return err
	case booked:
		m.delta(cur, neg, false, f.ID, string(AccountMismatch))
		return m.st.emit(ctx, Finding{Category: AccountMismatch, Subject: f.ID, Severity: Critical,
			FuseAccountID: f.AccountID, FuseTransactionID: f.ID, Currency: cur, FuseAmount: amt(fe),
			Detail: fmt.Sprintf("Fuse lists it on account %s; the ledger booked it on account %s", f.AccountID, other.AccountID)})
	}
	if f.StateAt.After(m.st.ledgerGrace) {
		m.st.pending.Add(1)
		m.delta(cur, neg, true, f.ID, "")
		return nil
	}
	m.delta(cur, neg, false, f.ID, string(MissingInLedger))
	e, err := f.effect()
	if err != nil {
		return err
	}
	return m.st.emit(ctx, Finding{Category: MissingInLedger, Subject: f.ID, Severity: severityOf(fs),
		FuseAccountID: f.AccountID, FuseTransactionID: f.ID, Currency: cur, FuseAmount: amt(e), Difference: amt(neg),
		Detail: fmt.Sprintf("%s %s, %s at Fuse (status %s, updated %s); the ledger never recorded it",
			f.Kind, e.Format(cur), fs, f.Status, f.StateAt.Format(time.RFC3339))})
}

// ledgerOnly handles a transaction the ledger has on the account and
// Fuse's listing of the account does not.
func (m *merger) ledgerOnly(ctx context.Context, l *ledgerTx) error {
	tot, err := m.correct(l)
	if err != nil {
		return err
	}
	ls := l.stateAt(m.st.asOfS)
	if ls == absent {
		return nil
	}
	if err := m.ledgerChecks(ctx, l); err != nil {
		return err
	}
	cur := ledgerd.Currency(l.Currency.String)
	if l.lastSeen() > m.st.fuseGraceS {
		m.st.checked.Add(1)
		m.st.pending.Add(1)
		m.delta(cur, tot.effect, true, l.ID, "")
		return nil
	}
	ft, looked, err := m.st.lookUp(ctx, l.ID)
	switch {
	case !looked:
		// Unconfirmed, it is no break; its effect is still part of the
		// account's drift, named as not looked up.
		m.st.unlooked.Add(1)
		m.delta(cur, tot.effect, false, l.ID, "not_looked_up")
		return nil
	case err == nil:
		f, err := fromFuse(&ft)
		if err != nil {
			m.st.incomplete("transaction %s: %v", l.ID, err)
			return nil
		}
		if f.AccountID == m.job.id {
			// The listing missed it (it moved while the listing ran).
			if err := m.rollback(&f); err != nil {
				return err
			}
			return m.compare(ctx, &f, l, tot)
		}
		m.st.checked.Add(1)
		m.delta(cur, tot.effect, false, l.ID, string(AccountMismatch))
		if m.st.listed[f.AccountID] {
			return nil // the merge of that account reports it
		}
		return m.st.emit(ctx, Finding{Category: AccountMismatch, Subject: l.ID, Severity: Critical,
			FuseAccountID: f.AccountID, FuseTransactionID: l.ID, Currency: cur, LedgerAmount: amt(tot.effect),
			Detail: fmt.Sprintf("Fuse lists it on account %s; the ledger booked it on account %s", f.AccountID, l.AccountID)})
	case errors.Is(err, fuse.ErrNotFound):
	case ctx.Err() != nil:
		return ctx.Err()
	default:
		m.st.incomplete("get transaction %s: %v", l.ID, err)
		return nil
	}
	m.st.checked.Add(1)
	m.delta(cur, tot.effect, false, l.ID, string(MissingAtFuse))
	sev := Warning
	if tot.effect != 0 {
		sev = Critical
	}
	// A transfer on an account whose currency the ledger never learned
	// has amounts in no currency the break can name: it carries none.
	var la *ledgerd.Amount
	d, what := amt(tot.effect), fmtAmt(nil, cur)
	if l.Instructed.Valid {
		if a, err := l.bankAmount(); err == nil {
			what = fmtAmt(&a, cur)
			if l.Currency.Valid {
				la = &a
			} else {
				d = nil
			}
		}
	}
	return m.st.emit(ctx, Finding{Category: MissingAtFuse, Subject: l.ID, Severity: sev,
		FuseAccountID: l.AccountID, FuseTransactionID: l.ID, Currency: cur, LedgerAmount: la, Difference: d,
		Detail: fmt.Sprintf("the ledger has %s %s (status %s); absent from Fuse's listing and GET /transactions/{id} answers 404",
			l.Kind, what, l.Status)})
}

// fmtAmt renders an amount with its currency for a break's detail; an
// amount in a currency the ledger does not know (c is "") is told in
// minor units, since no exponent can be assumed for it.
func fmtAmt(a *ledgerd.Amount, c ledgerd.Currency) string {
	switch {
	case a == nil:
		return "(amount unknown)"
	case c == "":
		return fmt.Sprintf("%d minor units of a currency the ledger does not know", *a)
	}
	return a.Format(c) + " " + string(c)
}

// pair handles a transaction both sides have on the account.
func (m *merger) pair(ctx context.Context, f *fuseTx, l *ledgerTx) error {
	if err := m.rollback(f); err != nil {
		return err
	}
	tot, err := m.correct(l)
	if err != nil {
		return err
	}
	if f.stateAt(m.st.asOf) == absent {
		return nil
	}
	if err := m.ledgerChecks(ctx, l); err != nil {
		return err
	}
	return m.compare(ctx, f, l, tot)
}

// compare checks one transaction field by field and folds its difference
// into the account's drift.
func (m *merger) compare(ctx context.Context, f *fuseTx, l *ledgerTx, tot totals) error {
	st := m.st
	st.checked.Add(1)
	fs := f.stateAt(st.asOf)
	ls := l.stateAt(st.asOfS)
	if ls == absent {
		ls = inFlight // the ledger knows it, from a later observation
	}
	recent := f.StateAt.After(st.ledgerGrace)
	fcur := ledgerd.Currency(f.Currency)
	base := Finding{Subject: f.ID, FuseAccountID: f.AccountID, FuseTransactionID: f.ID}
	var first Category // the first break found, to explain the drift with
	// emitIn records a break whose amounts are in cur; emit one whose
	// amounts (if any) are in the transaction's currency.
	emitIn := func(cur ledgerd.Currency, c Category, sev Severity, la, fa *ledgerd.Amount, detail string) error {
		x := base
		x.Currency = cur
		x.Category, x.Severity, x.LedgerAmount, x.FuseAmount, x.Difference, x.Detail = c, sev, la, fa, diff(la, fa), detail
		if first == "" {
			first = c
		}
		return st.emit(ctx, x)
	}
	emit := func(c Category, sev Severity, la, fa *ledgerd.Amount, detail string) error {
		return emitIn(fcur, c, sev, la, fa, detail)
	}

	var why []string
	if l.AccountID != f.AccountID {
		why = append(why, fmt.Sprintf("account: ledger %s, Fuse %s", l.AccountID, f.AccountID))
	}
	if l.Kind != f.Kind {
		why = append(why, fmt.Sprintf("kind: ledger %s, Fuse %s", l.Kind, f.Kind))
	}
	if l.CPAccountID.Valid && f.CPAccountID != "" && l.CPAccountID.String != f.CPAccountID {
		why = append(why, fmt.Sprintf("counterpart account: ledger %s, Fuse %s", l.CPAccountID.String, f.CPAccountID))
	}
	if len(why) > 0 {
		if err := emit(AccountMismatch, Critical, nil, nil, strings.Join(why, "; ")); err != nil {
			return err
		}
	}

	if mis := currencyMismatch(l, f); mis != "" {
		if err := emit(CurrencyMismatch, Critical, nil, nil, mis); err != nil {
			return err
		}
	}
	if l.Instructed.Valid {
		if cur, la, fa, mis := amountMismatch(l, f); mis != "" {
			if err := emitIn(cur, AmountMismatch, Critical, la, fa, mis); err != nil {
				return err
			}
		}
	}

	switch {
	case fs == inFlight && ls == inFlight:
		st.pending.Add(1)
		if age := st.asOf.Sub(f.CreatedAt); age >= st.r.opts.StalePendingAfter {
			e, err := f.effect()
			if err != nil {
				return err
			}
			if err := emit(StalePending, staleSeverity(age), nil, amt(e), fmt.Sprintf(
				"in flight for %s (bucket %s) since %s: Fuse status %s, ledger status %s",
				age.Round(time.Minute), ageBucket(age), f.CreatedAt.Format(time.RFC3339), f.Status, l.Status)); err != nil {
				return err
			}
		}
	case fs == ls:
	case ls == inFlight && recent:
		st.pending.Add(1)
	default:
		sev := Warning
		if (fs == succeeded && ls == failedSt) || (fs == failedSt && ls == succeeded) {
			sev = Critical
		}
		if err := emit(StatusMismatch, sev, nil, nil, fmt.Sprintf(
			"at the cut-off Fuse says %s (status %s, updated %s), the ledger says %s (status %s)",
			fs, f.Status, f.StateAt.Format(time.RFC3339), ls, l.Status)); err != nil {
			return err
		}
	}

	fe, err := f.effectAt(st.asOf)
	if err != nil {
		return err
	}
	why2 := string(first)
	if why2 == "" {
		why2 = "entry"
	}
	lcur := ledgerd.Currency(l.Currency.String)
	if lcur == fcur {
		d, err := tot.effect.Sub(fe)
		if err != nil {
			return err
		}
		m.delta(fcur, d, recent, f.ID, why2)
	} else {
		negFe, _ := fe.Neg()
		m.delta(lcur, tot.effect, recent, f.ID, why2)
		m.delta(fcur, negFe, recent, f.ID, why2)
	}
	return nil
}

// sameCurrency and sameCPCurrency report whether the two sides agree on
// the transaction's currency and on its counterpart currency (an
// exchange's other side); a side that does not say agrees.
func sameCurrency(l *ledgerTx, f *fuseTx) bool {
	return !l.Currency.Valid || l.Currency.String == f.Currency
}

func sameCPCurrency(l *ledgerTx, f *fuseTx) bool {
	return !l.CPCurrency.Valid || f.CPCurrency == "" || l.CPCurrency.String == f.CPCurrency
}

// currencyMismatch says where the two sides disagree on a currency, with
// what each side has in it: amounts in two currencies are evidence, not a
// difference, so amountMismatch leaves them to this break.
func currencyMismatch(l *ledgerTx, f *fuseTx) string {
	var why []string
	differ := func(name string, lc, fc string, known bool, lv, fv int64) {
		ls, fs := lc, fc
		if known {
			ls, fs = fmtAmt(amt(ledgerd.Amount(lv)), ledgerd.Currency(lc)), fmtAmt(amt(ledgerd.Amount(fv)), ledgerd.Currency(fc))
		}
		why = append(why, sides(name, ls, fs))
	}
	if !sameCurrency(l, f) {
		differ("currency", l.Currency.String, f.Currency, l.Instructed.Valid, l.WithFee.Int64, f.WithFee)
	}
	if !sameCPCurrency(l, f) {
		differ("counterpart currency", l.CPCurrency.String, f.CPCurrency, l.CPAmount.Valid && f.HasCPAmount,
			l.CPAmount.Int64, f.CPAmount)
	}
	return strings.Join(why, "; ")
}

// sides is one line of a mismatch's detail: what each side says of name.
func sides(name, ledgerSays, fuseSays string) string {
	return fmt.Sprintf("%s: ledger %s, Fuse %s", name, ledgerSays, fuseSays)
}

// amountMismatch compares a transaction's amounts, each in the currency
// it is in: instructed, fee and total in the transaction's currency, an
// exchange's counterpart_amount in its counterpart currency. The break
// carries the totals when they differ, else the counterpart amounts, and
// cur is the currency of the amounts it carries, so that every report
// scales them by that currency's exponent. detail is "" when nothing
// differs.
func amountMismatch(l *ledgerTx, f *fuseTx) (cur ledgerd.Currency, la, fa *ledgerd.Amount, detail string) {
	var why []string
	field := func(name string, lv, fv int64, c ledgerd.Currency) bool {
		if lv == fv {
			return false
		}
		why = append(why, sides(name, fmtAmt(amt(ledgerd.Amount(lv)), c), fmtAmt(amt(ledgerd.Amount(fv)), c)))
		return true
	}
	if sameCurrency(l, f) {
		c := ledgerd.Currency(f.Currency)
		differ := field("instructed_amount", l.Instructed.Int64, f.Instructed, c)
		differ = field("fee_amount", l.Fee.Int64, f.Fee, c) || differ
		differ = field("amount_with_fee", l.WithFee.Int64, f.WithFee, c) || differ
		if differ {
			cur, la, fa = c, amt(ledgerd.Amount(l.WithFee.Int64)), amt(ledgerd.Amount(f.WithFee))
		}
	}
	if l.CPAmount.Valid && f.HasCPAmount && sameCPCurrency(l, f) {
		c := ledgerd.Currency(f.CPCurrency)
		if c == "" {
			c = ledgerd.Currency(l.CPCurrency.String)
		}
		if field("counterpart_amount", l.CPAmount.Int64, f.CPAmount, c) && la == nil {
			cur, la, fa = c, amt(ledgerd.Amount(l.CPAmount.Int64)), amt(ledgerd.Amount(f.CPAmount))
		}
	}
	return cur, la, fa, strings.Join(why, "; ")
}

// ledgerChecks runs the checks that need only the ledger's row.
func (m *merger) ledgerChecks(ctx context.Context, l *ledgerTx) error {
	if l.EntryState.Valid || l.lastSeen() > m.st.ledgerGraceS {
		return nil
	}
	if l.Instructed.Valid && l.Currency.Valid && m.job.ledgerCurrency != "" && l.Currency.String != m.job.ledgerCurrency {
		return nil // held for its currency: the currency_mismatch break of its event says why
	}
	var what string
	switch {
	case !l.Instructed.Valid:
		what = "its amounts never arrived"
	case !l.Currency.Valid:
		what = "its currency (and its account's) is unknown"
	default:
		what = "its counterpart amount or currency never arrived"
	}
	return m.st.emit(ctx, Finding{Category: IncompleteData, Subject: l.ID, Severity: Warning,
		FuseAccountID: l.AccountID, FuseTransactionID: l.ID, Currency: ledgerd.Currency(l.Currency.String),
		Detail: fmt.Sprintf("the ledger knows %s %s is %s but %s, so it has no entry", l.Kind, l.ID, l.Status, what)})
}

// finish turns the account's totals into its result rows and its
// balance_drift breaks.
func (m *merger) finish(ctx context.Context) error {
	j := m.job
	var fuseCur ledgerd.Currency
	if j.fuse != nil {
		fuseCur = ledgerd.Currency(j.fuse.Currency)
		m.cur(fuseCur)
	}
	name := j.ledgerName
	if j.fuse != nil {
		name = j.fuse.AccountName
	}
	cs := make([]ledgerd.Currency, 0, len(m.curs))
	for c := range m.curs {
		cs = append(cs, c)
	}
	slices.Sort(cs)
	for _, c := range cs {
		t := m.curs[c]
		if t.overflowed || t.postedErr {
			return fmt.Errorf("account %s %s: %w", j.id, c, ledgerd.ErrOverflow)
		}
		var bad bool
		posted, pending := t.posted, t.pending
		add(&posted, t.postedCorr, &bad)
		add(&pending, t.pendCorr, &bad)
		if c != fuseCur && !t.haveBalance && !t.touched && posted == 0 && pending == 0 {
			continue
		}
		res := AccountResult{FuseAccountID: j.id, Name: name, Currency: c, LedgerPosted: posted, LedgerPending: pending}
		var fuseBal ledgerd.Amount
		if j.fuse != nil {
			if c == fuseCur {
				fuseBal = ledgerd.Amount(*j.fuse.CurrentBalance)
				var err error
				if fuseBal, err = fuseBal.Sub(t.fuseRollback); err != nil {
					bad = true
				}
			}
			res.FuseBalance = amt(fuseBal)
		}
		net, err1 := posted.Sub(fuseBal)
		unexplained, err2 := net.Sub(t.inGrace)
		residual, err3 := unexplained.Sub(t.explained)
		if bad || err1 != nil || err2 != nil || err3 != nil {
			return fmt.Errorf("account %s %s: %w", j.id, c, ledgerd.ErrOverflow)
		}
		gross, err := t.gross.Add(abs(residual))
		if err != nil {
			return fmt.Errorf("account %s %s: %w", j.id, c, err)
		}
		res.Drift, res.GrossDrift = net, gross
		m.st.addAccount(res)
		if j.fuse == nil || unexplained == 0 {
			continue
		}
		detail := fmt.Sprintf("ledger posted %s %s, Fuse %s %s: drift %s (gross %s)",
			posted.Format(c), c, fuseBal.Format(c), c, net.Format(c), gross.Format(c))
		if t.explainN > 0 {
			detail += "; explained by " + strings.Join(t.explain, ", ")
			if t.explainN > len(t.explain) {
				detail += fmt.Sprintf(" and %d more", t.explainN-len(t.explain))
			}
		}
		if residual != 0 {
			detail += fmt.Sprintf("; no transaction explains %s", residual.Format(c))
		}
		if t.inGrace != 0 {
			detail += fmt.Sprintf("; %s is in flight within the grace period", t.inGrace.Format(c))
		}
		if err := m.st.emit(ctx, Finding{Category: BalanceDrift, Subject: j.id + "/" + string(c), Severity: Critical,
			FuseAccountID: j.id, Currency: c, LedgerAmount: amt(posted), FuseAmount: amt(fuseBal),
			Difference: amt(net), Detail: detail}); err != nil {
			return err
		}
	}
	return nil
}
