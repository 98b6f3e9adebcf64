package fuse

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

// The client follows no redirect: a 307 from the token endpoint must not
// carry the client secret to wherever it points; it is an error instead.
func TestTheClientFollowsNoRedirect(t *testing.T) {
	var elsewhere atomic.Int32
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		elsewhere.Add(1)
	}))
	defer other.Close()
	fuse := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, other.URL+r.URL.Path, http.StatusTemporaryRedirect)
	}))
	defer fuse.Close()
	c, err := New(Config{BaseURL: fuse.URL + "/v1", AuthURL: fuse.URL + "/oauth/token", ClientID: "id", ClientSecret: "redirect-secret", MaxRetries: -1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.ListAccounts(context.Background(), 10, ""); err == nil {
		t.Fatal("a redirected request succeeded")
	}
	if n := elsewhere.Load(); n != 0 {
		t.Errorf("the redirect was followed %d times", n)
	}
}

// Fuse's error text is kept as one printable, bounded line with IBANs
// masked: it reaches logs, sync_checkpoints.last_error and /readyz.
func TestFuseErrorTextIsBoundedAndMasked(t *testing.T) {
	fuse := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte(`{"code":"invalid_request","error":"deprecated","message":"beneficiary AE070331234567890123456 refused\u001b[2J` +
			strings.Repeat("x", 5000) + `"}`))
	}))
	defer fuse.Close()
	c, err := New(Config{BaseURL: fuse.URL + "/v1", AuthURL: fuse.URL + "/oauth/token", ClientID: "id", ClientSecret: "secret", MaxRetries: -1})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.GetTransaction(context.Background(), "00000000-0000-4000-8000-000000000001")
	var api *APIError
	if !errors.As(err, &api) {
		t.Fatalf("error %v is not an APIError", err)
	}
	if strings.Contains(api.Message, "AE070331234567890123456") || strings.ContainsRune(api.Message, '\x1b') ||
		len(api.Message) > 260 || !strings.HasPrefix(api.Message, "beneficiary AE**") {
		t.Errorf("message %q", api.Message)
	}
}
