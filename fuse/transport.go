package fuse

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/ledgerd/ledgerd"
)

// request is one logical call: every retry of it sends the same bytes
// with the same Idempotency-Key.
type request struct {
	method string
	route  string // "GET /accounts/{id}": the metrics label
	path   string // "/accounts/6f1c…", escaped, below the base URL
	url    string // the whole URL instead of base URL + path (the token endpoint)
	query  url.Values
	body   any // JSON-encoded once; nil for none
	out    any // decoded from a 2xx body; nil to ignore it
	key    string
	noAuth bool // the token endpoint itself: no token, no Idempotency-Key
}

// outcome is what one attempt produced.
type outcome struct {
	status int
	header http.Header
	body   []byte
	err    error // no complete response: transport error or timeout
	reason string
	fatal  error // a response that must not be retried (too large)
}

// send performs r with retries: 429 (after Retry-After), 409 and 5xx
// answers, transport errors and per-attempt timeouts are retried with the
// same Idempotency-Key, up to MaxRetries times; a 401 triggers one token
// refresh and one more attempt; other answers are final.
func (c *Client) send(ctx context.Context, r request) error {
	var payload []byte
	if r.body != nil {
		b, err := json.Marshal(r.body)
		if err != nil {
			return fmt.Errorf("%s: encode request: %w", r.route, err)
		}
		payload = b
	}
	if r.method == http.MethodPost && r.key == "" && !r.noAuth {
		r.key = newIdempotencyKey()
	}
	target := c.base + r.path
	if r.url != "" {
		target = r.url
	}
	if len(r.query) > 0 {
		target += "?" + r.query.Encode()
	}
	where := r.method + " " + r.path

	var (
		retries int
		refused string // a token Fuse answered 401 to; refresh only once
		lastErr error
	)
	for attempt := 1; ; attempt++ {
		var tok string
		if !r.noAuth {
			t, err := c.tokens.get(ctx, refused)
			if err != nil {
				return fmt.Errorf("%s: %w", where, err)
			}
			tok = t
		}
		if err := c.limiter.Wait(ctx); err != nil {
			return fmt.Errorf("%s: wait for rate limit: %w", where, err)
		}
		o := c.attempt(ctx, r, target, payload, tok, attempt)
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("%s: %w", where, err)
		}
		if o.fatal != nil {
			return fmt.Errorf("%s: %w", where, o.fatal)
		}

		var wait time.Duration
		waitSet := false
		switch {
		case o.err != nil:
			lastErr = fmt.Errorf("%s: %w", where, o.err)
		case o.status >= 200 && o.status < 300:
			return c.decode(r, where, o)
		case o.status == http.StatusUnauthorized && !r.noAuth:
			if refused != "" {
				return apiError(r, o)
			}
			// The token expired or was revoked early: fetch a new one
			// (shared with any other caller that saw the same 401) and
			// try again at once. This does not count as a retry.
			refused = tok
			c.metrics.Retry(r.route, ReasonUnauthorized)
			continue
		default:
			reason, retry := retryReason(o.status)
			if !retry {
				return apiError(r, o)
			}
			o.reason = reason
			lastErr = apiError(r, o)
			if o.status == http.StatusTooManyRequests || o.status == http.StatusServiceUnavailable {
				if d, ok := parseRetryAfter(o.header.Get(HeaderRetryAfter), c.now()); ok {
					wait, waitSet = min(d, c.cfg.MaxRetryAfter), true
				}
			}
		}

		if retries >= c.cfg.MaxRetries {
			return fmt.Errorf("giving up after %d attempts: %w", attempt, lastErr)
		}
		if !waitSet {
			wait = backoff(retries, c.cfg.BaseBackoff, c.cfg.MaxBackoff, c.jitter)
		}
		retries++
		c.metrics.Retry(r.route, o.reason)
		c.log.LogAttrs(ctx, slog.LevelDebug, "fuse retry",
			slog.String("method", r.method), slog.String("path", r.path),
			slog.String("reason", o.reason), slog.Duration("wait", wait),
			slog.Int("attempt", attempt))
		if err := c.cfg.Sleep(ctx, wait); err != nil {
			return fmt.Errorf("%s: wait to retry: %w (last: %v)", where, err, lastErr)
		}
	}
}

// attempt sends r once, under its own timeout, and reads the whole body.
func (c *Client) attempt(ctx context.Context, r request, target string, payload []byte, tok string, n int) outcome {
	actx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()

	var o outcome
	start := time.Now()
	func() {
		var body io.Reader
		if payload != nil {
			body = bytes.NewReader(payload)
		}
		req, err := http.NewRequestWithContext(actx, r.method, target, body)
		if err != nil {
			o.fatal = fmt.Errorf("build request: %w", err)
			return
		}
		req.Header.Set("Accept", "application/json")
		req.Header.Set("User-Agent", "ledgerd-fuse")
		if payload != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		if r.key != "" {
			req.Header.Set(HeaderIdempotencyKey, r.key)
		}
		resp, err := c.hc.Do(req)
		if err != nil {
			o.err = err
			return
		}
		defer resp.Body.Close()
		o.status, o.header = resp.StatusCode, resp.Header
		b, err := readAll(resp.Body, resp.ContentLength, c.cfg.MaxBodyBytes)
		switch {
		case err != nil:
			// Status seen, body broken off: no complete answer.
			o.err = fmt.Errorf("read %d response: %w", resp.StatusCode, err)
		case int64(len(b)) > c.cfg.MaxBodyBytes:
			o.fatal = fmt.Errorf("%w: response body over %d bytes", ErrBadResponse, c.cfg.MaxBodyBytes)
		default:
			o.body = b
		}
	}()
	d := time.Since(start)

	if o.err != nil {
		o.reason = ReasonNetwork
		if errors.Is(actx.Err(), context.DeadlineExceeded) && ctx.Err() == nil {
			o.reason = ReasonTimeout
			o.err = fmt.Errorf("attempt timed out after %s: %w", c.cfg.Timeout, o.err)
		} else if o.status != 0 {
			o.reason = ReasonBadBody
		}
	}
	status := o.status
	if o.err != nil {
		status = 0
	}
	c.metrics.Request(r.route, status, d)
	if r.noAuth {
		c.tokenFetches.Add(1)
		c.metrics.TokenFetch(status == http.StatusOK)
	}
	if c.log.Enabled(ctx, slog.LevelDebug) {
		attrs := []slog.Attr{
			slog.String("method", r.method),
			slog.String("path", r.path),
			slog.Int("status", status),
			slog.Duration("duration", d),
			slog.Int("attempt", n),
		}
		if len(r.query) > 0 {
			attrs = append(attrs, slog.String("query", r.query.Encode()))
		}
		if r.key != "" {
			attrs = append(attrs, slog.String("idempotency_key", r.key))
		}
		if payload != nil {
			attrs = append(attrs, slog.String("request_body", maskBody(payload)))
		}
		if o.body != nil {
			attrs = append(attrs, slog.String("response_body", maskBody(o.body)))
		}
		if o.err != nil {
			attrs = append(attrs, slog.String("err", o.err.Error()))
		}
		c.log.LogAttrs(ctx, slog.LevelDebug, "fuse http", attrs...)
	}
	return o
}

// decode reads a 2xx body into r.out: exactly one JSON value, nothing
// after it. A broken body is reported with the endpoint that sent it.
// A response type with a fast path (fastDecoder) takes it first.
func (c *Client) decode(r request, where string, o outcome) error {
	if r.out == nil {
		return nil
	}
	fail := func(err error) error {
		return fmt.Errorf("%s: %w: %d answer (%s, %d bytes) is not the expected JSON: %v",
			where, ErrBadResponse, o.status, contentType(o.header), len(o.body), err)
	}
	if fd, ok := r.out.(fastDecoder); ok && fd.decodeFast(o.body) {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(o.body))
	dec.UseNumber()
	if err := dec.Decode(r.out); err != nil {
		return fail(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return fail(errors.New("data after the JSON value"))
	}
	return nil
}

// readAll reads a body of at most limit bytes (one more tells it is
// longer) as io.ReadAll does, in one buffer of the announced length when
// Content-Length gives one within the limit: a page is read without the
// regrowths and copies of a buffer that starts at 512 bytes.
func readAll(body io.Reader, length, limit int64) ([]byte, error) {
	r := io.LimitReader(body, limit+1)
	if length < 0 || length > limit {
		return io.ReadAll(r)
	}
	// One byte over the length, so that the end is seen without growing.
	b := make([]byte, 0, length+1)
	for {
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err == io.EOF {
			return b, nil
		}
		if err != nil {
			return b, err
		}
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)] // longer than announced
		}
	}
}

func contentType(h http.Header) string {
	if ct := h.Get("Content-Type"); ct != "" {
		return ct
	}
	return "no content type"
}

// apiError builds the *APIError for a non-2xx answer from Fuse's error
// body, or from a printable snippet of whatever came instead.
func apiError(r request, o outcome) *APIError {
	e := &APIError{Status: o.status, Method: r.method, Path: r.path}
	if eb, ok := DecodeErrorBody(o.body); ok {
		// Fuse's words end up in logs, sync_checkpoints.last_error and
		// /readyz: one printable line, bounded, IBANs masked.
		e.Code, e.Message = snippet([]byte(eb.Code), 64), maskIBANs(snippet([]byte(eb.Message), 200))
		return e
	}
	e.Message = maskIBANs(snippet(o.body, 200))
	return e
}

// ibanLike matches what looks like an IBAN in free text: a country code,
// two check digits and 11 to 30 letters or digits.
var ibanLike = regexp.MustCompile(`\b[A-Z]{2}[0-9]{2}[A-Z0-9]{11,30}\b`)

// maskIBANs masks every IBAN-like word of s, as logs mask IBAN fields.
func maskIBANs(s string) string {
	return ibanLike.ReplaceAllStringFunc(s, ledgerd.MaskIBAN)
}

// snippet is the start of b as one printable line.
func snippet(b []byte, n int) string {
	s := strings.Map(func(r rune) rune {
		if unicode.IsPrint(r) {
			return r
		}
		return ' '
	}, strings.ToValidUTF8(string(b), "?"))
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > n {
		// Cut at a rune boundary: half a rune is invalid UTF-8 in every
		// log line and error message that quotes the snippet.
		for n > 0 && !utf8.RuneStart(s[n]) {
			n--
		}
		s = s[:n] + "…"
	}
	return s
}

// fastDecoder is implemented by response types that have a fast path.
type fastDecoder interface {
	// decodeFast decodes b whole and reports true, or reports false and
	// leaves the receiver unchanged; decode then runs encoding/json.
	decodeFast(b []byte) bool
}
