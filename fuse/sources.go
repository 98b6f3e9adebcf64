package fuse

import "net/netip"

// WebhookSourcesSandbox returns the addresses Fuse's sandbox sends webhooks
// from, as Fuse publishes them (fuse-api.md §7).
func WebhookSourcesSandbox() []netip.Addr {
	return addrs("15.185.183.112", "157.241.63.92", "157.241.38.195")
}

// WebhookSourcesProduction returns the addresses Fuse's production sends
// webhooks from, as Fuse publishes them (fuse-api.md §7).
func WebhookSourcesProduction() []netip.Addr {
	return addrs("16.62.35.28", "16.63.177.47", "16.63.180.53")
}

func addrs(s ...string) []netip.Addr {
	out := make([]netip.Addr, len(s))
	for i, a := range s {
		out[i] = netip.MustParseAddr(a)
	}
	return out
}
