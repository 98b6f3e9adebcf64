package fuse

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"github.com/ledgerd/ledgerd"
)

// Defaults of Config [model]: fuse-api.md asks for 30 s per request; the
// rest are our own choices.
const (
	DefaultTimeout       = 30 * time.Second
	DefaultRateLimit     = rate.Limit(20) // requests per second
	DefaultBurst         = 10
	DefaultMaxRetries    = 5
	DefaultBaseBackoff   = 200 * time.Millisecond
	DefaultMaxBackoff    = 10 * time.Second
	DefaultMaxRetryAfter = 60 * time.Second
	DefaultMaxPages      = 1_000_000
	DefaultMaxBodyBytes  = 32 << 20
)

// DefaultAudience is the audience of Fuse's API, in the sandbox too
// (fuse-api.md §1): Config.Audience when empty.
const DefaultAudience = "https://api.fuse.me"

// Config configures a Client. Zero values take the defaults above.
// Credentials come from the caller (the config package reads them from the
// environment or *_FILE); the client never logs them, and Config's String
// and LogValue hide the secret.
type Config struct {
	// BaseURL includes the version: "https://api-sandbox.fuse.me/v1".
	BaseURL string
	// AuthURL is the whole URL of the token endpoint, on its own host:
	// "https://auth-sandbox.fuse.me/oauth/token".
	AuthURL string
	// Audience is sent with every token request (default DefaultAudience).
	Audience string
	// ClientID and ClientSecret are exchanged for access tokens.
	ClientID, ClientSecret string

	// HTTPClient sends the requests; nil means a client with its own
	// pooled transport. Its Timeout should be zero: Timeout below bounds
	// each attempt instead.
	HTTPClient *http.Client
	// Timeout bounds each attempt, body included (default 30 s).
	Timeout time.Duration
	// RateLimit and Burst shape every request, retries and token fetches
	// included (default 20/s, burst 10). rate.Inf disables the limit.
	RateLimit rate.Limit
	Burst     int
	// MaxRetries bounds the retries of one call after its first attempt
	// (default 5; negative means none).
	MaxRetries int
	// BaseBackoff and MaxBackoff shape the exponential backoff with full
	// jitter (default 200 ms and 10 s).
	BaseBackoff, MaxBackoff time.Duration
	// MaxRetryAfter caps how long a Retry-After header can make a call
	// wait (default 60 s).
	MaxRetryAfter time.Duration
	// MaxPages caps the pages of one listing walk (default 1,000,000).
	MaxPages int
	// MaxBodyBytes caps a response body (default 32 MiB).
	MaxBodyBytes int64

	// Logger receives one debug line per HTTP attempt, with masked bodies
	// (nil: discard).
	Logger *slog.Logger
	// Metrics receives measurements (nil: NopMetrics).
	Metrics Metrics
	// Now is the clock for token expiry and Retry-After dates (nil:
	// time.Now).
	Now func() time.Time
	// Sleep waits between retries and must return early with ctx's error
	// when ctx is done (nil: a timer). Tests inject one that records.
	Sleep func(ctx context.Context, d time.Duration) error
}

// String describes c with the secret hidden and the client id shown by
// its last four characters, as ledgerd's config line shows it.
func (c Config) String() string {
	return fmt.Sprintf("fuse.Config{BaseURL: %q, AuthURL: %q, Audience: %q, ClientID: %q, ClientSecret: %s}",
		c.BaseURL, c.AuthURL, c.Audience, ledgerd.MaskID(c.ClientID), redacted(c.ClientSecret))
}

// GoString is String, so %#v does not print the secret either.
func (c Config) GoString() string { return c.String() }

// LogValue implements slog.LogValuer with the secret hidden and the client
// id masked, as String.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("base_url", c.BaseURL),
		slog.String("auth_url", c.AuthURL),
		slog.String("audience", c.Audience),
		slog.String("client_id", ledgerd.MaskID(c.ClientID)),
		slog.String("client_secret", redacted(c.ClientSecret)),
	)
}

func redacted(s string) string {
	if s == "" {
		return `""`
	}
	return "[redacted]"
}

// Client talks to the Fuse API. It is safe for concurrent use; all
// goroutines share one token and one rate limit.
type Client struct {
	cfg     Config
	base    string // BaseURL without a trailing slash
	auth    *url.URL
	hc      *http.Client
	limiter *rate.Limiter
	log     *slog.Logger
	metrics Metrics
	jitter  func(n int64) int64 // uniform in [0, n)

	tokens       tokenSource
	tokenFetches atomic.Int64
}

// New checks cfg, fills in the defaults and returns a Client. No request
// is made until the first call.
func New(cfg Config) (*Client, error) {
	if err := checkURL("base URL", cfg.BaseURL, "http(s)://host/v1"); err != nil {
		return nil, err
	}
	if err := checkURL("auth URL", cfg.AuthURL, "http(s)://host/oauth/token"); err != nil {
		return nil, err
	}
	if cfg.ClientID == "" || cfg.ClientSecret == "" {
		return nil, errors.New("fuse: client id and client secret are required")
	}
	if cfg.HTTPClient == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.MaxIdleConnsPerHost = 32 // the 16 goroutines of a backfill reuse connections
		// No redirects: Fuse's API has none to give, and following a 307
		// from the token endpoint would send the client secret wherever it
		// points. A 3xx is then an error like any other non-2xx.
		cfg.HTTPClient = &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		}}
	}
	if cfg.Audience == "" {
		cfg.Audience = DefaultAudience
	}
	cfg.Timeout = orDefault(cfg.Timeout, DefaultTimeout)
	if cfg.RateLimit <= 0 {
		cfg.RateLimit = DefaultRateLimit
	}
	cfg.Burst = orDefault(cfg.Burst, DefaultBurst)
	switch {
	case cfg.MaxRetries == 0:
		cfg.MaxRetries = DefaultMaxRetries
	case cfg.MaxRetries < 0:
		cfg.MaxRetries = 0
	}
	cfg.BaseBackoff = orDefault(cfg.BaseBackoff, DefaultBaseBackoff)
	cfg.MaxBackoff = max(orDefault(cfg.MaxBackoff, DefaultMaxBackoff), cfg.BaseBackoff)
	cfg.MaxRetryAfter = orDefault(cfg.MaxRetryAfter, DefaultMaxRetryAfter)
	cfg.MaxPages = orDefault(cfg.MaxPages, DefaultMaxPages)
	cfg.MaxBodyBytes = orDefault(cfg.MaxBodyBytes, DefaultMaxBodyBytes)
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Metrics == nil {
		cfg.Metrics = NopMetrics{}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Sleep == nil {
		cfg.Sleep = sleepCtx
	}

	auth, _ := url.Parse(cfg.AuthURL) // checked above
	c := &Client{
		cfg:     cfg,
		base:    strings.TrimRight(cfg.BaseURL, "/"),
		auth:    auth,
		hc:      cfg.HTTPClient,
		limiter: rate.NewLimiter(cfg.RateLimit, cfg.Burst),
		log:     cfg.Logger,
		metrics: cfg.Metrics,
		jitter:  rand.Int64N,
	}
	c.tokens.c = c
	return c, nil
}

// checkURL accepts an absolute http(s) URL with a host and no query or
// fragment; what names it in the error, want shows its form.
func checkURL(what, raw, want string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("fuse: %s: %w", what, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("fuse: %s %q: want %s", what, raw, want)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("fuse: %s %q: no query or fragment allowed", what, raw)
	}
	return nil
}

func orDefault[T int | int64 | time.Duration](v, def T) T {
	if v <= 0 {
		return def
	}
	return v
}

// TokenFetches returns how many HTTP requests this client has sent to the
// token endpoint: with no faults, one per token lifetime.
func (c *Client) TokenFetches() int64 { return c.tokenFetches.Load() }

func (c *Client) now() time.Time { return c.cfg.Now() }
