package sandbox

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/ledgerd/ledgerd/fuse"
)

// routeKind says how the API wrapper treats a route.
type routeKind int

const (
	routeRead    routeKind = iota // GET, PATCH or a simulation: faults strike before it runs
	routeListing                  // a listing: also slow_page_ms
	routeMutate                   // a POST: Idempotency-Key required, 5xx after the operation
	// routeMutateKeyOptional is a POST whose Idempotency-Key the reference
	// makes optional (adding a customer): with a key it is routeMutate,
	// without one it runs once per request.
	routeMutateKeyOptional
)

// apiFunc handles one API route. It takes the mutex itself and returns the
// status and value to encode, or an error (an *Error for what the API
// refuses).
type apiFunc func(r *http.Request, body []byte) (int, any, error)

// maxBody bounds request bodies.
const maxBody = 1 << 20

func (s *Sandbox) routes() *http.ServeMux {
	m := http.NewServeMux()
	m.HandleFunc("GET /{$}", s.handleRoot)
	m.HandleFunc("POST "+TokenPath, s.handleToken)
	api := func(method, path string, kind routeKind, fn apiFunc) {
		m.Handle(method+" /v1"+path, s.api(method+" "+path, kind, fn))
	}
	api("POST", "/customers/businesses", routeMutateKeyOptional, s.createBusiness)
	api("POST", "/customers/individuals", routeMutateKeyOptional, s.createIndividual)
	api("GET", "/customers/{customer_id}", routeRead, s.getCustomer)
	api("POST", "/customers/{customer_id}/accounts", routeMutate, s.createAccount)
	api("GET", "/accounts", routeListing, s.listAccounts)
	api("GET", "/accounts/{account_id}", routeRead, s.getAccount)
	api("PATCH", "/accounts/{account_id}", routeRead, s.updateAccount)
	api("POST", "/accounts/{account_id}/payments", routeMutate, s.createPayment)
	api("POST", "/internal-transfers", routeMutate, s.createTransfer)
	api("GET", "/exchange/quote", routeRead, s.quote)
	api("POST", "/exchange", routeMutate, s.createExchange)
	api("GET", "/accounts/{account_id}/transactions", routeListing, s.listTransactions)
	api("GET", "/accounts/{account_id}/history", routeRead, s.accountHistory)
	api("GET", "/transactions", routeListing, s.listOrgTransactions)
	api("GET", "/transactions/{transaction_id}", routeRead, s.getTransaction)
	api("GET", "/customers/{customer_id}/accounts", routeListing, s.listCustomerAccounts)
	s.simulateRoutes(api)
	s.controlRoutes(m)
	m.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, apiErr(http.StatusNotFound, "not_found", "no route %s %s", r.Method, r.URL.Path))
	})
	return m
}

func (s *Sandbox) handleRoot(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprint(w, "ledgerd Fuse sandbox: an in-memory emulator of the Fuse API.\n"+
		"API under /v1/ (a token from POST "+TokenPath+" first), Fuse's simulations under /v1/simulate/; controls under /sandbox/ "+
		"(inbound-payments, transactions/{id}/fail, adjustments, clock, faults, truth, stats, deliveries).\n")
}

// api wraps an API route: it counts the request under name (the method and
// the path pattern without /v1, e.g. "GET /accounts/{account_id}"), checks
// the token, injects faults, and for POSTs enforces idempotency.
func (s *Sandbox) api(name string, kind routeKind, fn apiFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		now := s.lockNow()
		s.stats.APIRequests[name]++
		authErr := s.authorizeLocked(r, now)
		var tooMany, unavailable bool
		if authErr == nil {
			tooMany, unavailable = s.apiFaultsLocked()
		}
		slow := time.Duration(s.faults.SlowPageMS) * time.Millisecond
		hook := s.hookIdemRunning
		s.mu.Unlock()

		if authErr != nil {
			w.Header().Set("WWW-Authenticate", `Bearer realm="fuse-sandbox"`)
			writeError(w, authErr)
			return
		}
		if tooMany {
			w.Header().Set(fuse.HeaderRetryAfter, "1")
			writeError(w, apiErr(http.StatusTooManyRequests, "rate_limited", "too many requests, retry later"))
			return
		}
		mutates := kind == routeMutate || kind == routeMutateKeyOptional
		if unavailable && !mutates {
			writeError(w, errUnavailable())
			return
		}
		body, err := readBody(w, r)
		if err != nil {
			writeError(w, err)
			return
		}
		if !mutates {
			status, b, buf := runPooled(fn, r, body)
			if buf != nil {
				defer releasePageBuf(buf)
			}
			if kind == routeListing && slow > 0 {
				select {
				case <-time.After(slow):
				case <-r.Context().Done():
					return
				}
			}
			writeRaw(w, status, b)
			return
		}

		key := r.Header.Get(fuse.HeaderIdempotencyKey)
		var status int
		var b []byte
		if key == "" && kind == routeMutateKeyOptional {
			status, b = run(fn, r, body)
		} else {
			if err := checkIdempotencyKey(key); err != nil {
				writeError(w, err)
				return
			}
			var replay bool
			replay, status, b, err = s.beginIdempotent(key, requestHash(r.Method, r.URL.Path, body))
			if err != nil {
				writeError(w, err)
				return
			}
			if !replay {
				if hook != nil {
					hook()
				}
				ok := false
				func() {
					defer func() { s.endIdempotent(key, status, b, ok) }()
					status, b = run(fn, r, body)
					ok = true
				}()
			}
		}
		if unavailable {
			writeError(w, errUnavailable())
			return
		}
		writeRaw(w, status, b)
	})
}

func errUnavailable() error {
	return apiErr(http.StatusServiceUnavailable, "service_unavailable", "temporary failure, retry with backoff")
}

// run calls fn and encodes its answer.
func run(fn apiFunc, r *http.Request, body []byte) (int, []byte) {
	status, b, buf := runPooled(fn, r, body)
	if buf != nil {
		b = bytes.Clone(b)
		releasePageBuf(buf)
	}
	return status, b
}

// runPooled is run without the copy of an answer fn encoded itself
// (pooledBody): it returns the answer in its pooled buffer, which the
// caller releases (releasePageBuf) once the bytes are written; buf is nil
// for any other answer.
func runPooled(fn apiFunc, r *http.Request, body []byte) (status int, b []byte, buf *[]byte) {
	status, v, err := fn(r, body)
	if err != nil {
		status, b = encodeError(err)
		return status, b, nil
	}
	if p, ok := v.(pooledBody); ok {
		return status, *p.buf, p.buf
	}
	if v == nil {
		return status, nil, nil // an answer without a body (202 to PATCH)
	}
	b, err = json.Marshal(v)
	if err != nil {
		status, b = encodeError(fmt.Errorf("encode response: %w", err))
		return status, b, nil
	}
	return status, b, nil
}

func readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, apiErr(http.StatusRequestEntityTooLarge, "request_too_large", "body over %d bytes", maxBody)
		}
		return nil, apiErr(http.StatusBadRequest, "invalid_request", "read body: %v", err)
	}
	return b, nil
}

// decode parses a JSON request body into v.
func decode(body []byte, v any) error {
	if len(body) == 0 {
		return apiErr(http.StatusBadRequest, "invalid_request", "a JSON body is required")
	}
	if err := json.Unmarshal(body, v); err != nil {
		return apiErr(http.StatusBadRequest, "invalid_request", "malformed JSON body: %v", err)
	}
	return nil
}

func encodeError(err error) (int, []byte) {
	var e *Error
	if !errors.As(err, &e) {
		e = &Error{Status: http.StatusInternalServerError, Code: "internal_error", Message: err.Error()}
	}
	// Fuse's ErrorResponse: all three required, error the deprecated
	// twin of message.
	b, _ := json.Marshal(fuse.ErrorBody{Code: e.Code, Error: e.Message, Message: e.Message})
	return e.Status, b
}

func writeError(w http.ResponseWriter, err error) {
	status, b := encodeError(err)
	writeRaw(w, status, b)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		writeError(w, fmt.Errorf("encode response: %w", err))
		return
	}
	writeRaw(w, status, b)
}

func writeRaw(w http.ResponseWriter, status int, b []byte) {
	if len(b) > 0 {
		w.Header().Set("Content-Type", "application/json")
		// Announced, a page is sent whole rather than in chunks, and the
		// client reads it into one buffer of its size.
		w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	}
	w.WriteHeader(status)
	_, _ = w.Write(b)
}
