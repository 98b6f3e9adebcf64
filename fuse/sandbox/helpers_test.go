package sandbox

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/ledgerd/ledgerd"
	"github.com/ledgerd/ledgerd/fuse"
)

// t0 is the frozen start of every test's sandbox clock.
var t0 = time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)

// received is one webhook as the test receiver got it.
type received struct {
	Header http.Header
	Body   []byte
}

// envelope decodes a webhook body's fixed part; the payload is looked up by
// type in the raw map.
func (r received) fields(t *testing.T) (typ, eventID string, raw map[string]json.RawMessage) {
	t.Helper()
	if err := json.Unmarshal(r.Body, &raw); err != nil {
		t.Fatalf("webhook body is not a JSON object: %v\n%s", err, r.Body)
	}
	if err := json.Unmarshal(raw["type"], &typ); err != nil {
		t.Fatalf("webhook type: %v", err)
	}
	if err := json.Unmarshal(raw["event_id"], &eventID); err != nil {
		t.Fatalf("webhook event_id: %v", err)
	}
	return typ, eventID, raw
}

// receiver is an httptest webhook endpoint. status chooses the answer to
// the n-th request (from 0); nil answers 200.
type receiver struct {
	srv    *httptest.Server
	mu     sync.Mutex
	got    []received
	status func(n int) int
}

func newReceiver(t *testing.T, status func(n int) int) *receiver {
	rx := &receiver{status: status}
	rx.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		rx.mu.Lock()
		n := len(rx.got)
		rx.got = append(rx.got, received{Header: r.Header.Clone(), Body: b})
		rx.mu.Unlock()
		code := http.StatusOK
		if rx.status != nil {
			code = rx.status(n)
		}
		w.WriteHeader(code)
	}))
	t.Cleanup(rx.srv.Close)
	return rx
}

func (rx *receiver) all() []received {
	rx.mu.Lock()
	defer rx.mu.Unlock()
	return append([]received(nil), rx.got...)
}

// env is a sandbox behind httptest with a frozen clock, a webhook receiver
// and a token.
type env struct {
	t     *testing.T
	sb    *Sandbox
	srv   *httptest.Server
	rx    *receiver
	token string
	creds fuse.TokenRequest
}

func newEnv(t *testing.T, opts Options) *env {
	t.Helper()
	e := &env{t: t, creds: tokenRequest(opts.ClientID, opts.ClientSecret)}
	if e.creds.ClientID == "" {
		e.creds = tokenRequest("sandbox", "sandbox")
	}
	if opts.WebhookURL == "" {
		e.rx = newReceiver(t, nil)
		opts.WebhookURL = e.rx.srv.URL
	}
	if opts.Now == nil {
		opts.Now = func() time.Time { return t0 }
	}
	e.sb = New(opts)
	e.srv = httptest.NewServer(e.sb)
	t.Cleanup(func() {
		e.srv.Close()
		e.sb.Close()
	})
	e.token = e.newToken()
	return e
}

// tokenRequest is a token request for id and secret as a client sends it.
func tokenRequest(id, secret string) fuse.TokenRequest {
	return fuse.TokenRequest{ClientID: id, ClientSecret: secret, Audience: fuse.DefaultAudience,
		GrantType: fuse.GrantTypeClientCredentials}
}

func (e *env) newToken() string {
	e.t.Helper()
	var tr fuse.TokenResponse
	st, b := e.do("POST", TokenPath, e.creds, nil)
	if st != http.StatusOK {
		e.t.Fatalf("token: %d %s", st, b)
	}
	if err := json.Unmarshal(b, &tr); err != nil {
		e.t.Fatal(err)
	}
	return tr.AccessToken
}

// do sends a request; body is JSON-encoded unless it is []byte or nil.
func (e *env) do(method, path string, body any, hdr map[string]string) (int, []byte) {
	e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			e.t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, e.srv.URL+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if e.token != "" && strings.HasPrefix(path, "/v1/") {
		req.Header.Set("Authorization", "Bearer "+e.token)
	}
	for k, v := range hdr {
		if v == "" {
			req.Header.Del(k)
		} else {
			req.Header.Set(k, v)
		}
	}
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return resp.StatusCode, b
}

// call sends a request (POSTs to /v1 with a fresh Idempotency-Key), checks
// the status and decodes the answer into out when out is not nil.
func (e *env) call(method, path string, body any, want int, out any) {
	e.t.Helper()
	var hdr map[string]string
	if method == "POST" && strings.HasPrefix(path, "/v1/") {
		hdr = map[string]string{fuse.HeaderIdempotencyKey: uuid.NewString()}
	}
	st, b := e.do(method, path, body, hdr)
	if st != want {
		e.t.Fatalf("%s %s: status %d, want %d: %s", method, path, st, want, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			e.t.Fatalf("%s %s: decode %T: %v", method, path, out, err)
		}
	}
}

// account opens a virtual account through the API for a new business
// customer (202), and returns it as the sandbox keeps it.
func (e *env) account(currency, name string) AccountState {
	e.t.Helper()
	var c fuse.CreateCustomerResponse
	e.call("POST", "/v1/customers/businesses", testBusiness(name+" Holdings"), 201, &c)
	var a fuse.CreateAccountResponse
	e.call("POST", "/v1/customers/"+c.ID+"/accounts", fuse.CreateAccountRequest{
		AccountName: name, Currency: currency, AccountType: fuse.AccountTypeVirtual, ExternalID: "ext-" + name,
	}, http.StatusAccepted, &a)
	st, ok := e.sb.Account(a.AccountID)
	if !ok {
		e.t.Fatalf("account %s not found after it was opened", a.AccountID)
	}
	return st
}

// testBusiness is a business with every field the reference requires.
func testBusiness(name string) fuse.CreateBusinessRequest {
	return fuse.CreateBusinessRequest{
		Address:      fuse.Address{CountryCode: "AE", Line1: "1 Sheikh Zayed Road"},
		BusinessName: name, DisplayName: name, CountryOfIssuance: "AE",
		Reference: "ref-" + name, RegistrationNumber: "CN-" + name,
	}
}

func (e *env) fund(accountID string, amount int64) Leg {
	e.t.Helper()
	var tx Leg
	e.call("POST", "/sandbox/inbound-payments", map[string]any{
		"account_id": accountID, "amount": amount, "remitter_name": "Topup",
	}, 201, &tx)
	return tx
}

// testBeneficiary is a payee with what a payment in any currency needs.
func testBeneficiary() fuse.Beneficiary {
	return fuse.Beneficiary{
		Type: fuse.BeneficiaryIndividual, AccountHolderName: "Fulan AlFulani",
		AccountIdentifier: fuse.Identifier{IBAN: "AE120266712486572167372"},
		Address:           fuse.Address{CountryCode: "AE", Line1: "1 Sheikh Zayed Road", Line2: "Dubai"},
		Bank:              &fuse.BeneficiaryBank{Code: "EBILAEAD"},
	}
}

// testPayment is a payment of amount to testBeneficiary.
func testPayment(amount int64) fuse.CreatePaymentRequest {
	return fuse.CreatePaymentRequest{
		Amount: amount, Purpose: fuse.PurposeGoodsBought, ExternalReference: "ref",
		ExternalID: "pay-ext", Beneficiary: testBeneficiary(),
	}
}

// pay sends a payment through the API (202) and returns its leg.
func (e *env) pay(accountID string, amount int64) Leg {
	e.t.Helper()
	var out fuse.CreateTransactionResponse
	e.call("POST", "/v1/accounts/"+accountID+"/payments", testPayment(amount), http.StatusAccepted, &out)
	return e.leg(out.TransactionID)
}

// transfer makes an internal transfer through the API (201) and returns
// its outbound leg; an empty external reference becomes "ref".
func (e *env) transfer(req fuse.CreateInternalTransferRequest) Leg {
	e.t.Helper()
	if req.ExternalReference == "" {
		req.ExternalReference = "ref"
	}
	var out fuse.CreateTransactionResponse
	e.call("POST", "/v1/internal-transfers", req, http.StatusCreated, &out)
	return e.leg(out.TransactionID)
}

// exchange converts amount minor units of from's currency into to's
// through the API (201) and returns the outbound leg.
func (e *env) exchange(from, to string, amount int64, ref string) Leg {
	e.t.Helper()
	if ref == "" {
		ref = "fx"
	}
	var out fuse.CreateTransactionResponse
	e.call("POST", "/v1/exchange", fuse.CreateExchangeRequest{
		ExternalReference: ref,
		From:              fuse.ExchangeSide{AccountID: from, Amount: &amount},
		To:                fuse.ExchangeSide{AccountID: to},
	}, http.StatusCreated, &out)
	return e.leg(out.TransactionID)
}

// leg is the sandbox's leg id, which the API just named.
func (e *env) leg(id string) Leg {
	e.t.Helper()
	l, ok := e.sb.Transaction(id)
	if !ok {
		e.t.Fatalf("transaction %s not found after the API named it", id)
	}
	return l
}

func (e *env) getAccount(id string) fuse.Account {
	e.t.Helper()
	var a fuse.Account
	e.call("GET", "/v1/accounts/"+id, nil, 200, &a)
	return a
}

// balance is the account's balance as the API shows it: current_balance
// and available_balance of GET /v1/accounts/{id}, both required.
func (e *env) balance(id string) Balance {
	e.t.Helper()
	a := e.getAccount(id)
	if a.CurrentBalance == nil || a.AvailableBalance == nil {
		e.t.Fatalf("account %s: a balance is missing: %+v", id, a)
	}
	return Balance{Current: *a.CurrentBalance, Available: *a.AvailableBalance}
}

func (e *env) getTx(id string) fuse.Transaction {
	e.t.Helper()
	var tx fuse.Transaction
	e.call("GET", "/v1/transactions/"+id, nil, 200, &tx)
	return tx
}

func (e *env) waitIdle() {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.sb.WaitIdle(ctx); err != nil {
		e.t.Fatalf("WaitIdle: %v", err)
	}
}

// receivedTypes waits for the sandbox to be idle and returns the types of
// the webhooks received so far, in order.
func (e *env) receivedTypes() []string {
	e.t.Helper()
	e.waitIdle()
	var types []string
	for _, r := range e.rx.all() {
		typ, _, _ := r.fields(e.t)
		types = append(types, typ)
	}
	return types
}

// recompute derives every account's balance from Truth's transactions and
// adjustments, independently of the sandbox's bookkeeping.
func recompute(tr Truth) map[string]Balance {
	out := map[string]Balance{}
	for _, a := range tr.Accounts {
		out[a.AccountID] = Balance{Current: a.Adjustments, Available: a.Adjustments}
	}
	for _, x := range tr.Transactions {
		b := out[x.AccountID]
		switch x.Kind {
		case ledgerd.KindLocalPaymentIn, ledgerd.KindInternalTransferIn, ledgerd.KindExchangeIn, ledgerd.KindReturnIn:
			if x.Status == ledgerd.StatusSettled {
				b.Current += x.InstructedAmount - x.FeeAmount
				b.Available += x.InstructedAmount - x.FeeAmount
			}
		default:
			// What the leg takes from its account: amount_with_fee, less
			// the fee when a fee debit takes it from the primary account.
			out := x.AmountWithFee
			if x.FeeSource == fuse.FeeSourcePrimary {
				out = x.InstructedAmount
			}
			switch x.Status {
			case ledgerd.StatusExecuted, ledgerd.StatusSettled:
				b.Current -= out
				b.Available -= out
			case ledgerd.StatusCreated, ledgerd.StatusSubmitted, ledgerd.StatusBooked:
				b.Available -= out
			}
		}
		out[x.AccountID] = b
	}
	return out
}

func checkBalancesFollow(t *testing.T, tr Truth) {
	t.Helper()
	want := recompute(tr)
	for _, a := range tr.Accounts {
		if a.Balance != want[a.AccountID] {
			t.Errorf("account %s: balance %+v, transactions say %+v", a.AccountID, a.Balance, want[a.AccountID])
		}
		if a.Balance.Available < 0 || a.Balance.Current < 0 {
			t.Errorf("account %s: negative balance %+v", a.AccountID, a.Balance)
		}
	}
}

// validIBAN reports whether iban passes the ISO 13616 mod-97 check.
func validIBAN(iban string) bool {
	if len(iban) < 15 || len(iban) > 34 {
		return false
	}
	rem := 0
	for _, c := range iban[4:] + iban[:4] {
		switch {
		case c >= '0' && c <= '9':
			rem = (rem*10 + int(c-'0')) % 97
		case c >= 'A' && c <= 'Z':
			rem = (rem*100 + int(c-'A'+10)) % 97
		default:
			return false
		}
	}
	return rem == 1
}
