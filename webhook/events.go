package webhook

import (
	"errors"
	"maps"
	"slices"
	"time"

	"github.com/ledgerd/ledgerd"
)

// handler decodes the payload of one event type. Account events set
// account; transaction events set kind, status and tx, which fills what
// the common fields (transaction_id, account_id, timestamp, external_id)
// leave out.
type handler struct {
	account func(p fields) *ledgerd.AccountObservation
	kind    ledgerd.Kind
	status  ledgerd.Status
	tx      func(p fields, tx *ledgerd.TransactionObservation)
	// undocumented marks a type of Fuse's catalogue whose payload Fuse
	// does not publish (fuse-api.md §7). Its payload is read as far as
	// it goes: without a payload, a transaction_id, an account_id or a
	// timestamp the event is stored unhandled and the backfill brings the
	// transaction; every field that is there is checked as strictly as
	// anywhere else, and amounts are taken only when they are there.
	undocumented bool
}

// fields reads the fields of one payload for the decode functions below.
// There are two readers: payload, the reference, which keeps the first
// problem as a *DecodeError, and fastPayload (fastdecode.go), which gives
// up on anything the reference would refuse or might read differently.
// Both return zero values once something is wrong, so a decode function
// reads top to bottom and its caller checks once.
type fields interface {
	text(name string) string
	id(name string, need presence) string
	amount(name string, need presence) (ledgerd.Amount, bool)
	currency(name string, need presence) ledgerd.Currency
	timestamp(name string, need presence) time.Time
	rate(name string) string
	accountType(name string) string
	failureReason(name string) string
	// feeTarget reads a fee_target object ({"type": "Transaction",
	// "reference": uuid}) and returns the transaction it names, "" when
	// it is absent or names something other than a transaction.
	feeTarget(name string) string
	// checked returns amounts once they pass TxAmounts.Check for kind,
	// or nil; name is the field blamed when they do not.
	checked(kind ledgerd.Kind, name string, amounts ledgerd.TxAmounts) *ledgerd.TxAmounts
}

// handlers maps every event type ledgerd acts on to its decoder; the kind
// and the status of a transaction come from the type, never the payload.
// Adding a type is one line here, plus a function if no shape below fits.
var handlers = map[string]handler{
	"account_opened":  {account: accountOpened},
	"account_updated": {account: accountUpdated},

	"outbound_local_payment_created":   {kind: ledgerd.KindLocalPaymentOut, status: ledgerd.StatusCreated, tx: payment},
	"outbound_local_payment_submitted": {kind: ledgerd.KindLocalPaymentOut, status: ledgerd.StatusSubmitted, tx: statusOnly},
	"outbound_local_payment_executed":  {kind: ledgerd.KindLocalPaymentOut, status: ledgerd.StatusExecuted, tx: statusOnly},
	"outbound_local_payment_failed":    {kind: ledgerd.KindLocalPaymentOut, status: ledgerd.StatusFailed, tx: failed},
	"inbound_local_payment_settled":    {kind: ledgerd.KindLocalPaymentIn, status: ledgerd.StatusSettled, tx: payment},

	"internal_transfer_created":         {kind: ledgerd.KindInternalTransferOut, status: ledgerd.StatusCreated, tx: transferOut},
	"internal_transfer_settled":         {kind: ledgerd.KindInternalTransferOut, status: ledgerd.StatusSettled, tx: statusOnly},
	"internal_transfer_failed":          {kind: ledgerd.KindInternalTransferOut, status: ledgerd.StatusFailed, tx: failed},
	"inbound_internal_transfer_settled": {kind: ledgerd.KindInternalTransferIn, status: ledgerd.StatusSettled, tx: transferIn},

	"outbound_exchange_transfer_created":  {kind: ledgerd.KindExchangeOut, status: ledgerd.StatusCreated, tx: exchange},
	"outbound_exchange_transfer_executed": {kind: ledgerd.KindExchangeOut, status: ledgerd.StatusExecuted, tx: statusOnly},
	"outbound_exchange_transfer_failed":   {kind: ledgerd.KindExchangeOut, status: ledgerd.StatusFailed, tx: failed},
	"inbound_exchange_transfer_settled":   {kind: ledgerd.KindExchangeIn, status: ledgerd.StatusSettled, tx: exchange},

	// Types of Fuse's catalogue without a published payload [model]: the
	// fields their siblings have, named as in the API objects they
	// announce. "submitted" is the exchange's Submitted state (f_x_transfer
	// has submitted_at; the webhook word is the state, fuse-api.md §7): a
	// pending leg, as booked is for an internal transfer. A returned payment
	// is the local_return_payment it creates, with its own transaction_id
	// and the payment's returned_id; a fee debit is the fee_debit on the
	// account that paid the fee.
	"outbound_exchange_transfer_submitted": {kind: ledgerd.KindExchangeOut, status: ledgerd.StatusSubmitted, tx: statusOnly, undocumented: true},
	"outbound_local_payment_returned":      {kind: ledgerd.KindReturnIn, status: ledgerd.StatusSettled, tx: returned, undocumented: true},
	"fee_debited":                          {kind: ledgerd.KindFeeDebit, status: ledgerd.StatusSettled, tx: feeDebited, undocumented: true},
}

// recognised are the types of Fuse's catalogue that say nothing the
// ledger books: their envelope is checked and they are stored, with no
// observation and no postings, and counted as accepted rather than
// unhandled (which says "a type ledgerd does not know").
var recognised = map[string]bool{
	"onboarding_completed": true,
	"onboarding_failed":    true,
}

// Types lists, sorted, the event types Decode turns into an account or a
// transaction observation. Other types decode to unhandled observations.
func Types() []string { return slices.Sorted(maps.Keys(handlers)) }

// recognisedTypes lists, sorted, the types that are recognised but carry
// nothing for the ledger.
func recognisedTypes() []string { return slices.Sorted(maps.Keys(recognised)) }

// accountOpened: account_id and currency are required; customer_id may be
// null.
func accountOpened(p fields) *ledgerd.AccountObservation {
	return &ledgerd.AccountObservation{
		AccountID:  p.id("account_id", required),
		Name:       p.text("account_name"),
		Type:       p.accountType("account_type"),
		CustomerID: p.id("customer_id", optional),
		ExternalID: p.text("external_id"),
		Currency:   p.currency("currency", required),
	}
}

// accountUpdated carries the name and external id only; the other fields
// stay empty, which the ledger reads as "unknown", not "cleared".
func accountUpdated(p fields) *ledgerd.AccountObservation {
	return &ledgerd.AccountObservation{
		AccountID:  p.id("account_id", required),
		Name:       p.text("account_name"),
		ExternalID: p.text("external_id"),
	}
}

// statusOnly events (submitted, executed, settled) carry no amounts: the
// ledger records the status and waits for them.
func statusOnly(fields, *ledgerd.TransactionObservation) {}

// failed events add the failure reason.
func failed(p fields, tx *ledgerd.TransactionObservation) {
	tx.FailureReason = p.failureReason("failure_reason")
}

// payment: a local payment, outbound created or inbound settled, with its
// three amounts and its currency.
func payment(p fields, tx *ledgerd.TransactionObservation) {
	instructed, _ := p.amount("instructed_amount", required)
	fee, _ := p.amount("fee_amount", required)
	withFee, _ := p.amount("amount_with_fee", required)
	tx.Currency = p.currency("currency", required)
	tx.ExternalReference = p.text("external_reference")
	tx.Purpose = p.text("purpose")
	tx.Amounts = p.checked(tx.Kind, "amount_with_fee", ledgerd.TxAmounts{Instructed: instructed, Fee: fee, WithFee: withFee})
}

// transferOut: the sending leg of an internal transfer. The payload has no
// currency; the ledger takes it from the account.
func transferOut(p fields, tx *ledgerd.TransactionObservation) {
	tx.Amounts = single(p, tx.Kind, "amount", required)
	tx.CounterpartAccountID = p.id("to_account_id", optional)
	tx.Reference = p.text("reference")
}

// transferIn: the receiving leg of an internal transfer.
func transferIn(p fields, tx *ledgerd.TransactionObservation) {
	tx.Amounts = single(p, tx.Kind, "amount", required)
	tx.CounterpartAccountID = p.id("from_account_id", optional)
	tx.Reference = p.text("reference")
}

// exchange: either leg of an exchange. currency and amount are this leg's;
// counterpart_* are the other leg's.
func exchange(p fields, tx *ledgerd.TransactionObservation) {
	tx.Amounts = single(p, tx.Kind, "amount", required)
	tx.Currency = p.currency("currency", required)
	tx.CounterpartAccountID = p.id("counterpart_account_id", optional)
	tx.CounterpartCurrency = p.currency("counterpart_currency", optional)
	if a, ok := p.amount("counterpart_amount", optional); ok {
		tx.CounterpartAmount = &a
	}
	tx.Rate = p.rate("rate")
	tx.ExternalReference = p.text("external_reference")
}

// returned: a returned outbound payment, as the local_return_payment it
// creates: returned_id names the payment; instructed_amount and currency
// are the money that came back, when the payload has them.
func returned(p fields, tx *ledgerd.TransactionObservation) {
	tx.ReturnedID = p.id("returned_id", optional)
	tx.Currency = p.currency("currency", optional)
	tx.ExternalReference = p.text("external_reference")
	tx.Amounts = single(p, tx.Kind, "instructed_amount", optional)
}

// feeDebited: a fee taken apart from its payment, as the fee_debit: amount
// and currency when the payload has them, fee_target naming the payment.
func feeDebited(p fields, tx *ledgerd.TransactionObservation) {
	tx.Currency = p.currency("currency", optional)
	tx.FeeTargetID = p.feeTarget("fee_target")
	tx.Amounts = single(p, tx.Kind, "amount", optional)
}

// transaction reads what every transaction event carries, then what its
// type adds. An event of an undocumented type without the ids or the time
// gives no observation (nil).
func transaction(p fields, hd handler) *ledgerd.TransactionObservation {
	need := required
	if hd.undocumented {
		need = optional
	}
	tx := &ledgerd.TransactionObservation{Kind: hd.kind, Status: hd.status}
	tx.TransactionID = p.id("transaction_id", need)
	tx.AccountID = p.id("account_id", need)
	tx.At = p.timestamp("timestamp", need)
	tx.ExternalID = p.text("external_id")
	hd.tx(p, tx)
	if hd.undocumented && (tx.TransactionID == "" || tx.AccountID == "" || tx.At.IsZero()) {
		return nil
	}
	return tx
}

// single reads the one amount of a transfer, an exchange leg, a return or
// a fee debit: no fee, so WithFee equals Instructed. nil when it is
// absent (optional only: the ledger waits for it) or wrong.
func single(p fields, kind ledgerd.Kind, name string, need presence) *ledgerd.TxAmounts {
	a, ok := p.amount(name, need)
	if !ok {
		return nil
	}
	return p.checked(kind, name, ledgerd.TxAmounts{Instructed: a, WithFee: a})
}

// checked returns amounts once they pass TxAmounts.Check for kind, or nil.
// name is the field blamed when they do not.
func (p *payload) checked(kind ledgerd.Kind, name string, amounts ledgerd.TxAmounts) *ledgerd.TxAmounts {
	if p.err != nil {
		return nil
	}
	if err := amounts.Check(kind); err != nil {
		reason := ReasonInconsistentAmounts
		if errors.Is(err, ledgerd.ErrAmountRange) {
			reason = ReasonAmountOutOfRange
		}
		p.fail(reason, name, err.Error(), err)
		return nil
	}
	return &amounts
}
