package fuse

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// Errors callers act on. An *APIError unwraps to the one matching its
// status, so errors.Is(err, ErrUnauthorized) works on any returned error.
var (
	// ErrUnauthorized: the credentials were refused, or a fresh token was
	// refused too.
	ErrUnauthorized = errors.New("fuse: unauthorized")
	// ErrIdempotencyConflict: the Idempotency-Key was already used with a
	// different request body (422).
	ErrIdempotencyConflict = errors.New("fuse: idempotency key reused with a different payload")
	// ErrNotFound: the resource does not exist (404).
	ErrNotFound = errors.New("fuse: not found")
	// ErrRateLimited: still rate-limited (429) after every retry.
	ErrRateLimited = errors.New("fuse: rate limited")
	// ErrServer: Fuse kept answering 5xx.
	ErrServer = errors.New("fuse: server error")
	// ErrInProgress: the same Idempotency-Key was still running (409) after
	// every retry.
	ErrInProgress = errors.New("fuse: request with this idempotency key still in progress")
	// ErrBadResponse: a response could not be decoded or was too large.
	ErrBadResponse = errors.New("fuse: malformed response")
	// ErrRepeatedCursor: a listing handed back a cursor already used in the
	// same walk, which would loop forever.
	ErrRepeatedCursor = errors.New("fuse: listing repeated a cursor")
	// ErrTooManyPages: a listing went past the configured page cap.
	ErrTooManyPages = errors.New("fuse: listing exceeded the page cap")
)

// APIError is a non-2xx answer from Fuse.
type APIError struct {
	Status  int    // HTTP status
	Code    string // error.code from the body, if any
	Message string // error.message from the body, or a snippet of it
	Method  string // request method
	Path    string // request path below the base URL, with ids
}

// Error gives one sentence saying what was asked and what Fuse answered.
func (e *APIError) Error() string {
	s := fmt.Sprintf("fuse: %s %s answered %d %s", e.Method, e.Path, e.Status, http.StatusText(e.Status))
	if e.Code != "" {
		s += " (" + e.Code + ")"
	}
	if e.Message != "" {
		s += ": " + e.Message
	}
	if e.idempotencyConflict() {
		s += " [the Idempotency-Key was already used with a different payload]"
	}
	return s
}

// Unwrap returns the sentinel error matching the status, or nil.
func (e *APIError) Unwrap() error {
	switch {
	case e.Status == http.StatusUnauthorized:
		return ErrUnauthorized
	case e.idempotencyConflict():
		return ErrIdempotencyConflict
	case e.Status == http.StatusNotFound:
		return ErrNotFound
	case e.Status == http.StatusTooManyRequests:
		return ErrRateLimited
	case e.Status == http.StatusConflict:
		return ErrInProgress
	case e.Status >= 500:
		return ErrServer
	}
	return nil
}

// idempotencyConflict tells the 422 that fuse-api.md defines (same key,
// different payload) from a 422 some other validation might answer
// [model]: it is the one whose code is absent or mentions idempotency.
func (e *APIError) idempotencyConflict() bool {
	return e.Status == http.StatusUnprocessableEntity &&
		(e.Code == "" || strings.Contains(strings.ToLower(e.Code), "idempot"))
}
