package main

import (
	"context"
	"fmt"
	"net"
	"time"

	"github.com/ledgerd/ledgerd/certify"
	"github.com/ledgerd/ledgerd/fuse"
	"github.com/ledgerd/ledgerd/fuse/sandbox"
	"github.com/ledgerd/ledgerd/internal/daemon"
	"github.com/sethvargo/go-envconfig"
)

// sandboxWebhookWait is --webhook-wait's default with --sandbox, where
// every event arrives within milliseconds.
const sandboxWebhookWait = 15 * time.Second

func cmdCertify(ctx context.Context, e env, args []string) error {
	fs := newFlags(e, "certify", "--out DIR [--sandbox] [--business|--individual] [--webhook-wait D] [--listen ADDR]",
		`Runs Fuse's integration test plan (the checks Fuse asks for before it grants
production access) and writes the evidence pack to DIR: requests.jsonl (every
API request and response, masked), webhooks.jsonl (every webhook received,
with the 2xx sent and its row in the events table), SUMMARY.md (one page:
each requirement, PASS or FAIL, where its evidence is), token-and-
idempotency.md, and a zip of the four to submit as is. No secret, token,
IBAN or name is written unmasked.

Against $FUSE_BASE_URL (a Fuse sandbox, tokens from $FUSE_AUTH_URL) the
webhook listener serves on $LEDGERD_LISTEN at $LEDGERD_WEBHOOK_PATH, which
must be the URL configured in the Fuse portal; events the API cannot cause
(an inbound payment, a failed payment) are asked for as portal actions, each
waited for up to --webhook-wait. With --sandbox, the built-in sandbox runs
in-process on a free loopback port with $FUSE_CLIENT_ID/$FUSE_CLIENT_SECRET
(default sandbox/sandbox) and certify drives it through its controls.

Exit 0 when every requirement passed, 1 when any failed (the reasons are in
SUMMARY.md), 2 on a usage or configuration error.`)
	out := fs.String("out", "", "directory for the evidence (created if needed)")
	useSandbox := fs.Bool("sandbox", false, "run against the built-in sandbox, started in-process")
	business := fs.Bool("business", false, "create a business customer (the default)")
	individual := fs.Bool("individual", false, "create an individual customer")
	wait := fs.Duration("webhook-wait", 0, "how long to wait for webhooks and portal actions (default 2m; 15s with --sandbox)")
	listen := fs.String("listen", "", "webhook listener address (default $LEDGERD_LISTEN; 127.0.0.1:0 with --sandbox)")
	seed := fs.Int64("seed", 1, "seed of the built-in sandbox (--sandbox only)")
	if err := parseNone(fs, args); err != nil {
		return err
	}
	switch {
	case *out == "":
		return usageErrorf("--out DIR is required")
	case *business && *individual:
		return usageErrorf("--business and --individual exclude each other")
	case *wait < 0:
		return usageErrorf("--webhook-wait must not be negative")
	}
	customer := certify.CustomerBusiness
	if *individual {
		customer = certify.CustomerIndividual
	}
	cfg, log, err := loadConfig(ctx, e)
	if err != nil {
		return err
	}

	o := certify.Options{
		BaseURL:                   cfg.FuseBaseURL,
		AuthURL:                   cfg.FuseAuthURL,
		Audience:                  cfg.FuseAudience,
		ClientID:                  cfg.FuseClientID,
		ClientSecret:              cfg.FuseClientSecret.Reveal(),
		CredentialSource:          credentialSource(e.lookup),
		Customer:                  customer,
		OutDir:                    *out,
		Listen:                    cfg.Listen,
		WebhookPath:               cfg.WebhookPath,
		WebhookSecret:             []byte(cfg.WebhookSecret.Reveal()),
		WebhookAllowCIDRs:         cfg.WebhookAllowCIDRs,
		WebhookTrustedProxies:     cfg.WebhookTrustedProxies,
		WebhookTimestampTolerance: cfg.WebhookTimestampTolerance,
		WebhookWait:               *wait,
		Location:                  cfg.Location,
		Logger:                    log,
		Progress:                  e.stdout,
		Version:                   version,
	}
	if *listen != "" {
		o.Listen = *listen
	}

	if *useSandbox {
		// Unset credentials take the sandbox's defaults, as in `ledgerd
		// sandbox`.
		if o.ClientID == "" {
			o.ClientID = "sandbox"
		}
		if o.ClientSecret == "" {
			o.ClientSecret = "sandbox"
		}
		if *listen == "" {
			o.Listen = "127.0.0.1:0"
		}
		if o.WebhookWait == 0 {
			o.WebhookWait = sandboxWebhookWait
		}
		// The sandbox delivers from loopback: an allow list of Fuse's
		// addresses would refuse it.
		o.WebhookAllowCIDRs, o.WebhookTrustedProxies = nil, nil
		hookLn, err := net.Listen("tcp", o.Listen)
		if err != nil {
			return usageErrorf("--listen %s: %v", o.Listen, err)
		}
		o.Listener = hookLn
		sbLn, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			hookLn.Close()
			return fmt.Errorf("built-in sandbox: %w", err)
		}
		sctx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() {
			done <- sandbox.ServeListener(sctx, sbLn, sandbox.Options{
				ClientID:      o.ClientID,
				ClientSecret:  o.ClientSecret,
				Seed:          *seed,
				WebhookURL:    "http://" + daemon.Dialable(hookLn.Addr()) + o.WebhookPath,
				WebhookSecret: cfg.WebhookSecret.Reveal(),
			}, log)
		}()
		defer func() {
			cancel()
			if err := <-done; err != nil {
				log.Warn("built-in sandbox", "err", err)
			}
		}()
		o.BaseURL = "http://" + sbLn.Addr().String() + "/v1"
		o.AuthURL, o.Audience = "http://"+sbLn.Addr().String()+sandbox.TokenPath, fuse.DefaultAudience
		o.BuiltInSandbox = true
	} else if o.ClientID == "" || o.ClientSecret == "" {
		return usageErrorf("FUSE_CLIENT_ID and FUSE_CLIENT_SECRET (or their _FILE forms) are required; --sandbox uses the built-in sandbox")
	}

	res, err := certify.Run(ctx, o)
	if err != nil {
		return err
	}
	fmt.Fprintln(e.stdout)
	for _, q := range res.Requirements {
		mark := "PASS"
		if !q.Pass {
			mark = "FAIL"
		}
		fmt.Fprintf(e.stdout, "%s %-4s %s\n", mark, q.ID, q.Title)
		if !q.Pass {
			fmt.Fprintf(e.stdout, "          %s\n", q.Detail)
		}
	}
	fmt.Fprintf(e.stdout, "\nevidence: %s\n", res.Zip)
	if !res.Pass {
		fmt.Fprintf(e.stderr, "ledgerd certify: %d of %d requirements not met; see %s\n",
			len(res.Failed()), len(res.Requirements), res.Files[0])
		return errProblem
	}
	return nil
}

// credentialSource names the variables the Fuse credentials came from,
// for the token document (never their values).
func credentialSource(l envconfig.Lookuper) string {
	from := func(name string) string {
		if v, ok := l.Lookup(name + "_FILE"); ok && v != "" {
			return name + "_FILE (a file)"
		}
		if v, ok := l.Lookup(name); ok && v != "" {
			return name + " (environment)"
		}
		return name + " (unset: the built-in sandbox's default)"
	}
	return from("FUSE_CLIENT_ID") + " and " + from("FUSE_CLIENT_SECRET")
}
