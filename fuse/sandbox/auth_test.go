package sandbox

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ledgerd/ledgerd/fuse"
)

func TestTokenIsAJWTWithExpOnTheSandboxClock(t *testing.T) {
	e := newEnv(t, Options{Seed: 1, TokenTTL: time.Hour})
	parts := strings.Split(e.token, ".")
	if len(parts) != 3 {
		t.Fatalf("token %q is not header.payload.signature", e.token)
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var claims struct {
		Exp int64 `json:"exp"`
	}
	if err := json.Unmarshal(raw, &claims); err != nil || claims.Exp != t0.Add(time.Hour).Unix() {
		t.Errorf("claims %s: exp %d, want %d", raw, claims.Exp, t0.Add(time.Hour).Unix())
	}
	var tr fuse.TokenResponse
	e.call("POST", TokenPath, tokenRequest("sandbox", "sandbox"), 200, &tr)
	if tr.ExpiresIn != 3600 || tr.TokenType != "Bearer" || tr.Scope == "" {
		t.Errorf("token response %+v", tr)
	}
}

// TestWrongCredentialsGetFusesDocumented400: another client id or secret,
// or another audience, gets 400 with the body {} as Fuse's reference
// documents; a request missing one of the four required fields, or with
// another grant type, gets a 400 that says which.
func TestWrongCredentialsGetFusesDocumented400(t *testing.T) {
	e := newEnv(t, Options{Seed: 1, ClientID: "id-1", ClientSecret: "secret-1"})
	wrongAudience := tokenRequest("id-1", "secret-1")
	wrongAudience.Audience = "https://api.example"
	for _, req := range []fuse.TokenRequest{
		tokenRequest("sandbox", "sandbox"),
		tokenRequest("id-1", "wrong"),
		wrongAudience,
	} {
		if st, b := e.do("POST", TokenPath, req, nil); st != http.StatusBadRequest || string(b) != "{}" {
			t.Errorf("%+v: %d %s, want 400 {}", req, st, b)
		}
	}
	noGrant := tokenRequest("id-1", "secret-1")
	noGrant.GrantType = ""
	password := tokenRequest("id-1", "secret-1")
	password.GrantType = "password"
	for _, tc := range []struct {
		body any
		want string
	}{
		{fuse.TokenRequest{ClientID: "id-1", ClientSecret: "secret-1"}, "audience is required"},
		{noGrant, "grant_type is required"},
		{password, `grant_type "password"`},
		{tokenRequest("", ""), "client_id is required"},
		{[]byte(`{"client_id":`), "malformed JSON"},
	} {
		var body fuse.ErrorBody
		e.call("POST", TokenPath, tc.body, http.StatusBadRequest, &body)
		if !strings.Contains(body.Message, tc.want) || body.Code == "" || body.Error != body.Message {
			t.Errorf("%v: %+v, want a code and a message with %q", tc.body, body, tc.want)
		}
	}
	e.call("POST", TokenPath, tokenRequest("id-1", "secret-1"), 200, nil)
	if st := e.sb.Stats(); st.TokenRequests != 10 || st.TokensIssued != 2 {
		// newEnv's token, eight refusals, one more token.
		t.Errorf("TokenRequests %d, TokensIssued %d", st.TokenRequests, st.TokensIssued)
	}
	if st, _ := e.do("POST", "/v1/auth/token", tokenRequest("id-1", "secret-1"), nil); st != http.StatusNotFound {
		t.Errorf("the old /v1/auth/token answered %d, want 404", st)
	}
}

func TestTokenExpiresWithTheClock(t *testing.T) {
	e := newEnv(t, Options{Seed: 1})
	e.call("GET", "/v1/accounts", nil, 200, nil)
	e.sb.Advance(DefaultTokenTTL - time.Second)
	e.call("GET", "/v1/accounts", nil, 200, nil)
	e.sb.Advance(time.Second)
	var body fuse.ErrorBody
	e.call("GET", "/v1/accounts", nil, http.StatusUnauthorized, &body)
	if body.Code != "token_expired" {
		t.Errorf("code %q", body.Code)
	}
	e.token = e.newToken()
	e.call("GET", "/v1/accounts", nil, 200, nil)

	// Unknown and missing tokens.
	e.token = "a.b.c"
	e.call("GET", "/v1/accounts", nil, http.StatusUnauthorized, &body)
	e.token = ""
	e.call("GET", "/v1/accounts", nil, http.StatusUnauthorized, &body)
	if st := e.sb.Stats(); st.TokensIssued != 2 || st.Unauthorized != 3 || st.APIRequests["GET /accounts"] != 6 {
		t.Errorf("stats %+v", st)
	}
}

func TestFaultTokenTTLShortensNewTokens(t *testing.T) {
	e := newEnv(t, Options{Seed: 1})
	e.call("POST", "/sandbox/faults", map[string]any{"token_ttl_s": 30}, 200, nil)
	var tr fuse.TokenResponse
	e.call("POST", TokenPath, tokenRequest("sandbox", "sandbox"), 200, &tr)
	if tr.ExpiresIn != 30 {
		t.Fatalf("expires_in %d", tr.ExpiresIn)
	}
	e.token = tr.AccessToken
	e.sb.Advance(30 * time.Second)
	e.call("GET", "/v1/accounts", nil, http.StatusUnauthorized, nil)
}

func TestRootDescribesTheSandbox(t *testing.T) {
	e := newEnv(t, Options{Seed: 1})
	st, b := e.do("GET", "/", nil, nil)
	if st != 200 || !strings.Contains(string(b), "sandbox") {
		t.Errorf("GET /: %d %s", st, b)
	}
	if st, _ := e.do("GET", "/nope", nil, nil); st != http.StatusNotFound {
		t.Errorf("GET /nope: %d", st)
	}
}
