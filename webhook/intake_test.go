package webhook_test

import (
	"net/netip"
	"testing"

	"github.com/ledgerd/ledgerd/webhook"
)

// A proxy on this host that ledgerd was not told to trust makes whoever it
// forwards look like the host itself, which the default allow list lets
// in: such a request (loopback peer, X-Forwarded-For) is refused unless
// the allow list lets in anyone anyway, or the proxy is trusted.
func TestUntrustedLocalProxyIsRefused(t *testing.T) {
	t.Parallel()
	body := seedBody(t, "seed", "inbound_local_payment_settled")
	loopback := []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128"),
		netip.MustParsePrefix("16.62.35.28/32")}
	anyone := []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0"), netip.MustParsePrefix("::/0")}
	trusted := []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}
	cases := []struct {
		name   string
		opts   webhook.Options
		remote string
		hdr    []string
		want   int
	}{
		{"loopback, no proxy", webhook.Options{AllowCIDRs: loopback}, "127.0.0.1:5000", nil, 200},
		{"untrusted local proxy", webhook.Options{AllowCIDRs: loopback}, "127.0.0.1:5000", []string{"X-Forwarded-For", "203.0.113.5"}, 403},
		{"untrusted local proxy over IPv6", webhook.Options{AllowCIDRs: loopback}, "[::1]:5000", []string{"X-Forwarded-For", "16.62.35.28"}, 403},
		{"untrusted local proxy, intake open to any", webhook.Options{AllowCIDRs: anyone}, "127.0.0.1:5000", []string{"X-Forwarded-For", "203.0.113.5"}, 200},
		{"trusted local proxy forwarding Fuse", webhook.Options{AllowCIDRs: loopback, TrustedProxies: trusted}, "127.0.0.1:5000",
			[]string{"X-Forwarded-For", "16.62.35.28"}, 200},
		{"trusted local proxy forwarding a stranger", webhook.Options{AllowCIDRs: loopback, TrustedProxies: trusted}, "127.0.0.1:5000",
			[]string{"X-Forwarded-For", "203.0.113.5"}, 403},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			status, events, q := direct(t, c.opts, c.remote, body, c.hdr...)
			if status != c.want {
				t.Errorf("status %d, want %d", status, c.want)
			}
			if c.want != 200 && (events != 0 || q != 0) {
				t.Errorf("refused request left %d events and %d quarantine rows", events, q)
			}
		})
	}
}
