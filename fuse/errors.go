package fuse

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// Errors callers act on. An *APIError unwraps to the one matching its
// status, so errors.Is(err, ErrUnauthorized) works on any returned error.
var (
	// ErrUnauthorized: a fresh token was refused too, or the token
	// endpoint answered 401.
	ErrUnauthorized = errors.New("fuse: unauthorized")
	// ErrCredentialsRefused: the token endpoint refused the client id,
	// secret or audience (a *CredentialsError): a configuration error.
	ErrCredentialsRefused = errors.New("fuse: credentials refused")
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

// CredentialsError is the token endpoint refusing what the client sent:
// 400 is the failure Fuse documents (body {}), 401 and 403 are what an
// OAuth server also answers. Its message names the settings to check, the
// client id masked to its last four and never the secret.
type CredentialsError struct {
	API      *APIError // the answer
	AuthURL  string    // the token endpoint asked
	ClientID string    // masked (ledgerd.MaskID)
	Audience string
}

// Error says which endpoint refused what, and what to check.
func (e *CredentialsError) Error() string {
	s := fmt.Sprintf("fuse: the token endpoint %s refused the credentials (%d %s", e.AuthURL, e.API.Status, http.StatusText(e.API.Status))
	msg := e.API.Message
	if msg == "{}" {
		msg = "" // Fuse's documented body for this answer says nothing more
	}
	switch {
	case e.API.Code != "" && msg != "":
		s += ", " + e.API.Code + ": " + msg
	case e.API.Code != "" || msg != "":
		s += ", " + e.API.Code + msg
	}
	return s + fmt.Sprintf("): check FUSE_CLIENT_ID (%s), FUSE_CLIENT_SECRET and FUSE_AUDIENCE (%s)", e.ClientID, e.Audience)
}

// Unwrap gives ErrCredentialsRefused and the *APIError (so a 401 is also
// ErrUnauthorized).
func (e *CredentialsError) Unwrap() []error { return []error{ErrCredentialsRefused, e.API} }

// refusesCredentials reports whether a token endpoint's status refuses the
// request itself rather than failing for a while.
func refusesCredentials(status int) bool {
	return status == http.StatusBadRequest || status == http.StatusUnauthorized || status == http.StatusForbidden
}

// APIError is a non-2xx answer from Fuse.
type APIError struct {
	Status  int    // HTTP status
	Code    string // code from Fuse's error body, if any
	Message string // message (or the deprecated error) from the body, or a snippet of it
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

// DecodeErrorBody reads Fuse's error body {code, error, message}
// leniently: most routes declare no error body, so any field may be
// missing or not a string, and the answer may not be JSON at all.
// Message falls back to the deprecated Error. ok is false when the body
// has neither a code nor a message.
func DecodeErrorBody(b []byte) (eb ErrorBody, ok bool) {
	var fields map[string]json.RawMessage
	if json.Unmarshal(b, &fields) != nil {
		return ErrorBody{}, false
	}
	str := func(key string) string {
		var s string
		if json.Unmarshal(fields[key], &s) != nil {
			return ""
		}
		return s
	}
	eb = ErrorBody{Code: str("code"), Error: str("error"), Message: str("message")}
	if eb.Message == "" {
		eb.Message = eb.Error
	}
	return eb, eb.Code != "" || eb.Message != ""
}
