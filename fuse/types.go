// Package fuse is ledgerd's client for the Fuse banking API (fuse-api.md):
// one live token shared by every caller, idempotency keys on every POST,
// bounded retries with backoff, a client-side rate limit, and listings
// walked page by page.
package fuse

import (
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

// Balance is an account's balance in minor units. Current counts settled
// money; Available is Current minus outbound money still in flight.
type Balance struct {
	Current   int64 `json:"current"`
	Available int64 `json:"available"`
}

// Account is a Fuse account as GET /accounts/{id} returns it.
type Account struct {
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

// Party is a remitter or beneficiary of a local payment.
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

// Transaction is a Fuse transaction object. Amounts are minor units of
// Currency; Rate is a decimal string and is never parsed into a float.
// Pointer fields are absent or null when Fuse does not know them.
type Transaction struct {
	TransactionID        string      `json:"transaction_id"`
	AccountID            string      `json:"account_id"`
	Kind                 string      `json:"kind"`
	Status               string      `json:"status"`
	Currency             string      `json:"currency"`
	InstructedAmount     int64       `json:"instructed_amount"`
	FeeAmount            int64       `json:"fee_amount"`
	AmountWithFee        int64       `json:"amount_with_fee"`
	CounterpartAccountID string      `json:"counterpart_account_id,omitempty"`
	CounterpartCurrency  string      `json:"counterpart_currency,omitempty"`
	CounterpartAmount    *int64      `json:"counterpart_amount,omitempty"`
	Rate                 json.Number `json:"rate,omitempty"`
	Remitter             *Party      `json:"remitter,omitempty"`
	Beneficiary          *Party      `json:"beneficiary,omitempty"`
	Purpose              string      `json:"purpose,omitempty"`
	Reference            string      `json:"reference,omitempty"`
	ExternalReference    string      `json:"external_reference,omitempty"`
	ExternalID           string      `json:"external_id,omitempty"`
	FailureReason        string      `json:"failure_reason,omitempty"`
	CreatedAt            time.Time   `json:"created_at"`
	UpdatedAt            time.Time   `json:"updated_at"`
}

// Kinds and statuses of Transaction, as strings on the wire. They match
// ledgerd.Kind and ledgerd.Status.
const (
	KindLocalPaymentOut     = "local_payment_out"
	KindLocalPaymentIn      = "local_payment_in"
	KindInternalTransferOut = "internal_transfer_out"
	KindInternalTransferIn  = "internal_transfer_in"
	KindExchangeOut         = "exchange_out"
	KindExchangeIn          = "exchange_in"

	StatusCreated   = "created"
	StatusSubmitted = "submitted"
	StatusExecuted  = "executed"
	StatusSettled   = "settled"
	StatusFailed    = "failed"
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
