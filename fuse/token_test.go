package fuse

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestJWTExpWinsOverExpiresIn(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	tests := []struct {
		name string
		resp TokenResponse
		want time.Duration
	}{
		{"exp from our clock", TokenResponse{AccessToken: makeJWT(t, now.Unix()+600, now.Unix()), ExpiresIn: 86400}, 600 * time.Second},
		{"exp without iat", TokenResponse{AccessToken: makeJWT(t, now.Unix()+900, 0), ExpiresIn: 86400}, 900 * time.Second},
		{"skewed clock: exp measured from iat", TokenResponse{AccessToken: makeJWT(t, now.Unix()-3600+300, now.Unix()-3600), ExpiresIn: 86400}, 300 * time.Second},
		{"expired exp falls back to expires_in", TokenResponse{AccessToken: makeJWT(t, now.Unix()-10, 0), ExpiresIn: 60}, 60 * time.Second},
		{"opaque token uses expires_in", TokenResponse{AccessToken: "opaque", ExpiresIn: 120}, 120 * time.Second},
		{"nothing known: documented 24h", TokenResponse{AccessToken: "opaque"}, 24 * time.Hour},
		{"undecodable payload", TokenResponse{AccessToken: "a.!!!.c", ExpiresIn: 30}, 30 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tokenLifetime(tt.resp, now); got != tt.want {
				t.Errorf("lifetime %v, want %v", got, tt.want)
			}
		})
	}
}

func TestConcurrentCallersShareOneTokenFetch(t *testing.T) {
	f := &fakeFuse{api: func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, Account{AccountID: "a1"})
	}}
	c, _ := newFakeClient(t, f, nil)
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for range 10 {
				if _, err := c.GetAccount(t.Context(), "a1"); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	if n := f.tokenRequests(); n != 1 {
		t.Errorf("token requests %d, want 1", n)
	}
	if n := c.TokenFetches(); n != 1 {
		t.Errorf("TokenFetches() %d, want 1", n)
	}
}

func TestTokenIsRenewedAtNinetyPercentOfItsLifetime(t *testing.T) {
	f := &fakeFuse{expiresIn: 1000, api: func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, Account{})
	}}
	now := time.Unix(1_700_000_000, 0)
	var mu sync.Mutex
	c, _ := newFakeClient(t, f, func(cfg *Config) {
		cfg.Now = func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	})
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	get := func() {
		t.Helper()
		if _, err := c.GetAccount(t.Context(), "a"); err != nil {
			t.Fatal(err)
		}
	}
	get()
	advance(899 * time.Second)
	get()
	if n := f.tokenRequests(); n != 1 {
		t.Fatalf("at 89.9%%: %d token requests, want 1", n)
	}
	advance(2 * time.Second)
	get()
	if n := f.tokenRequests(); n != 2 {
		t.Fatalf("past 90%%: %d token requests, want 2", n)
	}
}

func TestA401RefreshesOnceAndRetries(t *testing.T) {
	f := &fakeFuse{validTokens: map[string]bool{"tok-2": true}, api: func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, Account{AccountID: "a"})
	}}
	c, _ := newFakeClient(t, f, nil)
	if _, err := c.GetAccount(t.Context(), "a"); err != nil {
		t.Fatal(err)
	}
	if n := f.tokenRequests(); n != 2 {
		t.Errorf("token requests %d, want 2 (first refused, one refresh)", n)
	}
}

func TestASecond401IsErrUnauthorized(t *testing.T) {
	f := &fakeFuse{validTokens: map[string]bool{}, api: nil}
	c, _ := newFakeClient(t, f, nil)
	_, err := c.GetAccount(t.Context(), "a")
	if !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("err %v, want ErrUnauthorized", err)
	}
	if n := f.tokenRequests(); n != 2 {
		t.Errorf("token requests %d, want 2", n)
	}
}

func TestWrongCredentialsAreErrUnauthorizedFromFetchToken(t *testing.T) {
	f := &fakeFuse{}
	c, sl := newFakeClient(t, f, func(cfg *Config) { cfg.ClientSecret = "wrong" })
	_, err := c.GetAccount(t.Context(), "a")
	if !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("err %v, want ErrUnauthorized", err)
	}
	var ae *APIError
	if !errors.As(err, &ae) || ae.Status != http.StatusUnauthorized || ae.Path != tokenPath {
		t.Fatalf("err %v, want an *APIError 401 from %s", err, tokenPath)
	}
	if got := err.Error(); !strings.Contains(got, "fetch token") || strings.Contains(got, "wrong") {
		t.Errorf("message %q: want it to say fetch token and not show the secret", got)
	}
	if len(sl.all()) != 0 {
		t.Errorf("refused credentials were retried: %v", sl.all())
	}
}

func TestAWaiterGivingUpDoesNotFailTheSharedFetch(t *testing.T) {
	release := make(chan struct{})
	f := &fakeFuse{api: func(w http.ResponseWriter, r *http.Request) { writeJSON(w, 200, Account{}) }}
	c, _ := newFakeClient(t, f, nil)
	// Hold the token endpoint until the first caller has given up.
	inner := c.hc.Transport
	c.hc = &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		if r.URL.Path == "/v1"+tokenPath {
			<-release
		}
		return inner.RoundTrip(r)
	})}
	ctx, cancel := context.WithCancel(t.Context())
	first := make(chan error)
	go func() { _, err := c.GetAccount(ctx, "a"); first <- err }()
	second := make(chan error)
	go func() { _, err := c.GetAccount(t.Context(), "a"); second <- err }()
	cancel()
	if err := <-first; !errors.Is(err, context.Canceled) {
		t.Errorf("first caller: %v, want context.Canceled", err)
	}
	close(release)
	if err := <-second; err != nil {
		t.Errorf("second caller: %v", err)
	}
	if n := f.tokenRequests(); n != 1 {
		t.Errorf("token requests %d, want 1", n)
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
