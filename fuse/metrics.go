package fuse

import "time"

// Metrics receives the client's measurements. Endpoints are route patterns
// such as "GET /accounts/{id}/transactions", never raw paths, so a
// Prometheus implementation can use them as a label without unbounded
// cardinality. Implementations must be safe for concurrent use.
type Metrics interface {
	// Request records one HTTP attempt. Status is 0 when no response
	// arrived (network error or timeout).
	Request(endpoint string, status int, d time.Duration)
	// TokenFetch records one HTTP request to the token endpoint.
	TokenFetch(ok bool)
	// Retry records that an attempt at endpoint will be retried, and why:
	// one of the Reason constants.
	Retry(endpoint, reason string)
}

// Reasons passed to Metrics.Retry.
const (
	ReasonRateLimited  = "rate_limited"   // 429
	ReasonServerError  = "server_error"   // 5xx
	ReasonInProgress   = "in_progress"    // 409: same key still running
	ReasonNetwork      = "network"        // transport error
	ReasonTimeout      = "timeout"        // the attempt's own timeout
	ReasonUnauthorized = "unauthorized"   // 401: token refreshed once
	ReasonBadBody      = "truncated_body" // the body broke off mid-read
)

// NopMetrics is a Metrics that records nothing.
type NopMetrics struct{}

// Request implements Metrics.
func (NopMetrics) Request(string, int, time.Duration) {}

// TokenFetch implements Metrics.
func (NopMetrics) TokenFetch(bool) {}

// Retry implements Metrics.
func (NopMetrics) Retry(string, string) {}
