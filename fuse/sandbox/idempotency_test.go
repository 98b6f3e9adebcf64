package sandbox

import (
	"bytes"
	"encoding/json"
	"net/http"
	"sync"
	"testing"

	"github.com/google/uuid"
	"github.com/ledgerd/ledgerd/fuse"
)

func TestIdempotencyKeyMissingOrNotAUUIDIs400(t *testing.T) {
	e := newEnv(t, Options{Seed: 1})
	a, b := e.account("AED", "Ops"), e.account("USD", "Dollars")
	e.fund(a.AccountID, 100_000)
	amount := int64(100)
	posts := []struct {
		path string
		body any
	}{
		{"/v1/customers/" + a.CustomerID + "/accounts", fuse.CreateAccountRequest{
			AccountName: "Suppliers", AccountType: fuse.AccountTypeVirtual, Currency: "AED", ExternalID: "x"}},
		{"/v1/accounts/" + a.AccountID + "/payments", testPayment(100)},
		{"/v1/internal-transfers", fuse.CreateInternalTransferRequest{
			FromAccountID: a.AccountID, ToAccountID: a.AccountID, Amount: 100, ExternalReference: "r"}},
		{"/v1/exchange", fuse.CreateExchangeRequest{ExternalReference: "fx",
			From: fuse.ExchangeSide{AccountID: a.AccountID, Amount: &amount}, To: fuse.ExchangeSide{AccountID: b.AccountID}}},
	}
	for _, p := range posts {
		for _, key := range []string{"", "not-a-uuid", "{" + uuid.NewString() + "}", "urn:uuid:" + uuid.NewString()} {
			st, body := e.do("POST", p.path, p.body, map[string]string{fuse.HeaderIdempotencyKey: key})
			if st != http.StatusBadRequest || !bytes.Contains(body, []byte("idempotency_key_")) {
				t.Errorf("%s, key %q: status %d %s", p.path, key, st, body)
			}
		}
	}
	if n := len(e.sb.Truth().Transactions); n != 1 {
		t.Errorf("%d transactions, want the funding only", n)
	}
	// Adding a customer takes an optional key [spec]: none is fine, but
	// one that is sent must be a UUID.
	if st, body := e.do("POST", "/v1/customers/businesses", testBusiness("Monday Inc."), map[string]string{fuse.HeaderIdempotencyKey: ""}); st != http.StatusCreated {
		t.Errorf("add business without a key: %d %s", st, body)
	}
	if st, body := e.do("POST", "/v1/customers/businesses", testBusiness("Monday Inc."), map[string]string{fuse.HeaderIdempotencyKey: "not-a-uuid"}); st != http.StatusBadRequest {
		t.Errorf("add business with key not-a-uuid: %d %s", st, body)
	}
	// The token endpoint and the controls need no key.
	e.newToken()
	e.call("POST", "/sandbox/clock", map[string]string{"advance": "1s"}, 200, nil)
}

func TestSameKeySamePayloadReplaysTheOriginalResponse(t *testing.T) {
	e := newEnv(t, Options{Seed: 2})
	a := e.account("AED", "Ops")
	e.fund(a.AccountID, 100_000)
	key := uuid.NewString()
	path := "/v1/accounts/" + a.AccountID + "/payments"
	const beneficiary = `"beneficiary": {"type": "business", "account_holder_name": "B Trading", ` +
		`"account_identifier": {"iban": "AE120266712486572167372"}, "address": {"country_code": "AE", "line_1": "Dubai"}}`
	first := []byte(`{"amount": 1000, "purpose": "goods_bought", "external_reference": "r", ` + beneficiary + `}`)
	// The same object with other spacing and key order is the same payload.
	again := []byte(`{"beneficiary":{"account_identifier":{"iban":"AE120266712486572167372"},"address":{"line_1":"Dubai","country_code":"AE"},` +
		`"account_holder_name":"B Trading","type":"business"},"external_reference":"r","purpose":"goods_bought","amount":1000}`)
	st1, b1 := e.do("POST", path, first, map[string]string{fuse.HeaderIdempotencyKey: key})
	e.sb.Advance(PaymentExecuteDelay) // the transaction moves on; the replay must not
	st2, b2 := e.do("POST", path, again, map[string]string{fuse.HeaderIdempotencyKey: key})
	if st1 != http.StatusAccepted || st2 != st1 || !bytes.Equal(b1, b2) {
		t.Fatalf("replay differs:\n%d %s\n%d %s", st1, b1, st2, b2)
	}
	if b := e.balance(a.AccountID); b.Current != 99_000 {
		t.Errorf("payment ran twice? balance %+v", b)
	}
	if n := len(e.sb.Truth().Transactions); n != 2 {
		t.Errorf("%d transactions, want funding + one payment", n)
	}
	// An error answer is stored and replayed too.
	key2 := uuid.NewString()
	big := []byte(`{"amount": 999999999, "purpose": "goods_bought", "external_reference": "r", ` + beneficiary + `}`)
	s1, e1 := e.do("POST", path, big, map[string]string{fuse.HeaderIdempotencyKey: key2})
	e.fund(a.AccountID, 2_000_000_000)
	s2, e2 := e.do("POST", path, big, map[string]string{fuse.HeaderIdempotencyKey: key2})
	if s1 != http.StatusBadRequest || s2 != s1 || !bytes.Equal(e1, e2) {
		t.Errorf("error replay: %d %s / %d %s", s1, e1, s2, e2)
	}
	if st := e.sb.Stats(); st.IdempotentReplays != 2 {
		t.Errorf("IdempotentReplays = %d", st.IdempotentReplays)
	}
}

func TestSameKeyDifferentPayloadIs422(t *testing.T) {
	e := newEnv(t, Options{Seed: 3})
	key := uuid.NewString()
	hdr := map[string]string{fuse.HeaderIdempotencyKey: key}
	if st, b := e.do("POST", "/v1/customers/businesses", testBusiness("A"), hdr); st != 201 {
		t.Fatalf("first: %d %s", st, b)
	}
	st, b := e.do("POST", "/v1/customers/businesses", testBusiness("B"), hdr)
	var body fuse.ErrorBody
	_ = json.Unmarshal(b, &body)
	if st != http.StatusUnprocessableEntity || body.Code != "idempotency_key_reused" {
		t.Errorf("other payload: %d %s", st, b)
	}
	// Same body on another path is another payload as well.
	if st, _ := e.do("POST", "/v1/customers/individuals", testBusiness("A"), hdr); st != http.StatusUnprocessableEntity {
		t.Errorf("other path: %d", st)
	}
}

func TestSameKeyWhileTheFirstIsRunningIs409(t *testing.T) {
	e := newEnv(t, Options{Seed: 4})
	entered := make(chan struct{})
	release := make(chan struct{})
	var once sync.Once
	e.sb.mu.Lock()
	e.sb.hookIdemRunning = func() {
		once.Do(func() {
			close(entered)
			<-release
		})
	}
	e.sb.mu.Unlock()
	key := uuid.NewString()
	hdr := map[string]string{fuse.HeaderIdempotencyKey: key}
	body := testBusiness("Slow Co")
	done := make(chan int)
	go func() {
		st, _ := e.do("POST", "/v1/customers/businesses", body, hdr)
		done <- st
	}()
	<-entered
	st, b := e.do("POST", "/v1/customers/businesses", body, hdr)
	if st != http.StatusConflict {
		t.Errorf("concurrent same key: %d %s", st, b)
	}
	close(release)
	if st := <-done; st != http.StatusCreated {
		t.Errorf("first request: %d", st)
	}
	if st, _ := e.do("POST", "/v1/customers/businesses", body, hdr); st != http.StatusCreated {
		t.Errorf("after the first finished, the key replays: %d", st)
	}
}
