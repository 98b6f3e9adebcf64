package fuse

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/ledgerd/ledgerd"
)

// Token lifetime rules [model]: see fuse-api.md, "Authentication".
const (
	// refreshFraction of a token's lifetime is used before it is renewed.
	refreshFraction = 0.9
	// defaultTokenLifetime applies when neither the JWT nor expires_in
	// says (Fuse documents 24 hours). A 401 still forces a refresh.
	defaultTokenLifetime = 24 * time.Hour
	// maxClockSkew: when the JWT's iat is further than this from our
	// clock, our clock and Fuse's disagree and exp is read relative to iat.
	maxClockSkew = 5 * time.Minute
	// tokenRoute is the token endpoint's metrics label, whatever host
	// and path Config.AuthURL names (Fuse's is /oauth/token).
	tokenRoute = "POST /oauth/token"
)

// tokenSource holds the one live token every goroutine shares, and makes
// concurrent callers that need a new one share a single fetch.
type tokenSource struct {
	c *Client

	mu        sync.Mutex
	tok       string
	refreshAt time.Time
	call      *tokenCall // the fetch in flight, if any
}

// tokenCall is one fetch that any number of callers wait on.
type tokenCall struct {
	done chan struct{}
	tok  string
	err  error
}

// get returns a live token. refused, when not empty, is a token Fuse just
// answered 401 to: it is never returned again, and a fetch starts unless
// another caller has already replaced it.
func (ts *tokenSource) get(ctx context.Context, refused string) (string, error) {
	ts.mu.Lock()
	if ts.tok != "" && ts.tok != refused && ts.c.now().Before(ts.refreshAt) {
		tok := ts.tok
		ts.mu.Unlock()
		return tok, nil
	}
	call := ts.call
	if call == nil {
		call = &tokenCall{done: make(chan struct{})}
		ts.call = call
		// The fetch outlives the caller that started it: the others
		// waiting on it must not fail because that one gave up.
		go ts.run(context.WithoutCancel(ctx), call)
	}
	ts.mu.Unlock()

	select {
	case <-call.done:
		return call.tok, call.err
	case <-ctx.Done():
		return "", fmt.Errorf("wait for token: %w", ctx.Err())
	}
}

// Authenticate makes sure the client holds a live token, fetching one
// unless it already does. Commands call it first so that refused
// credentials (ErrCredentialsRefused) stop them before any work.
func (c *Client) Authenticate(ctx context.Context) error {
	_, err := c.tokens.get(ctx, "")
	return err
}

func (ts *tokenSource) run(ctx context.Context, call *tokenCall) {
	start := ts.c.now()
	resp, err := ts.c.fetchToken(ctx)
	ts.mu.Lock()
	if err == nil {
		life := tokenLifetime(resp, start)
		ts.tok = resp.AccessToken
		ts.refreshAt = start.Add(time.Duration(float64(life) * refreshFraction))
		call.tok = resp.AccessToken
	}
	call.err = err
	ts.call = nil
	ts.mu.Unlock()
	close(call.done)
}

// fetchToken asks Fuse's token endpoint for a new access token. A 400,
// 401 or 403 answer is a *CredentialsError: the configured credentials
// or audience were refused, which no retry mends.
func (c *Client) fetchToken(ctx context.Context) (TokenResponse, error) {
	var resp TokenResponse
	err := c.send(ctx, request{
		method: http.MethodPost,
		route:  tokenRoute,
		path:   c.auth.EscapedPath(),
		url:    c.auth.String(),
		body: TokenRequest{ClientID: c.cfg.ClientID, ClientSecret: c.cfg.ClientSecret,
			Audience: c.cfg.Audience, GrantType: GrantTypeClientCredentials},
		out:    &resp,
		noAuth: true,
	})
	if err != nil {
		var ae *APIError
		if errors.As(err, &ae) && refusesCredentials(ae.Status) {
			return TokenResponse{}, &CredentialsError{API: ae, AuthURL: c.cfg.AuthURL,
				ClientID: ledgerd.MaskID(c.cfg.ClientID), Audience: c.cfg.Audience}
		}
		return TokenResponse{}, fmt.Errorf("fetch token: %w", err)
	}
	if resp.AccessToken == "" {
		return TokenResponse{}, fmt.Errorf("fetch token: %w: no access_token in the answer", ErrBadResponse)
	}
	if resp.TokenType != "" && !strings.EqualFold(resp.TokenType, "bearer") {
		return TokenResponse{}, fmt.Errorf("fetch token: %w: token_type %q, want Bearer", ErrBadResponse, resp.TokenType)
	}
	return resp, nil
}

// tokenLifetime is how long a token fetched at now stays usable: the JWT's
// exp claim when it can be read, else expires_in, else the documented 24
// hours. When the JWT's iat shows that Fuse's clock and ours disagree
// (a sandbox with a simulated clock, or plain skew), exp is measured from
// iat instead of from our clock.
func tokenLifetime(resp TokenResponse, now time.Time) time.Duration {
	if exp, iat, ok := jwtTimes(resp.AccessToken); ok {
		ref := now
		if !iat.IsZero() && (iat.Sub(now) > maxClockSkew || now.Sub(iat) > maxClockSkew) {
			ref = iat
		}
		if d := exp.Sub(ref); d > 0 {
			return d
		}
	}
	if resp.ExpiresIn > 0 {
		return time.Duration(resp.ExpiresIn) * time.Second
	}
	return defaultTokenLifetime
}

// jwtTimes reads the exp and iat claims of a JWT without verifying it (the
// client only needs to know when to renew). ok is false when tok is not a
// JWT or has no usable exp; iat is zero when absent.
func jwtTimes(tok string) (exp, iat time.Time, ok bool) {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return time.Time{}, time.Time{}, false
	}
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return time.Time{}, time.Time{}, false
	}
	var claims struct {
		Exp json.Number `json:"exp"`
		Iat json.Number `json:"iat"`
	}
	if err := json.Unmarshal(raw, &claims); err != nil {
		return time.Time{}, time.Time{}, false
	}
	exp, ok = numericDate(claims.Exp)
	if !ok {
		return time.Time{}, time.Time{}, false
	}
	iat, _ = numericDate(claims.Iat)
	return exp, iat, true
}

// numericDate converts a JWT NumericDate (seconds since the epoch, maybe
// fractional) to a time.
func numericDate(n json.Number) (time.Time, bool) {
	if n == "" {
		return time.Time{}, false
	}
	f, err := n.Float64()
	if err != nil || f <= 0 || f > 1e12 || math.IsNaN(f) {
		return time.Time{}, false
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9)).UTC(), true
}
