package sandbox

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/ledgerd/ledgerd/fuse"
)

// The create calls of Fuse's reference (fuse-api.md §5), with the
// reference's required fields and limits checked: a request the sandbox
// cannot carry out is answered 400 with Fuse's error body, naming every
// field at fault (the reference's "Unable to complete request with data
// provided"; 422 is kept for an Idempotency-Key reused with another
// payload). Customers and transfers answer 201, accounts and payments 202
// [spec]; the sandbox opens an account and starts a payment inside the
// request, so what a 202 accepts can be read at once [model].

func (s *Sandbox) createBusiness(_ *http.Request, body []byte) (int, any, error) {
	var req fuse.CreateBusinessRequest
	if err := decode(body, &req); err != nil {
		return 0, nil, err
	}
	var f fields
	f.address("address", req.Address)
	f.text("business_name", req.BusinessName, 140)
	f.text("display_name", req.DisplayName, 140)
	f.country("country_of_issuance", req.CountryOfIssuance)
	f.text("reference", req.Reference, 36)
	f.text("registration_number", req.RegistrationNumber, 140)
	if err := f.err(); err != nil {
		return 0, nil, err
	}
	s.lockNow()
	defer s.mu.Unlock()
	c := s.addBusinessLocked(req)
	return http.StatusCreated, fuse.CreateCustomerResponse{ID: c.ID}, nil
}

func (s *Sandbox) createIndividual(_ *http.Request, body []byte) (int, any, error) {
	var req fuse.CreateIndividualRequest
	if err := decode(body, &req); err != nil {
		return 0, nil, err
	}
	var f fields
	f.address("address", req.Address)
	f.text("display_name", req.DisplayName, 140)
	f.text("first_name", req.FirstName, 45)
	f.optional("middle_name", req.MiddleName, 45)
	f.text("last_name", req.LastName, 45)
	dob, err := time.Parse(time.DateOnly, req.DateOfBirth)
	if err != nil {
		f.add("date_of_birth must be a date such as 1990-04-21")
	}
	// gender is required and may be null [spec]: the key must be there.
	var keys map[string]json.RawMessage
	if json.Unmarshal(body, &keys) == nil {
		if _, ok := keys["gender"]; !ok {
			f.add("gender is required (null when unknown)")
		}
	}
	gender := fuse.GenderUndefined
	if req.Gender != nil {
		switch gender = *req.Gender; gender {
		case fuse.GenderMale, fuse.GenderFemale, fuse.GenderUndefined:
		default:
			f.add("gender must be male, female, undefined or null")
		}
	}
	f.country("nationality", req.Nationality)
	f.text("reference", req.Reference, 36)
	if err := f.err(); err != nil {
		return 0, nil, err
	}
	ind := &fuse.CustomerIndividual{
		FirstName: req.FirstName, LastName: req.LastName, Gender: gender, Nationality: req.Nationality,
		DateOfBirth: dob.UTC().Format(time.RFC3339), CurrencyExtra: []json.RawMessage{},
	}
	if req.MiddleName != "" {
		ind.MiddleName = &req.MiddleName
	}
	s.lockNow()
	defer s.mu.Unlock()
	c := s.addCustomerLocked(fuse.Customer{
		Reference: req.Reference, DisplayName: req.DisplayName, Address: req.Address, Individual: ind,
	}, req.FirstName+" "+req.LastName)
	return http.StatusCreated, fuse.CreateCustomerResponse{ID: c.ID}, nil
}

// createAccount opens a virtual account for the customer in the path.
// account_type payment is deprecated and "not supported for new
// accounts"; the reference also says the account type "will always be
// Virtual", so the sandbox accepts payment and opens a virtual account
// [model].
func (s *Sandbox) createAccount(r *http.Request, body []byte) (int, any, error) {
	var req fuse.CreateAccountRequest
	if err := decode(body, &req); err != nil {
		return 0, nil, err
	}
	switch req.AccountType {
	case fuse.AccountTypeVirtual, fuse.AccountTypePayment:
		req.AccountType = fuse.AccountTypeVirtual
	default:
		return 0, nil, apiErr(http.StatusBadRequest, "invalid_request", "account_type must be virtual")
	}
	var f fields
	f.text("external_id", req.ExternalID, 36) // required here [spec]
	if err := f.err(); err != nil {
		return 0, nil, err
	}
	stamp := s.lockNow()
	defer s.mu.Unlock()
	c, ok := s.customers[r.PathValue("customer_id")]
	if !ok {
		return 0, nil, apiErr(http.StatusNotFound, "customer_not_found", "no customer %q", r.PathValue("customer_id"))
	}
	a, err := s.openAccountLocked(c, req, stamp)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusAccepted, fuse.CreateAccountResponse{AccountID: a.AccountID}, nil
}

// createPayment starts an outbound local payment from the account in the
// path, in its currency.
func (s *Sandbox) createPayment(r *http.Request, body []byte) (int, any, error) {
	return decodeLocked(s, body, func(req fuse.CreatePaymentRequest, stamp time.Time) (int, any, error) {
		a, err := s.accountLocked(r.PathValue("account_id"))
		if err != nil {
			return 0, nil, err
		}
		return startedTx(http.StatusAccepted)(s.createPaymentLocked(a, req, stamp))
	})
}

func (s *Sandbox) createTransfer(_ *http.Request, body []byte) (int, any, error) {
	return decodeLocked(s, body, func(req fuse.CreateInternalTransferRequest, stamp time.Time) (int, any, error) {
		return startedTx(http.StatusCreated)(s.createTransferLocked(req, stamp))
	})
}

// createExchange converts money between two accounts; exactly one of
// from.amount and to.amount is given (price).
func (s *Sandbox) createExchange(_ *http.Request, body []byte) (int, any, error) {
	return decodeLocked(s, body, func(req fuse.CreateExchangeRequest, stamp time.Time) (int, any, error) {
		return startedTx(http.StatusCreated)(s.createExchangeLocked(req, stamp))
	})
}

// decodeLocked decodes body into a Req and runs fn on it under the lock,
// with the sandbox time: the shape of a call that starts a transaction.
func decodeLocked[Req any](s *Sandbox, body []byte, fn func(req Req, stamp time.Time) (int, any, error)) (int, any, error) {
	var req Req
	if err := decode(body, &req); err != nil {
		return 0, nil, err
	}
	stamp := s.lockNow()
	defer s.mu.Unlock()
	return fn(req, stamp)
}

// startedTx answers a call that started transaction t with status and
// {transaction_id} [spec], or with err.
func startedTx(status int) func(t *txn, err error) (int, any, error) {
	return func(t *txn, err error) (int, any, error) {
		if err != nil {
			return 0, nil, err
		}
		return status, fuse.CreateTransactionResponse{TransactionID: t.TransactionID}, nil
	}
}

// quote answers GET /v1/exchange/quote?from_account&to_account with
// from_amount or to_amount: the exchange priced now, as POST /v1/exchange
// would price it (price).
func (s *Sandbox) quote(r *http.Request, _ []byte) (int, any, error) {
	q := r.URL.Query()
	var f fields
	from, to := q.Get("from_account"), q.Get("to_account")
	f.text("from_account", from, 36)
	f.text("to_account", to, 36)
	amount := func(name string) *int64 {
		if !q.Has(name) {
			return nil
		}
		v, err := strconv.ParseInt(q.Get(name), 10, 64)
		if err != nil || v < 0 {
			f.add("%s must be a non-negative integer", name)
			return nil
		}
		return &v
	}
	fromAmount, toAmount := amount("from_amount"), amount("to_amount")
	if err := f.err(); err != nil {
		return 0, nil, err
	}
	s.lockNow()
	defer s.mu.Unlock()
	src, dst, err := s.exchangeAccountsLocked(from, to)
	if err != nil {
		return 0, nil, err
	}
	p, err := price(src.Currency, dst.Currency, fromAmount, toAmount)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, fuse.ExchangeQuote{
		ExchangeRate: json.Number(p.rate), FromAmount: p.from, FromCurrency: src.Currency,
		ToAmount: p.to, ToCurrency: dst.Currency,
	}, nil
}

// checkPayment checks a payment's fields against the reference, for a
// payment in currency: USD payments also need the beneficiary's BIC and
// a second address line [spec].
func checkPayment(req fuse.CreatePaymentRequest, currency string) error {
	var f fields
	if !fuse.ValidPurpose(req.Purpose) {
		f.add("purpose %q is not a purpose code", req.Purpose)
	}
	f.text("external_reference", req.ExternalReference, 100)
	f.optional("external_id", req.ExternalID, 36)
	b := req.Beneficiary
	switch b.Type {
	case fuse.BeneficiaryIndividual, fuse.BeneficiaryBusiness:
	default:
		f.add("beneficiary.type must be individual or business")
	}
	f.text("beneficiary.account_holder_name", b.AccountHolderName, 140)
	f.identifier("beneficiary.account_identifier", b.AccountIdentifier)
	f.address("beneficiary.address", b.Address)
	if currency == "USD" {
		if b.Bank == nil || len(b.Bank.Code) < 8 {
			f.add("beneficiary.bank.code (a BIC) is required for USD payments")
		}
		f.text("beneficiary.address.line_2", b.Address.Line2, 35)
	}
	return f.err()
}

// fields collects what is wrong with a request, so that one 400 names
// every field at fault.
type fields struct {
	problems []string
}

func (f *fields) add(format string, args ...any) {
	f.problems = append(f.problems, fmt.Sprintf(format, args...))
}

// text checks a required string of at most maxLen characters.
func (f *fields) text(name, v string, maxLen int) {
	if strings.TrimSpace(v) == "" {
		f.add("%s is required", name)
		return
	}
	f.optional(name, v, maxLen)
}

// optional checks a string that may be empty, of at most maxLen
// characters.
func (f *fields) optional(name, v string, maxLen int) {
	if utf8.RuneCountInString(v) > maxLen {
		f.add("%s is over %d characters", name, maxLen)
	}
}

// country checks a two-letter country code.
func (f *fields) country(name, v string) {
	if len(v) != 2 || strings.ToUpper(v) != v || strings.IndexFunc(v, func(r rune) bool { return r < 'A' || r > 'Z' }) >= 0 {
		f.add("%s must be a two-letter country code", name)
	}
}

// address checks an Address: country_code and line_1 required, lines of
// at most 50 characters.
func (f *fields) address(name string, a fuse.Address) {
	f.country(name+".country_code", a.CountryCode)
	f.text(name+".line_1", a.Line1, 50)
	f.optional(name+".line_2", a.Line2, 50)
	f.optional(name+".line_3", a.Line3, 50)
	f.optional(name+".line_4", a.Line4, 50)
}

// identifier checks an AccountDetailsIdentifier: exactly one of an IBAN,
// wire details and sort code details, complete.
func (f *fields) identifier(name string, id fuse.Identifier) {
	n := 0
	if id.IBAN != "" {
		n++
		if l := len(id.IBAN); l < 15 || l > 34 {
			f.add("%s.iban is not an IBAN", name)
		}
	}
	if id.Wire != nil {
		n++
		f.text(name+".wire.account_number", id.Wire.AccountNumber, 27)
		f.text(name+".wire.routing_number", id.Wire.RoutingNumber, 12)
	}
	if id.SCAN != nil {
		n++
		f.text(name+".scan.account_number", id.SCAN.AccountNumber, 8)
		f.text(name+".scan.sort_code", id.SCAN.SortCode, 6)
	}
	if n != 1 {
		f.add("%s must be exactly one of iban, wire and scan", name)
	}
}

// err is the 400 naming every problem, or nil.
func (f *fields) err() error {
	if len(f.problems) == 0 {
		return nil
	}
	return apiErr(http.StatusBadRequest, "invalid_request", "%s", strings.Join(f.problems, "; "))
}
