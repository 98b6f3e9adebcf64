package config_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"testing"

	"github.com/robfig/cron/v3"
	"github.com/sethvargo/go-envconfig"

	"github.com/ledgerd/ledgerd/config"
)

// fuzzVars are the variables FuzzConfig sets, in the order of its string
// arguments. The *_FILE variants are left out: a fuzzer choosing paths
// would read the test machine's files.
var fuzzVars = []string{
	"LEDGERD_DB", "STATE_DIRECTORY", "LEDGERD_LISTEN", "LEDGERD_ADMIN_LISTEN", "LEDGERD_WEBHOOK_PATH",
	"LEDGERD_WEBHOOK_ALLOW_CIDRS", "LEDGERD_WEBHOOK_TRUSTED_PROXIES", "LEDGERD_WEBHOOK_SECRET",
	"LEDGERD_WEBHOOK_TIMESTAMP_TOLERANCE", "LEDGERD_BACKFILL_SCHEDULE", "LEDGERD_RECONCILE_SCHEDULE",
	"LEDGERD_TZ", "LEDGERD_LOG_FORMAT", "LEDGERD_LOG_LEVEL", "FUSE_BASE_URL", "FUSE_CLIENT_ID",
	"FUSE_CLIENT_SECRET",
}

// FuzzConfig feeds random environments through Load: it never panics, it
// is deterministic, every error wraps ErrInvalid with one line per
// problem naming a variable and never shows a secret, and every Config it
// accepts satisfies what the rest of ledgerd relies on. present is a bit
// mask: bit i set means fuzzVars[i] is in the environment (a variable set
// to "" is set, which go-envconfig and Load treat differently from unset).
func FuzzConfig(f *testing.F) {
	f.Add(uint32(0), "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "")
	f.Add(uint32(1<<17-1), "/var/lib/ledgerd/ledgerd.db", "/var/lib/ledgerd", ":8080", "127.0.0.1:9090", "/webhooks/fuse",
		"15.185.183.112,157.241.63.92/32", "10.0.0.0/8", "hook-secret-value", "15m", "@every 15m", "0 2 * * *",
		"Asia/Dubai", "json", "debug", "https://api-sandbox.fuse.me/v1", "client-id", "fuse-secret-value")
	f.Add(uint32(1<<17-1), "", "/a:/b", "x", ":0", "webhooks", "1.2.3.4/33,::ffff:1.2.3.4", "fe80::1%eth0",
		"", "-5s", "@every 10ms", "61 * * * *", "Mars/Olympus", "yaml", "verbose", "ftp://user:pw@host/x", "", "s")
	f.Fuzz(func(t *testing.T, present uint32, db, stateDir, listen, admin, path, cidrs, proxies, hookSecret,
		tolerance, backfill, reconcile, tz, format, level, baseURL, clientID, clientSecret string) {
		values := []string{db, stateDir, listen, admin, path, cidrs, proxies, hookSecret, tolerance, backfill,
			reconcile, tz, format, level, baseURL, clientID, clientSecret}
		env := map[string]string{}
		for i, name := range fuzzVars {
			if present&(1<<i) != 0 {
				env[name] = values[i]
			}
		}
		cfg, err := config.Load(context.Background(), envconfig.MapLookuper(env))
		cfg2, err2 := config.Load(context.Background(), envconfig.MapLookuper(env))
		if (err == nil) != (err2 == nil) || err != nil && err.Error() != err2.Error() {
			t.Fatalf("not deterministic: %v, then %v", err, err2)
		}
		secrets := secretsOf(env)
		if err != nil {
			if cfg != nil {
				t.Fatal("a Config along with an error")
			}
			if !errors.Is(err, config.ErrInvalid) {
				t.Fatalf("error does not wrap ErrInvalid: %v", err)
			}
			msg := err.Error()
			for _, s := range secrets {
				if strings.Contains(msg, s) {
					t.Fatalf("error shows a secret %q:\n%s", s, msg)
				}
			}
			for _, line := range strings.Split(msg, "\n")[1:] {
				if !namesAVariable(line) {
					t.Fatalf("problem line %q names no variable", line)
				}
			}
			return
		}
		if !reflect.DeepEqual(cfg.WebhookAllowCIDRs, cfg2.WebhookAllowCIDRs) || cfg.DB != cfg2.DB {
			t.Fatal("not deterministic")
		}
		checkConfig(t, cfg, env)
		// No printed or logged form of the Config shows a secret.
		var logged bytes.Buffer
		slog.New(slog.NewJSONHandler(&logged, nil)).Info("config", "config", cfg)
		printed := fmt.Sprintf("%v %+v %#v %s", cfg, cfg, cfg, logged.String())
		for _, s := range secrets {
			if strings.Contains(printed, s) {
				t.Fatalf("a printed or logged Config shows a secret %q:\n%s", s, printed)
			}
		}
	})
}

// secretsOf returns the secret values worth looking for in output: long
// enough to be unmistakable, and not also the value of another variable
// (which may rightly be echoed).
func secretsOf(env map[string]string) []string {
	var out []string
	for _, name := range []string{"LEDGERD_WEBHOOK_SECRET", "FUSE_CLIENT_SECRET"} {
		s := env[name]
		if len(s) < 8 {
			continue
		}
		shared := false
		for other, v := range env {
			if other != name && strings.Contains(v, s) {
				shared = true
			}
		}
		if !shared && !strings.Contains("[redacted]", s) {
			out = append(out, s)
		}
	}
	return out
}

func namesAVariable(line string) bool {
	for _, v := range config.Describe() {
		if strings.HasPrefix(line, v.Name+":") {
			return true
		}
	}
	return false
}

// checkConfig asserts the invariants of an accepted Config.
func checkConfig(t *testing.T, c *config.Config, env map[string]string) {
	t.Helper()
	if c.DB == "" {
		t.Fatal("empty DB accepted")
	}
	for name, addr := range map[string]string{"Listen": c.Listen, "AdminListen": c.AdminListen} {
		if _, port, err := net.SplitHostPort(addr); err != nil || port == "" {
			t.Fatalf("%s %q is not host:port", name, addr)
		}
	}
	if c.Listen == c.AdminListen && !strings.HasSuffix(c.Listen, ":0") {
		t.Fatalf("both listeners on %q", c.Listen)
	}
	// The webhook path is a route that matches itself alone, and never
	// makes the router panic.
	func() {
		defer func() {
			if r := recover(); r != nil {
				t.Fatalf("webhook path %q makes the router panic: %v", c.WebhookPath, r)
			}
		}()
		mux := http.NewServeMux()
		mux.Handle(c.WebhookPath, http.NotFoundHandler())
		if _, pattern := mux.Handler(httptest.NewRequest(http.MethodPost, c.WebhookPath, nil)); pattern != c.WebhookPath {
			t.Fatalf("webhook path %q routes as %q", c.WebhookPath, pattern)
		}
		if _, pattern := mux.Handler(httptest.NewRequest(http.MethodPost, c.WebhookPath+"/x", nil)); pattern != "" && c.WebhookPath != "/" {
			t.Fatalf("webhook path %q also serves %q", c.WebhookPath, c.WebhookPath+"/x")
		}
	}()
	for _, p := range append(c.WebhookAllowCIDRs, c.WebhookTrustedProxies...) {
		if !p.IsValid() || p != p.Masked() || p.Addr().Zone() != "" || p.Addr().Is4In6() {
			t.Fatalf("prefix %v is not a plain masked network", p)
		}
	}
	if c.WebhookTimestampTolerance < 0 {
		t.Fatalf("negative tolerance %s", c.WebhookTimestampTolerance)
	}
	for _, spec := range []string{c.BackfillSchedule, c.ReconcileSchedule} {
		if _, err := cron.ParseStandard(spec); err != nil {
			t.Fatalf("schedule %q accepted but cron refuses it: %v", spec, err)
		}
	}
	if c.Location == nil {
		t.Fatal("nil Location")
	}
	if c.LogFormat != config.LogFormatText && c.LogFormat != config.LogFormatJSON {
		t.Fatalf("log format %q", c.LogFormat)
	}
	for _, raw := range []string{c.FuseBaseURL, c.FuseAuthURL} {
		u, err := url.Parse(raw)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
			t.Fatalf("URL %q accepted", raw)
		}
	}
	if c.FuseAudience == "" {
		t.Fatal("empty audience accepted")
	}
	if v, ok := env["FUSE_CLIENT_SECRET"]; ok && c.FuseClientSecret.Reveal() != v {
		t.Fatal("client secret changed on the way")
	}
	if v, ok := env["LEDGERD_WEBHOOK_SECRET"]; ok && c.WebhookSecret.Reveal() != v {
		t.Fatal("webhook secret changed on the way")
	}
}
