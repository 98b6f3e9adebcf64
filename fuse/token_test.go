package fuse

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
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
		writeJSON(w, http.StatusOK, Account{ID: "a1"})
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
		writeJSON(w, http.StatusOK, Account{ID: "a"})
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

// TestTheTokenRequestIsThePublishedShapeOnTheAuthHost: the token comes
// from Config.AuthURL, a host of its own as Fuse's auth host is, with the
// JSON body fuse-api.md §1 publishes (client_id, client_secret, audience,
// grant_type, nothing else), and the API host never sees a token request.
func TestTheTokenRequestIsThePublishedShapeOnTheAuthHost(t *testing.T) {
	auth := &fakeFuse{}
	var mu sync.Mutex
	var header http.Header
	authSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		header = r.Header.Clone()
		mu.Unlock()
		auth.ServeHTTP(w, r)
	}))
	t.Cleanup(authSrv.Close)
	var apiPaths []string
	f := &fakeFuse{api: func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		apiPaths = append(apiPaths, r.URL.Path)
		mu.Unlock()
		writeJSON(w, http.StatusOK, Account{ID: "a"})
	}}
	c, _ := newFakeClient(t, f, func(cfg *Config) {
		cfg.AuthURL = authSrv.URL + "/oauth/token"
		cfg.Audience = "https://audience.example"
	})
	if _, err := c.GetAccount(t.Context(), "a"); err != nil {
		t.Fatal(err)
	}
	if f.tokenRequests() != 0 || len(auth.tokenBodies) != 1 {
		t.Fatalf("token requests: %d at the API host, %d at the auth host; want 0 and 1", f.tokenRequests(), len(auth.tokenBodies))
	}
	want := map[string]any{"client_id": "client-id", "client_secret": "secret-value",
		"audience": "https://audience.example", "grant_type": "client_credentials"}
	if got := auth.tokenBodies[0]; !reflect.DeepEqual(got, want) {
		t.Errorf("token request body %v, want %v", got, want)
	}
	mu.Lock()
	defer mu.Unlock()
	if ct := header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("token request Content-Type %q, want application/json", ct)
	}
	if h := header.Get("Authorization") + header.Get(HeaderIdempotencyKey); h != "" {
		t.Errorf("token request carries Authorization or Idempotency-Key: %q", h)
	}
	if len(apiPaths) != 1 || apiPaths[0] != "/v1/accounts/a" {
		t.Errorf("API requests %v, want the one GET /v1/accounts/a", apiPaths)
	}
}

func TestTheAudienceDefaultsToFusesAPI(t *testing.T) {
	f := &fakeFuse{api: func(w http.ResponseWriter, r *http.Request) { writeJSON(w, http.StatusOK, Account{}) }}
	c, _ := newFakeClient(t, f, nil)
	if err := c.Authenticate(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := f.tokenBodies[0]["audience"]; got != "https://api.fuse.me" {
		t.Errorf("audience %v, want https://api.fuse.me", got)
	}
}

// TestRefusedCredentialsAreAConfigurationErrorNamingTheMaskedClientID: the
// token endpoint's 400 {} (Fuse's documented failure), or a 401 or 403,
// is ErrCredentialsRefused, not retried, and says which settings to check:
// FUSE_CLIENT_ID by its last four characters, never the secret.
func TestRefusedCredentialsAreAConfigurationErrorNamingTheMaskedClientID(t *testing.T) {
	for _, status := range []int{http.StatusBadRequest, http.StatusUnauthorized, http.StatusForbidden} {
		t.Run(http.StatusText(status), func(t *testing.T) {
			f := &fakeFuse{tokenStatus: status}
			c, sl := newFakeClient(t, f, func(cfg *Config) {
				cfg.ClientID = "ledgerd-prod-7f3a"
				cfg.ClientSecret = "hunter2-secret"
			})
			_, err := c.GetAccount(t.Context(), "a")
			if !errors.Is(err, ErrCredentialsRefused) {
				t.Fatalf("err %v, want ErrCredentialsRefused", err)
			}
			var ce *CredentialsError
			if !errors.As(err, &ce) || ce.API.Status != status || ce.API.Path != "/oauth/token" {
				t.Fatalf("err %v, want a *CredentialsError with the %d from /oauth/token", err, status)
			}
			got := err.Error()
			for _, want := range []string{"FUSE_CLIENT_ID (*************7f3a)", "FUSE_CLIENT_SECRET", "FUSE_AUDIENCE (https://api.fuse.me)",
				"/oauth/token refused the credentials", fmt.Sprint(status)} {
				if !strings.Contains(got, want) {
					t.Errorf("message %q lacks %q", got, want)
				}
			}
			if strings.Contains(got, "{}") {
				t.Errorf("message %q quotes the empty body", got)
			}
			if strings.Contains(got, "hunter2") || strings.Contains(got, "ledgerd-prod-7f3a") {
				t.Errorf("message %q shows the secret or the whole client id", got)
			}
			if len(sl.all()) != 0 || len(f.tokenBodies) != 1 {
				t.Errorf("refused credentials were retried: %d token requests, waits %v", len(f.tokenBodies), sl.all())
			}
			if err := c.Authenticate(t.Context()); !errors.Is(err, ErrCredentialsRefused) {
				t.Errorf("Authenticate: %v, want ErrCredentialsRefused", err)
			}
		})
	}
}

func TestAWaiterGivingUpDoesNotFailTheSharedFetch(t *testing.T) {
	release := make(chan struct{})
	f := &fakeFuse{api: func(w http.ResponseWriter, r *http.Request) { writeJSON(w, 200, Account{}) }}
	c, _ := newFakeClient(t, f, nil)
	// Hold the token endpoint until the first caller has given up.
	inner := c.hc.Transport
	c.hc = &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		if r.URL.Path == "/oauth/token" {
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
