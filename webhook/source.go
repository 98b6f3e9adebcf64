package webhook

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// clientAddr is the address the webhook came from: the TCP peer, unless
// the peer is a trusted proxy, in which case X-Forwarded-For is walked from
// the right (the entries the proxies themselves appended) past every
// trusted proxy to the first address that is not one. A client cannot
// spoof its way in by sending its own X-Forwarded-For: entries to the left
// of an untrusted hop are never read.
func clientAddr(r *http.Request, trusted []netip.Prefix) (netip.Addr, error) {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	peer, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("peer address %q: %w", r.RemoteAddr, err)
	}
	addr := peer.Unmap()
	if !allowedIn(addr, trusted) {
		return addr, nil
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		h := strings.TrimSpace(hops[i])
		if h == "" {
			continue
		}
		a, err := netip.ParseAddr(h)
		if err != nil {
			return netip.Addr{}, fmt.Errorf("X-Forwarded-For entry %q is not an address", h)
		}
		addr = a.Unmap()
		if !allowedIn(addr, trusted) {
			return addr, nil
		}
	}
	return addr, nil
}

// allowed reports whether addr may post webhooks: any address when no
// allow list is configured.
func allowed(addr netip.Addr, allow []netip.Prefix) bool {
	return len(allow) == 0 || allowedIn(addr, allow)
}

// OpenToAnyone reports whether an allow list lets in every address: it is
// empty (Options.AllowCIDRs) or holds a /0 (config's "any").
func OpenToAnyone(allow []netip.Prefix) bool {
	for _, p := range allow {
		if p.Bits() == 0 {
			return true
		}
	}
	return len(allow) == 0
}

// untrustedLocalProxy reports a request that came through a proxy on this
// host that ledgerd was not told to trust: a loopback peer outside
// TrustedProxies that sends X-Forwarded-For. Whoever the proxy forwards
// would otherwise pass as the host itself, which the default allow list
// lets in; unless the list lets in anyone anyway, such a request is
// refused, to fail closed until LEDGERD_WEBHOOK_TRUSTED_PROXIES names the
// proxy.
func untrustedLocalProxy(r *http.Request, client netip.Addr, o Options) bool {
	return client.IsLoopback() && !allowedIn(client, o.TrustedProxies) && len(r.Header.Values("X-Forwarded-For")) > 0 &&
		!OpenToAnyone(o.AllowCIDRs)
}

func allowedIn(addr netip.Addr, prefixes []netip.Prefix) bool {
	for _, p := range prefixes {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}
