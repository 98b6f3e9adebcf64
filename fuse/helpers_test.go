package fuse

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"golang.org/x/time/rate"
)

// makeJWT returns an unsigned JWT with the given claims (0 omits one).
func makeJWT(t *testing.T, exp, iat int64) string {
	t.Helper()
	claims := map[string]any{"sub": "test"}
	if exp != 0 {
		claims["exp"] = exp
	}
	if iat != 0 {
		claims["iat"] = iat
	}
	b, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + enc(b) + ".sig"
}

// sleeps records the waits a client asked for instead of waiting.
type sleeps struct {
	mu sync.Mutex
	d  []time.Duration
}

func (s *sleeps) sleep(ctx context.Context, d time.Duration) error {
	s.mu.Lock()
	s.d = append(s.d, d)
	s.mu.Unlock()
	return ctx.Err()
}

func (s *sleeps) all() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Duration(nil), s.d...)
}

// fakeFuse serves a token endpoint at /oauth/token, as Fuse's auth host
// does, and hands every other request to api.
type fakeFuse struct {
	mu          sync.Mutex
	tokenCalls  int
	tokenBodies []map[string]any // every token request's JSON body
	tokenStatus int              // when set, every token request gets it with {}
	tokens      []string         // handed out in order; then "tok-<n>"
	expiresIn   int64
	api         http.HandlerFunc
	validTokens map[string]bool // nil: any token is accepted
}

func (f *fakeFuse) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/oauth/token" {
		f.serveToken(w, r)
		return
	}
	f.mu.Lock()
	valid := f.validTokens
	f.mu.Unlock()
	if valid != nil && !valid[r.Header.Get("Authorization")[len("Bearer "):]] {
		writeJSON(w, http.StatusUnauthorized, ErrorBody{Code: "token_expired", Error: "expired", Message: "expired"})
		return
	}
	f.api(w, r)
}

// serveToken answers as fuse-api.md §1 publishes: 200 with the token, or
// 400 {} for credentials it does not know.
func (f *fakeFuse) serveToken(w http.ResponseWriter, r *http.Request) {
	var body map[string]any
	err := json.NewDecoder(r.Body).Decode(&body)
	f.mu.Lock()
	f.tokenBodies = append(f.tokenBodies, body)
	refuse := f.tokenStatus
	f.mu.Unlock()
	if refuse == 0 && (err != nil || body["client_secret"] != "secret-value") {
		refuse = http.StatusBadRequest
	}
	if refuse != 0 {
		writeJSON(w, refuse, struct{}{})
		return
	}
	f.mu.Lock()
	f.tokenCalls++
	tok := fmt.Sprintf("tok-%d", f.tokenCalls)
	if len(f.tokens) >= f.tokenCalls {
		tok = f.tokens[f.tokenCalls-1]
	}
	exp := f.expiresIn
	f.mu.Unlock()
	if exp == 0 {
		exp = 3600
	}
	writeJSON(w, http.StatusOK, TokenResponse{AccessToken: tok, Scope: "test_scope read:test", ExpiresIn: exp, TokenType: "Bearer"})
}

func (f *fakeFuse) tokenRequests() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.tokenCalls
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// newFakeClient starts f on loopback and returns a client for it with a
// recording Sleep and no rate limit; mod adjusts the config.
func newFakeClient(t *testing.T, f *fakeFuse, mod func(*Config)) (*Client, *sleeps) {
	t.Helper()
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	s := &sleeps{}
	cfg := Config{
		BaseURL:      srv.URL + "/v1",
		AuthURL:      srv.URL + "/oauth/token",
		ClientID:     "client-id",
		ClientSecret: "secret-value",
		HTTPClient:   srv.Client(),
		RateLimit:    rate.Inf,
		Sleep:        s.sleep,
	}
	if mod != nil {
		mod(&cfg)
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c, s
}
