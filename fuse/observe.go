package fuse

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/ledgerd/ledgerd"
)

// ErrUnknownTransaction reports a transaction whose type, direction or
// state is not one the reference names. The object is kept (the backfill
// stores it unhandled) and reported, never dropped and never guessed into
// money.
var ErrUnknownTransaction = errors.New("transaction of an unknown type or state")

// ErrIncompleteObject reports an object that lacks what the reference
// requires of it and money depends on (an amount, a currency, a state).
var ErrIncompleteObject = errors.New("object lacks a required field")

// kinds maps (type, direction) to the ledger's kind.
var kinds = map[[2]string]ledgerd.Kind{
	{TypeLocalPayment, DirectionOutbound}:       ledgerd.KindLocalPaymentOut,
	{TypeLocalPayment, DirectionInbound}:        ledgerd.KindLocalPaymentIn,
	{TypeInternalTransfer, DirectionOutbound}:   ledgerd.KindInternalTransferOut,
	{TypeInternalTransfer, DirectionInbound}:    ledgerd.KindInternalTransferIn,
	{TypeFXTransfer, DirectionOutbound}:         ledgerd.KindExchangeOut,
	{TypeFXTransfer, DirectionInbound}:          ledgerd.KindExchangeIn,
	{TypeLocalReturnPayment, DirectionInbound}:  ledgerd.KindReturnIn,
	{TypeLocalReturnPayment, DirectionOutbound}: ledgerd.KindReturnOut,
	{TypeFeeDebit, ""}:                          ledgerd.KindFeeDebit,
}

// WireType is the reference's type and direction of the ledger's kind
// (a fee debit has no direction); false for a kind Fuse does not have.
func WireType(k ledgerd.Kind) (typ, direction string, ok bool) {
	for td, kind := range kinds {
		if kind == k {
			return td[0], td[1], true
		}
	}
	return "", "", false
}

// states maps the reference's capitalised states to the ledger's.
var states = map[string]ledgerd.Status{
	StateCreated:   ledgerd.StatusCreated,
	StateSubmitted: ledgerd.StatusSubmitted,
	StateBooked:    ledgerd.StatusBooked,
	StateExecuted:  ledgerd.StatusExecuted,
	StateFailed:    ledgerd.StatusFailed,
	StateSettled:   ledgerd.StatusSettled,
}

// LedgerKind is the ledger's kind of t, from its type and direction (a
// fee debit has no direction); false when the pair is unknown.
func (t *Transaction) LedgerKind() (ledgerd.Kind, bool) {
	dir := t.Direction
	if t.Type == TypeFeeDebit {
		dir = ""
	}
	k, ok := kinds[[2]string{t.Type, dir}]
	return k, ok
}

// LedgerStatus is the ledger's status of t: its state in lower case; a
// fee debit, which has no state, is settled (the fee has been taken).
func (t *Transaction) LedgerStatus() (ledgerd.Status, bool) {
	if t.Type == TypeFeeDebit {
		return ledgerd.StatusSettled, true
	}
	st, ok := states[t.State]
	return st, ok
}

// Final reports whether t is in a state that does not change again.
func (t *Transaction) Final() bool {
	st, ok := t.LedgerStatus()
	return ok && st.Terminal()
}

// StateAt is when t reached its state, as far as the object says: the
// state's own time (submitted_at, executed_at, failed_at, settled_at; a
// fee debit's timestamp), else the latest time it carries, else zero.
// Booked and Created have no time of their own but created_at; an
// inbound payment has no settled_at [spec].
func (t *Transaction) StateAt() time.Time {
	var own *time.Time
	switch t.State {
	case StateSubmitted:
		own = t.SubmittedAt
	case StateExecuted:
		own = t.ExecutedAt
	case StateFailed:
		own = t.FailedAt
	case StateSettled:
		own = t.SettledAt
	}
	if t.Type == TypeFeeDebit {
		own = t.Timestamp
	}
	if own != nil {
		return own.UTC()
	}
	var latest time.Time
	for _, at := range []*time.Time{t.CreatedAt, t.AuthorisedAt, t.SubmittedAt, t.ExecutedAt, t.FailedAt, t.SettledAt, t.Timestamp} {
		if at != nil && at.After(latest) {
			latest = *at
		}
	}
	return latest.UTC()
}

// Created is when Fuse created t: created_at, or a fee debit's timestamp.
func (t *Transaction) Created() time.Time {
	switch {
	case t.CreatedAt != nil:
		return t.CreatedAt.UTC()
	case t.Timestamp != nil:
		return t.Timestamp.UTC()
	}
	return time.Time{}
}

// FailureText is failure_reason as one line: the reason when it is a
// string ("insufficient_funds"), "key: text" when it is an object of one
// member ({"bank_error": "…"}), else the compact JSON; "" when absent or
// null. Reasons the reference does not list are kept as they came.
func FailureText(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(raw, &m) == nil && len(m) == 1 {
		for k, v := range m {
			var text string
			if json.Unmarshal(v, &text) == nil {
				return k + ": " + text
			}
		}
	}
	var b bytes.Buffer
	if json.Compact(&b, raw) == nil {
		return b.String()
	}
	return string(raw)
}

// Observation converts a transaction object from the API into what the
// ledger ingests. It checks what the ledger relies on (type, direction,
// state, currency, amounts in range and consistent) and reports the first
// problem as an error naming the transaction, so a broken object is
// refused whole: ErrUnknownTransaction for a type or state the reference
// does not name, ErrIncompleteObject for a missing amount or time.
//
// Which amount is "the" amount differs by type [spec]: local payments
// carry instructed, fee and with-fee amounts; transfers, exchanges and
// returns carry instructed_amount alone (no fee: with-fee equals it); a
// fee debit carries amount.
func (t Transaction) Observation() (ledgerd.TransactionObservation, error) {
	fail := func(kind error, format string, args ...any) (ledgerd.TransactionObservation, error) {
		return ledgerd.TransactionObservation{}, fmt.Errorf("transaction %s: %w: %s", t.ID, kind, fmt.Sprintf(format, args...))
	}
	if t.ID == "" || t.AccountID == "" {
		return fail(ErrIncompleteObject, "id and account_id are required")
	}
	kind, ok := t.LedgerKind()
	if !ok {
		return fail(ErrUnknownTransaction, "type %q with direction %q", t.Type, t.Direction)
	}
	status, ok := t.LedgerStatus()
	if !ok {
		return fail(ErrUnknownTransaction, "state %q", t.State)
	}
	at := t.StateAt()
	if at.IsZero() {
		return fail(ErrIncompleteObject, "no time: created_at (or a fee debit's timestamp) is required")
	}
	o := ledgerd.TransactionObservation{
		TransactionID:        t.ID,
		AccountID:            t.AccountID,
		Kind:                 kind,
		Status:               status,
		CounterpartAccountID: t.CounterpartAccountID,
		Rate:                 t.Rate.String(),
		Purpose:              t.Purpose,
		FailureReason:        FailureText(t.FailureReason),
		ReturnedID:           t.ReturnedID,
		At:                   at,
		CreatedAt:            t.Created(),
	}
	if t.ExternalID != nil {
		o.ExternalID = *t.ExternalID
	}
	if t.ExternalReference != nil {
		// A transfer's reference pairs its legs, as the webhooks' transfer
		// "reference" does (fuse-api.md §7: reference = external_reference).
		if t.Type == TypeInternalTransfer {
			o.Reference = *t.ExternalReference
		} else {
			o.ExternalReference = *t.ExternalReference
		}
	}
	if t.FeeSource != nil {
		o.FeeSource = t.FeeSource.Type
	}
	if t.FeeTarget != nil {
		o.FeeTargetID = t.FeeTarget.Reference
	}
	c, err := ledgerd.ParseCurrency(t.Currency)
	if err != nil {
		return fail(ErrIncompleteObject, "currency: %v", err)
	}
	o.Currency = c
	amount := func(name string, v *int64) (ledgerd.Amount, error) {
		if v == nil {
			return 0, fmt.Errorf("%w: %s is required for a %s", ErrIncompleteObject, name, t.Type)
		}
		a := ledgerd.Amount(*v)
		if err := a.CheckRange(); err != nil {
			return 0, fmt.Errorf("%s: %w", name, err)
		}
		return a, nil
	}
	var amts ledgerd.TxAmounts
	switch t.Type {
	case TypeLocalPayment:
		if amts.Instructed, err = amount("instructed_amount", t.InstructedAmount); err == nil {
			if amts.Fee, err = amount("fee_amount", t.FeeAmount); err == nil {
				amts.WithFee, err = amount("amount_with_fee", t.AmountWithFee)
			}
		}
	case TypeFeeDebit:
		amts.Instructed, err = amount("amount", t.Amount)
		amts.WithFee = amts.Instructed
	default:
		amts.Instructed, err = amount("instructed_amount", t.InstructedAmount)
		amts.WithFee = amts.Instructed
	}
	if err != nil {
		return fail(ErrIncompleteObject, "%v", err)
	}
	if t.Type == TypeFXTransfer {
		if o.CounterpartCurrency, err = ledgerd.ParseCurrency(t.CounterpartCurrency); err != nil {
			return fail(ErrIncompleteObject, "counterpart_currency: %v", err)
		}
		a, err := amount("counterpart_amount", t.CounterpartAmount)
		if err != nil {
			return fail(ErrIncompleteObject, "%v", err)
		}
		o.CounterpartAmount = &a
	}
	if (t.Type == TypeInternalTransfer || t.Type == TypeFXTransfer) && t.CounterpartAccountID == "" {
		return fail(ErrIncompleteObject, "counterpart_account_id is required for a %s", t.Type)
	}
	if t.Type == TypeLocalReturnPayment && t.ReturnedID == "" {
		return fail(ErrIncompleteObject, "returned_id is required for a %s", t.Type)
	}
	if err := amts.Check(kind); err != nil {
		return fail(ErrIncompleteObject, "%v", err)
	}
	o.Amounts = &amts
	return o, nil
}

// Observation converts an account from the API, with the balance Fuse
// reports as of asOf (when it was read). An account without both
// balances is refused: a missing balance is never a zero one.
func (a Account) Observation(asOf time.Time) (ledgerd.AccountObservation, error) {
	if a.ID == "" {
		return ledgerd.AccountObservation{}, fmt.Errorf("account without id: %w", ErrIncompleteObject)
	}
	c, err := ledgerd.ParseCurrency(a.Currency)
	if err != nil {
		return ledgerd.AccountObservation{}, fmt.Errorf("account %s: currency: %w", a.ID, err)
	}
	if a.CurrentBalance == nil || a.AvailableBalance == nil {
		return ledgerd.AccountObservation{}, fmt.Errorf("account %s: %w: current_balance and available_balance are required",
			a.ID, ErrIncompleteObject)
	}
	cur, avail := ledgerd.Amount(*a.CurrentBalance), ledgerd.Amount(*a.AvailableBalance)
	for _, v := range []ledgerd.Amount{cur, avail} {
		if err := v.CheckRange(); err != nil {
			return ledgerd.AccountObservation{}, fmt.Errorf("account %s: balance: %w", a.ID, err)
		}
	}
	return ledgerd.AccountObservation{
		AccountID:  a.ID,
		Name:       a.AccountName,
		Type:       a.AccountType,
		CustomerID: deref(a.CustomerID),
		ExternalID: deref(a.ExternalID),
		Currency:   c,
		IBAN:       a.IBAN(),
		Status:     a.Status,
		Balance: &ledgerd.AccountBalance{
			Current:   cur,
			Available: avail,
			AsOf:      asOf.UTC(),
		},
	}, nil
}

// IBAN is the account's IBAN: its default details' IBAN, else the first
// addressable one, else "".
func (a Account) IBAN() string {
	if a.DefaultDetails != nil && a.DefaultDetails.IBAN != "" {
		return a.DefaultDetails.IBAN
	}
	for _, d := range a.AddressableDetails {
		if d.AccountDetails.IBAN != "" {
			return d.AccountDetails.IBAN
		}
	}
	return ""
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return strings.TrimSpace(*s)
}
