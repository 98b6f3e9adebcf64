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

// Address is a postal address [spec Address]: country_code (ISO 3166
// alpha-2) and line_1 are required, line_2 is required for USD payments.
type Address struct {
	CountryCode string `json:"country_code"`
	Line1       string `json:"line_1"`
	Line2       string `json:"line_2,omitempty"`
	Line3       string `json:"line_3,omitempty"`
	Line4       string `json:"line_4,omitempty"`
}

// CreateBusinessRequest is the body of POST /v1/customers/businesses
// (AddBusinessRequest): every field here is required [spec]; the
// optional ones (licences, documents, registration date, relationship)
// are left to their defaults.
type CreateBusinessRequest struct {
	Address            Address `json:"address"`
	BusinessName       string  `json:"business_name"`
	DisplayName        string  `json:"display_name"`
	CountryOfIssuance  string  `json:"country_of_issuance"`
	Reference          string  `json:"reference"` // at most 36 characters
	RegistrationNumber string  `json:"registration_number"`
}

// CreateIndividualRequest is the body of POST /v1/customers/individuals
// (AddIndividualRequest). Gender is required but may be null [spec]: it
// is always sent, as null when nil.
type CreateIndividualRequest struct {
	Address     Address `json:"address"`
	DisplayName string  `json:"display_name"`
	FirstName   string  `json:"first_name"`
	MiddleName  string  `json:"middle_name,omitempty"`
	LastName    string  `json:"last_name"`
	DateOfBirth string  `json:"date_of_birth"` // a date: 1990-04-21
	Gender      *string `json:"gender"`        // male, female, undefined or nil
	Nationality string  `json:"nationality"`   // ISO 3166 alpha-2
	Reference   string  `json:"reference"`     // at most 36 characters
}

// CreateCustomerResponse is the answer to both customer creations (201,
// AddCustomerResponse).
type CreateCustomerResponse struct {
	ID string `json:"id"`
}

// Customer is a customer as GET /v1/customers/{id} returns it
// (GetCustomerResponse): the common fields and exactly one of Business
// and Individual.
type Customer struct {
	ID             string  `json:"id"`
	Reference      string  `json:"reference"`
	DisplayName    string  `json:"display_name"`
	Address        Address `json:"address"`
	ApprovalStatus string  `json:"approval_status"` // auto_approved, pending, approved or rejected
	// RelationshipType is "direct" or {"indirect": {"parent_customer_id"}}.
	RelationshipType json.RawMessage `json:"relationship_type"`
	// Documents are DocumentSummary objects; ledgerd uploads none and
	// reads none.
	Documents       []json.RawMessage   `json:"documents"`
	RejectionReason *string             `json:"rejection_reason,omitempty"`
	Business        *CustomerBusiness   `json:"business,omitempty"`
	Individual      *CustomerIndividual `json:"individual,omitempty"`
}

// CustomerBusiness is a business customer's own part of Customer.
type CustomerBusiness struct {
	BusinessName       string   `json:"business_name"`
	RegistrationNumber string   `json:"registration_number"`
	CountryOfIssuance  string   `json:"country_of_issuance"`
	RegulatoryLicenses []string `json:"regulatory_licenses"`
	// CurrencyExtra are BusinessCurrencyExtra objects, not read.
	CurrencyExtra []json.RawMessage `json:"currency_extra"`
}

// CustomerIndividual is an individual customer's own part of Customer.
type CustomerIndividual struct {
	FirstName   string  `json:"first_name"`
	MiddleName  *string `json:"middle_name,omitempty"`
	LastName    string  `json:"last_name"`
	DateOfBirth string  `json:"date_of_birth"` // a date-time here [spec]
	Gender      string  `json:"gender"`        // male, female or undefined
	Nationality string  `json:"nationality"`
	// CurrencyExtra are IndividualCurrencyExtra objects, not read.
	CurrencyExtra []json.RawMessage `json:"currency_extra"`
}

// Customer approval statuses and genders [spec].
const (
	ApprovalAutoApproved = "auto_approved"
	ApprovalPending      = "pending"
	ApprovalApproved     = "approved"
	ApprovalRejected     = "rejected"

	GenderMale      = "male"
	GenderFemale    = "female"
	GenderUndefined = "undefined"
)

// CreateAccountRequest is the body of POST /v1/customers/{id}/accounts:
// all four are required [spec].
type CreateAccountRequest struct {
	AccountName string `json:"account_name"`
	AccountType string `json:"account_type"` // AccountTypeVirtual
	Currency    string `json:"currency"`
	ExternalID  string `json:"external_id"` // at most 36 characters
}

// Account types. A new account is virtual: payment is deprecated and
// not supported for new accounts, and primary is the organisation's own
// account, which nobody creates through the API [spec].
const (
	AccountTypePrimary = "primary"
	AccountTypePayment = "payment"
	AccountTypeVirtual = "virtual"
)

// CreateAccountResponse is the answer to POST
// /v1/customers/{id}/accounts: 202, the account is being opened.
type CreateAccountResponse struct {
	AccountID string `json:"account_id"`
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

// Party is a remitter or beneficiary as the sandbox keeps it: a name and
// one identifier, an IBAN or the wire or sort code details.
type Party struct {
	Name string       `json:"name"`
	IBAN string       `json:"iban,omitempty"`
	Wire *WireDetails `json:"wire,omitempty"`
	SCAN *SCANDetails `json:"scan,omitempty"`
}

// Identifier is the party's account identifier as the API spells it.
func (p Party) Identifier() Identifier {
	return Identifier{IBAN: p.IBAN, Wire: p.Wire, SCAN: p.SCAN}
}

// CreatePaymentRequest is the body of POST /v1/accounts/{id}/payments
// (CreateCustomerPaymentRequest). The payment is in the account's
// currency; Amount excludes the fee.
type CreatePaymentRequest struct {
	Amount            int64       `json:"amount"`
	Purpose           string      `json:"purpose"` // a purpose code: see ValidPurpose
	ExternalReference string      `json:"external_reference"`
	Beneficiary       Beneficiary `json:"beneficiary"`
	ExternalID        string      `json:"external_id,omitempty"` // at most 36 characters
}

// Beneficiary is who a payment goes to (PaymentDetails): type,
// account_holder_name, account_identifier and address are required;
// USD payments also need Bank.Code (a BIC) and Address.Line2 [spec].
type Beneficiary struct {
	Type              string           `json:"type"` // individual or business
	AccountHolderName string           `json:"account_holder_name"`
	AccountIdentifier Identifier       `json:"account_identifier"`
	Address           Address          `json:"address"`
	Bank              *BeneficiaryBank `json:"bank,omitempty"`
	Email             string           `json:"email,omitempty"`
	Phone             string           `json:"phone,omitempty"`
}

// BeneficiaryBank is the beneficiary's bank: Code is its BIC.
type BeneficiaryBank struct {
	Code   string `json:"code,omitempty"`
	Branch string `json:"branch,omitempty"`
}

// Beneficiary types [spec CounterpartType].
const (
	BeneficiaryIndividual = "individual"
	BeneficiaryBusiness   = "business"
)

// Purpose codes [spec PurposeCode] that ledgerd's own callers use.
const (
	PurposeGoodsBought  = "goods_bought"
	PurposeSalaries     = "salaries"
	PurposeProfessional = "professional"
	PurposeNone         = "none"
)

// ValidPurpose reports whether code is one of the reference's purpose
// codes (PurposeCode).
func ValidPurpose(code string) bool {
	switch code {
	case "charity", "commercial_investment", "corporate_card", "credit_card", "dividend", "family",
		"financial_services", "goods_sold", "goods_bought", "government", "insurance", "intergroup_transfer",
		"intra_group_dividends", "information_technology", "leasing", "loan_charges", "merchant_settlement",
		"mobile_wallet", "non_resident_transfer_between_accounts", "none", "pension", "personal_expenses",
		"prepaid_cards", "professional", "rental", "resident_transfer_between_accounts", "salaries", "tax",
		"telecommunications", "travel", "utility_bill":
		return true
	}
	return false
}

// CreateTransactionResponse is the answer to the calls that start a
// transaction: 202 for a payment, 201 for an internal transfer or an
// exchange. The transaction itself is read with GET
// /v1/transactions/{id}.
type CreateTransactionResponse struct {
	TransactionID string `json:"transaction_id"`
}

// CreateInternalTransferRequest is the body of POST
// /v1/internal-transfers: money between two Fuse accounts in one
// currency.
type CreateInternalTransferRequest struct {
	FromAccountID     string `json:"from_account_id"`
	ToAccountID       string `json:"to_account_id"`
	Amount            int64  `json:"amount"`
	ExternalReference string `json:"external_reference"`    // at most 100 characters
	ExternalID        string `json:"external_id,omitempty"` // at most 36 characters
}

// QuoteRequest asks GET /v1/exchange/quote what converting between two
// accounts gives: set exactly one of FromAmount (what leaves the From
// account) and ToAmount (what must arrive in the To account).
type QuoteRequest struct {
	FromAccountID string
	ToAccountID   string
	FromAmount    int64
	ToAmount      int64
}

// ExchangeQuote is the answer to GET /v1/exchange/quote
// (GetExchangeRateResponse). ExchangeRate keeps the JSON number as sent
// and is never parsed into a float: the amounts are the money.
type ExchangeQuote struct {
	ExchangeRate json.Number `json:"exchange_rate"`
	FromAmount   int64       `json:"from_amount"`
	FromCurrency string      `json:"from_currency"`
	ToAmount     int64       `json:"to_amount"`
	ToCurrency   string      `json:"to_currency"`
}

// CreateExchangeRequest is the body of POST /v1/exchange: money from
// one account into another account's currency. The reference does not
// say which side carries the amount [spec silent]; ledgerd sets exactly
// one of From.Amount and To.Amount, as for a quote.
type CreateExchangeRequest struct {
	ExternalReference string       `json:"external_reference"` // at most 100 characters
	From              ExchangeSide `json:"from"`
	To                ExchangeSide `json:"to"`
}

// ExchangeSide is one account of an exchange, with the amount when this
// is the side the caller fixes.
type ExchangeSide struct {
	AccountID string `json:"account_id"`
	Amount    *int64 `json:"amount,omitempty"`
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
