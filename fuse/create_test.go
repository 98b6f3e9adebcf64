package fuse

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
)

// createLog is a fake Fuse API for the create calls: it records every
// request (method, path, query, body) and answers from answer.
type createLog struct {
	mu     sync.Mutex
	reqs   []string // "POST /v1/internal-transfers"
	bodies []map[string]any
	query  []string
	answer func(n int, w http.ResponseWriter, r *http.Request) // n counts requests from 0
}

func (l *createLog) serve(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	var body map[string]any
	_ = json.Unmarshal(b, &body)
	l.mu.Lock()
	n := len(l.reqs)
	l.reqs = append(l.reqs, r.Method+" "+r.URL.Path)
	l.bodies = append(l.bodies, body)
	l.query = append(l.query, r.URL.RawQuery)
	l.mu.Unlock()
	l.answer(n, w, r)
}

func TestCreateAccountWaitsForTheAcceptedAccountToAppear(t *testing.T) {
	l := &createLog{answer: func(n int, w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Method == http.MethodPost:
			writeJSON(w, http.StatusAccepted, CreateAccountResponse{AccountID: "acc-9"})
		case n < 3: // opened asynchronously: not there yet
			writeJSON(w, http.StatusNotFound, ErrorBody{Code: "account_not_found", Error: "no", Message: "no"})
		default:
			writeJSON(w, http.StatusOK, Account{ID: "acc-9", Status: AccountOpen})
		}
	}}
	c, sl := newFakeClient(t, &fakeFuse{api: l.serve}, nil)
	a, err := c.CreateAccount(t.Context(), "cust-1", CreateAccountRequest{
		AccountName: "Suppliers", AccountType: AccountTypeVirtual, Currency: "AED", ExternalID: "sup-1"})
	if err != nil || a.ID != "acc-9" {
		t.Fatalf("CreateAccount = %+v, %v", a, err)
	}
	want := []string{"POST /v1/customers/cust-1/accounts", "GET /v1/accounts/acc-9", "GET /v1/accounts/acc-9", "GET /v1/accounts/acc-9"}
	if strings.Join(l.reqs, ", ") != strings.Join(want, ", ") {
		t.Errorf("requests %q, want %q", l.reqs, want)
	}
	if len(sl.all()) != 2 {
		t.Errorf("waits %v, want one backoff per 404", sl.all())
	}
	body := l.bodies[0]
	if body["account_type"] != "virtual" || body["external_id"] != "sup-1" || body["currency"] != "AED" || body["account_name"] != "Suppliers" {
		t.Errorf("body %v", body)
	}
}

func TestACreateWhoseObjectNeverAppearsNamesItsID(t *testing.T) {
	l := &createLog{answer: func(n int, w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			writeJSON(w, http.StatusAccepted, CreateTransactionResponse{TransactionID: "tx-lost"})
			return
		}
		writeJSON(w, http.StatusNotFound, ErrorBody{Code: "transaction_not_found", Error: "no", Message: "no"})
	}}
	c, sl := newFakeClient(t, &fakeFuse{api: l.serve}, func(cfg *Config) { cfg.MaxRetries = 2 })
	_, err := c.CreatePayment(t.Context(), "acc-1", paymentReq())
	if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "accepted as transaction tx-lost") {
		t.Fatalf("err %v, want ErrNotFound naming tx-lost", err)
	}
	if len(l.reqs) != 4 || len(sl.all()) != 2 {
		t.Errorf("%d requests and waits %v, want the POST and 3 reads (MaxRetries 2)", len(l.reqs), sl.all())
	}
}

func TestTransferAndExchangeSpeakThePublishedBodies(t *testing.T) {
	l := &createLog{answer: func(n int, w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Method == http.MethodPost:
			writeJSON(w, http.StatusCreated, CreateTransactionResponse{TransactionID: "tx-1"})
		case r.URL.Path == "/v1/exchange/quote":
			io.WriteString(w, `{"exchange_rate":3.6725,"from_amount":10000,"from_currency":"USD","to_amount":36725,"to_currency":"AED"}`)
		default:
			withReadBack(nil)(w, r)
		}
	}}
	c, _ := newFakeClient(t, &fakeFuse{api: l.serve}, nil)
	ctx := t.Context()
	if _, err := c.CreateInternalTransfer(ctx, CreateInternalTransferRequest{
		FromAccountID: "a", ToAccountID: "b", Amount: 500, ExternalReference: "rent"}); err != nil {
		t.Fatal(err)
	}
	q, err := c.Quote(ctx, QuoteRequest{FromAccountID: "u", ToAccountID: "a", FromAmount: 10_000})
	want := ExchangeQuote{ExchangeRate: "3.6725", FromAmount: 10_000, FromCurrency: "USD", ToAmount: 36_725, ToCurrency: "AED"}
	if err != nil || q != want {
		t.Fatalf("Quote = %+v, %v; want %+v", q, err, want)
	}
	if _, err := c.CreateExchange(ctx, CreateExchangeRequest{ExternalReference: "fx",
		From: ExchangeSide{AccountID: "u"}, To: ExchangeSide{AccountID: "a", Amount: &q.ToAmount}}); err != nil {
		t.Fatal(err)
	}
	wantReqs := []string{"POST /v1/internal-transfers", "GET /v1/transactions/tx-1", "GET /v1/exchange/quote",
		"POST /v1/exchange", "GET /v1/transactions/tx-1"}
	if strings.Join(l.reqs, ", ") != strings.Join(wantReqs, ", ") {
		t.Fatalf("requests %q, want %q", l.reqs, wantReqs)
	}
	if b := l.bodies[0]; b["from_account_id"] != "a" || b["to_account_id"] != "b" || b["amount"] != 500.0 || b["external_reference"] != "rent" {
		t.Errorf("transfer body %v", b)
	}
	if _, has := l.bodies[0]["external_id"]; has {
		t.Errorf("transfer body %v sends an empty external_id", l.bodies[0])
	}
	if l.query[2] != "from_account=u&from_amount=10000&to_account=a" {
		t.Errorf("quote query %q", l.query[2])
	}
	from, to := l.bodies[3]["from"].(map[string]any), l.bodies[3]["to"].(map[string]any)
	if _, has := from["amount"]; has || to["amount"] != 36725.0 || from["account_id"] != "u" || to["account_id"] != "a" {
		t.Errorf("exchange body %v: want the amount on the to side only", l.bodies[3])
	}
}

func TestQuoteAndExchangeNeedExactlyOneAmountBeforeAnyRequest(t *testing.T) {
	l := &createLog{answer: func(int, http.ResponseWriter, *http.Request) { t.Error("a request was sent") }}
	c, _ := newFakeClient(t, &fakeFuse{api: l.serve}, nil)
	one := int64(1)
	for _, q := range []QuoteRequest{
		{FromAccountID: "u", ToAccountID: "a"},
		{FromAccountID: "u", ToAccountID: "a", FromAmount: 1, ToAmount: 1},
		{FromAccountID: "u", ToAccountID: "a", FromAmount: -1},
		{ToAccountID: "a", FromAmount: 1},
	} {
		if _, err := c.Quote(t.Context(), q); err == nil {
			t.Errorf("Quote(%+v) accepted", q)
		}
	}
	for _, x := range []CreateExchangeRequest{
		{From: ExchangeSide{AccountID: "u"}, To: ExchangeSide{AccountID: "a"}},
		{From: ExchangeSide{AccountID: "u", Amount: &one}, To: ExchangeSide{AccountID: "a", Amount: &one}},
	} {
		if _, err := c.CreateExchange(t.Context(), x); err == nil {
			t.Errorf("CreateExchange(%+v) accepted", x)
		}
	}
}

func TestCreateIndividualSendsGenderNullWhenUnknown(t *testing.T) {
	l := &createLog{answer: func(_ int, w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusCreated, CreateCustomerResponse{ID: "cust-7"})
	}}
	c, _ := newFakeClient(t, &fakeFuse{api: l.serve}, nil)
	id, err := c.CreateIndividual(t.Context(), CreateIndividualRequest{
		Address: Address{CountryCode: "AE", Line1: "Villa 3"}, DisplayName: "Layla", FirstName: "Layla", LastName: "Haddad",
		DateOfBirth: "1990-04-21", Nationality: "JO", Reference: "ind-1"})
	if err != nil || id != "cust-7" {
		t.Fatalf("CreateIndividual = %q, %v", id, err)
	}
	if v, has := l.bodies[0]["gender"]; !has || v != nil {
		t.Errorf("body %v: want gender present and null", l.bodies[0])
	}
	if _, has := l.bodies[0]["middle_name"]; has {
		t.Errorf("body %v sends an empty middle_name", l.bodies[0])
	}
}
