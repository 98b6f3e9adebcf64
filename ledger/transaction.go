package ledger

import (
	"cmp"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/ledgerd/ledgerd"
)

// txState is a fuse_transactions row as the ingest logic needs it.
type txState struct {
	Kind                 ledgerd.Kind
	AccountID            string
	CounterpartAccountID sql.NullString
	Currency             sql.NullString
	Instructed           sql.NullInt64
	Fee                  sql.NullInt64
	WithFee              sql.NullInt64
	CounterpartCurrency  sql.NullString
	CounterpartAmount    sql.NullInt64
	Status               ledgerd.Status
	StatusAt             sql.NullString
	CreatedAt            sql.NullString
}

func (t *wtx) loadTx(id string) (txState, bool, error) {
	var s txState
	var kind, status string
	err := t.queryRow(`SELECT kind, account_id, counterpart_account_id, currency,
		instructed_amount, fee_amount, amount_with_fee, counterpart_currency, counterpart_amount,
		status, status_at, created_at
		FROM fuse_transactions WHERE transaction_id = ?`, id).Scan(
		&kind, &s.AccountID, &s.CounterpartAccountID, &s.Currency,
		&s.Instructed, &s.Fee, &s.WithFee, &s.CounterpartCurrency, &s.CounterpartAmount,
		&status, &s.StatusAt, &s.CreatedAt)
	if errors.Is(err, sql.ErrNoRows) {
		return s, false, nil
	}
	if err != nil {
		return s, false, fmt.Errorf("look up transaction %s: %w", id, err)
	}
	s.Kind, s.Status = ledgerd.Kind(kind), ledgerd.Status(status)
	return s, true, nil
}

// stateOf is the txState of a transaction row freshly inserted from o.
func stateOf(o ledgerd.TransactionObservation, at, created sql.NullString) txState {
	s := txState{
		Kind:                 o.Kind,
		AccountID:            o.AccountID,
		CounterpartAccountID: sql.NullString{String: o.CounterpartAccountID, Valid: o.CounterpartAccountID != ""},
		Currency:             sql.NullString{String: string(o.Currency), Valid: o.Currency != ""},
		CounterpartCurrency:  sql.NullString{String: string(o.CounterpartCurrency), Valid: o.CounterpartCurrency != ""},
		Status:               o.Status,
		StatusAt:             at,
		CreatedAt:            created,
	}
	if a := o.Amounts; a != nil {
		s.Instructed = sql.NullInt64{Int64: int64(a.Instructed), Valid: true}
		s.Fee = sql.NullInt64{Int64: int64(a.Fee), Valid: true}
		s.WithFee = sql.NullInt64{Int64: int64(a.WithFee), Valid: true}
	}
	if o.CounterpartAmount != nil {
		s.CounterpartAmount = sql.NullInt64{Int64: int64(*o.CounterpartAmount), Valid: true}
	}
	return s
}

func validateTx(o ledgerd.TransactionObservation) error {
	switch {
	case o.TransactionID == "":
		return rejectf("transaction observation without transaction_id")
	case o.AccountID == "":
		return rejectf("transaction %s without account_id", o.TransactionID)
	case !o.Kind.Valid():
		return rejectf("transaction %s: unknown kind %q", o.TransactionID, o.Kind)
	case !o.Status.Valid():
		return rejectf("transaction %s: unknown status %q", o.TransactionID, o.Status)
	case o.Currency != "" && !o.Currency.Valid():
		return rejectf("transaction %s: unknown currency %q", o.TransactionID, o.Currency)
	case o.CounterpartCurrency != "" && !o.CounterpartCurrency.Valid():
		return rejectf("transaction %s: unknown counterpart currency %q", o.TransactionID, o.CounterpartCurrency)
	}
	if o.Amounts != nil {
		if err := o.Amounts.Check(o.Kind); err != nil {
			return rejectf("transaction %s: %v", o.TransactionID, err)
		}
	}
	if o.CounterpartAmount != nil {
		if err := o.CounterpartAmount.CheckRange(); err != nil {
			return rejectf("transaction %s: counterpart_amount: %v", o.TransactionID, err)
		}
	}
	return nil
}

// applyTransaction merges an observation into fuse_transactions and books
// or advances its entry. Status only moves forward; a contradiction
// (another terminal status, other amounts) is kept as evidence and changes
// nothing.
func (t *wtx) applyTransaction(seq int64, src ledgerd.Source, o ledgerd.TransactionObservation) error {
	if err := validateTx(o); err != nil {
		return err
	}
	// Accounts named by the event exist from now on, with what it says.
	if err := t.applyAccount(seq, ledgerd.AccountObservation{AccountID: o.AccountID, Currency: o.Currency}, false); err != nil {
		return err
	}
	if o.CounterpartAccountID != "" {
		if err := t.applyAccount(seq, ledgerd.AccountObservation{
			AccountID: o.CounterpartAccountID, Currency: o.CounterpartCurrency}, false); err != nil {
			return err
		}
	}
	cur, found, err := t.loadTx(o.TransactionID)
	if err != nil {
		return err
	}
	var instructed, fee, withFee, cpAmount any
	if o.Amounts != nil {
		instructed, fee, withFee = int64(o.Amounts.Instructed), int64(o.Amounts.Fee), int64(o.Amounts.WithFee)
	}
	if o.CounterpartAmount != nil {
		cpAmount = int64(*o.CounterpartAmount)
	}
	at := formatTime(o.At)
	// The earliest Fuse time known of the transaction: its creation time
	// when the observation says it, else this observation's time.
	created := at
	if c := formatTime(o.CreatedAt); c.Valid && (!created.Valid || c.String < created.String) {
		created = c
	}
	if !found {
		_, err = t.exec(`INSERT INTO fuse_transactions
			(transaction_id, kind, account_id, counterpart_account_id, currency,
			 instructed_amount, fee_amount, amount_with_fee, counterpart_currency, counterpart_amount, rate,
			 status, status_at, reference, external_reference, external_id, purpose, failure_reason,
			 created_at, first_seq, last_seq, source)
			VALUES (?, ?, ?, NULLIF(?, ''), NULLIF(?, ''), ?, ?, ?, NULLIF(?, ''), ?, NULLIF(?, ''),
			        ?, ?, NULLIF(?, ''), NULLIF(?, ''), NULLIF(?, ''), NULLIF(?, ''), NULLIF(?, ''), ?, ?, ?, ?)`,
			o.TransactionID, string(o.Kind), o.AccountID, o.CounterpartAccountID, string(o.Currency),
			instructed, fee, withFee, string(o.CounterpartCurrency), cpAmount, o.Rate,
			string(o.Status), at, o.Reference, o.ExternalReference, o.ExternalID, o.Purpose, o.FailureReason,
			created, seq, seq, string(src))
		if err != nil {
			return fmt.Errorf("record transaction %s: %w", o.TransactionID, err)
		}
		// A new transaction has no entry: book it from what was just written.
		return t.bookEntry(seq, o.TransactionID, stateOf(o, at, created))
	}

	if err := t.transactionConflicts(seq, cur, o); err != nil {
		return err
	}
	// Forward-only status: a higher rank replaces; the same status keeps
	// its earliest time; anything else is stale or a conflict (above).
	status, statusAt := string(cur.Status), cur.StatusAt
	if o.Status.Rank() > cur.Status.Rank() {
		status, statusAt = string(o.Status), at
	} else if o.Status == cur.Status && at.Valid && (!statusAt.Valid || at.String < statusAt.String) {
		statusAt = at
	}
	createdAt := cur.CreatedAt
	if created.Valid && (!createdAt.Valid || created.String < createdAt.String) {
		createdAt = created
	}
	failure := ""
	if ledgerd.Status(status) == ledgerd.StatusFailed && o.Status == ledgerd.StatusFailed {
		failure = o.FailureReason
	}
	// Unknown fields are filled in; known ones are never overwritten.
	_, err = t.exec(`UPDATE fuse_transactions SET
		counterpart_account_id = COALESCE(counterpart_account_id, NULLIF(?, '')),
		currency = COALESCE(currency, NULLIF(?, '')),
		instructed_amount = COALESCE(instructed_amount, ?),
		fee_amount = COALESCE(fee_amount, ?),
		amount_with_fee = COALESCE(amount_with_fee, ?),
		counterpart_currency = COALESCE(counterpart_currency, NULLIF(?, '')),
		counterpart_amount = COALESCE(counterpart_amount, ?),
		rate = COALESCE(rate, NULLIF(?, '')),
		status = ?, status_at = ?,
		reference = COALESCE(reference, NULLIF(?, '')),
		external_reference = COALESCE(external_reference, NULLIF(?, '')),
		external_id = COALESCE(external_id, NULLIF(?, '')),
		purpose = COALESCE(purpose, NULLIF(?, '')),
		failure_reason = COALESCE(failure_reason, NULLIF(?, '')),
		created_at = ?, last_seq = ?
		WHERE transaction_id = ?`,
		o.CounterpartAccountID, string(o.Currency), instructed, fee, withFee,
		string(o.CounterpartCurrency), cpAmount, o.Rate, status, statusAt,
		o.Reference, o.ExternalReference, o.ExternalID, o.Purpose, failure,
		createdAt, seq, o.TransactionID)
	if err != nil {
		return fmt.Errorf("update transaction %s: %w", o.TransactionID, err)
	}
	return t.syncEntry(seq, o.TransactionID)
}

// transactionConflicts records each way o contradicts the kept state.
func (t *wtx) transactionConflicts(seq int64, cur txState, o ledgerd.TransactionObservation) error {
	id := o.TransactionID
	type c struct{ field, kept, observed string }
	var cs []c
	if o.Kind != cur.Kind {
		cs = append(cs, c{"kind", string(cur.Kind), string(o.Kind)})
	}
	if o.AccountID != cur.AccountID {
		cs = append(cs, c{"account_id", cur.AccountID, o.AccountID})
	}
	if o.Currency != "" && cur.Currency.Valid && string(o.Currency) != cur.Currency.String {
		cs = append(cs, c{"currency", cur.Currency.String, string(o.Currency)})
	}
	if a := o.Amounts; a != nil && cur.Instructed.Valid {
		kept := fmt.Sprintf("%d/%d/%d", cur.Instructed.Int64, cur.Fee.Int64, cur.WithFee.Int64)
		seen := fmt.Sprintf("%d/%d/%d", a.Instructed, a.Fee, a.WithFee)
		if kept != seen {
			cs = append(cs, c{"amounts", kept, seen})
		}
	}
	if o.CounterpartAmount != nil && cur.CounterpartAmount.Valid && int64(*o.CounterpartAmount) != cur.CounterpartAmount.Int64 {
		cs = append(cs, c{"counterpart_amount", fmt.Sprint(cur.CounterpartAmount.Int64), fmt.Sprint(*o.CounterpartAmount)})
	}
	if o.Status.Terminal() && cur.Status.Terminal() && o.Status.Succeeded() != cur.Status.Succeeded() {
		cs = append(cs, c{"status", string(cur.Status), string(o.Status)})
	}
	for _, x := range cs {
		if err := t.conflict(seq, id, x.field, x.kept, x.observed); err != nil {
			return err
		}
	}
	return nil
}

// entryStateFor maps a Fuse status to the state its entry should reach.
func entryStateFor(s ledgerd.Status) string {
	switch {
	case s.Succeeded():
		return "posted"
	case s == ledgerd.StatusFailed:
		return "voided"
	}
	return "pending"
}

// syncEntry brings the entry of a transaction in line with what is known:
// books it once amounts and currency are known, and moves it from pending
// to posted or voided once Fuse's status is final.
func (t *wtx) syncEntry(seq int64, txID string) error {
	cur, _, err := t.loadTx(txID)
	if err != nil {
		return err
	}
	want := entryStateFor(cur.Status)
	var entryID int64
	var state string
	err = t.queryRow("SELECT id, state FROM entries WHERE transaction_id = ?", txID).Scan(&entryID, &state)
	switch {
	case err == nil:
		if state != "pending" || want == "pending" {
			return nil
		}
		return t.finishEntry(seq, entryID, want, cur.StatusAt)
	case !errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("look up entry of %s: %w", txID, err)
	}
	return t.bookEntry(seq, txID, cur)
}

// bookEntry writes the entry of a transaction that has none yet, if its
// amounts and currency are known.
func (t *wtx) bookEntry(seq int64, txID string, cur txState) error {
	want := entryStateFor(cur.Status)
	if !cur.Instructed.Valid {
		return nil // amounts not known yet: the entry waits
	}
	in, err := t.entryInput(cur)
	if err != nil {
		return err
	}
	ps, err := plan(in)
	if errors.Is(err, errWaiting) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("book transaction %s: %w", txID, err)
	}
	if !cur.Currency.Valid {
		// Remember the currency the entry was booked in (taken from the account).
		if _, err := t.exec("UPDATE fuse_transactions SET currency = ? WHERE transaction_id = ?",
			string(in.Currency), txID); err != nil {
			return fmt.Errorf("record currency of %s: %w", txID, err)
		}
	}
	pendingAt := cur.CreatedAt
	if !pendingAt.Valid {
		pendingAt = cur.StatusAt
	}
	if !pendingAt.Valid {
		pendingAt = formatTime(t.now)
	}
	var finalAt sql.NullString
	var finalSeq sql.NullInt64
	if want != "pending" {
		finalAt, finalSeq = cur.StatusAt, sql.NullInt64{Int64: seq, Valid: true}
		if !finalAt.Valid {
			finalAt = pendingAt
		}
	}
	res, err := t.exec(`INSERT INTO entries (transaction_id, account_id, state, pending_at, final_at, created_seq, final_seq)
		VALUES (?, ?, ?, ?, ?, ?, ?)`, txID, cur.AccountID, want, pendingAt, finalAt, seq, finalSeq)
	if err != nil {
		return fmt.Errorf("book transaction %s: %w", txID, err)
	}
	entryID, err := res.LastInsertId()
	if err != nil {
		return fmt.Errorf("book transaction %s: %w", txID, err)
	}
	// One statement for all the entry's lines.
	var q strings.Builder
	q.WriteString("INSERT INTO postings (entry_id, ledger_account, currency, amount, effective_at, seq) VALUES ")
	args := make([]any, 0, 6*len(ps))
	for i, p := range ps {
		if err := t.ensureLedgerAccount(p.Account, "", seq); err != nil {
			return err
		}
		if i > 0 {
			q.WriteString(", ")
		}
		q.WriteString("(?, ?, ?, ?, ?, ?)")
		args = append(args, entryID, p.Account, string(p.Currency), int64(p.Amount), pendingAt, seq)
		if err := t.addToBalance(p, want, 1); err != nil {
			return fmt.Errorf("book transaction %s: %w", txID, err)
		}
	}
	if len(ps) > 0 {
		if _, err := t.exec(q.String(), args...); err != nil {
			return fmt.Errorf("post %s: %w", txID, err)
		}
	}
	return nil
}

// entryInput resolves what plan needs: the transaction's currency is its
// own, or else its account's (transfer events carry no currency).
func (t *wtx) entryInput(cur txState) (entryInput, error) {
	in := entryInput{
		Kind:      cur.Kind,
		AccountID: cur.AccountID,
		Amounts: ledgerd.TxAmounts{Instructed: ledgerd.Amount(cur.Instructed.Int64),
			Fee: ledgerd.Amount(cur.Fee.Int64), WithFee: ledgerd.Amount(cur.WithFee.Int64)},
		CounterpartCurrency: ledgerd.Currency(cur.CounterpartCurrency.String),
	}
	if cur.CounterpartAmount.Valid {
		a := ledgerd.Amount(cur.CounterpartAmount.Int64)
		in.CounterpartAmount = &a
	}
	if cur.Currency.Valid {
		in.Currency = ledgerd.Currency(cur.Currency.String)
		return in, nil
	}
	var c sql.NullString
	if err := t.queryRow("SELECT currency FROM fuse_accounts WHERE account_id = ?", cur.AccountID).Scan(&c); err != nil {
		return in, fmt.Errorf("look up currency of account %s: %w", cur.AccountID, err)
	}
	in.Currency = ledgerd.Currency(c.String)
	return in, nil
}

// finishEntry moves a pending entry to posted or voided, exactly once (the
// entries_two_phase trigger refuses a second move), and moves its postings'
// amounts out of the pending balances.
func (t *wtx) finishEntry(seq, entryID int64, state string, statusAt sql.NullString) error {
	finalAt := statusAt
	if !finalAt.Valid {
		finalAt = formatTime(t.now)
	}
	if _, err := t.exec(`UPDATE entries SET state = ?, final_at = ?, final_seq = ? WHERE id = ?`,
		state, finalAt, seq, entryID); err != nil {
		return fmt.Errorf("%s entry %d: %w", state, entryID, err)
	}
	rows, err := t.query(`SELECT ledger_account, currency, amount FROM postings WHERE entry_id = ? ORDER BY id`, entryID)
	if err != nil {
		return fmt.Errorf("read postings of entry %d: %w", entryID, err)
	}
	var ps []Posting
	for rows.Next() {
		var p Posting
		var cur string
		var amt int64
		if err := rows.Scan(&p.Account, &cur, &amt); err != nil {
			rows.Close()
			return err
		}
		p.Currency, p.Amount = ledgerd.Currency(cur), ledgerd.Amount(amt)
		ps = append(ps, p)
	}
	if err := rows.Close(); err != nil {
		return err
	}
	if err := rows.Err(); err != nil {
		return err
	}
	for _, p := range ps {
		if err := t.addToBalance(p, "pending", -1); err != nil {
			return err
		}
		if err := t.addToBalance(p, state, 1); err != nil {
			return err
		}
	}
	return nil
}

// addToBalance adds (sign 1) or removes (sign −1) a posting in the running
// balance for the given entry state, with overflow-checked arithmetic: an
// overflow refuses the whole observation.
func (t *wtx) addToBalance(p Posting, state string, sign int) error {
	if state == "voided" {
		return nil
	}
	amt := p.Amount
	if sign < 0 {
		var err error
		if amt, err = amt.Neg(); err != nil {
			return fmt.Errorf("%w: %w", ErrRejected, err)
		}
	}
	row, err := t.balance(p.Account, string(p.Currency))
	if err != nil {
		return err
	}
	posted, pd, pc := row.posted, row.pendingDebits, row.pendingCredits
	field := &posted
	if state == "pending" {
		field = &pc
		if p.Amount > 0 {
			field = &pd
		}
	}
	sum, err := ledgerd.Amount(*field).Add(amt)
	if err != nil {
		return fmt.Errorf("%w: balance of %s %s: %w", ErrRejected, p.Account, p.Currency, err)
	}
	*field = int64(sum)
	// Write-behind: the cache holds the truth during the transaction and
	// each changed row is written once, before commit (flushBalances).
	key := balanceKey{p.Account, string(p.Currency)}
	t.w.balances[key] = balanceRow{posted, pd, pc}
	t.dirty[key] = true
	t.undo = append(t.undo, func() { t.w.balances[key] = row })
	return nil
}

// flushBalances writes every running balance the transaction changed, in
// a fixed order, so that the committed balances table equals the cache.
func (t *wtx) flushBalances() error {
	keys := make([]balanceKey, 0, len(t.dirty))
	for k := range t.dirty {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b balanceKey) int {
		return cmp.Or(cmp.Compare(a.account, b.account), cmp.Compare(a.currency, b.currency))
	})
	for _, k := range keys {
		row := t.w.balances[k]
		if _, err := t.exec(`INSERT INTO balances (ledger_account, currency, posted, pending_debits, pending_credits)
			VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (ledger_account, currency) DO UPDATE SET
			posted = excluded.posted, pending_debits = excluded.pending_debits, pending_credits = excluded.pending_credits`,
			k.account, k.currency, row.posted, row.pendingDebits, row.pendingCredits); err != nil {
			return fmt.Errorf("write balance of %s %s: %w", k.account, k.currency, err)
		}
	}
	clear(t.dirty)
	return nil
}

// balance reads a running balance through the writer's cache.
func (t *wtx) balance(account, currency string) (balanceRow, error) {
	key := balanceKey{account, currency}
	if row, ok := t.w.balances[key]; ok {
		return row, nil
	}
	var row balanceRow
	err := t.queryRow(`SELECT posted, pending_debits, pending_credits FROM balances
		WHERE ledger_account = ? AND currency = ?`, account, currency).Scan(&row.posted, &row.pendingDebits, &row.pendingCredits)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return row, fmt.Errorf("read balance of %s %s: %w", account, currency, err)
	}
	t.w.balances[key] = row
	t.undo = append(t.undo, func() { delete(t.w.balances, key) })
	return row, nil
}
