package sandbox

import (
	"encoding/json"
	"strings"
	"time"

	"github.com/ledgerd/ledgerd"
	"github.com/ledgerd/ledgerd/fuse"
)

// Leg is one leg of a transaction as the sandbox keeps it: the ground
// truth of /sandbox/truth, in the ledger's terms (a kind per direction, a
// status in lower case, one pair of amounts per leg). The API never shows
// a Leg: it shows the leg as Fuse's published Transaction (wire).
// UpdatedAt is the sandbox's own record of the last change; Fuse has no
// such field.
type Leg struct {
	TransactionID        string         `json:"transaction_id"`
	AccountID            string         `json:"account_id"`
	Kind                 ledgerd.Kind   `json:"kind"`
	Status               ledgerd.Status `json:"status"`
	Currency             string         `json:"currency"`
	InstructedAmount     int64          `json:"instructed_amount"`
	FeeAmount            int64          `json:"fee_amount"`
	AmountWithFee        int64          `json:"amount_with_fee"`
	CounterpartAccountID string         `json:"counterpart_account_id,omitempty"`
	CounterpartCurrency  string         `json:"counterpart_currency,omitempty"`
	CounterpartAmount    *int64         `json:"counterpart_amount,omitempty"`
	Rate                 json.Number    `json:"rate,omitempty"`
	Remitter             *fuse.Party    `json:"remitter,omitempty"`
	Beneficiary          *fuse.Party    `json:"beneficiary,omitempty"`
	Purpose              string         `json:"purpose,omitempty"`
	Reference            string         `json:"reference,omitempty"`
	ExternalReference    string         `json:"external_reference,omitempty"`
	ExternalID           string         `json:"external_id,omitempty"`
	FailureReason        string         `json:"failure_reason,omitempty"`
	// FeeSource is a payment's fee_source when it has a fee:
	// included_in_payment, or primary_account when the fee is taken from
	// its customer's primary account by a fee debit (fees.go).
	FeeSource string `json:"fee_source,omitempty"`
	// ReturnedID and Reason are a return's: the payment whose money came
	// back, and why.
	ReturnedID string `json:"returned_id,omitempty"`
	Reason     string `json:"reason,omitempty"`
	// FeeTargetID is a fee debit's: the payment whose fee it is.
	FeeTargetID string    `json:"fee_target_id,omitempty"`
	CreatedAt   time.Time `json:"created_at"`
	SubmittedAt time.Time `json:"submitted_at,omitzero"`
	FinalAt     time.Time `json:"final_at,omitzero"` // executed, settled or failed
	UpdatedAt   time.Time `json:"updated_at"`
}

// debit is what an outbound leg takes from its own account once it has
// succeeded: amount_with_fee, but the instructed amount alone when a fee
// debit on the primary account takes the fee (fee_source
// primary_account). A fee debit's amount is its instructed amount.
func (l *Leg) debit() int64 {
	if l.FeeSource == fuse.FeeSourcePrimary {
		return l.InstructedAmount
	}
	return l.AmountWithFee
}

// AccountState is an account as the sandbox keeps it, with its balance.
type AccountState struct {
	AccountID   string    `json:"account_id"`
	AccountName string    `json:"account_name"`
	AccountType string    `json:"account_type"`
	CustomerID  string    `json:"customer_id"`
	ExternalID  string    `json:"external_id"`
	Currency    string    `json:"currency"`
	IBAN        string    `json:"iban"`
	Status      string    `json:"status"`
	Balance     Balance   `json:"balance"`
	OpenedAt    time.Time `json:"opened_at"`
}

// Balance is an account's balance in minor units. Current counts settled
// money; Available is Current minus outbound money still in flight.
type Balance struct {
	Current   int64 `json:"current"`
	Available int64 `json:"available"`
}

// wire is the account as the API shows it (Account in the reference).
func (a *AccountState) wire(owner string) fuse.Account {
	cur, avail := a.Balance.Current, a.Balance.Available
	iban := fuse.Identifier{IBAN: a.IBAN}
	w := fuse.Account{
		ID: a.AccountID, AccountName: a.AccountName, AccountOwner: owner,
		AccountType: a.AccountType, Status: a.Status, Currency: a.Currency,
		CurrentBalance: &cur, AvailableBalance: &avail,
		AddressableDetails: []fuse.AddressableDetails{{AccountDetails: iban, PaymentSchemes: []string{"uae_fts", "uae_ipp"}}},
		DefaultDetails:     &iban,
	}
	if a.CustomerID != "" {
		id := a.CustomerID
		w.CustomerID = &id
	}
	if a.ExternalID != "" {
		id := a.ExternalID
		w.ExternalID = &id
	}
	return w
}

// wireState spells a status as the API does (Created, Settled, …).
func wireState(st ledgerd.Status) string {
	s := string(st)
	if s == "" {
		return ""
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// Wire is the leg as the API shows it: Fuse's published Transaction, its
// type and direction from the leg's kind, its state capitalised, and the
// fields each type has (fuse-api.md §4): a fee debit has neither state,
// direction nor created_at, but amount, timestamp and fee_target; a return
// has remitter, beneficiary, reason and returned_id and no per-state time.
func (l *Leg) Wire() fuse.Transaction {
	w := fuse.Transaction{ID: l.TransactionID, AccountID: l.AccountID, Currency: l.Currency}
	if l.Kind == ledgerd.KindFeeDebit {
		w.Type = fuse.TypeFeeDebit
		amount, at := l.InstructedAmount, l.CreatedAt
		w.Amount, w.Timestamp = &amount, &at
		w.FeeTarget = &fuse.FeeTarget{Type: "Transaction", Reference: l.FeeTargetID}
		return w
	}
	created := l.CreatedAt
	w.State, w.CreatedAt = wireState(l.Status), &created
	amount := l.InstructedAmount
	w.InstructedAmount = &amount
	ref := l.ExternalReference
	w.ExternalReference = &ref
	var extID *string
	if l.ExternalID != "" {
		v := l.ExternalID
		extID = &v
	}
	final := func() *time.Time {
		if l.FinalAt.IsZero() {
			return nil
		}
		v := l.FinalAt
		return &v
	}
	// failure_reason is a PaymentFailure: a free text only as the bank's
	// error, {"bank_error": …}, as the failed webhooks carry it.
	var failure json.RawMessage
	if l.Status == ledgerd.StatusFailed && l.FailureReason != "" {
		failure, _ = json.Marshal(struct {
			BankError string `json:"bank_error"`
		}{l.FailureReason})
	}
	w.Type, w.Direction, _ = fuse.WireType(l.Kind)
	switch l.Kind {
	case ledgerd.KindLocalPaymentOut, ledgerd.KindLocalPaymentIn:
		fee, withFee := l.FeeAmount, l.AmountWithFee
		w.FeeAmount, w.AmountWithFee = &fee, &withFee
		switch {
		case l.FeeSource != "":
			w.FeeSource = &fuse.TypeRef{Type: l.FeeSource}
		case fee > 0:
			w.FeeSource = &fuse.TypeRef{Type: fuse.FeeSourceIncluded}
		}
		w.Remitter, w.Beneficiary = partyDetails(l.Remitter), partyDetails(l.Beneficiary)
		w.Purpose = l.Purpose
		if w.Purpose == "" {
			w.Purpose = "none" // the reference requires one; "none" is a PurposeCode [model]
		}
		w.ExternalID = extID
		if !l.SubmittedAt.IsZero() {
			v := l.SubmittedAt
			w.SubmittedAt = &v
		}
		switch l.Status {
		case ledgerd.StatusExecuted:
			w.ExecutedAt = final()
		case ledgerd.StatusFailed:
			w.FailedAt, w.FailureReason = final(), failure
		}
	case ledgerd.KindReturnIn, ledgerd.KindReturnOut:
		w.Remitter, w.Beneficiary = partyDetails(l.Remitter), partyDetails(l.Beneficiary)
		w.Reason, w.ReturnedID = l.Reason, l.ReturnedID
	case ledgerd.KindInternalTransferOut, ledgerd.KindInternalTransferIn:
		ref := l.Reference
		w.ExternalReference = &ref
		w.ExternalID = extID
		w.CounterpartAccountID = l.CounterpartAccountID
		switch l.Status {
		case ledgerd.StatusSettled:
			w.SettledAt = final()
		case ledgerd.StatusFailed:
			w.FailedAt, w.FailureReason = final(), failure
		}
	case ledgerd.KindExchangeOut, ledgerd.KindExchangeIn:
		w.CounterpartAccountID = l.CounterpartAccountID
		w.CounterpartCurrency = l.CounterpartCurrency
		if l.CounterpartAmount != nil {
			v := *l.CounterpartAmount
			w.CounterpartAmount = &v
		}
		w.Rate = l.Rate
		switch l.Status {
		case ledgerd.StatusExecuted:
			w.ExecutedAt = final()
		case ledgerd.StatusFailed:
			w.FailedAt, w.FailureReason = final(), failure
		}
	}
	return w
}

// showsExternalID reports whether the leg's type carries external_id on
// the API (payments and internal transfers [spec]).
func (l *Leg) showsExternalID() bool {
	switch l.Kind {
	case ledgerd.KindLocalPaymentOut, ledgerd.KindLocalPaymentIn, ledgerd.KindInternalTransferOut, ledgerd.KindInternalTransferIn:
		return true
	}
	return false
}

// partyDetails is a sandbox party as the API's RemitterDetails or
// BeneficiaryDetails.
func partyDetails(p *fuse.Party) *fuse.PartyDetails {
	if p == nil {
		return &fuse.PartyDetails{}
	}
	return &fuse.PartyDetails{Name: p.Name, Identifier: p.Identifier()}
}
