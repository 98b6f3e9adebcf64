package main

import (
	"context"
	"fmt"
	"net"

	"github.com/ledgerd/ledgerd/fuse/sandbox"
)

func cmdSandbox(ctx context.Context, e env, args []string) error {
	fs := newFlags(e, "sandbox", "[--listen ADDR] [--webhook-url URL] [--seed N] [--instant] [--token-ttl D]",
		`Runs the built-in Fuse emulator: the Fuse API under http://ADDR/v1
(idempotency, customers, accounts, payments, transfers, exchanges, paginated
listings) and its token endpoint at http://ADDR/oauth/token, on one
listener, with payments moving created → submitted → executed on its clock,
webhooks delivered to --webhook-url with Fuse's retry policy, and controls
under http://ADDR/sandbox/ (inbound payments, failures, adjustments, clock,
faults, ground truth). It prints the FUSE_BASE_URL and FUSE_AUTH_URL to
use, accepts the credentials in FUSE_CLIENT_ID and FUSE_CLIENT_SECRET
(default sandbox/sandbox) with Fuse's audience, and signs webhooks with
LEDGERD_WEBHOOK_SECRET when set. Its balance history closes days at
midnight in LEDGERD_TZ (Fuse does not say where its day ends), as
ledgerd's daily check does. Runs until interrupted. Not Fuse: a test
double faithful to fuse-api.md, for tests, the demo and certify.`)
	listen := fs.String("listen", "127.0.0.1:8081", "address to serve on")
	hookURL := fs.String("webhook-url", "", "where to deliver webhooks (empty: record only)")
	seed := fs.Int64("seed", 1, "seed of every random choice (ids, IBANs, faults)")
	instant := fs.Bool("instant", false, "make every lifecycle transition immediate")
	ttl := fs.Duration("token-ttl", 0, "access token lifetime (default 24h)")
	primaryFees := fs.Bool("fees-from-primary", true,
		"take a virtual account's payment fees from its customer's primary account, as fee_debit transactions")
	if err := parseNone(fs, args); err != nil {
		return err
	}
	cfg, log, err := loadConfig(ctx, e)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return usageErrorf("--listen %s: %v", *listen, err)
	}
	fmt.Fprintf(e.stdout, "fuse sandbox: FUSE_BASE_URL=http://%s/v1\n", ln.Addr())
	fmt.Fprintf(e.stdout, "fuse sandbox: FUSE_AUTH_URL=http://%s%s\n", ln.Addr(), sandbox.TokenPath)
	return sandbox.ServeListener(ctx, ln, sandbox.Options{
		ClientID:        cfg.FuseClientID,
		ClientSecret:    cfg.FuseClientSecret.Reveal(),
		Seed:            *seed,
		Instant:         *instant,
		WebhookURL:      *hookURL,
		WebhookSecret:   cfg.WebhookSecret.Reveal(),
		TokenTTL:        *ttl,
		HistoryZone:     cfg.Location,
		FeesFromPrimary: *primaryFees,
	}, log)
}
