package fuse

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// backoff is the wait before retry number attempt (0 for the first retry):
// "full jitter", a uniform draw in [0, min(maxD, base·2^attempt)), so
// clients that failed together do not retry together. jitter(n) returns a
// value in [0, n).
func backoff(attempt int, base, maxD time.Duration, jitter func(int64) int64) time.Duration {
	if base <= 0 || maxD <= 0 {
		return 0
	}
	ceil := base
	for i := 0; i < attempt && ceil < maxD; i++ {
		ceil *= 2
	}
	ceil = min(ceil, maxD)
	return time.Duration(jitter(int64(ceil)))
}

// parseRetryAfter reads a Retry-After header: delay-seconds or an
// HTTP-date (RFC 9110 §10.2.3). A date in the past means "now". ok is
// false when the header is absent or unreadable, and the caller falls back
// to its own backoff.
func parseRetryAfter(h string, now time.Time) (d time.Duration, ok bool) {
	h = strings.TrimSpace(h)
	if h == "" {
		return 0, false
	}
	if secs, err := strconv.ParseInt(h, 10, 64); err == nil {
		if secs < 0 {
			return 0, false
		}
		// Guard the multiplication; the caller caps the result anyway.
		if secs > int64(365*24*time.Hour/time.Second) {
			secs = int64(365 * 24 * time.Hour / time.Second)
		}
		return time.Duration(secs) * time.Second, true
	}
	t, err := http.ParseTime(h)
	if err != nil {
		return 0, false
	}
	return max(t.Sub(now), 0), true
}

// retryReason says whether an answer with this status is retried, and
// why. 401 is handled separately (one token refresh, not a backoff).
func retryReason(status int) (reason string, retry bool) {
	switch {
	case status == http.StatusTooManyRequests:
		return ReasonRateLimited, true
	case status == http.StatusConflict:
		return ReasonInProgress, true
	case status >= 500:
		return ReasonServerError, true
	}
	return "", false
}

// sleepCtx waits d or until ctx is done: the default Config.Sleep.
func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
