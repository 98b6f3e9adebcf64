package config

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"github.com/ledgerd/ledgerd/fuse"
)

// Names that LEDGERD_WEBHOOK_ALLOW_CIDRS accepts besides CIDRs and
// addresses.
const (
	// AllowFuse is every address Fuse publishes for its webhooks, sandbox
	// and production.
	AllowFuse = "fuse"
	// AllowFuseSandbox and AllowFuseProduction are one of the two.
	AllowFuseSandbox    = "fuse-sandbox"
	AllowFuseProduction = "fuse-production"
	// AllowLoopback is 127.0.0.0/8 and ::1: the host itself.
	AllowLoopback = "loopback"
	// AllowAny is every address.
	AllowAny = "any"
)

// Defaults of LEDGERD_WEBHOOK_ALLOW_CIDRS: Fuse and the host itself (the
// demo, tests, a local curl); behind a trusted proxy, Fuse alone, so that
// a proxy on the same host that names no client (no X-Forwarded-For) is
// not taken for the host itself.
const (
	DefaultWebhookAllow              = AllowFuse + "," + AllowLoopback
	DefaultWebhookAllowBehindProxies = AllowFuse
)

// errEmptyAllow is ParseAllow's answer to a list with no item.
var errEmptyAllow = fmt.Errorf(`empty: say %q to accept webhooks from every address, or leave it unset for %q`,
	AllowAny, DefaultWebhookAllow)

// ParseAllow reads an allow list: comma-separated names (fuse,
// fuse-sandbox, fuse-production, loopback, any; any case), CIDRs and bare
// addresses (single-host networks). It returns the list as it applies,
// names in lower case and networks masked (for logs), and the networks it
// stands for. A list with no item is an error: an allow list that allows
// nobody is never what was meant, and "allow all" is spelled "any".
func ParseAllow(list string) (string, []netip.Prefix, error) {
	spec, nets, errs := parseAllow(list)
	return spec, nets, errors.Join(errs...)
}

// parseAllow is ParseAllow with one error per bad item.
func parseAllow(list string) (string, []netip.Prefix, []error) {
	var (
		items []string
		nets  []netip.Prefix
		errs  []error
	)
	for item := range strings.SplitSeq(list, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		name := strings.ToLower(item)
		switch name {
		case AllowFuse:
			nets = appendHosts(appendHosts(nets, fuse.WebhookSourcesSandbox()), fuse.WebhookSourcesProduction())
		case AllowFuseSandbox:
			nets = appendHosts(nets, fuse.WebhookSourcesSandbox())
		case AllowFuseProduction:
			nets = appendHosts(nets, fuse.WebhookSourcesProduction())
		case AllowLoopback:
			nets = append(nets, netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128"))
		case AllowAny:
			nets = append(nets, netip.MustParsePrefix("0.0.0.0/0"), netip.MustParsePrefix("::/0"))
		default:
			p, err := parsePrefix(item)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			nets = append(nets, p)
			name = p.String()
		}
		items = append(items, name)
	}
	if len(errs) > 0 {
		return "", nil, errs
	}
	if len(nets) == 0 {
		return "", nil, []error{errEmptyAllow}
	}
	return strings.Join(items, ","), nets, nil
}

func appendHosts(nets []netip.Prefix, addrs []netip.Addr) []netip.Prefix {
	for _, a := range addrs {
		nets = append(nets, netip.PrefixFrom(a, a.BitLen()))
	}
	return nets
}

// parsePrefix reads a CIDR or a bare address (a single-host network),
// masked (10.1.2.3/8 means 10.0.0.0/8: logs and comparisons show the
// network) and unmapped.
func parsePrefix(item string) (netip.Prefix, error) {
	if strings.Contains(item, "/") {
		p, err := netip.ParsePrefix(item)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("bad CIDR %q", item)
		}
		return p.Masked(), nil
	}
	addr, err := netip.ParseAddr(item)
	if err != nil || addr.Zone() != "" {
		return netip.Prefix{}, fmt.Errorf("bad CIDR or IP %q", item)
	}
	addr = addr.Unmap()
	return netip.PrefixFrom(addr, addr.BitLen()), nil
}
