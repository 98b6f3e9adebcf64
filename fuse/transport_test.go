package fuse

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"testing/iotest"
	"time"
)

// script answers the API requests with the given handlers in order, the
// last one repeating, and records the Idempotency-Key of each.
type script struct {
	mu    sync.Mutex
	steps []http.HandlerFunc
	n     int
	keys  []string
}

func (s *script) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	step := s.steps[min(s.n, len(s.steps)-1)]
	s.n++
	s.keys = append(s.keys, r.Header.Get(HeaderIdempotencyKey))
	s.mu.Unlock()
	step(w, r)
}

func status(code int, hdr ...string) http.HandlerFunc {
	return statusCode(code, "test", hdr...)
}

func statusCode(code int, errCode string, hdr ...string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		for i := 0; i+1 < len(hdr); i += 2 {
			w.Header().Set(hdr[i], hdr[i+1])
		}
		writeJSON(w, code, ErrorBody{Code: errCode, Error: http.StatusText(code), Message: http.StatusText(code)})
	}
}

// okPayment accepts a payment as Fuse does: 202 with its id only.
func okPayment(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusAccepted, CreateTransactionResponse{TransactionID: "t1"})
}

// withReadBack answers GET /v1/transactions/{id} with a transaction in
// state Created, outside the script, and hands every other request to
// next: the read-back that follows a create call.
func withReadBack(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if id, ok := strings.CutPrefix(r.URL.Path, "/v1/transactions/"); ok && r.Method == http.MethodGet {
			writeJSON(w, http.StatusOK, Transaction{ID: id, Type: TypeLocalPayment, Direction: DirectionOutbound, State: StateCreated})
			return
		}
		next(w, r)
	}
}

func paymentReq() CreatePaymentRequest {
	return CreatePaymentRequest{Amount: 100, Purpose: PurposeGoodsBought, ExternalReference: "r",
		Beneficiary: Beneficiary{Type: BeneficiaryIndividual, AccountHolderName: "Ann Bee",
			AccountIdentifier: Identifier{IBAN: "AE070331234567890123456"},
			Address:           Address{CountryCode: "AE", Line1: "Dubai"}}}
}

func TestRetriesOfOnePostReuseItsIdempotencyKey(t *testing.T) {
	s := &script{steps: []http.HandlerFunc{status(500), status(503), status(409), okPayment}}
	c, sl := newFakeClient(t, &fakeFuse{api: withReadBack(s.serve)}, nil)
	tx, err := c.CreatePayment(t.Context(), "acc", paymentReq())
	if err != nil || tx.ID != "t1" {
		t.Fatalf("CreatePayment = %+v, %v", tx, err)
	}
	if len(s.keys) != 4 || s.keys[0] == "" {
		t.Fatalf("keys %q, want 4 non-empty", s.keys)
	}
	for _, k := range s.keys {
		if k != s.keys[0] {
			t.Errorf("keys %q, want one key on every attempt", s.keys)
		}
	}
	if len(sl.all()) != 3 {
		t.Errorf("waits %v, want 3", sl.all())
	}
	// A second logical call gets a new key.
	if _, err := c.CreatePayment(t.Context(), "acc", paymentReq()); err != nil {
		t.Fatal(err)
	}
	if s.keys[4] == s.keys[0] {
		t.Errorf("second operation reused key %s", s.keys[0])
	}
}

func TestCallerSuppliedIdempotencyKeyIsSent(t *testing.T) {
	s := &script{steps: []http.HandlerFunc{okPayment}}
	c, _ := newFakeClient(t, &fakeFuse{api: withReadBack(s.serve)}, nil)
	key := NewIdempotencyKey()
	ctx := WithIdempotencyKey(t.Context(), key)
	for range 3 {
		if _, err := c.CreatePayment(ctx, "acc", paymentReq()); err != nil {
			t.Fatal(err)
		}
	}
	for _, k := range s.keys {
		if k != key {
			t.Errorf("sent %q, want %q", k, key)
		}
	}
	if _, err := c.CreatePayment(WithIdempotencyKey(t.Context(), "nope"), "acc", paymentReq()); err == nil {
		t.Error("a non-UUID key was accepted")
	}
}

func Test422IsAnIdempotencyConflictAndNotRetried(t *testing.T) {
	s := &script{steps: []http.HandlerFunc{statusCode(422, "idempotency_conflict"), statusCode(422, "invalid_amount")}}
	c, sl := newFakeClient(t, &fakeFuse{api: withReadBack(s.serve)}, nil)
	_, err := c.CreatePayment(t.Context(), "acc", paymentReq())
	var ae *APIError
	if !errors.As(err, &ae) || ae.Status != 422 || !errors.Is(err, ErrIdempotencyConflict) {
		t.Fatalf("err %v, want *APIError 422 wrapping ErrIdempotencyConflict", err)
	}
	if !strings.Contains(err.Error(), "different payload") {
		t.Errorf("message %q does not explain the conflict", err)
	}
	if len(sl.all()) != 0 || s.n != 1 {
		t.Errorf("retried a 422: %d requests", s.n)
	}

	// A 422 whose code names another problem is not called a conflict.
	_, err = c.CreatePayment(t.Context(), "acc", paymentReq())
	if !errors.As(err, &ae) || ae.Status != 422 || errors.Is(err, ErrIdempotencyConflict) {
		t.Errorf("invalid_amount: %v, want a plain 422", err)
	}
}

func TestOther4xxAreFinal(t *testing.T) {
	s := &script{steps: []http.HandlerFunc{status(404)}}
	c, _ := newFakeClient(t, &fakeFuse{api: s.serve}, nil)
	_, err := c.GetTransaction(t.Context(), "t9")
	if !errors.Is(err, ErrNotFound) || s.n != 1 {
		t.Fatalf("err %v after %d requests, want ErrNotFound after 1", err, s.n)
	}
	want := "fuse: GET /transactions/t9 answered 404 Not Found (test): Not Found"
	if !strings.Contains(err.Error(), want) {
		t.Errorf("message %q, want it to contain %q", err, want)
	}
}

func Test429WaitsExactlyRetryAfter(t *testing.T) {
	s := &script{steps: []http.HandlerFunc{status(429, HeaderRetryAfter, "3"), status(429, HeaderRetryAfter, "999"), okPayment}}
	c, sl := newFakeClient(t, &fakeFuse{api: withReadBack(s.serve)}, func(cfg *Config) { cfg.MaxRetryAfter = 10 * time.Second })
	if _, err := c.CreatePayment(t.Context(), "acc", paymentReq()); err != nil {
		t.Fatal(err)
	}
	got := sl.all()
	if len(got) != 2 || got[0] != 3*time.Second || got[1] != 10*time.Second {
		t.Errorf("waits %v, want [3s 10s] (Retry-After, then capped)", got)
	}
}

func TestRetriesAreBoundedByMaxRetries(t *testing.T) {
	s := &script{steps: []http.HandlerFunc{status(502)}}
	c, sl := newFakeClient(t, &fakeFuse{api: s.serve}, func(cfg *Config) { cfg.MaxRetries = 2 })
	_, err := c.GetAccount(t.Context(), "a")
	if !errors.Is(err, ErrServer) || s.n != 3 || len(sl.all()) != 2 {
		t.Fatalf("err %v after %d requests and waits %v; want ErrServer after 3 requests, 2 waits", err, s.n, sl.all())
	}
	if !strings.Contains(err.Error(), "giving up after 3 attempts") {
		t.Errorf("message %q", err)
	}
}

func TestAnAttemptPastTheTimeoutIsRetried(t *testing.T) {
	hang := func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }
	s := &script{steps: []http.HandlerFunc{hang, func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, Account{ID: "a"})
	}}}
	c, _ := newFakeClient(t, &fakeFuse{api: s.serve}, func(cfg *Config) { cfg.Timeout = 100 * time.Millisecond })
	a, err := c.GetAccount(t.Context(), "a")
	if err != nil || a.ID != "a" || s.n != 2 {
		t.Fatalf("GetAccount = %+v, %v after %d requests", a, err, s.n)
	}
}

func TestCancellingTheCallerStopsRetrying(t *testing.T) {
	s := &script{steps: []http.HandlerFunc{status(500)}}
	ctx, cancel := context.WithCancel(t.Context())
	c, _ := newFakeClient(t, &fakeFuse{api: s.serve}, func(cfg *Config) {
		cfg.Sleep = func(context.Context, time.Duration) error { cancel(); return context.Canceled }
	})
	_, err := c.GetAccount(ctx, "a")
	if !errors.Is(err, context.Canceled) || s.n != 1 {
		t.Fatalf("err %v after %d requests", err, s.n)
	}
}

func TestA200ThatIsNotJSONNamesTheEndpoint(t *testing.T) {
	for name, body := range map[string]string{
		"html":     "<html>maintenance</html>",
		"trailing": `{"account_id":"a"} {"x":1}`,
		"empty":    "",
	} {
		t.Run(name, func(t *testing.T) {
			s := &script{steps: []http.HandlerFunc{func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "text/html")
				io.WriteString(w, body)
			}}}
			c, _ := newFakeClient(t, &fakeFuse{api: s.serve}, nil)
			_, err := c.GetAccount(t.Context(), "a")
			if !errors.Is(err, ErrBadResponse) || !strings.Contains(err.Error(), "GET /accounts/a") {
				t.Fatalf("err %v, want ErrBadResponse naming GET /accounts/a", err)
			}
		})
	}
}

func TestOversizedResponsesAreRefused(t *testing.T) {
	s := &script{steps: []http.HandlerFunc{func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `{"account_id":"`+strings.Repeat("a", 2000)+`"}`)
	}}}
	c, _ := newFakeClient(t, &fakeFuse{api: s.serve}, func(cfg *Config) { cfg.MaxBodyBytes = 1000 })
	if _, err := c.GetAccount(t.Context(), "a"); !errors.Is(err, ErrBadResponse) || s.n != 1 {
		t.Fatalf("err %v after %d requests", err, s.n)
	}
}

func TestDebugLogHasOneMaskedLinePerAttemptAndNoSecrets(t *testing.T) {
	s := &script{steps: []http.HandlerFunc{status(500), okPayment}}
	var buf bytes.Buffer
	var mu sync.Mutex
	h := slog.NewJSONHandler(lockedWriter{&mu, &buf}, &slog.HandlerOptions{Level: slog.LevelDebug})
	c, _ := newFakeClient(t, &fakeFuse{api: withReadBack(s.serve), tokens: []string{"tok-SECRET-1"}}, func(cfg *Config) {
		cfg.Logger = slog.New(h)
	})
	if _, err := c.CreatePayment(t.Context(), "acc", paymentReq()); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	out := buf.String()
	mu.Unlock()
	for _, secret := range []string{"secret-value", "tok-SECRET-1", "AE070331234567890123456", "Ann Bee", "Bearer tok"} {
		if strings.Contains(out, secret) {
			t.Errorf("log contains %q:\n%s", secret, out)
		}
	}
	if n := strings.Count(out, `"msg":"fuse http"`); n != 4 {
		t.Errorf("%d http lines, want 4 (token, 500, 202, the read-back):\n%s", n, out)
	}
	for _, want := range []string{`"status":500`, `"attempt":2`, `"idempotency_key":"`, `client_secret\":\"[redacted]`, `access_token\":\"[redacted]`, `A** B**`} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %s:\n%s", want, out)
		}
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func TestNewRejectsBadConfig(t *testing.T) {
	for _, cfg := range []Config{
		{BaseURL: "", AuthURL: "https://a/oauth/token", ClientID: "a", ClientSecret: "b"},
		{BaseURL: "ftp://x/v1", AuthURL: "https://a/oauth/token", ClientID: "a", ClientSecret: "b"},
		{BaseURL: "https://x/v1?q=1", AuthURL: "https://a/oauth/token", ClientID: "a", ClientSecret: "b"},
		{BaseURL: "https://x/v1", AuthURL: "https://a/oauth/token", ClientID: "a"},
		{BaseURL: "https://x/v1", ClientID: "a", ClientSecret: "b"},
		{BaseURL: "https://x/v1", AuthURL: "auth.fuse.me/oauth/token", ClientID: "a", ClientSecret: "b"},
		{BaseURL: "https://x/v1", AuthURL: "https://a/oauth/token#x", ClientID: "a", ClientSecret: "b"},
	} {
		if _, err := New(cfg); err == nil {
			t.Errorf("New(%v) accepted", cfg)
		}
	}
}

// metricsLog is a Metrics that keeps every call.
type metricsLog struct {
	mu       sync.Mutex
	requests []string
	retries  []string
	tokens   []bool
}

func (m *metricsLog) Request(endpoint string, status int, _ time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.requests = append(m.requests, fmt.Sprintf("%s %d", endpoint, status))
}

func (m *metricsLog) TokenFetch(ok bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.tokens = append(m.tokens, ok)
}

func (m *metricsLog) Retry(endpoint, reason string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.retries = append(m.retries, endpoint+" "+reason)
}

func TestMetricsAreLabelledByRoutePatternNotByID(t *testing.T) {
	s := &script{steps: []http.HandlerFunc{status(429, HeaderRetryAfter, "1"), func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, Page[Transaction]{Data: []Transaction{}})
	}}}
	m := &metricsLog{}
	c, _ := newFakeClient(t, &fakeFuse{api: s.serve}, func(cfg *Config) { cfg.Metrics = m })
	if _, err := c.ListTransactions(t.Context(), "acc-123", ListTransactionsParams{Limit: 5}); err != nil {
		t.Fatal(err)
	}
	wantReq := []string{"POST /oauth/token 200", "GET /accounts/{id}/transactions 429", "GET /accounts/{id}/transactions 200"}
	if fmt.Sprint(m.requests) != fmt.Sprint(wantReq) {
		t.Errorf("requests %q, want %q", m.requests, wantReq)
	}
	if want := []string{"GET /accounts/{id}/transactions rate_limited"}; fmt.Sprint(m.retries) != fmt.Sprint(want) {
		t.Errorf("retries %q, want %q", m.retries, want)
	}
	if len(m.tokens) != 1 || !m.tokens[0] {
		t.Errorf("token fetches %v, want [true]", m.tokens)
	}
}

// TestReadAllReadsTheBodyWhateverItsAnnouncedLength: the body is read
// whole (up to one byte past the limit, which tells the caller it is too
// long) whether Content-Length is absent, right, short or long.
func TestReadAllReadsTheBodyWhateverItsAnnouncedLength(t *testing.T) {
	for _, c := range []struct {
		body          string
		length, limit int64
		want          string
	}{
		{"abc", 3, 10, "abc"},
		{"abc", -1, 10, "abc"},
		{"abc", 0, 10, "abc"},
		{"abc", 1, 10, "abc"},
		{"abc", 9, 10, "abc"},
		{"", 0, 10, ""},
		{"abcdef", 6, 4, "abcde"},
		{"abcdef", 3, 4, "abcde"},
		{"abcdef", -1, 4, "abcde"},
	} {
		got, err := readAll(strings.NewReader(c.body), c.length, c.limit)
		if err != nil || string(got) != c.want {
			t.Errorf("%q announced %d, limit %d: read %q, %v; want %q", c.body, c.length, c.limit, got, err, c.want)
		}
	}
	broken := io.MultiReader(strings.NewReader("ab"), iotest.ErrReader(io.ErrUnexpectedEOF))
	if _, err := readAll(broken, 5, 10); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("a body broken off: %v, want its error", err)
	}
}
