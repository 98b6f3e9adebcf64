package ledgerd

import (
	"fmt"
	"time"
)

// Source says where an observation came from.
type Source string

// Sources of observations, as stored in events.source.
const (
	SourceWebhook  Source = "webhook"
	SourceBackfill Source = "backfill"
	SourceSandbox  Source = "sandbox"
)

// Valid reports whether s is one of the known sources.
func (s Source) Valid() bool {
	return s == SourceWebhook || s == SourceBackfill || s == SourceSandbox
}

// Kind is the kind of a Fuse transaction. The two legs of a transfer or an
// exchange are two Fuse transactions with their own ids and kinds.
type Kind string

// Fuse transaction kinds (fuse-api.md): Fuse's type and direction.
const (
	KindLocalPaymentOut     Kind = "local_payment_out"
	KindLocalPaymentIn      Kind = "local_payment_in"
	KindInternalTransferOut Kind = "internal_transfer_out"
	KindInternalTransferIn  Kind = "internal_transfer_in"
	KindExchangeOut         Kind = "exchange_out"
	KindExchangeIn          Kind = "exchange_in"
	// KindFeeDebit is a fee Fuse takes apart from the payment it is for
	// (fee_debit; the payment's fee_source is primary_account).
	KindFeeDebit Kind = "fee_debit"
	// KindReturnIn is a local_return_payment with direction Inbound: the
	// money of a payment we sent comes back.
	KindReturnIn Kind = "local_return_payment_in"
	// KindReturnOut is a local_return_payment with direction Outbound: we
	// send back money we received.
	KindReturnOut Kind = "local_return_payment_out"
)

// Kinds lists every Kind.
var Kinds = []Kind{KindLocalPaymentOut, KindLocalPaymentIn, KindInternalTransferOut,
	KindInternalTransferIn, KindExchangeOut, KindExchangeIn, KindFeeDebit, KindReturnIn, KindReturnOut}

// Valid reports whether k is a known kind.
func (k Kind) Valid() bool {
	for _, v := range Kinds {
		if k == v {
			return true
		}
	}
	return false
}

// Status is the state of a Fuse transaction. It only moves forward:
// created → submitted → executed|settled, or → failed; internal transfers
// created → booked → settled, or → failed.
type Status string

// Fuse transaction statuses.
const (
	StatusCreated   Status = "created"
	StatusSubmitted Status = "submitted"
	StatusBooked    Status = "booked" // internal transfers: accepted, not settled yet
	StatusExecuted  Status = "executed"
	StatusSettled   Status = "settled"
	StatusFailed    Status = "failed"
)

// Rank orders statuses along the lifecycle: 1 created, 2 submitted or
// booked, 3 any terminal status. Unknown statuses rank 0. A status never
// moves to a lower or equal rank; two different terminal statuses are a
// conflict.
func (s Status) Rank() int {
	switch s {
	case StatusCreated:
		return 1
	case StatusSubmitted, StatusBooked:
		return 2
	case StatusExecuted, StatusSettled, StatusFailed:
		return 3
	}
	return 0
}

// Terminal reports whether s is executed, settled or failed.
func (s Status) Terminal() bool { return s.Rank() == 3 }

// Succeeded reports whether s is a successful terminal status. Fuse says
// "executed" for outbound payments and exchanges and "settled" for the rest;
// both mean the money moved.
func (s Status) Succeeded() bool { return s == StatusExecuted || s == StatusSettled }

// Valid reports whether s is a known status.
func (s Status) Valid() bool { return s.Rank() > 0 }

// Event is the record that carried an observation: a webhook body, a
// backfilled transaction object, or a sandbox notice. Raw is kept byte for
// byte in the events table and chained by hash.
type Event struct {
	ID         string    // event_id; unique across all sources
	Type       string    // webhook type, or "backfill.transaction" / "backfill.account"
	Version    int       // the envelope's event_version (or version)
	Source     Source    // webhook, backfill or sandbox
	FuseTime   time.Time // when Fuse says it happened (X-Fuse-Timestamp or payload)
	ReceivedAt time.Time // when ledgerd received it
	Raw        []byte    // the body exactly as received
}

// Observation is one thing ledgerd learned from Fuse: the event that carried
// it, and what it says about an account or a transaction. An event of a type
// ledgerd does not handle has neither; it is stored as unhandled.
type Observation struct {
	Event       Event
	Account     *AccountObservation
	Transaction *TransactionObservation
}

// Handled reports whether the observation says anything ledgerd acts on.
func (o Observation) Handled() bool { return o.Account != nil || o.Transaction != nil }

// AccountObservation is what an event or a listing says about a Fuse
// account. Empty fields are unknown, not cleared.
type AccountObservation struct {
	AccountID  string
	Name       string
	Type       string // primary, payment or virtual
	CustomerID string
	ExternalID string
	Currency   Currency
	IBAN       string
	Status     string
	OpenedAt   time.Time
	// Balance is Fuse's own balance, when the observation carries one
	// (an account read from the API; webhooks never do).
	Balance *AccountBalance
}

// AccountBalance is a balance as Fuse reports it.
type AccountBalance struct {
	Current   Amount
	Available Amount
	AsOf      time.Time
}

// Fee sources: how Fuse takes a payment's fee (fee_source.type).
const (
	// FeeSourceIncluded: the fee is part of the payment (amount_with_fee
	// leaves the account); its entry books it.
	FeeSourceIncluded = "included_in_payment"
	// FeeSourcePrimary: the fee is taken from the primary account as a
	// separate fee_debit, which books it; the payment's entry does not.
	FeeSourcePrimary = "primary_account"
)

// TransactionObservation is what an event or a listing says about one Fuse
// transaction. An observation may lack amounts (an executed event carries
// only the status); Amounts is then nil and the ledger waits for them.
type TransactionObservation struct {
	TransactionID        string
	AccountID            string
	Kind                 Kind
	Status               Status
	Currency             Currency // "" when the observation does not say (transfers)
	Amounts              *TxAmounts
	CounterpartAccountID string
	CounterpartCurrency  Currency
	CounterpartAmount    *Amount
	Rate                 string // decimal string, never parsed into a float
	Reference            string
	ExternalReference    string
	ExternalID           string
	Purpose              string
	FailureReason        string
	// FeeSource is a payment's fee_source: FeeSourceIncluded,
	// FeeSourcePrimary, or "" when the observation does not say (webhooks)
	// or there is no fee.
	FeeSource string
	// ReturnedID is a returned payment's returned_id: the payment whose
	// money it returns.
	ReturnedID string
	// FeeTargetID is a fee debit's fee_target.reference: the transaction
	// the fee is for.
	FeeTargetID string
	At          time.Time // when Fuse says this status was reached
	// CreatedAt is when Fuse created the transaction, when the observation
	// says (API objects do; webhooks carry only At, which for a created
	// event is the creation time).
	CreatedAt time.Time
}

// TxAmounts are the amounts of a Fuse transaction in minor units of its
// currency. For transfers, exchanges, fee debits and returned payments Fee
// is 0 and WithFee equals Instructed; a fee debit's amount is Instructed.
type TxAmounts struct {
	Instructed Amount
	Fee        Amount
	WithFee    Amount
}

// Check reports an error unless every amount is in range and WithFee is
// Instructed + Fee (for payments out), Fee is at most Instructed (payments
// in), or Fee is 0 and WithFee is Instructed (fee debits, returned
// payments: Fuse gives them one amount).
func (t TxAmounts) Check(kind Kind) error {
	for _, a := range []Amount{t.Instructed, t.Fee, t.WithFee} {
		if err := a.CheckRange(); err != nil {
			return err
		}
	}
	switch kind {
	case KindLocalPaymentOut:
		sum, err := t.Instructed.Add(t.Fee)
		if err != nil {
			return err
		}
		if sum != t.WithFee {
			return fmt.Errorf("amount_with_fee %d != instructed_amount %d + fee_amount %d", t.WithFee, t.Instructed, t.Fee)
		}
	case KindLocalPaymentIn:
		if t.Fee > t.Instructed {
			return fmt.Errorf("fee_amount %d exceeds instructed_amount %d", t.Fee, t.Instructed)
		}
	case KindFeeDebit, KindReturnIn, KindReturnOut:
		if t.Fee != 0 || t.WithFee != t.Instructed {
			return fmt.Errorf("%s has one amount: fee_amount %d, amount_with_fee %d, instructed_amount %d",
				kind, t.Fee, t.WithFee, t.Instructed)
		}
	}
	return nil
}
