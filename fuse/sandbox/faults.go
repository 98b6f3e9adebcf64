package sandbox

import (
	"fmt"
	"net/http"
)

// Faults are the misbehaviours the sandbox can inject. Rates are
// probabilities in [0, 1]; the zero value injects nothing. Every decision
// comes from a stream seeded by Options.Seed: webhook decisions depend only
// on the sequence of events, API decisions only on the sequence of API
// requests.
type Faults struct {
	// Drop is the share of events never delivered (logged as Dropped).
	Drop float64 `json:"drop"`
	// Duplicate is the share of events delivered twice, same event_id.
	Duplicate float64 `json:"duplicate"`
	// Reorder is the share of events held back and delivered right after
	// the next event (or at the next Advance).
	Reorder float64 `json:"reorder"`
	// HTTP429 is the share of API requests answered 429 with Retry-After: 1,
	// before anything happens.
	HTTP429 float64 `json:"http_429"`
	// HTTP5xx is the share of API requests answered 503. A GET (or PATCH)
	// fails before it runs; an idempotent POST fails after its operation
	// has been performed and its result stored, as when a response is lost
	// on the way back, so a retry with the same key gets the original
	// result. Token requests and controls are never faulted.
	HTTP5xx float64 `json:"http_5xx"`
	// DelayMS is a real delay before each webhook attempt.
	DelayMS int `json:"delay_ms"`
	// SlowPageMS is a real delay before each listing response, to exceed a
	// client's timeout.
	SlowPageMS int `json:"slow_page_ms"`
	// TokenTTLSeconds, when positive, is the lifetime of tokens issued from
	// now on, overriding Options.TokenTTL.
	TokenTTLSeconds int `json:"token_ttl_s"`
	// RepeatCursor makes a listing request that carries a cursor answer
	// with that same cursor as pages.next: a broken server whose listing
	// never ends, for the client's loop guard.
	RepeatCursor bool `json:"repeat_cursor"`
	// ListOrder, when "reverse" or "shuffle", lists transactions newest
	// first or in a shuffled order (the same on every page of a walk)
	// instead of in creation order: the reference leaves the order
	// unstated, so clients must not depend on it.
	ListOrder string `json:"list_order"`
	// EmptyLastPage answers the last page of a transaction listing with a
	// pages.next that leads to one more page, empty and final.
	EmptyLastPage bool `json:"empty_last_page"`
}

func (f Faults) validate() error {
	rates := []struct {
		name string
		v    float64
	}{{"drop", f.Drop}, {"duplicate", f.Duplicate}, {"reorder", f.Reorder}, {"http_429", f.HTTP429}, {"http_5xx", f.HTTP5xx}}
	for _, r := range rates {
		if !(r.v >= 0 && r.v <= 1) {
			return apiErr(http.StatusBadRequest, "invalid_request", "%s must be between 0 and 1", r.name)
		}
	}
	switch f.ListOrder {
	case "", "reverse", "shuffle":
	default:
		return apiErr(http.StatusBadRequest, "invalid_request", "list_order must be reverse or shuffle")
	}
	if f.DelayMS < 0 || f.SlowPageMS < 0 || f.TokenTTLSeconds < 0 {
		return apiErr(http.StatusBadRequest, "invalid_request", "delays and ttl must not be negative")
	}
	return nil
}

// apiFaultsLocked draws the fate of one API request: exactly two numbers
// per request whatever the rates.
func (s *Sandbox) apiFaultsLocked() (tooMany, unavailable bool) {
	a, b := s.apiRand.Float64(), s.apiRand.Float64()
	tooMany = a < s.faults.HTTP429
	unavailable = !tooMany && b < s.faults.HTTP5xx
	if tooMany {
		s.stats.Injected429++
	}
	if unavailable {
		s.stats.Injected5xx++
	}
	return tooMany, unavailable
}

// Error is an API error: the HTTP status and the body's code and message.
// The Go helpers of Sandbox return it for what the API would refuse.
type Error struct {
	Status  int
	Code    string
	Message string
}

// Error renders the status, code and message.
func (e *Error) Error() string {
	return fmt.Sprintf("fuse sandbox: %d %s: %s", e.Status, e.Code, e.Message)
}

func apiErr(status int, code, format string, args ...any) *Error {
	return &Error{Status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}
