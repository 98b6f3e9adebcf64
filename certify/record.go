package certify

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/ledgerd/ledgerd"
	"github.com/ledgerd/ledgerd/fuse"
)

// stepKey tags a request's context with the plan step it serves, so that
// every HTTP exchange, token fetches included (the client derives their
// context from the caller's), lands in requests.jsonl under its step.
type stepKey struct{}

func withStep(ctx context.Context, step string) context.Context {
	return context.WithValue(ctx, stepKey{}, step)
}

func stepOf(ctx context.Context) string {
	s, _ := ctx.Value(stepKey{}).(string)
	return s
}

// exchange is one line of requests.jsonl: one HTTP attempt to the Fuse
// API, token requests and retries included. Everything exported is
// masked; the unexported fields hold raw material that never leaves memory.
type exchange struct {
	Line            int               `json:"line"`
	Step            string            `json:"step"`
	Time            string            `json:"time"`
	Attempt         int               `json:"attempt"`
	Method          string            `json:"method"`
	Path            string            `json:"path"`
	Query           string            `json:"query,omitempty"`
	Status          int               `json:"status"` // 0: no response
	DurationMS      float64           `json:"duration_ms"`
	Token           string            `json:"token,omitempty"` // "#2": the token the request carried, or the one a token response issued
	RequestHeaders  map[string]string `json:"request_headers"`
	RequestBody     json.RawMessage   `json:"request_body,omitempty"`
	RequestOmitted  string            `json:"request_body_omitted,omitempty"`
	ResponseHeaders map[string]string `json:"response_headers,omitempty"`
	ResponseBody    json.RawMessage   `json:"response_body,omitempty"`
	ResponseOmitted string            `json:"response_body_omitted,omitempty"`
	Error           string            `json:"error,omitempty"`

	tokenRequest bool
	tokenNo      int // the token carried (API) or issued (token endpoint); 0 none
	retryKey     string
	rawReq       []byte
	rawResp      []byte
}

// recorder is an http.RoundTripper that records every exchange it carries.
// It learns the tokens from the token endpoint's answers so that it can say
// which token (#1, #2…) each request carried without writing any of it.
type recorder struct {
	next http.RoundTripper
	now  func() time.Time
	loc  *time.Location
	auth *url.URL // the token endpoint

	mu        sync.Mutex
	lines     []*exchange
	tokens    map[[32]byte]int // SHA-256 of a token → its number
	tokenList [][32]byte
	ibans     map[string]bool // every IBAN seen in a raw body, for the leak check
	raws      []string        // every secret-like raw value seen (tokens)
}

func newRecorder(next http.RoundTripper, now func() time.Time, loc *time.Location, authURL string) (*recorder, error) {
	auth, err := url.Parse(authURL)
	if err != nil {
		return nil, fmt.Errorf("auth URL: %w", err)
	}
	return &recorder{next: next, now: now, loc: loc, auth: auth, tokens: map[[32]byte]int{}, ibans: map[string]bool{}}, nil
}

// tokenRequest reports whether req goes to the token endpoint.
func (rec *recorder) tokenRequest(req *http.Request) bool {
	return req.URL.Host == rec.auth.Host && req.URL.Path == rec.auth.Path
}

func (rec *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	var reqBody []byte
	if req.Body != nil {
		b, err := io.ReadAll(req.Body)
		req.Body.Close()
		if err != nil {
			return nil, fmt.Errorf("record request body: %w", err)
		}
		reqBody = b
		req.Body = io.NopCloser(bytes.NewReader(b))
	}
	start := rec.now()
	resp, err := rec.next.RoundTrip(req)
	d := rec.now().Sub(start)

	ex := &exchange{
		Step:           stepOf(req.Context()),
		Time:           start.In(rec.loc).Format(time.RFC3339Nano),
		Method:         req.Method,
		Path:           req.URL.Path,
		Query:          req.URL.RawQuery,
		DurationMS:     float64(d.Microseconds()) / 1000,
		RequestHeaders: maskHeaders(req.Header),
		tokenRequest:   rec.tokenRequest(req),
		rawReq:         reqBody,
	}
	ex.RequestBody, ex.RequestOmitted = maskBody(reqBody)
	ex.retryKey = req.Method + " " + req.URL.Path + "?" + req.URL.RawQuery + " " + req.Header.Get(fuse.HeaderIdempotencyKey)
	if err != nil {
		ex.Error = err.Error()
	} else {
		b, rerr := io.ReadAll(resp.Body)
		resp.Body.Close()
		resp.Body = io.NopCloser(bytes.NewReader(b))
		if rerr != nil {
			ex.Error = "read response: " + rerr.Error()
			// Hand the client the same broken read it would have seen.
			resp.Body = io.NopCloser(io.MultiReader(bytes.NewReader(b), errReader{rerr}))
		}
		ex.Status = resp.StatusCode
		ex.ResponseHeaders = maskHeaders(resp.Header)
		ex.ResponseBody, ex.ResponseOmitted = maskBody(b)
		ex.rawResp = b
	}

	rec.mu.Lock()
	defer rec.mu.Unlock()
	rec.noteIBANs(reqBody)
	rec.noteIBANs(ex.rawResp)
	if ex.tokenRequest {
		if ex.Status == http.StatusOK {
			var tr fuse.TokenResponse
			if json.Unmarshal(ex.rawResp, &tr) == nil && tr.AccessToken != "" {
				ex.tokenNo = rec.tokenNumberLocked(tr.AccessToken)
				rec.raws = append(rec.raws, tr.AccessToken)
			}
		}
	} else if tok, ok := strings.CutPrefix(req.Header.Get("Authorization"), "Bearer "); ok {
		ex.tokenNo = rec.tokenNumberLocked(tok)
	}
	if ex.tokenNo > 0 {
		ex.Token = fmt.Sprintf("#%d", ex.tokenNo)
	}
	ex.Attempt = 1
	// A retry of the same call follows an answer that the client retries
	// (or refreshes its token on): same method, path, query and
	// Idempotency-Key, with nothing but token requests in between.
	for i := len(rec.lines) - 1; i >= 0; i-- {
		prev := rec.lines[i]
		if prev.tokenRequest && !ex.tokenRequest {
			continue
		}
		if prev.retryKey == ex.retryKey && retried(prev) {
			ex.Attempt = prev.Attempt + 1
		}
		break
	}
	ex.Line = len(rec.lines) + 1
	rec.lines = append(rec.lines, ex)
	return resp, err
}

// retried reports whether the client sends a call again after this answer.
func retried(ex *exchange) bool {
	return ex.Error != "" || ex.Status == http.StatusUnauthorized || ex.Status == http.StatusConflict ||
		ex.Status == http.StatusTooManyRequests || ex.Status >= 500
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

// tokenNumberLocked numbers tokens in the order they are first seen.
func (rec *recorder) tokenNumberLocked(tok string) int {
	h := sha256.Sum256([]byte(tok))
	if n, ok := rec.tokens[h]; ok {
		return n
	}
	rec.tokenList = append(rec.tokenList, h)
	rec.tokens[h] = len(rec.tokenList)
	return len(rec.tokenList)
}

// noteIBANs remembers every IBAN in a raw JSON body, so that the files can
// be checked for them before they are written.
func (rec *recorder) noteIBANs(b []byte) {
	for _, s := range sensitiveValues(b) {
		rec.ibans[s] = true
	}
}

// snapshot returns the exchanges recorded so far.
func (rec *recorder) snapshot() []*exchange {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return append([]*exchange(nil), rec.lines...)
}

// secrets returns every raw value that must not appear in the evidence:
// the access tokens issued and every IBAN and name seen.
func (rec *recorder) secrets() []string {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	out := append([]string(nil), rec.raws...)
	for s := range rec.ibans {
		out = append(out, s)
	}
	sort.Strings(out)
	return out
}

// maskHeaders flattens headers for the log with every credential hidden:
// Authorization keeps only its scheme.
func maskHeaders(h http.Header) map[string]string {
	out := make(map[string]string, len(h))
	for k, vs := range h {
		v := strings.Join(vs, ", ")
		lk := strings.ToLower(k)
		switch {
		case lk == "authorization":
			scheme, _, _ := strings.Cut(v, " ")
			v = scheme + " [redacted]"
		case lk == "cookie" || lk == "set-cookie" || strings.Contains(lk, "token") ||
			strings.Contains(lk, "secret") || strings.Contains(lk, "signature"):
			v = "[redacted]"
		}
		out[k] = v
	}
	return out
}

// maskBody renders a body for the evidence: masked JSON, or nothing but
// its size when it is not JSON (which cannot be masked reliably).
func maskBody(b []byte) (json.RawMessage, string) {
	if len(bytes.TrimSpace(b)) == 0 {
		return nil, ""
	}
	m, ok := fuse.MaskJSON(b)
	if !ok {
		return nil, fmt.Sprintf("non-JSON body, %d bytes", len(b))
	}
	return m, ""
}

// sensitiveValues returns the raw values of a JSON body that the masking
// must hide and that are long enough to search for without false alarms:
// IBANs and names (keys as ledgerd.MaskingFor, which fuse.MaskJSON follows,
// knows them), access tokens and client secrets.
func sensitiveValues(b []byte) []string {
	if len(b) == 0 {
		return nil
	}
	var v any
	if json.Unmarshal(b, &v) != nil {
		return nil
	}
	var out []string
	var walk func(key string, v any)
	walk = func(key string, v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, e := range x {
				walk(k, e)
			}
		case []any:
			for _, e := range x {
				walk(key, e)
			}
		case string:
			k, m := strings.ToLower(key), ledgerd.MaskingFor(key)
			sensitive := m == ledgerd.MaskedIBAN || m == ledgerd.MaskedName || k == "access_token" || k == "client_secret"
			if sensitive && len(x) >= 8 {
				out = append(out, x)
			}
		}
	}
	walk("", v)
	return out
}

// hookRecorder wraps the webhook handler and records, for each delivery,
// what came in and the status that was sent back.
type hookRecorder struct {
	next http.Handler
	now  func() time.Time

	mu    sync.Mutex
	lines []hookDelivery
}

// hookDelivery is one webhook request as the listener saw it.
type hookDelivery struct {
	At       time.Time
	Remote   string
	Status   int
	Response []byte
	Raw      []byte
	EventID  string
	Type     string
}

func (h *hookRecorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	raw, err := io.ReadAll(io.LimitReader(r.Body, 1<<20+1))
	r.Body.Close()
	if err != nil {
		http.Error(w, "read body", http.StatusBadRequest)
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(raw))
	at := h.now()
	cw := &captureWriter{ResponseWriter: w, status: http.StatusOK}
	h.next.ServeHTTP(cw, r)
	d := hookDelivery{At: at, Remote: r.RemoteAddr, Status: cw.status, Response: cw.body.Bytes(), Raw: raw}
	var env struct {
		EventID string `json:"event_id"`
		Type    string `json:"type"`
	}
	if json.Unmarshal(raw, &env) == nil {
		d.EventID, d.Type = env.EventID, env.Type
	}
	h.mu.Lock()
	h.lines = append(h.lines, d)
	h.mu.Unlock()
}

func (h *hookRecorder) snapshot() []hookDelivery {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]hookDelivery(nil), h.lines...)
}

// captureWriter remembers the status and body a handler wrote.
type captureWriter struct {
	http.ResponseWriter
	status int
	wrote  bool
	body   bytes.Buffer
}

func (c *captureWriter) WriteHeader(code int) {
	if !c.wrote {
		c.status, c.wrote = code, true
	}
	c.ResponseWriter.WriteHeader(code)
}

func (c *captureWriter) Write(b []byte) (int, error) {
	c.wrote = true
	if c.body.Len() < 4096 {
		c.body.Write(b)
	}
	return c.ResponseWriter.Write(b)
}
