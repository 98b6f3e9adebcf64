// Package certify runs Fuse's integration test plan (the checklist Fuse
// asks for before it grants production access) against a Fuse sandbox or
// ledgerd's built-in one, and writes the evidence pack to submit: every
// API exchange (requests.jsonl), every webhook received with the status
// sent back (webhooks.jsonl), a one-page SUMMARY.md with each requirement's
// verdict and where its evidence is, the short token-and-idempotency
// document the plan asks for, and a zip of the four. It only drives pieces
// ledgerd already has: the fuse client (wrapped in a recording transport),
// the webhook listener and a throwaway ledger file kept outside the output
// directory, since it holds raw, unmasked webhook bodies.
package certify

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ledgerd/ledgerd/fuse"
	"github.com/ledgerd/ledgerd/ledger"
	"github.com/ledgerd/ledgerd/webhook"
)

// Customer kinds for Options.Customer.
const (
	CustomerBusiness   = "business"
	CustomerIndividual = "individual"
)

// Defaults of Options.
const (
	DefaultCurrency    = "AED"
	DefaultWebhookPath = "/webhooks/fuse"
	DefaultWebhookWait = 2 * time.Minute
)

// Names of the files written to Options.OutDir (the zip is named
// ledgerd-certify-<UTC time>.zip).
const (
	FileRequests = "requests.jsonl"
	FileWebhooks = "webhooks.jsonl"
	FileSummary  = "SUMMARY.md"
	FileTokenDoc = "token-and-idempotency.md"
)

// Options configure a run.
type Options struct {
	// BaseURL is the Fuse API base URL, /v1 included.
	BaseURL string
	// AuthURL is the whole URL of Fuse's token endpoint.
	AuthURL string
	// Audience goes with every token request (default fuse.DefaultAudience).
	Audience string
	// ClientID and ClientSecret are exchanged for access tokens.
	ClientID, ClientSecret string
	// CredentialSource says where the credentials came from, for the
	// token document, e.g. "FUSE_CLIENT_ID and FUSE_CLIENT_SECRET_FILE".
	CredentialSource string
	// BuiltInSandbox says the target is ledgerd's own emulator, which the
	// summary states plainly.
	BuiltInSandbox bool
	// Customer is CustomerBusiness (default) or CustomerIndividual.
	Customer string
	// Currency of the accounts opened (default AED).
	Currency string

	// OutDir receives the evidence; it is created if needed.
	OutDir string

	// Listener is where the webhook listener serves; Run closes it. When
	// nil, Run listens on Listen.
	Listener net.Listener
	Listen   string
	// WebhookPath is the path Fuse posts to (default /webhooks/fuse).
	WebhookPath string
	// The webhook listener's checks, as `ledgerd serve` applies them.
	WebhookSecret             []byte
	WebhookAllowCIDRs         []netip.Prefix
	WebhookTrustedProxies     []netip.Prefix
	WebhookTimestampTolerance time.Duration
	// WebhookWait bounds each wait for webhooks (and for portal actions
	// when the target has no sandbox controls); default 2 minutes.
	WebhookWait time.Duration

	// Location is the time zone the evidence is written in (default UTC).
	Location *time.Location
	// HTTPClient carries the API requests under the recorder; nil means a
	// client with its own transport.
	HTTPClient *http.Client
	// MaxRetries, BaseBackoff and MaxBackoff go to the fuse client (zero:
	// its defaults).
	MaxRetries              int
	BaseBackoff, MaxBackoff time.Duration
	// Now is the real clock (default time.Now). The fuse client gets this
	// clock plus an offset that the token step moves forward.
	Now func() time.Time
	// Logger receives operational logs (nil: discard).
	Logger *slog.Logger
	// Progress receives one line per step and the instructions for portal
	// actions (nil: discard).
	Progress io.Writer
	// Version is ledgerd's version, for the summary.
	Version string
}

// Requirement is one line of the plan with its verdict.
type Requirement struct {
	ID    string `json:"id"`
	Title string `json:"title"`
	Pass  bool   `json:"pass"`
	// Detail is what was observed; on failure, why it failed.
	Detail string `json:"detail"`
	// Evidence points into the files, e.g. "requests.jsonl lines 3–4".
	Evidence string `json:"evidence"`
}

// Result is the outcome of a run.
type Result struct {
	// Pass is true when every requirement passed.
	Pass         bool
	Requirements []Requirement
	StartedAt    time.Time
	FinishedAt   time.Time
	// Files are the paths written, the zip last.
	Files []string
	Zip   string
	// TokenRequests and APIRequests count the HTTP exchanges recorded.
	TokenRequests, APIRequests int
}

// Failed returns the requirements that failed.
func (r Result) Failed() []Requirement {
	var out []Requirement
	for _, q := range r.Requirements {
		if !q.Pass {
			out = append(out, q)
		}
	}
	return out
}

func (o Options) withDefaults() (Options, error) {
	if o.BaseURL == "" || o.AuthURL == "" {
		return o, errors.New("certify: a base URL and an auth URL are required")
	}
	if o.OutDir == "" {
		return o, errors.New("certify: an output directory is required")
	}
	if o.Audience == "" {
		o.Audience = fuse.DefaultAudience
	}
	switch o.Customer {
	case "":
		o.Customer = CustomerBusiness
	case CustomerBusiness, CustomerIndividual:
	default:
		return o, fmt.Errorf("certify: customer %q: want %s or %s", o.Customer, CustomerBusiness, CustomerIndividual)
	}
	if o.Currency == "" {
		o.Currency = DefaultCurrency
	}
	if o.WebhookPath == "" {
		o.WebhookPath = DefaultWebhookPath
	}
	if o.WebhookWait <= 0 {
		o.WebhookWait = DefaultWebhookWait
	}
	if o.Location == nil {
		o.Location = time.UTC
	}
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
	if o.Version == "" {
		o.Version = "dev"
	}
	return o, nil
}

// Run executes the plan and writes the evidence to o.OutDir. The error is
// for a run that could not take place (bad options, a listener that will
// not bind, a directory that cannot be written, ctx cancelled); a failed
// requirement is not an error but a Result with Pass false, its reason in
// SUMMARY.md.
func Run(ctx context.Context, o Options) (Result, error) {
	o, err := o.withDefaults()
	if err != nil {
		if o.Listener != nil {
			o.Listener.Close()
		}
		return Result{}, err
	}
	ln := o.Listener
	if ln == nil {
		if ln, err = net.Listen("tcp", o.Listen); err != nil {
			return Result{}, fmt.Errorf("certify: webhook listener on %s: %w", o.Listen, err)
		}
	}
	// Closed by the server's Shutdown too; this covers the early returns.
	defer ln.Close()
	if err := os.MkdirAll(o.OutDir, 0o755); err != nil {
		return Result{}, fmt.Errorf("certify: output directory: %w", err)
	}
	// The ledger keeps raw webhook bodies, IBANs and names included: it
	// lives in a private temporary directory, never in OutDir.
	tmp, err := os.MkdirTemp("", "ledgerd-certify-*")
	if err != nil {
		return Result{}, fmt.Errorf("certify: temporary ledger: %w", err)
	}
	defer os.RemoveAll(tmp)
	l, err := ledger.Open(ctx, filepath.Join(tmp, "ledgerd.db"), ledger.Options{Logger: o.Logger})
	if err != nil {
		return Result{}, fmt.Errorf("certify: temporary ledger: %w", err)
	}
	defer l.Close()

	hooks := &hookRecorder{now: o.Now, next: webhook.NewHandler(webhook.Options{
		Store:              l,
		AllowCIDRs:         o.WebhookAllowCIDRs,
		TrustedProxies:     o.WebhookTrustedProxies,
		Secret:             o.WebhookSecret,
		TimestampTolerance: o.WebhookTimestampTolerance,
		Logger:             o.Logger,
	})}
	srv := webhook.NewServer(ln.Addr().String(), o.WebhookPath, hooks)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	var stopOnce sync.Once
	stopHooks := func() {
		stopOnce.Do(func() {
			sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			defer cancel()
			if err := srv.Shutdown(sctx); err != nil {
				o.Logger.Warn("certify: webhook listener shutdown", "err", err)
			}
			if err := <-served; err != nil && !errors.Is(err, http.ErrServerClosed) {
				o.Logger.Warn("certify: webhook listener", "err", err)
			}
		})
	}
	defer stopHooks()

	r := &runner{o: o, ledger: l, hooks: hooks, stopHooks: stopHooks, hookAddr: ln.Addr().String()}
	base := o.HTTPClient.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	r.rec, err = newRecorder(base, o.Now, o.Location, o.AuthURL)
	if err != nil {
		return Result{}, fmt.Errorf("certify: %w", err)
	}
	hc := *o.HTTPClient
	hc.Transport = r.rec
	r.client, err = fuse.New(fuse.Config{
		BaseURL:      o.BaseURL,
		AuthURL:      o.AuthURL,
		Audience:     o.Audience,
		ClientID:     o.ClientID,
		ClientSecret: o.ClientSecret,
		HTTPClient:   &hc,
		MaxRetries:   o.MaxRetries,
		BaseBackoff:  o.BaseBackoff,
		MaxBackoff:   o.MaxBackoff,
		Logger:       o.Logger,
		Now:          r.clientNow,
	})
	if err != nil {
		return Result{}, fmt.Errorf("certify: %w", err)
	}

	res, err := r.run(ctx)
	if err != nil {
		return res, err
	}
	if err := r.write(&res); err != nil {
		return res, err
	}
	return res, nil
}

// clockOffset is how far the fuse client's clock runs ahead of real time:
// the token step moves it past the token's lifetime.
type clockOffset struct{ ns atomic.Int64 }

func (c *clockOffset) add(d time.Duration) { c.ns.Add(int64(d)) }
func (c *clockOffset) get() time.Duration  { return time.Duration(c.ns.Load()) }
