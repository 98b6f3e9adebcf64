package sandbox

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/ledgerd/ledgerd/fuse"
)

// TokenPath is where the sandbox serves Fuse's token endpoint, on the
// same listener as the API: a client's auth URL is the sandbox's root
// followed by TokenPath.
const TokenPath = "/oauth/token"

// tokenScope is the scope every sandbox token carries [model]: Fuse
// publishes the field, not its values.
const tokenScope = "sandbox"

// handleToken answers POST /oauth/token as fuse-api.md §1 publishes it: a
// JSON body with client_id, client_secret, audience (Fuse's API) and
// grant_type client_credentials. The configured credentials get a JWT
// (HS256, signed with a key derived from the seed) whose exp claim is on
// the sandbox clock. Wrong credentials or another audience get Fuse's
// documented failure, 400 with the body {}; a body that is not that shape
// gets a 400 that says what is wrong. Every request is counted in
// Stats.TokenRequests, so a test can check that a client reuses its token.
func (s *Sandbox) handleToken(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.stats.TokenRequests++
	s.mu.Unlock()
	body, err := readBody(w, r)
	if err != nil {
		writeError(w, err)
		return
	}
	var req fuse.TokenRequest
	if err := decode(body, &req); err != nil {
		writeError(w, err)
		return
	}
	if err := checkTokenRequest(req); err != nil {
		writeError(w, err)
		return
	}
	idOK := subtle.ConstantTimeCompare([]byte(req.ClientID), []byte(s.opts.ClientID)) == 1
	secretOK := subtle.ConstantTimeCompare([]byte(req.ClientSecret), []byte(s.opts.ClientSecret)) == 1
	if !idOK || !secretOK || req.Audience != fuse.DefaultAudience {
		s.log.Info("token refused", "reason", "invalid_client", "audience_ok", req.Audience == fuse.DefaultAudience)
		writeRaw(w, http.StatusBadRequest, []byte("{}"))
		return
	}
	now := s.lockNow()
	ttl := s.opts.TokenTTL
	if s.faults.TokenTTLSeconds > 0 {
		ttl = time.Duration(s.faults.TokenTTLSeconds) * time.Second
	}
	ttl = ttl.Truncate(time.Second)
	if ttl < time.Second {
		ttl = time.Second
	}
	exp := now.Add(ttl).Truncate(time.Second)
	tok := s.signTokenLocked(now, exp)
	s.tokens[tok] = exp
	s.stats.TokensIssued++
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, fuse.TokenResponse{
		AccessToken: tok, Scope: tokenScope, ExpiresIn: int64(ttl / time.Second), TokenType: "Bearer",
	})
}

// checkTokenRequest refuses a token request without one of the four
// required fields or with another grant type.
func checkTokenRequest(req fuse.TokenRequest) error {
	for _, f := range []struct{ name, v string }{{"client_id", req.ClientID}, {"client_secret", req.ClientSecret},
		{"audience", req.Audience}, {"grant_type", req.GrantType}} {
		if f.v == "" {
			return apiErr(http.StatusBadRequest, "invalid_request", "%s is required", f.name)
		}
	}
	if req.GrantType != fuse.GrantTypeClientCredentials {
		return apiErr(http.StatusBadRequest, "unsupported_grant_type", "grant_type %q: want %s", req.GrantType, fuse.GrantTypeClientCredentials)
	}
	return nil
}

func (s *Sandbox) signTokenLocked(now, exp time.Time) string {
	enc := base64.RawURLEncoding
	header := enc.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`))
	claims, _ := json.Marshal(struct {
		Iss string `json:"iss"`
		Sub string `json:"sub"`
		Iat int64  `json:"iat"`
		Exp int64  `json:"exp"`
		Jti string `json:"jti"`
	}{"fuse-sandbox", s.opts.ClientID, now.Unix(), exp.Unix(), randomUUID(s.tokenRand)})
	unsigned := header + "." + enc.EncodeToString(claims)
	m := hmac.New(sha256.New, s.signKey)
	m.Write([]byte(unsigned))
	return unsigned + "." + enc.EncodeToString(m.Sum(nil))
}

// authorizeLocked checks the bearer token of r: it must be one the sandbox
// issued and not expired at now (a token is dead from its exp second on).
func (s *Sandbox) authorizeLocked(r *http.Request, now time.Time) error {
	h := r.Header.Get("Authorization")
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || tok == "" {
		s.stats.Unauthorized++
		return apiErr(http.StatusUnauthorized, "unauthorized", "missing bearer token")
	}
	exp, ok := s.tokens[strings.TrimSpace(tok)]
	if !ok {
		s.stats.Unauthorized++
		return apiErr(http.StatusUnauthorized, "invalid_token", "unknown access token")
	}
	if !now.Before(exp) {
		s.stats.Unauthorized++
		return apiErr(http.StatusUnauthorized, "token_expired", "access token expired at %s", exp.Format(time.RFC3339))
	}
	return nil
}
