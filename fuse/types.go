// Package fuse is ledgerd's client for the Fuse banking API (fuse-api.md):
// one live token shared by every caller, idempotency keys on every POST,
// bounded retries with backoff, a client-side rate limit, and listings
// walked page by page.
package fuse

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// The wire types of ../shared/fuse-api.md. Both the client (this package)
// and the emulator (fuse/sandbox) encode and decode exactly these, so the
// two cannot drift apart. Field names marked [model] in fuse-api.md live
// here and nowhere else.

// TokenRequest is the body of POST {auth}/oauth/token (fuse-api.md §1):
// every field is required.
type TokenRequest struct {
	ClientID     string `json:"client_id"`
	ClientSecret string `json:"client_secret"`
	Audience     string `json:"audience"`
	GrantType    string `json:"grant_type"`
}

// GrantTypeClientCredentials is the one grant_type the token endpoint takes.
const GrantTypeClientCredentials = "client_credentials"

// TokenResponse is the answer to POST {auth}/oauth/token.
type TokenResponse struct {
	AccessToken string `json:"access_token"`
	Scope       string `json:"scope"`
	ExpiresIn   int64  `json:"expires_in"` // seconds
	TokenType   string `json:"token_type"`
}

// ErrorBody is Fuse's error body (ErrorResponse in the reference): all
// three are strings, Error is the deprecated twin of Message. Only some
// routes declare it (the money routes declare no body at all), so the
// client decodes error answers leniently and never relies on it.
type ErrorBody struct {
	Code    string `json:"code"`
	Error   string `json:"error"`
	Message string `json:"message"`
}

// Page is one page of a listing, in Fuse's envelope
// {"results": [...], "pages": {"next": string|null, "size": int}}. A nil
// Pages.Next ends the listing; a page may be empty and still have a next.
// Decoding is strict where encoding/json is lenient: a body without
// results, pages or pages.size (or with null for any of them) is an error,
// never an empty last page, so that a listing in a shape we do not know
// fails the run instead of reading nothing. Unknown keys are ignored.
type Page[T any] struct {
	Data  []T      `json:"results"`
	Pages PageInfo `json:"pages"`
}

// PageInfo is a listing page's "pages" object. Next, when not nil, is the
// cursor of the following page; Size is required by the reference but its
// meaning is unstated, so nothing depends on it.
type PageInfo struct {
	Next *string `json:"next"`
	Size int     `json:"size"`
}

// ErrListingShape reports a listing body that is JSON but not Fuse's
// listing envelope (results and pages.size missing or null).
var ErrListingShape = errors.New("not a listing envelope")

// UnmarshalJSON decodes the envelope strictly (see Page).
func (p *Page[T]) UnmarshalJSON(b []byte) error {
	return decodePage(b, p)
}

// decodePage is Page's strict decoding, shared by the types that convert
// to it (transactionPage).
func decodePage[T any](b []byte, p *Page[T]) error {
	var raw struct {
		Results *[]T `json:"results"`
		Pages   *struct {
			Next *string `json:"next"`
			Size *int    `json:"size"`
		} `json:"pages"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	switch {
	case raw.Results == nil:
		return fmt.Errorf("%w: no results array", ErrListingShape)
	case raw.Pages == nil:
		return fmt.Errorf("%w: no pages object", ErrListingShape)
	case raw.Pages.Size == nil:
		return fmt.Errorf("%w: no pages.size", ErrListingShape)
	}
	*p = Page[T]{Data: *raw.Results, Pages: PageInfo{Next: raw.Pages.Next, Size: *raw.Pages.Size}}
	return nil
}

// CreateBusinessRequest is the body of POST /customers/businesses.
type CreateBusinessRequest struct {
	Name       string `json:"name"`
	ExternalID string `json:"external_id,omitempty"`
}

// CreateIndividualRequest is the body of POST /customers/individuals.
type CreateIndividualRequest struct {
	FirstName  string `json:"first_name"`
	LastName   string `json:"last_name"`
	ExternalID string `json:"external_id,omitempty"`
}

// Customer is a Fuse customer.
type Customer struct {
	CustomerID string    `json:"customer_id"`
	Type       string    `json:"type"` // business or individual
	Name       string    `json:"name"`
	Status     string    `json:"status"`
	CreatedAt  time.Time `json:"created_at"`
}

// CreateAccountRequest is the body of POST /accounts.
type CreateAccountRequest struct {
	CustomerID  string `json:"customer_id"`
	AccountName string `json:"account_name"`
	Currency    string `json:"currency"`
	AccountType string `json:"account_type"` // primary, payment or virtual
	ExternalID  string `json:"external_id,omitempty"`
}

// Account is a Fuse account as GET /v1/accounts/{id} and the account
// listings return it (Account in the reference). The two balances are
// pointers so that an answer without them is told apart from a zero
// balance: Observation refuses it. The reference has no creation time.
type Account struct {
	ID                 string               `json:"id"`
	AccountName        string               `json:"account_name"`
	AccountOwner       string               `json:"account_owner"`
	AccountType        string               `json:"account_type"` // primary, payment or virtual
	Status             string               `json:"status"`       // open, frozen or closed
	Currency           string               `json:"currency"`
	CurrentBalance     *int64               `json:"current_balance"`   // "all the money in the account"
	AvailableBalance   *int64               `json:"available_balance"` // "immediately available funds"
	AddressableDetails []AddressableDetails `json:"addressable_details"`
	DefaultDetails     *Identifier          `json:"default_details,omitempty"`
	CustomerID         *string              `json:"customer_id,omitempty"`
	ExternalID         *string              `json:"external_id,omitempty"`
}

// Account statuses [spec].
const (
	AccountOpen   = "open"
	AccountFrozen = "frozen"
	AccountClosed = "closed"
)

// AddressableDetails is one way to pay into an account, with the schemes
// it is reachable over (uae_fts, uae_ipp, swift, fedwire, ach, sepa, …).
type AddressableDetails struct {
	AccountDetails Identifier `json:"account_details"`
	PaymentSchemes []string   `json:"payment_schemes"`
}

// Identifier is an external account identifier: exactly one of an IBAN,
// US wire details or UK sort code and account number [spec].
type Identifier struct {
	IBAN string       `json:"iban,omitempty"`
	Wire *WireDetails `json:"wire,omitempty"`
	SCAN *SCANDetails `json:"scan,omitempty"`
}

// WireDetails are a US account's wire details.
type WireDetails struct {
	AccountNumber string `json:"account_number"`
	RoutingNumber string `json:"routing_number"`
}

// SCANDetails are a UK account's sort code and account number.
type SCANDetails struct {
	AccountNumber string `json:"account_number"`
	SortCode      string `json:"sort_code"`
}

// String is the identifier as one line: the IBAN, or the scheme's
// numbers.
func (i Identifier) String() string {
	switch {
	case i.IBAN != "":
		return i.IBAN
	case i.Wire != nil:
		return i.Wire.RoutingNumber + " " + i.Wire.AccountNumber
	case i.SCAN != nil:
		return i.SCAN.SortCode + " " + i.SCAN.AccountNumber
	}
	return ""
}

// PartyDetails is a remitter or beneficiary of a local payment or a return
// (RemitterDetails and BeneficiaryDetails in the reference).
type PartyDetails struct {
	Name       string     `json:"name"`
	Identifier Identifier `json:"identifier"`
}

// Party is a beneficiary as the sandbox's create-payment request names it.
type Party struct {
	Name string `json:"name"`
	IBAN string `json:"iban"`
}

// CreatePaymentRequest is the body of POST /accounts/{id}/payments.
type CreatePaymentRequest struct {
	Amount            int64  `json:"amount"`
	Currency          string `json:"currency"`
	Beneficiary       Party  `json:"beneficiary"`
	Purpose           string `json:"purpose,omitempty"`
	ExternalReference string `json:"external_reference,omitempty"`
	ExternalID        string `json:"external_id,omitempty"`
}

// CreateInternalTransferRequest is the body of
// POST /accounts/{id}/internal-transfers.
type CreateInternalTransferRequest struct {
	ToAccountID string `json:"to_account_id"`
	Amount      int64  `json:"amount"`
	Reference   string `json:"reference,omitempty"`
	ExternalID  string `json:"external_id,omitempty"`
}

// CreateExchangeRequest is the body of POST /accounts/{id}/exchanges.
type CreateExchangeRequest struct {
	ToAccountID       string `json:"to_account_id"`
	Amount            int64  `json:"amount"`
	ExternalReference string `json:"external_reference,omitempty"`
}

// Transaction is a Fuse transaction object: the reference's union tagged
// by Type, flattened into one struct whose fields are absent (nil, "")
// where a type does not have them (fuse-api.md §4). Observation checks
// that each type carries what the reference requires of it. Amounts are
// minor units of Currency; Rate is kept as the exact JSON number
// received and never parsed into a float: money comes from the integer
// amounts only.
type Transaction struct {
	ID        string `json:"id"`
	Type      string `json:"type"`
	AccountID string `json:"account_id"`
	Currency  string `json:"currency"`
	// Direction and State: every type but fee_debit.
	Direction         string     `json:"direction,omitempty"` // Inbound or Outbound
	State             string     `json:"state,omitempty"`     // Created, Submitted, Booked, Executed, Failed, Settled
	CreatedAt         *time.Time `json:"created_at,omitempty"`
	ExternalReference *string    `json:"external_reference,omitempty"`
	InstructedAmount  *int64     `json:"instructed_amount,omitempty"`
	ExternalID        *string    `json:"external_id,omitempty"`
	// Local payments and returns.
	Remitter    *PartyDetails `json:"remitter,omitempty"`
	Beneficiary *PartyDetails `json:"beneficiary,omitempty"`
	// Local payments.
	Purpose       string          `json:"purpose,omitempty"`
	FeeAmount     *int64          `json:"fee_amount,omitempty"`
	AmountWithFee *int64          `json:"amount_with_fee,omitempty"`
	FeeSource     *TypeRef        `json:"fee_source,omitempty"`
	Scheme        *string         `json:"scheme,omitempty"`
	Batch         *Batch          `json:"batch,omitempty"`
	AuthorisedAt  *time.Time      `json:"authorised_at,omitempty"`
	SubmittedAt   *time.Time      `json:"submitted_at,omitempty"`
	ExecutedAt    *time.Time      `json:"executed_at,omitempty"`
	FailedAt      *time.Time      `json:"failed_at,omitempty"`
	SettledAt     *time.Time      `json:"settled_at,omitempty"`
	FailureReason json.RawMessage `json:"failure_reason,omitempty"` // a string or an object: see FailureText
	// Internal transfers and exchanges.
	CounterpartAccountID string `json:"counterpart_account_id,omitempty"`
	// Exchanges.
	CounterpartAmount   *int64      `json:"counterpart_amount,omitempty"`
	CounterpartCurrency string      `json:"counterpart_currency,omitempty"`
	Rate                json.Number `json:"rate,omitempty"`
	// Returns.
	Reason     string `json:"reason,omitempty"`
	ReturnedID string `json:"returned_id,omitempty"`
	// Fee debits.
	Amount    *int64     `json:"amount,omitempty"`
	Timestamp *time.Time `json:"timestamp,omitempty"`
	FeeTarget *FeeTarget `json:"fee_target,omitempty"`
	// Raw is the object as received (compacted), when it was decoded
	// from JSON: what a ledger keeps of a type it does not know.
	Raw json.RawMessage `json:"-"`
}

// UnmarshalJSON decodes t as encoding/json would and keeps the object's
// bytes, compacted, in Raw.
func (t *Transaction) UnmarshalJSON(b []byte) error {
	type plain Transaction
	var v plain
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	var c bytes.Buffer
	if err := json.Compact(&c, b); err != nil {
		return err
	}
	v.Raw = c.Bytes()
	*t = Transaction(v)
	return nil
}

// TypeRef is an object that only names a type, like fee_source's
// {"type": "primary_account"}.
type TypeRef struct {
	Type string `json:"type"`
}

// FeeTarget is a fee debit's link to the transaction it is the fee of.
type FeeTarget struct {
	Type      string `json:"type"` // "Transaction"
	Reference string `json:"reference"`
}

// Batch names the batch file a payment came from.
type Batch struct {
	BatchID         string `json:"batch_id"`
	BatchSequenceNo int    `json:"batch_sequence_no"`
}

// Transaction types, directions and states as the reference spells them.
const (
	TypeLocalPayment       = "local_payment"
	TypeLocalReturnPayment = "local_return_payment"
	TypeInternalTransfer   = "internal_transfer"
	TypeFXTransfer         = "f_x_transfer"
	TypeFeeDebit           = "fee_debit"

	DirectionInbound  = "Inbound"
	DirectionOutbound = "Outbound"

	StateCreated   = "Created"
	StateSubmitted = "Submitted"
	StateBooked    = "Booked"
	StateExecuted  = "Executed"
	StateFailed    = "Failed"
	StateSettled   = "Settled"

	FeeSourceIncluded = "included_in_payment"
	FeeSourcePrimary  = "primary_account"
)

// Headers of the API and of webhooks.
const (
	HeaderIdempotencyKey = "Idempotency-Key"
	HeaderRetryAfter     = "Retry-After"
	HeaderFuseTimestamp  = "X-Fuse-Timestamp"
	// HeaderSignature carries "sha256=<hex HMAC-SHA256 of the raw body>"
	// when a webhook secret is configured [model].
	HeaderSignature = "X-Ledgerd-Signature"
)

// MaxPageLimit is the largest page_size a listing accepts [spec].
const MaxPageLimit = 2000
