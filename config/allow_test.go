package config_test

import (
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/ledgerd/ledgerd/config"
)

func allows(nets []netip.Prefix, addr string) bool {
	a := netip.MustParseAddr(addr)
	for _, p := range nets {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// fuseAddrs are the addresses Fuse publishes for its webhooks
// (fuse-api.md §7): sandbox, then production.
var fuseAddrs = []string{"15.185.183.112", "157.241.63.92", "157.241.38.195", "16.62.35.28", "16.63.177.47", "16.63.180.53"}

// With nothing set, the webhook intake is open to Fuse and the host itself
// and closed to everyone else.
func TestWebhookAllowListDefaultsToFuseAndLoopbackOnly(t *testing.T) {
	c := mustLoad(t, nil)
	if c.WebhookAllow != "fuse,loopback" {
		t.Errorf("WebhookAllow = %q, want fuse,loopback", c.WebhookAllow)
	}
	for _, a := range append([]string{"127.0.0.1", "127.8.9.10", "::1"}, fuseAddrs...) {
		if !allows(c.WebhookAllowCIDRs, a) {
			t.Errorf("%s refused by default", a)
		}
	}
	for _, a := range []string{"203.0.113.5", "10.0.0.1", "192.168.1.1", "2001:db8::1", "15.185.183.113"} {
		if allows(c.WebhookAllowCIDRs, a) {
			t.Errorf("stranger %s allowed by default", a)
		}
	}
}

// Behind a trusted proxy the default leaves loopback out: a proxy on the
// same host that forwards without X-Forwarded-For is then refused instead
// of taken for the host itself. A list given explicitly is kept as given.
func TestWebhookAllowListDefaultBehindATrustedProxyIsFuseAlone(t *testing.T) {
	c := mustLoad(t, map[string]string{"LEDGERD_WEBHOOK_TRUSTED_PROXIES": "127.0.0.1"})
	if c.WebhookAllow != "fuse" || allows(c.WebhookAllowCIDRs, "127.0.0.1") || !allows(c.WebhookAllowCIDRs, "16.62.35.28") {
		t.Errorf("behind a proxy: %q %v, want fuse alone", c.WebhookAllow, c.WebhookAllowCIDRs)
	}
	c = mustLoad(t, map[string]string{"LEDGERD_WEBHOOK_TRUSTED_PROXIES": "127.0.0.1", "LEDGERD_WEBHOOK_ALLOW_CIDRS": "fuse,loopback"})
	if c.WebhookAllow != "fuse,loopback" || !allows(c.WebhookAllowCIDRs, "127.0.0.1") {
		t.Errorf("explicit list behind a proxy: %q, want fuse,loopback", c.WebhookAllow)
	}
	c = mustLoad(t, map[string]string{"LEDGERD_WEBHOOK_TRUSTED_PROXIES": " , "})
	if c.WebhookAllow != "fuse,loopback" {
		t.Errorf("no proxy listed: %q, want the plain default", c.WebhookAllow)
	}
}

func TestWebhookAllowListNamesMixWithNetworks(t *testing.T) {
	tests := []struct {
		value, spec  string
		allowed, not []string
	}{
		{"fuse,10.0.0.0/8", "fuse,10.0.0.0/8", append([]string{"10.9.8.7"}, fuseAddrs...), []string{"127.0.0.1", "11.0.0.1"}},
		{"fuse-production", "fuse-production", fuseAddrs[3:], append([]string{"127.0.0.1"}, fuseAddrs[:3]...)},
		{" Fuse-Sandbox , LOOPBACK ", "fuse-sandbox,loopback", append([]string{"127.0.0.1", "::1"}, fuseAddrs[:3]...), fuseAddrs[3:]},
		{"any", "any", []string{"203.0.113.5", "2001:db8::1", "127.0.0.1"}, nil},
		{"loopback,192.0.2.7", "loopback,192.0.2.7/32", []string{"192.0.2.7", "127.0.0.1"}, []string{"192.0.2.8", "16.62.35.28"}},
	}
	for _, tt := range tests {
		c := mustLoad(t, map[string]string{"LEDGERD_WEBHOOK_ALLOW_CIDRS": tt.value})
		if c.WebhookAllow != tt.spec {
			t.Errorf("%q: WebhookAllow = %q, want %q", tt.value, c.WebhookAllow, tt.spec)
		}
		for _, a := range tt.allowed {
			if !allows(c.WebhookAllowCIDRs, a) {
				t.Errorf("%q refuses %s", tt.value, a)
			}
		}
		for _, a := range tt.not {
			if allows(c.WebhookAllowCIDRs, a) {
				t.Errorf("%q allows %s", tt.value, a)
			}
		}
	}
}

// A variable set to "" is set (go-envconfig): an empty allow list is a
// configuration error that names the way to open the intake, rather than
// silently the old "allow all" or a listener that refuses everyone.
func TestWebhookAllowListSetEmptyIsAnError(t *testing.T) {
	for _, v := range []string{"", " ", ",", " , "} {
		_, err := load(t, map[string]string{"LEDGERD_WEBHOOK_ALLOW_CIDRS": v})
		if !errors.Is(err, config.ErrInvalid) {
			t.Fatalf("%q: Load error = %v, want one wrapping ErrInvalid", v, err)
		}
		want := "\nLEDGERD_WEBHOOK_ALLOW_CIDRS: empty: say \"any\" to accept webhooks from every address, or leave it unset for \"fuse,loopback\""
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q: Load error =\n%v\nwant a line %q", v, err, want)
		}
	}
	if _, _, err := config.ParseAllow(""); err == nil {
		t.Error(`ParseAllow("") accepted`)
	}
}

func TestQuarantineMaxBytesTakesBinaryUnits(t *testing.T) {
	for v, want := range map[string]int64{"1": 1, "4096": 4096, "64KiB": 64 << 10, "256MiB": 256 << 20, "2 GiB": 2 << 30, "1TiB": 1 << 40} {
		if got := mustLoad(t, map[string]string{"LEDGERD_QUARANTINE_MAX_BYTES": v}).QuarantineMaxBytes; got != want {
			t.Errorf("%q: %d, want %d", v, got, want)
		}
	}
	for v, want := range map[string]string{
		"0":                    `must be positive, got "0"`,
		"-5MiB":                `must be positive, got "-5MiB"`,
		"":                     `bad size ""`,
		"10MB":                 `bad size "10MB"`,
		"1.5GiB":               `bad size "1.5GiB"`,
		"9999999999999TiB":     `too large: "9999999999999TiB"`,
		"99999999999999999999": `bad size "99999999999999999999"`,
	} {
		_, err := load(t, map[string]string{"LEDGERD_QUARANTINE_MAX_BYTES": v})
		if !errors.Is(err, config.ErrInvalid) || !strings.Contains(err.Error(), "\nLEDGERD_QUARANTINE_MAX_BYTES: "+want) {
			t.Errorf("%q: Load error = %v, want %q", v, err, want)
		}
	}
}
