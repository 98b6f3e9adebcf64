package main

import (
	"bytes"
	"context"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sethvargo/go-envconfig"
)

// With the defaults the webhook intake is open to the host itself and to
// Fuse, and closed to strangers. From a test every request comes from
// loopback, so strangers and Fuse arrive through a trusted proxy's
// X-Forwarded-For, as behind a TLS proxy on the same host; behind a
// trusted proxy the default is Fuse alone, so a proxy that names no client
// is refused too. "any" opens the intake to everyone.
func TestServeWebhookIntakeIsClosedToStrangersByDefault(t *testing.T) {
	body := seedWebhook(t, "inbound_local_payment_settled")
	type try struct {
		name string
		hdr  []string
		want int
	}
	for _, tt := range []struct {
		name string
		env  map[string]string
		open string // the start-up line's open_to
		try  []try
	}{
		{"defaults", map[string]string{}, "fuse,loopback", []try{
			{"loopback", nil, 200},
			{"a stranger through a local proxy nobody trusts", []string{"X-Forwarded-For", "203.0.113.5"}, 403},
		}},
		{"behind a trusted proxy", map[string]string{"LEDGERD_WEBHOOK_TRUSTED_PROXIES": "127.0.0.1"}, "fuse", []try{
			{"Fuse production", []string{"X-Forwarded-For", "16.62.35.28"}, 200},
			{"Fuse sandbox", []string{"X-Forwarded-For", "157.241.38.195"}, 200},
			{"a stranger", []string{"X-Forwarded-For", "203.0.113.5"}, 403},
			{"a stranger claiming Fuse's address", []string{"X-Forwarded-For", "16.62.35.28, 203.0.113.5"}, 403},
			{"the proxy naming no client", nil, 403},
		}},
		{"any", map[string]string{"LEDGERD_WEBHOOK_TRUSTED_PROXIES": "127.0.0.1", "LEDGERD_WEBHOOK_ALLOW_CIDRS": "any"}, "any", []try{
			{"a stranger", []string{"X-Forwarded-For", "203.0.113.5"}, 200},
		}},
		{"names mixed with networks", map[string]string{"LEDGERD_WEBHOOK_TRUSTED_PROXIES": "127.0.0.1",
			"LEDGERD_WEBHOOK_ALLOW_CIDRS": "fuse-production,203.0.113.0/24"}, "fuse-production,203.0.113.0/24", []try{
			{"a listed network", []string{"X-Forwarded-For", "203.0.113.5"}, 200},
			{"Fuse sandbox", []string{"X-Forwarded-For", "15.185.183.112"}, 403},
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tt.env["LEDGERD_DB"] = filepath.Join(t.TempDir(), "ledgerd.db")
			d := serveLogged(t, tt.env)
			for _, c := range tt.try {
				if got := postHook(t, d.hookURL, body, c.hdr...); got != c.want {
					t.Errorf("%s: %d, want %d", c.name, got, c.want)
				}
			}
			d.stop()
			if !strings.Contains(d.logs.String(), `"msg":"webhook intake"`) || !strings.Contains(d.logs.String(), `"open_to":"`+tt.open+`"`) {
				t.Errorf("no start-up line saying the intake is open to %s:\n%s", tt.open, d.logs)
			}
		})
	}
}

// go-envconfig takes a variable set to "" as set: an empty allow list is
// a configuration error (exit 2) that says how to open the intake, not
// silently "allow all" as before nor a listener that refuses everyone.
func TestServeRefusesAnEmptyWebhookAllowList(t *testing.T) {
	// A serve that starts anyway is stopped, not waited for forever.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var errb bytes.Buffer
	code := run(ctx, []string{"serve"}, envconfig.MapLookuper(map[string]string{"LEDGERD_DB": filepath.Join(t.TempDir(), "x.db"),
		"LEDGERD_LISTEN": "127.0.0.1:0", "LEDGERD_ADMIN_LISTEN": "127.0.0.1:0", "LEDGERD_WEBHOOK_ALLOW_CIDRS": ""}), io.Discard, &errb)
	if errOut := errb.String(); code != 2 || !strings.Contains(errOut, `LEDGERD_WEBHOOK_ALLOW_CIDRS: empty: say "any"`) {
		t.Errorf("exit %d, want 2 naming the variable and \"any\":\n%s", code, errOut)
	}
}
