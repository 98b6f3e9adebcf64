package ledger

import (
	"database/sql"
	"errors"
	"fmt"
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
	FeeSource            sql.NullString
	ReturnedID           sql.NullString
	FeeTargetID          sql.NullString
}

// txColumns are the fuse_transactions columns of a txState, in scan order.
const txColumns = `t.kind, t.account_id, t.counterpart_account_id, t.currency,
		t.instructed_amount, t.fee_amount, t.amount_with_fee, t.counterpart_currency, t.counterpart_amount,
		t.status, t.status_at, t.created_at, t.fee_source, t.returned_id, t.fee_target_id`

// entryRef is what is known of a transaction's entry: none (id 0), or its
// id and state.
type entryRef struct {
	id    int64
	state string
}

// loadTx reads a transaction and its entry, if any, in one query.
func (t *wtx) loadTx(id string) (txState, entryRef, bool, error) {
	var s txState
	var e entryRef
	var kind, status string
	var entryID sql.NullInt64
	var entryState sql.NullString
	err := t.queryRow(`SELECT `+txColumns+`, e.id, e.state
		FROM fuse_transactions t LEFT JOIN entries e ON e.transaction_id = t.transaction_id
		WHERE t.transaction_id = ?`, id).Scan(
		&kind, &s.AccountID, &s.CounterpartAccountID, &s.Currency,
		&s.Instructed, &s.Fee, &s.WithFee, &s.CounterpartCurrency, &s.CounterpartAmount,
		&status, &s.StatusAt, &s.CreatedAt, &s.FeeSource, &s.ReturnedID, &s.FeeTargetID, &entryID, &entryState)
	if errors.Is(err, sql.ErrNoRows) {
		return s, e, false, nil
	}
	if err != nil {
		return s, e, false, fmt.Errorf("look up transaction %s: %w", id, err)
	}
	s.Kind, s.Status = ledgerd.Kind(kind), ledgerd.Status(status)
	if entryID.Valid {
		e = entryRef{id: entryID.Int64, state: entryState.String}
	}
	return s, e, true, nil
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
		FeeSource:            sql.NullString{String: o.FeeSource, Valid: o.FeeSource != ""},
		ReturnedID:           sql.NullString{String: o.ReturnedID, Valid: o.ReturnedID != ""},
		FeeTargetID:          sql.NullString{String: o.FeeTargetID, Valid: o.FeeTargetID != ""},
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
	case o.FeeSource != "" && o.FeeSource != ledgerd.FeeSourceIncluded && o.FeeSource != ledgerd.FeeSourcePrimary:
		return rejectf("transaction %s: unknown fee_source %q", o.TransactionID, o.FeeSource)
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
	at, created := txTimes(o)
	// A transaction seen for the first time is inserted; one already known
	// conflicts on its id, changes nothing there, and is merged below. The
	// insert is the existence check: no look-up before it, unless the
	// transaction is known to exist (t.known), when the insert is skipped.
	var cur txState
	var entry entryRef
	found := false
	if t.known == o.TransactionID {
		var err error
		if cur, entry, found, err = t.loadTx(o.TransactionID); err != nil {
			return err
		}
	}
	if !found {
		res, err := t.exec(insertTxSQL, txArgs(nil, o, src, seq, at, created)...)
		if err != nil {
			return fmt.Errorf("record transaction %s: %w", o.TransactionID, err)
		}
		inserted, err := res.RowsAffected()
		if err != nil {
			return fmt.Errorf("record transaction %s: %w", o.TransactionID, err)
		}
		if inserted == 1 {
			t.noteNew(src, &o, at, created)
			if o.FeeTargetID != "" {
				if err := t.checkFeeTarget(seq, o.FeeTargetID, string(o.Currency)); err != nil {
					return err
				}
			}
			// A new transaction has no entry: book it from what was just written.
			return t.bookEntry(seq, o.TransactionID, stateOf(o, at, created))
		}
		if cur, entry, found, err = t.loadTx(o.TransactionID); err != nil {
			return err
		}
		if !found {
			return fmt.Errorf("record transaction %s: neither inserted nor found", o.TransactionID)
		}
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
	var instructed, fee, withFee, cpAmount any
	if o.Amounts != nil {
		instructed, fee, withFee = int64(o.Amounts.Instructed), int64(o.Amounts.Fee), int64(o.Amounts.WithFee)
	}
	if o.CounterpartAmount != nil {
		cpAmount = int64(*o.CounterpartAmount)
	}
	// Unknown fields are filled in; known ones are never overwritten.
	_, err := t.exec(`UPDATE fuse_transactions SET
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
		fee_source = COALESCE(fee_source, NULLIF(?, '')),
		returned_id = COALESCE(returned_id, NULLIF(?, '')),
		fee_target_id = COALESCE(fee_target_id, NULLIF(?, '')),
		created_at = ?, last_seq = ?
		WHERE transaction_id = ?`,
		text(o.CounterpartAccountID), text(string(o.Currency)), instructed, fee, withFee,
		text(string(o.CounterpartCurrency)), cpAmount, text(o.Rate), status, statusAt,
		text(o.Reference), text(o.ExternalReference), text(externalID(o.ExternalID)), text(o.Purpose), text(failure),
		text(o.FeeSource), text(o.ReturnedID), text(o.FeeTargetID),
		createdAt, seq, o.TransactionID)
	if err != nil {
		return fmt.Errorf("update transaction %s: %w", o.TransactionID, err)
	}
	if o.Status.Terminal() && o.Status.Rank() > cur.Status.Rank() {
		t.noteFinal(&o, at, createdAt)
	}
	if o.FeeTargetID != "" && !cur.FeeTargetID.Valid {
		if err := t.checkFeeTarget(seq, o.FeeTargetID, string(o.Currency)); err != nil {
			return err
		}
	}
	// The row as the UPDATE left it, without reading it back.
	next := merged(cur, o)
	next.Status, next.StatusAt, next.CreatedAt = ledgerd.Status(status), statusAt, createdAt
	return t.syncEntryOf(seq, o.TransactionID, next, entry)
}

// txTimes are the Fuse times an observation gives its transaction: at,
// the time of the observed status, and created, the earliest time known of
// the transaction (its creation time when the observation says it, else
// at).
func txTimes(o ledgerd.TransactionObservation) (at, created sql.NullString) {
	at = formatTime(o.At)
	created = at
	if c := formatTime(o.CreatedAt); c.Valid && (!created.Valid || c.String < created.String) {
		created = c
	}
	return at, created
}

// The INSERT of a new fuse_transactions row: the columns, and the values of
// one row (txArgs), shared by the one-row statement and bulk.go's.
const (
	txInsertHead = `INSERT INTO fuse_transactions
		(transaction_id, kind, account_id, counterpart_account_id, currency,
		 instructed_amount, fee_amount, amount_with_fee, counterpart_currency, counterpart_amount, rate,
		 status, status_at, reference, external_reference, external_id, purpose, failure_reason,
		 created_at, first_seq, last_seq, source, fee_source, returned_id, fee_target_id)
		VALUES `
	txInsertRow = `(?, ?, ?, NULLIF(?, ''), NULLIF(?, ''), ?, ?, ?, NULLIF(?, ''), ?, NULLIF(?, ''),
		        ?, ?, NULLIF(?, ''), NULLIF(?, ''), NULLIF(?, ''), NULLIF(?, ''), NULLIF(?, ''), ?, ?, ?, ?,
		        NULLIF(?, ''), NULLIF(?, ''), NULLIF(?, ''))`
	// insertTxSQL inserts one transaction, or nothing if its id is known.
	insertTxSQL = txInsertHead + txInsertRow + `
		ON CONFLICT (transaction_id) DO NOTHING`
)

// txArgs appends to args the values of txInsertRow for o.
func txArgs(args []any, o ledgerd.TransactionObservation, src ledgerd.Source, seq int64, at, created sql.NullString) []any {
	var instructed, fee, withFee, cpAmount any
	if o.Amounts != nil {
		instructed, fee, withFee = int64(o.Amounts.Instructed), int64(o.Amounts.Fee), int64(o.Amounts.WithFee)
	}
	if o.CounterpartAmount != nil {
		cpAmount = int64(*o.CounterpartAmount)
	}
	return append(args,
		o.TransactionID, string(o.Kind), o.AccountID, text(o.CounterpartAccountID), text(string(o.Currency)),
		instructed, fee, withFee, text(string(o.CounterpartCurrency)), cpAmount, text(o.Rate),
		string(o.Status), at, text(o.Reference), text(o.ExternalReference), text(externalID(o.ExternalID)), text(o.Purpose),
		text(o.FailureReason), created, seq, seq, string(src), text(o.FeeSource), text(o.ReturnedID), text(o.FeeTargetID))
}

// externalID is a transaction's external_id as the ledger keeps it: Fuse's
// webhook reference says of every payment's and transfer's external_id
// "If nothing was set this will be none", so the word none (in any case)
// is no external_id, NULL like an absent one. Kept as a value, it made
// every such transaction of an account one duplicate group (reconcile's
// duplicate check) and paired transfer legs by it rather than by their
// reference. The raw event keeps the word as received.
func externalID(s string) string {
	if strings.EqualFold(s, "none") {
		return ""
	}
	return s
}

// text is s as a statement argument, NULL when empty. The statements still
// turn an empty string into NULL themselves (NULLIF), so both mean "not
// said"; NULL is only cheaper to bind.
func text(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// merged is cur with the fields it lacks taken from o, as the UPDATE of
// applyTransaction fills them in (status and times are set by the caller).
func merged(cur txState, o ledgerd.TransactionObservation) txState {
	fill := func(s *sql.NullString, v string) {
		if !s.Valid && v != "" {
			*s = sql.NullString{String: v, Valid: true}
		}
	}
	fill(&cur.CounterpartAccountID, o.CounterpartAccountID)
	fill(&cur.Currency, string(o.Currency))
	fill(&cur.CounterpartCurrency, string(o.CounterpartCurrency))
	fill(&cur.FeeSource, o.FeeSource)
	fill(&cur.ReturnedID, o.ReturnedID)
	fill(&cur.FeeTargetID, o.FeeTargetID)
	if a := o.Amounts; a != nil {
		if !cur.Instructed.Valid {
			cur.Instructed = sql.NullInt64{Int64: int64(a.Instructed), Valid: true}
		}
		if !cur.Fee.Valid {
			cur.Fee = sql.NullInt64{Int64: int64(a.Fee), Valid: true}
		}
		if !cur.WithFee.Valid {
			cur.WithFee = sql.NullInt64{Int64: int64(a.WithFee), Valid: true}
		}
	}
	if o.CounterpartAmount != nil && !cur.CounterpartAmount.Valid {
		cur.CounterpartAmount = sql.NullInt64{Int64: int64(*o.CounterpartAmount), Valid: true}
	}
	return cur
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
	// Fields kept as first said: a later, different value is evidence.
	for _, f := range []struct {
		field    string
		kept     sql.NullString
		observed string
	}{
		{"currency", cur.Currency, string(o.Currency)},
		{"fee_source", cur.FeeSource, o.FeeSource},
		{"returned_id", cur.ReturnedID, o.ReturnedID},
		{"fee_target_id", cur.FeeTargetID, o.FeeTargetID},
	} {
		if f.observed != "" && f.kept.Valid && f.observed != f.kept.String {
			cs = append(cs, c{f.field, f.kept.String, f.observed})
		}
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
	cur, entry, _, err := t.loadTx(txID)
	if err != nil {
		return err
	}
	return t.syncEntryOf(seq, txID, cur, entry)
}

// syncEntryOf is syncEntry for a transaction whose state (cur) and entry
// the caller already knows.
func (t *wtx) syncEntryOf(seq int64, txID string, cur txState, entry entryRef) error {
	if entry.id != 0 {
		want := entryStateFor(cur.Status)
		if entry.state != "pending" || want == "pending" {
			return nil
		}
		if want == "voided" {
			if err := t.feeMovedOfFailed(seq, txID, cur); err != nil {
				return err
			}
		}
		return t.finishEntry(seq, entry.id, want, cur.StatusAt)
	}
	return t.bookEntry(seq, txID, cur)
}

// entryPlan is the entry a transaction is to be booked with, as
// planEntry works it out, before anything is written.
type entryPlan struct {
	want      string           // the entry's state: pending, posted or voided
	currency  ledgerd.Currency // the transaction's, or else its account's
	pendingAt sql.NullString
	finalAt   sql.NullString // NULL while pending
	postings  []Posting
}

// finalSeq is the entry's final_seq when booked by event seq.
func (p *entryPlan) finalSeq(seq int64) sql.NullInt64 {
	return sql.NullInt64{Int64: seq, Valid: p.want != "pending"}
}

// planEntry works out the entry of a transaction that has none yet; nil
// when it cannot be booked yet (amounts or currency not known), and a
// *currencyMismatch error when it must not be (see bookEntry).
func (t *wtx) planEntry(txID string, cur txState) (*entryPlan, error) {
	if !cur.Instructed.Valid {
		return nil, nil // amounts not known yet: the entry waits
	}
	in, err := t.entryInput(cur)
	if err != nil {
		return nil, err
	}
	if in.MoveFeeFrom, in.MoveFee, err = t.feeToMove(cur, in.Currency); err != nil {
		return nil, err
	}
	ps, err := plan(in)
	if errors.Is(err, errWaiting) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("book transaction %s: %w", txID, err)
	}
	p := &entryPlan{want: entryStateFor(cur.Status), currency: in.Currency, postings: ps}
	p.pendingAt = cur.CreatedAt
	if !p.pendingAt.Valid {
		p.pendingAt = cur.StatusAt
	}
	if !p.pendingAt.Valid {
		p.pendingAt = formatTime(t.now)
	}
	if p.want != "pending" {
		p.finalAt = cur.StatusAt
		if !p.finalAt.Valid {
			p.finalAt = p.pendingAt
		}
	}
	return p, nil
}

// The INSERTs of entries and postings: the columns, and the values of one
// row, shared by the statements here and bulk.go's.
const (
	entryInsertHead = `INSERT INTO entries (transaction_id, account_id, state, pending_at, final_at, created_seq, final_seq)
		VALUES `
	entryInsertRow    = `(?, ?, ?, ?, ?, ?, ?)`
	postingInsertHead = "INSERT INTO postings (entry_id, ledger_account, currency, amount, effective_at, seq) VALUES "
	postingInsertRow  = "(?, ?, ?, ?, ?, ?)"
)

// entryArgs appends to args the values of entryInsertRow.
func entryArgs(args []any, txID, accountID string, p *entryPlan, seq int64) []any {
	return append(args, txID, accountID, p.want, p.pendingAt, p.finalAt, seq, p.finalSeq(seq))
}

// postingArgs appends to args the values of postingInsertRow.
func postingArgs(args []any, entryID int64, ps Posting, p *entryPlan, seq int64) []any {
	return append(args, entryID, ps.Account, string(ps.Currency), int64(ps.Amount), p.pendingAt, seq)
}

// bookEntry writes the entry of a transaction that has none yet, if its
// amounts and currency are known. A transaction in another currency than
// its account's is not booked: the contradiction is kept as evidence
// (FieldAccountCurrency) by the event that brought it.
func (t *wtx) bookEntry(seq int64, txID string, cur txState) error {
	said := cur.FeeSource
	cur.FeeSource = nullText(bookedFeeSource(cur))
	// A fee debit that came first (one look-up, for payments whose entry
	// would book a fee inside): one for a payment whose source nobody said
	// takes the fee apart; any other books it twice (fees.go).
	feeDebit, same, err := t.feeDebitFor(txID, cur)
	if err != nil {
		return err
	}
	if !said.Valid && feeDebit != "" && same {
		cur.FeeSource = nullText(ledgerd.FeeSourcePrimary)
		if _, err := t.exec(`UPDATE fuse_transactions SET fee_source = ? WHERE transaction_id = ?`,
			ledgerd.FeeSourcePrimary, txID); err != nil {
			return fmt.Errorf("record fee source of %s: %w", txID, err)
		}
	}
	p, err := t.planEntry(txID, cur)
	var mm *currencyMismatch
	if errors.As(err, &mm) {
		return t.conflict(seq, txID, FieldAccountCurrency, mm.account, mm.observed)
	}
	if p == nil || err != nil {
		return err
	}
	if feeDebit != "" && feeInside(cur) {
		if err := t.feeBookedTwice(seq, txID); err != nil {
			return err
		}
	}
	if !cur.Currency.Valid {
		// Remember the currency the entry was booked in (taken from the
		// account). A fee source nobody said stays NULL (fees.go).
		if _, err := t.exec(`UPDATE fuse_transactions SET currency = COALESCE(currency, ?) WHERE transaction_id = ?`,
			string(p.currency), txID); err != nil {
			return fmt.Errorf("record currency of %s: %w", txID, err)
		}
	}
	res, err := t.exec(entryInsertHead+entryInsertRow, entryArgs(nil, txID, cur.AccountID, p, seq)...)
	if err != nil {
		return fmt.Errorf("book transaction %s: %w", txID, err)
	}
	entryID, err := res.LastInsertId()
	if err != nil {
		return fmt.Errorf("book transaction %s: %w", txID, err)
	}
	// One statement for all the entry's lines.
	args := make([]any, 0, 6*len(p.postings))
	for _, ps := range p.postings {
		if err := t.ensureLedgerAccount(ps.Account, "", seq); err != nil {
			return err
		}
		args = postingArgs(args, entryID, ps, p, seq)
		if err := t.addToBalance(ps, p.want, 1); err != nil {
			return fmt.Errorf("book transaction %s: %w", txID, err)
		}
	}
	if len(p.postings) > 0 {
		if _, err := t.exec(t.insertRows(postingInsertHead, postingInsertRow, len(p.postings)), args...); err != nil {
			return fmt.Errorf("post %s: %w", txID, err)
		}
	}
	return nil
}

// insertRows is the INSERT of n rows: head, then row n times. The writer
// builds the text for each size in use once (rowsSQL): it keys the
// prepared statements.
func insertRows(head, row string, n int) string {
	var q strings.Builder
	q.WriteString(head)
	for i := range n {
		if i > 0 {
			q.WriteString(", ")
		}
		q.WriteString(row)
	}
	return q.String()
}

type rowsKey struct {
	head string
	n    int
}

// insertRows is the package's insertRows, through the writer's cache of
// statement texts.
func (t *wtx) insertRows(head, row string, n int) string {
	k := rowsKey{head, n}
	q, ok := t.w.rowsSQL[k]
	if !ok {
		q = insertRows(head, row, n)
		t.w.rowsSQL[k] = q
	}
	return q
}

// FieldAccountCurrency is the observation_conflicts field of a transaction
// whose currency is not its account's: subject the transaction, kept the
// account's currency, observed the transaction's, event_seq the event that
// said it. Its entry is not booked (the money would land in the bank
// account in a currency the account does not hold); the reconciler opens a
// currency_mismatch break naming the event.
const FieldAccountCurrency = "account_currency"

// currencyMismatch is why a transaction is not booked: its currency is not
// its account's.
type currencyMismatch struct{ account, observed string }

func (e *currencyMismatch) Error() string {
	return fmt.Sprintf("transaction in %s on an account in %s", e.observed, e.account)
}

// entryInput resolves what plan needs: the transaction's currency is its
// own, or else its account's (transfer events carry no currency). A
// currency that is not its account's is a *currencyMismatch.
func (t *wtx) entryInput(cur txState) (entryInput, error) {
	in := entryInput{
		Kind:      cur.Kind,
		AccountID: cur.AccountID,
		Amounts: ledgerd.TxAmounts{Instructed: ledgerd.Amount(cur.Instructed.Int64),
			Fee: ledgerd.Amount(cur.Fee.Int64), WithFee: ledgerd.Amount(cur.WithFee.Int64)},
		CounterpartCurrency: ledgerd.Currency(cur.CounterpartCurrency.String),
		FeeSource:           cur.FeeSource.String,
	}
	if cur.CounterpartAmount.Valid {
		a := ledgerd.Amount(cur.CounterpartAmount.Int64)
		in.CounterpartAmount = &a
	}
	c, found, err := t.accountCurrency(cur.AccountID)
	if err != nil {
		return in, err
	}
	if cur.Currency.Valid {
		// The account's currency is known here (the observation that
		// named the account gave it one if it had none), from the cache.
		if c.Valid && c.String != cur.Currency.String {
			return in, &currencyMismatch{account: c.String, observed: cur.Currency.String}
		}
		in.Currency = ledgerd.Currency(cur.Currency.String)
		return in, nil
	}
	if !found {
		return in, fmt.Errorf("look up currency of account %s: %w", cur.AccountID, sql.ErrNoRows)
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
	t.w.cache.setBalance(key, balanceRow{posted, pd, pc})
	return nil
}

// flushBalances writes every running balance the transaction changed, in
// a fixed order, so that the committed balances table equals the cache.
func (t *wtx) flushBalances() error {
	for _, k := range t.w.cache.dirtyBalances() {
		row := t.w.cache.balances[k]
		if _, err := t.exec(`INSERT INTO balances (ledger_account, currency, posted, pending_debits, pending_credits)
			VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (ledger_account, currency) DO UPDATE SET
			posted = excluded.posted, pending_debits = excluded.pending_debits, pending_credits = excluded.pending_credits`,
			k.account, k.currency, row.posted, row.pendingDebits, row.pendingCredits); err != nil {
			return fmt.Errorf("write balance of %s %s: %w", k.account, k.currency, err)
		}
	}
	return nil
}

// balance reads a running balance through the writer's cache.
func (t *wtx) balance(account, currency string) (balanceRow, error) {
	key := balanceKey{account, currency}
	if row, ok := t.w.cache.balances[key]; ok {
		return row, nil
	}
	var row balanceRow
	err := t.queryRow(`SELECT posted, pending_debits, pending_credits FROM balances
		WHERE ledger_account = ? AND currency = ?`, account, currency).Scan(&row.posted, &row.pendingDebits, &row.pendingCredits)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return row, fmt.Errorf("read balance of %s %s: %w", account, currency, err)
	}
	t.w.cache.loadBalance(key, row)
	return row, nil
}
