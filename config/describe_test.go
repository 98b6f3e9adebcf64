package config_test

import (
	"testing"

	"github.com/ledgerd/ledgerd/config"
)

// TestDescribeListsTheExternalContract pins the environment table of
// DESIGN.md: names, order and defaults.
func TestDescribeListsTheExternalContract(t *testing.T) {
	want := []config.Var{
		{Name: "LEDGERD_DB", Default: "ledgerd.db"},
		{Name: "STATE_DIRECTORY"},
		{Name: "LEDGERD_LISTEN", Default: ":8080"},
		{Name: "LEDGERD_ADMIN_LISTEN", Default: "127.0.0.1:9090"},
		{Name: "LEDGERD_WEBHOOK_PATH", Default: "/webhooks/fuse"},
		{Name: "LEDGERD_WEBHOOK_ALLOW_CIDRS", Default: "fuse,loopback"},
		{Name: "LEDGERD_WEBHOOK_TRUSTED_PROXIES"},
		{Name: "LEDGERD_WEBHOOK_SECRET"},
		{Name: "LEDGERD_WEBHOOK_SECRET_FILE"},
		{Name: "LEDGERD_WEBHOOK_TIMESTAMP_TOLERANCE", Default: "15m"},
		{Name: "LEDGERD_QUARANTINE_MAX_BYTES", Default: "256MiB"},
		{Name: "LEDGERD_BACKFILL_SCHEDULE", Default: "@every 15m"},
		{Name: "LEDGERD_RECONCILE_SCHEDULE", Default: "0 2 * * *"},
		{Name: "LEDGERD_TZ", Default: "UTC"},
		{Name: "LEDGERD_RECONCILE_LEDGER_GRACE", Default: "20m"},
		{Name: "LEDGERD_RECONCILE_FUSE_GRACE", Default: "5m"},
		{Name: "LEDGERD_RECONCILE_STALE_PENDING", Default: "24h"},
		{Name: "LEDGERD_RECONCILE_MAX_NEW_BREAKS", Default: "1000"},
		{Name: "LEDGERD_RECONCILE_MAX_LOOKUPS", Default: "200"},
		{Name: "LEDGERD_RECONCILE_LOOKUP_TIME", Default: "10s"},
		{Name: "LEDGERD_RECONCILE_WORKERS", Default: "8"},
		{Name: "LEDGERD_REPLICA_URL"},
		{Name: "LEDGERD_REPLICA_INTERVAL", Default: "1s"},
		{Name: "LEDGERD_REPLICA_ACCESS_KEY_ID"},
		{Name: "LEDGERD_REPLICA_ACCESS_KEY_ID_FILE"},
		{Name: "LEDGERD_REPLICA_SECRET_ACCESS_KEY"},
		{Name: "LEDGERD_REPLICA_SECRET_ACCESS_KEY_FILE"},
		{Name: "LEDGERD_LOG_FORMAT", Default: "text"},
		{Name: "LEDGERD_LOG_LEVEL", Default: "info"},
		{Name: "FUSE_BASE_URL", Default: "https://api-sandbox.fuse.me/v1"},
		{Name: "FUSE_AUTH_URL", Default: "https://auth-sandbox.fuse.me/oauth/token"},
		{Name: "FUSE_AUDIENCE", Default: "https://api.fuse.me"},
		{Name: "FUSE_CLIENT_ID"},
		{Name: "FUSE_CLIENT_ID_FILE"},
		{Name: "FUSE_CLIENT_SECRET"},
		{Name: "FUSE_CLIENT_SECRET_FILE"},
	}
	got := config.Describe()
	if len(got) != len(want) {
		t.Fatalf("Describe lists %d variables, want %d: %+v", len(got), len(want), got)
	}
	for i, v := range got {
		if v.Name != want[i].Name || v.Default != want[i].Default {
			t.Errorf("Describe()[%d] = %s=%q, want %s=%q", i, v.Name, v.Default, want[i].Name, want[i].Default)
		}
		if v.Description == "" {
			t.Errorf("%s has no description", v.Name)
		}
	}
}

// TestDescribedDefaultsAreWhatLoadUses feeds each listed default back in
// explicitly and expects the same Config as from an empty environment.
func TestDescribedDefaultsAreWhatLoadUses(t *testing.T) {
	env := map[string]string{}
	for _, v := range config.Describe() {
		if v.Default != "" {
			env[v.Name] = v.Default
		}
	}
	assertConfig(t, mustLoad(t, env), defaults())
}
