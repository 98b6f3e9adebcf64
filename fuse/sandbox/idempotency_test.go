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
	body := fuse.CreateBusinessRequest{Name: "Monday Inc."}
	for _, key := range []string{"", "not-a-uuid", "{" + uuid.NewString() + "}", "urn:uuid:" + uuid.NewString()} {
		st, b := e.do("POST", "/v1/customers/businesses", body, map[string]string{fuse.HeaderIdempotencyKey: key})
		if st != http.StatusBadRequest {
			t.Errorf("key %q: status %d %s", key, st, b)
		}
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
	first := []byte(`{"amount": 1000, "currency": "AED", "beneficiary": {"name": "B", "iban": "AE120266712486572167372"}}`)
	// The same object with other spacing and key order is the same payload.
	again := []byte(`{"beneficiary":{"iban":"AE120266712486572167372","name":"B"},"currency":"AED","amount":1000}`)
	st1, b1 := e.do("POST", path, first, map[string]string{fuse.HeaderIdempotencyKey: key})
	e.sb.Advance(PaymentExecuteDelay) // the transaction moves on; the replay must not
	st2, b2 := e.do("POST", path, again, map[string]string{fuse.HeaderIdempotencyKey: key})
	if st1 != http.StatusCreated || st2 != st1 || !bytes.Equal(b1, b2) {
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
	big := []byte(`{"amount": 999999999, "currency": "AED", "beneficiary": {"name": "B", "iban": "AE120266712486572167372"}}`)
	s1, e1 := e.do("POST", path, big, map[string]string{fuse.HeaderIdempotencyKey: key2})
	e.fund(a.AccountID, 2_000_000_000)
	s2, e2 := e.do("POST", path, big, map[string]string{fuse.HeaderIdempotencyKey: key2})
	if s1 != http.StatusUnprocessableEntity || s2 != s1 || !bytes.Equal(e1, e2) {
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
	if st, b := e.do("POST", "/v1/customers/businesses", fuse.CreateBusinessRequest{Name: "A"}, hdr); st != 201 {
		t.Fatalf("first: %d %s", st, b)
	}
	st, b := e.do("POST", "/v1/customers/businesses", fuse.CreateBusinessRequest{Name: "B"}, hdr)
	var body fuse.ErrorBody
	_ = json.Unmarshal(b, &body)
	if st != http.StatusUnprocessableEntity || body.Code != "idempotency_key_reused" {
		t.Errorf("other payload: %d %s", st, b)
	}
	// Same body on another path is another payload as well.
	if st, _ := e.do("POST", "/v1/customers/individuals", fuse.CreateBusinessRequest{Name: "A"}, hdr); st != http.StatusUnprocessableEntity {
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
	body := fuse.CreateBusinessRequest{Name: "Slow Co"}
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
