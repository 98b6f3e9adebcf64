package sandbox

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"

	"github.com/ledgerd/ledgerd/fuse"
)

// EventVersion is the event_version of every webhook the sandbox sends.
const EventVersion = 1

// Event is one webhook event as emitted, before any delivery fault.
type Event struct {
	EventID string          `json:"event_id"`
	Type    string          `json:"type"`
	Time    time.Time       `json:"time"` // sandbox time of the change
	Body    json.RawMessage `json:"body"` // the exact bytes POSTed
}

// The payloads below carry exactly the fields of the Fuse webhook reference
// (seed 002) for their types. Timestamps encode as RFC 3339 with
// nanoseconds in UTC. An external_id that was never set is null [model]:
// the reference says "none", and a JSON null is the reading that cannot be
// mistaken for an identifier.

type wireParty struct {
	Name       string          `json:"name"`
	Identifier fuse.Identifier `json:"identifier"`
}

func partyOf(p *fuse.Party) wireParty {
	return wireParty{Name: p.Name, Identifier: p.Identifier()}
}

type failureReason struct {
	BankError string `json:"bank_error"`
}

func optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// account_opened
type accountOpened struct {
	AccountID   string  `json:"account_id"`
	AccountName string  `json:"account_name"`
	CustomerID  *string `json:"customer_id"`
	ExternalID  *string `json:"external_id"`
	Currency    string  `json:"currency"`
	AccountType string  `json:"account_type"`
}

// account_updated
type accountUpdated struct {
	AccountID   string  `json:"account_id"`
	AccountName string  `json:"account_name"`
	ExternalID  *string `json:"external_id"`
}

// outbound_local_payment_created
type paymentCreated struct {
	AccountID         string    `json:"account_id"`
	TransactionID     string    `json:"transaction_id"`
	InstructedAmount  int64     `json:"instructed_amount"`
	AmountWithFee     int64     `json:"amount_with_fee"`
	FeeAmount         int64     `json:"fee_amount"`
	Remitter          wireParty `json:"remitter"`
	Beneficiary       wireParty `json:"beneficiary"`
	ExternalReference string    `json:"external_reference"`
	ExternalID        *string   `json:"external_id"`
	Timestamp         time.Time `json:"timestamp"`
	Purpose           string    `json:"purpose"`
	Currency          string    `json:"currency"`
}

// inbound_local_payment_settled (no external_id)
type localPayment struct {
	AccountID         string    `json:"account_id"`
	TransactionID     string    `json:"transaction_id"`
	InstructedAmount  int64     `json:"instructed_amount"`
	AmountWithFee     int64     `json:"amount_with_fee"`
	FeeAmount         int64     `json:"fee_amount"`
	Remitter          wireParty `json:"remitter"`
	Beneficiary       wireParty `json:"beneficiary"`
	ExternalReference string    `json:"external_reference"`
	Timestamp         time.Time `json:"timestamp"`
	Purpose           string    `json:"purpose"`
	Currency          string    `json:"currency"`
}

// outbound_local_payment_submitted, outbound_local_payment_executed,
// internal_transfer_settled; with a failure_reason,
// outbound_local_payment_failed and internal_transfer_failed
type paymentStep struct {
	AccountID     string         `json:"account_id"`
	TransactionID string         `json:"transaction_id"`
	FailureReason *failureReason `json:"failure_reason,omitempty"`
	ExternalID    *string        `json:"external_id"`
	Timestamp     time.Time      `json:"timestamp"`
}

// stepOf is t's paymentStep at stamp.
func stepOf(t *txn, stamp time.Time) paymentStep {
	return paymentStep{AccountID: t.AccountID, TransactionID: t.TransactionID, ExternalID: optional(t.ExternalID), Timestamp: stamp}
}

// internal_transfer_created
type transferCreated struct {
	AccountID     string    `json:"account_id"`
	TransactionID string    `json:"transaction_id"`
	Amount        int64     `json:"amount"`
	ToAccountID   string    `json:"to_account_id"`
	Reference     string    `json:"reference"`
	ExternalID    *string   `json:"external_id"`
	Timestamp     time.Time `json:"timestamp"`
}

// inbound_internal_transfer_settled
type transferInSettled struct {
	AccountID     string    `json:"account_id"`
	FromAccountID string    `json:"from_account_id"`
	TransactionID string    `json:"transaction_id"`
	Amount        int64     `json:"amount"`
	Timestamp     time.Time `json:"timestamp"`
	Reference     string    `json:"reference"`
	ExternalID    *string   `json:"external_id"`
}

// outbound_exchange_transfer_created, inbound_exchange_transfer_settled.
// Rate is the decimal written verbatim as a JSON number, as in the seed.
type exchangeTransfer struct {
	AccountID            string          `json:"account_id"`
	CounterpartAccountID string          `json:"counterpart_account_id"`
	TransactionID        string          `json:"transaction_id"`
	Amount               int64           `json:"amount"`
	CounterpartAmount    int64           `json:"counterpart_amount"`
	ExternalReference    string          `json:"external_reference"`
	Timestamp            time.Time       `json:"timestamp"`
	Currency             string          `json:"currency"`
	CounterpartCurrency  string          `json:"counterpart_currency"`
	Rate                 json.RawMessage `json:"rate"`
}

// outbound_exchange_transfer_executed; with a failure_reason,
// outbound_exchange_transfer_failed
type exchangeStep struct {
	AccountID     string         `json:"account_id"`
	TransactionID string         `json:"transaction_id"`
	FailureReason *failureReason `json:"failure_reason,omitempty"`
	Timestamp     time.Time      `json:"timestamp"`
}

// The payloads below are of types Fuse's catalogue names without
// publishing their payload [model]: the fields of their siblings plus the
// API object's own, under its names (webhook/testdata/model has one body
// of each).

// outbound_local_payment_returned: the local_return_payment the return
// made (transaction_id is its id) and the payment it returns (returned_id).
type paymentReturned struct {
	AccountID         string    `json:"account_id"`
	TransactionID     string    `json:"transaction_id"`
	ReturnedID        string    `json:"returned_id"`
	InstructedAmount  int64     `json:"instructed_amount"`
	Currency          string    `json:"currency"`
	Reason            string    `json:"reason"`
	Remitter          wireParty `json:"remitter"`
	Beneficiary       wireParty `json:"beneficiary"`
	ExternalReference string    `json:"external_reference"`
	Timestamp         time.Time `json:"timestamp"`
}

// fee_debited: the fee_debit, on the account that paid the fee.
type feeDebited struct {
	AccountID     string    `json:"account_id"`
	TransactionID string    `json:"transaction_id"`
	Amount        int64     `json:"amount"`
	Currency      string    `json:"currency"`
	FeeTarget     feeTarget `json:"fee_target"`
	Timestamp     time.Time `json:"timestamp"`
}

// feeTarget is the API's FeeTargetRef.
type feeTarget struct {
	Type      string `json:"type"` // "Transaction"
	Reference string `json:"reference"`
}

func (s *Sandbox) emitAccountOpenedLocked(a *account, stamp time.Time) {
	s.emitLocked("account_opened", accountOpened{
		AccountID: a.AccountID, AccountName: a.AccountName, CustomerID: optional(a.CustomerID),
		ExternalID: optional(a.ExternalID), Currency: a.Currency, AccountType: a.AccountType,
	}, stamp)
}

func (s *Sandbox) emitPaymentCreatedLocked(t *txn) {
	s.emitLocked("outbound_local_payment_created", paymentCreated{
		AccountID: t.AccountID, TransactionID: t.TransactionID, InstructedAmount: t.InstructedAmount,
		AmountWithFee: t.AmountWithFee, FeeAmount: t.FeeAmount, Remitter: partyOf(t.Remitter),
		Beneficiary: partyOf(t.Beneficiary), ExternalReference: t.ExternalReference,
		ExternalID: optional(t.ExternalID), Timestamp: t.CreatedAt, Purpose: t.Purpose, Currency: t.Currency,
	}, t.CreatedAt)
}

// emitLocked records an event of type typ with payload and queues it for
// delivery. The envelope is Fuse's newer spelling: type, event_id,
// event_version and the payload under a key named after the type.
func (s *Sandbox) emitLocked(typ string, payload any, stamp time.Time) {
	if s.silent {
		return
	}
	p, err := json.Marshal(payload)
	if err != nil {
		panic(fmt.Sprintf("sandbox: encode %s payload: %v", typ, err)) // the payload types cannot fail
	}
	id := s.newIDLocked()
	var b bytes.Buffer
	fmt.Fprintf(&b, `{"type":%q,"event_id":%q,"event_version":%d,%q:`, typ, id, EventVersion, typ)
	b.Write(p)
	b.WriteByte('}')
	ev := Event{EventID: id, Type: typ, Time: stamp, Body: b.Bytes()}
	s.events = append(s.events, ev)
	s.stats.EventsEmitted++
	s.enqueueLocked(ev)
}
