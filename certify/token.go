package certify

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/ledgerd/ledgerd/fuse"
)

// tokenRefresh moves the client's clock past the token's lifetime (and the
// sandbox's, when it has controls, so that the old token really is dead
// there), then makes two API requests: the first must fetch a new token,
// the second must reuse it.
func (r *runner) tokenRefresh(ctx context.Context) {
	lines := r.rec.snapshot()
	first := -1
	for i, ex := range lines {
		if ex.tokenRequest && ex.Status == http.StatusOK {
			first = i
			break
		}
	}
	for _, ex := range lines {
		if ex.tokenRequest {
			r.token.beforeTokens++
		} else {
			r.token.beforeAPI++
		}
	}
	if first < 0 {
		r.token.err = errors.New("no token was ever issued")
		return
	}
	r.tokenTTL = tokenLifetime(lines[first].rawResp)
	r.token.bump = r.tokenTTL + time.Minute
	r.offset.add(r.token.bump)
	if r.ctl.available {
		if err := r.ctl.advance(ctx, r.token.bump); err != nil {
			r.progressf("certify: %v", err)
		} else {
			r.token.sandboxAdvanced = true
		}
	}
	ctx = withStep(ctx, stepRefresh)
	for range 2 {
		if _, err := r.client.ListAccounts(ctx, 1, ""); err != nil {
			r.token.err = err
			break
		}
	}
	after := r.rec.snapshot()
	for _, ex := range after[len(lines):] {
		if ex.tokenRequest {
			continue
		}
		r.token.afterLines = append(r.token.afterLines, ex.Line)
		r.token.afterTokenNos = append(r.token.afterTokenNos, ex.tokenNo)
	}
	for _, ex := range after {
		if ex.tokenRequest {
			r.token.afterTokens++
		}
	}
}

// tokenLifetime reads a token answer's lifetime: the JWT's exp − iat when
// present, else expires_in, else Fuse's documented 24 hours.
func tokenLifetime(raw []byte) time.Duration {
	var tr fuse.TokenResponse
	if json.Unmarshal(raw, &tr) != nil {
		return 24 * time.Hour
	}
	if parts := strings.Split(tr.AccessToken, "."); len(parts) == 3 {
		var claims struct{ Exp, Iat int64 }
		if b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "=")); err == nil &&
			json.Unmarshal(b, &claims) == nil && claims.Exp > claims.Iat && claims.Iat > 0 {
			return time.Duration(claims.Exp-claims.Iat) * time.Second
		}
	}
	if tr.ExpiresIn > 0 {
		return time.Duration(tr.ExpiresIn) * time.Second
	}
	return 24 * time.Hour
}
