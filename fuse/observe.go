package fuse

import (
	"fmt"
	"time"

	"github.com/ledgerd/ledgerd"
)

// Observation converts a transaction object from the API into what the
// ledger ingests. It validates what the ledger relies on (kind, status,
// currency, amounts in range and consistent) and reports the first problem
// as an error naming the transaction, so a broken object is refused whole.
//
// Which amount is "the" amount differs by kind [model]: payments carry
// instructed/fee/with_fee; transfers and exchanges carry instructed_amount
// with no fee (amount_with_fee equal to it).
func (t Transaction) Observation() (ledgerd.TransactionObservation, error) {
	o := ledgerd.TransactionObservation{
		TransactionID:        t.TransactionID,
		AccountID:            t.AccountID,
		Kind:                 ledgerd.Kind(t.Kind),
		Status:               ledgerd.Status(t.Status),
		CounterpartAccountID: t.CounterpartAccountID,
		Rate:                 t.Rate.String(),
		Reference:            t.Reference,
		ExternalReference:    t.ExternalReference,
		ExternalID:           t.ExternalID,
		Purpose:              t.Purpose,
		FailureReason:        t.FailureReason,
		At:                   t.UpdatedAt.UTC(),
		CreatedAt:            t.CreatedAt.UTC(),
	}
	fail := func(format string, args ...any) (ledgerd.TransactionObservation, error) {
		return ledgerd.TransactionObservation{}, fmt.Errorf("transaction %s: %s", t.TransactionID, fmt.Sprintf(format, args...))
	}
	switch {
	case t.TransactionID == "" || t.AccountID == "":
		return fail("transaction_id and account_id are required")
	case !o.Kind.Valid():
		return fail("unknown kind %q", t.Kind)
	case !o.Status.Valid():
		return fail("unknown status %q", t.Status)
	case t.UpdatedAt.IsZero():
		return fail("updated_at is required")
	}
	c, err := ledgerd.ParseCurrency(t.Currency)
	if err != nil {
		return fail("currency: %v", err)
	}
	o.Currency = c
	if t.CounterpartCurrency != "" {
		if o.CounterpartCurrency, err = ledgerd.ParseCurrency(t.CounterpartCurrency); err != nil {
			return fail("counterpart_currency: %v", err)
		}
	}
	if t.CounterpartAmount != nil {
		a := ledgerd.Amount(*t.CounterpartAmount)
		if err := a.CheckRange(); err != nil {
			return fail("counterpart_amount: %v", err)
		}
		o.CounterpartAmount = &a
	}
	o.Amounts = &ledgerd.TxAmounts{
		Instructed: ledgerd.Amount(t.InstructedAmount),
		Fee:        ledgerd.Amount(t.FeeAmount),
		WithFee:    ledgerd.Amount(t.AmountWithFee),
	}
	if err := o.Amounts.Check(o.Kind); err != nil {
		return fail("%v", err)
	}
	return o, nil
}

// Observation converts an account from the API, with the balance Fuse
// reports as of asOf (when it was read).
func (a Account) Observation(asOf time.Time) (ledgerd.AccountObservation, error) {
	if a.AccountID == "" {
		return ledgerd.AccountObservation{}, fmt.Errorf("account without account_id")
	}
	c, err := ledgerd.ParseCurrency(a.Currency)
	if err != nil {
		return ledgerd.AccountObservation{}, fmt.Errorf("account %s: currency: %w", a.AccountID, err)
	}
	return ledgerd.AccountObservation{
		AccountID:  a.AccountID,
		Name:       a.AccountName,
		Type:       a.AccountType,
		CustomerID: a.CustomerID,
		ExternalID: a.ExternalID,
		Currency:   c,
		IBAN:       a.IBAN,
		Status:     a.Status,
		OpenedAt:   a.OpenedAt.UTC(),
		Balance: &ledgerd.AccountBalance{
			Current:   ledgerd.Amount(a.Balance.Current),
			Available: ledgerd.Amount(a.Balance.Available),
			AsOf:      asOf.UTC(),
		},
	}, nil
}
