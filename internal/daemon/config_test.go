package daemon

import (
	"bytes"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"testing"

	"github.com/ledgerd/ledgerd/config"
	"github.com/ledgerd/ledgerd/reconcile"
	"github.com/sethvargo/go-envconfig"
)

// serve says at start whom the webhook intake is open to, and warns when
// that is anyone who can reach it, and only then.
func TestServeWarnsWhenWebhooksAreOpenToAnyone(t *testing.T) {
	open := &net.TCPAddr{IP: net.IPv4zero, Port: 8080}
	loop := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8080}
	parse := func(list string) config.Config {
		var c config.Config
		var err error
		if c.WebhookAllow, c.WebhookAllowCIDRs, err = config.ParseAllow(list); err != nil {
			t.Fatal(err)
		}
		return c
	}
	anyone := parse("any")
	signed := parse("any")
	signed.WebhookSecret = config.NewSecret("s3cret-value")
	for _, tt := range []struct {
		name   string
		cfg    config.Config
		addr   net.Addr
		warns  bool
		openTo string
	}{
		{"all interfaces, no secret, no allow list", config.Config{}, open, true, "any"},
		{"all interfaces, no secret, any", anyone, open, true, "any"},
		{"loopback", anyone, loop, false, "any"},
		{"secret", signed, open, false, "any"},
		{"the default allow list", parse("fuse,loopback"), open, false, "fuse,loopback"},
		{"allow list", config.Config{WebhookAllow: "15.185.183.112/32",
			WebhookAllowCIDRs: []netip.Prefix{netip.MustParsePrefix("15.185.183.112/32")}}, open, false, "15.185.183.112/32"},
	} {
		var buf bytes.Buffer
		logWebhookIntake(slog.New(slog.NewTextHandler(&buf, nil)), &tt.cfg, tt.addr)
		if got := strings.Contains(buf.String(), "accepts events from anyone"); got != tt.warns {
			t.Errorf("%s: warned %v, want %v\n%s", tt.name, got, tt.warns, buf.String())
		}
		if !strings.Contains(buf.String(), "msg=\"webhook intake\"") || !strings.Contains(buf.String(), "open_to="+tt.openTo+" ") {
			t.Errorf("%s: no start-up line saying the intake is open to %s:\n%s", tt.name, tt.openTo, buf.String())
		}
	}
}

// TestReconcileTuningDefaultsAreTheReconcilersOwn: the environment's
// defaults (config cannot import reconcile) are reconcile's Default*, so
// serve and ledgerd reconcile tune a run as reconcile.New would.
func TestReconcileTuningDefaultsAreTheReconcilersOwn(t *testing.T) {
	cfg, err := config.Load(t.Context(), envconfig.MapLookuper(nil))
	if err != nil {
		t.Fatal(err)
	}
	o := ReconcileOptions(cfg)
	if o.LedgerGrace != reconcile.DefaultLedgerGrace || o.FuseGrace != reconcile.DefaultFuseGrace ||
		o.StalePendingAfter != reconcile.DefaultStalePendingAfter || o.MaxNewBreaks != reconcile.DefaultMaxNewBreaks ||
		o.MaxLookups != reconcile.DefaultMaxLookups || o.LookupTime != reconcile.DefaultLookupTime ||
		o.Workers != reconcile.DefaultWorkers {
		t.Errorf("defaults from the environment: %s %s %s %d %d %s %d; reconcile's: %s %s %s %d %d %s %d",
			o.LedgerGrace, o.FuseGrace, o.StalePendingAfter, o.MaxNewBreaks, o.MaxLookups, o.LookupTime, o.Workers,
			reconcile.DefaultLedgerGrace, reconcile.DefaultFuseGrace, reconcile.DefaultStalePendingAfter,
			reconcile.DefaultMaxNewBreaks, reconcile.DefaultMaxLookups, reconcile.DefaultLookupTime, reconcile.DefaultWorkers)
	}
}
