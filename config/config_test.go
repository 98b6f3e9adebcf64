package config_test

import (
	"bytes"
	"errors"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/sethvargo/go-envconfig"

	"github.com/ledgerd/ledgerd/config"
)

// load runs config.Load over a map, never the real environment.
func load(t *testing.T, m map[string]string) (*config.Config, error) {
	t.Helper()
	return config.Load(t.Context(), envconfig.MapLookuper(m))
}

// mustLoad is load for environments that must be valid.
func mustLoad(t *testing.T, m map[string]string) *config.Config {
	t.Helper()
	c, err := load(t, m)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return c
}

// assertConfig compares c with want field by field; locations compare by
// name, since two loads of one zone are different pointers.
func assertConfig(t *testing.T, got *config.Config, want config.Config) {
	t.Helper()
	if got.Location.String() != want.Location.String() {
		t.Errorf("Location = %q, want %q", got.Location, want.Location)
	}
	g := *got
	g.Location, want.Location = nil, nil
	if g.WebhookSecret.Reveal() != want.WebhookSecret.Reveal() || g.FuseClientSecret.Reveal() != want.FuseClientSecret.Reveal() {
		t.Errorf("secrets differ: got %q/%q, want %q/%q",
			g.WebhookSecret.Reveal(), g.FuseClientSecret.Reveal(),
			want.WebhookSecret.Reveal(), want.FuseClientSecret.Reveal())
	}
	if !reflect.DeepEqual(g, want) {
		t.Errorf("Config =\n%+v\nwant\n%+v", g, want)
	}
}

// writeFile writes content to a new file in a temporary directory and
// returns its path.
func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func defaults() config.Config {
	return config.Config{
		DB:           "ledgerd.db",
		Listen:       ":8080",
		AdminListen:  "127.0.0.1:9090",
		WebhookPath:  "/webhooks/fuse",
		WebhookAllow: "fuse,loopback",
		WebhookAllowCIDRs: []netip.Prefix{
			netip.MustParsePrefix("15.185.183.112/32"), netip.MustParsePrefix("157.241.63.92/32"),
			netip.MustParsePrefix("157.241.38.195/32"), netip.MustParsePrefix("16.62.35.28/32"),
			netip.MustParsePrefix("16.63.177.47/32"), netip.MustParsePrefix("16.63.180.53/32"),
			netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128"),
		},
		WebhookTimestampTolerance: 15 * time.Minute,
		QuarantineMaxBytes:        256 << 20,
		BackfillSchedule:          "@every 15m",
		ReconcileSchedule:         "0 2 * * *",
		Location:                  time.UTC,
		ReconcileLedgerGrace:      20 * time.Minute,
		ReconcileFuseGrace:        5 * time.Minute,
		ReconcileStalePending:     24 * time.Hour,
		ReconcileMaxNewBreaks:     1000,
		ReconcileMaxLookups:       200,
		ReconcileLookupTime:       10 * time.Second,
		ReconcileWorkers:          8,
		ReplicaInterval:           time.Second,
		LogFormat:                 "text",
		LogLevel:                  slog.LevelInfo,
		FuseBaseURL:               "https://api-sandbox.fuse.me/v1",
		FuseAuthURL:               "https://auth-sandbox.fuse.me/oauth/token",
		FuseAudience:              "https://api.fuse.me",
	}
}

func TestLoadEmptyEnvironmentGivesContractDefaults(t *testing.T) {
	c := mustLoad(t, nil)
	assertConfig(t, c, defaults())
	if c.WebhookSecret.IsSet() || c.FuseClientSecret.IsSet() {
		t.Error("secrets set in an empty environment")
	}
	if c.WebhookTrustedProxies != nil {
		t.Error("trusted proxies in an empty environment")
	}
}

func TestLoadEveryVariableSet(t *testing.T) {
	c := mustLoad(t, map[string]string{
		"LEDGERD_DB":                          "/var/lib/ledgerd/book.db",
		"STATE_DIRECTORY":                     "/ignored/because/LEDGERD_DB/is/set",
		"LEDGERD_LISTEN":                      "0.0.0.0:8443",
		"LEDGERD_ADMIN_LISTEN":                "[::1]:9191",
		"LEDGERD_WEBHOOK_PATH":                "/hooks",
		"LEDGERD_WEBHOOK_ALLOW_CIDRS":         "10.0.0.0/8, 192.0.2.7,2001:db8::/32, 2001:db8::1, 172.16.5.4/12",
		"LEDGERD_WEBHOOK_TRUSTED_PROXIES":     "127.0.0.1,::1",
		"LEDGERD_WEBHOOK_SECRET":              "whsec",
		"LEDGERD_WEBHOOK_TIMESTAMP_TOLERANCE": "0",
		"LEDGERD_QUARANTINE_MAX_BYTES":        "1GiB",
		"LEDGERD_BACKFILL_SCHEDULE":           "*/5 * * * *",
		"LEDGERD_RECONCILE_SCHEDULE":          "@daily",
		"LEDGERD_TZ":                          "Asia/Dubai",
		"LEDGERD_RECONCILE_LEDGER_GRACE":      "45m",
		"LEDGERD_RECONCILE_FUSE_GRACE":        "90s",
		"LEDGERD_RECONCILE_STALE_PENDING":     "72h",
		"LEDGERD_RECONCILE_MAX_NEW_BREAKS":    "50",
		"LEDGERD_RECONCILE_MAX_LOOKUPS":       "30",
		"LEDGERD_RECONCILE_LOOKUP_TIME":       "1m",
		"LEDGERD_RECONCILE_WORKERS":           "2",
		"LEDGERD_REPLICA_URL":                 "s3://backups/ledgerd?endpoint=http://127.0.0.1:9000&region=eu-west-1",
		"LEDGERD_REPLICA_INTERVAL":            "250ms",
		"LEDGERD_REPLICA_ACCESS_KEY_ID":       "AKIDEXAMPLE",
		"LEDGERD_REPLICA_SECRET_ACCESS_KEY":   "s3-secret",
		"LEDGERD_LOG_FORMAT":                  "JSON",
		"LEDGERD_LOG_LEVEL":                   "debug",
		"FUSE_BASE_URL":                       "http://127.0.0.1:7070/v1",
		"FUSE_AUTH_URL":                       "http://127.0.0.1:7071/oauth/token",
		"FUSE_AUDIENCE":                       " https://api.example ",
		"FUSE_CLIENT_ID":                      "client-1",
		"FUSE_CLIENT_SECRET":                  "fuse-secret",
	})
	dubai, err := time.LoadLocation("Asia/Dubai")
	if err != nil {
		t.Fatal(err)
	}
	assertConfig(t, c, config.Config{
		DB:           "/var/lib/ledgerd/book.db",
		Listen:       "0.0.0.0:8443",
		AdminListen:  "[::1]:9191",
		WebhookPath:  "/hooks",
		WebhookAllow: "10.0.0.0/8,192.0.2.7/32,2001:db8::/32,2001:db8::1/128,172.16.0.0/12",
		WebhookAllowCIDRs: []netip.Prefix{
			netip.MustParsePrefix("10.0.0.0/8"),
			netip.MustParsePrefix("192.0.2.7/32"),
			netip.MustParsePrefix("2001:db8::/32"),
			netip.MustParsePrefix("2001:db8::1/128"),
			netip.MustParsePrefix("172.16.0.0/12"),
		},
		WebhookTrustedProxies: []netip.Prefix{
			netip.MustParsePrefix("127.0.0.1/32"),
			netip.MustParsePrefix("::1/128"),
		},
		WebhookSecret:             config.NewSecret("whsec"),
		WebhookTimestampTolerance: 0,
		QuarantineMaxBytes:        1 << 30,
		BackfillSchedule:          "*/5 * * * *",
		ReconcileSchedule:         "@daily",
		Location:                  dubai,
		ReconcileLedgerGrace:      45 * time.Minute,
		ReconcileFuseGrace:        90 * time.Second,
		ReconcileStalePending:     72 * time.Hour,
		ReconcileMaxNewBreaks:     50,
		ReconcileMaxLookups:       30,
		ReconcileLookupTime:       time.Minute,
		ReconcileWorkers:          2,
		ReplicaURL:                "s3://backups/ledgerd?endpoint=http://127.0.0.1:9000&region=eu-west-1",
		ReplicaInterval:           250 * time.Millisecond,
		ReplicaAccessKeyID:        "AKIDEXAMPLE",
		ReplicaSecretAccessKey:    config.NewSecret("s3-secret"),
		LogFormat:                 "json",
		LogLevel:                  slog.LevelDebug,
		FuseBaseURL:               "http://127.0.0.1:7070/v1",
		FuseAuthURL:               "http://127.0.0.1:7071/oauth/token",
		FuseAudience:              "https://api.example",
		FuseClientID:              "client-1",
		FuseClientSecret:          config.NewSecret("fuse-secret"),
	})
}

func TestLoadDatabaseDefaultsUnderSystemdStateDirectory(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		want string
	}{
		{"no systemd", nil, "ledgerd.db"},
		{"state directory", map[string]string{"STATE_DIRECTORY": "/var/lib/ledgerd"}, "/var/lib/ledgerd/ledgerd.db"},
		{"trailing slash", map[string]string{"STATE_DIRECTORY": "/var/lib/ledgerd/"}, "/var/lib/ledgerd/ledgerd.db"},
		{"several state directories use the first", map[string]string{"STATE_DIRECTORY": "/var/lib/ledgerd:/var/lib/other"}, "/var/lib/ledgerd/ledgerd.db"},
		{"empty state directory", map[string]string{"STATE_DIRECTORY": ""}, "ledgerd.db"},
		{"LEDGERD_DB wins", map[string]string{"STATE_DIRECTORY": "/var/lib/ledgerd", "LEDGERD_DB": "/data/x.db"}, "/data/x.db"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := mustLoad(t, tt.env).DB; got != tt.want {
				t.Errorf("DB = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestLoadBadValueNamesVariableAndProblem(t *testing.T) {
	tests := []struct {
		name, key, value, want string
	}{
		{"empty db", "LEDGERD_DB", "", `LEDGERD_DB: must not be empty`},
		{"listen without port", "LEDGERD_LISTEN", "8080", `LEDGERD_LISTEN: bad address "8080"`},
		{"empty listen", "LEDGERD_LISTEN", "", `LEDGERD_LISTEN: must not be empty`},
		{"admin listen without port", "LEDGERD_ADMIN_LISTEN", "localhost", `LEDGERD_ADMIN_LISTEN: bad address "localhost"`},
		{"admin on webhook address", "LEDGERD_ADMIN_LISTEN", ":8080", `LEDGERD_ADMIN_LISTEN: same address as LEDGERD_LISTEN (":8080")`},
		{"relative webhook path", "LEDGERD_WEBHOOK_PATH", "webhooks", `LEDGERD_WEBHOOK_PATH: must start with "/", got "webhooks"`},
		{"wildcard in webhook path", "LEDGERD_WEBHOOK_PATH", "/hooks/{x", `LEDGERD_WEBHOOK_PATH: may hold only letters, digits and / - . _ ~, got "/hooks/{x"`},
		{"space in webhook path", "LEDGERD_WEBHOOK_PATH", "/a b", `LEDGERD_WEBHOOK_PATH: may hold only letters, digits and / - . _ ~, got "/a b"`},
		{"webhook subtree", "LEDGERD_WEBHOOK_PATH", "/hooks/", `LEDGERD_WEBHOOK_PATH: must be a clean path (no trailing "/", "//", "." or ".."), got "/hooks/"`},
		{"dot-dot in webhook path", "LEDGERD_WEBHOOK_PATH", "/a/../b", `LEDGERD_WEBHOOK_PATH: must be a clean path`},
		{"prefix too long", "LEDGERD_WEBHOOK_ALLOW_CIDRS", "10.0.0.0/33", `LEDGERD_WEBHOOK_ALLOW_CIDRS: bad CIDR "10.0.0.0/33"`},
		{"not an address", "LEDGERD_WEBHOOK_ALLOW_CIDRS", "10.0.0.0/8,fuse.me", `LEDGERD_WEBHOOK_ALLOW_CIDRS: bad CIDR or IP "fuse.me"`},
		{"zoned address", "LEDGERD_WEBHOOK_TRUSTED_PROXIES", "fe80::1%eth0", `LEDGERD_WEBHOOK_TRUSTED_PROXIES: bad CIDR or IP "fe80::1%eth0"`},
		{"bad proxy CIDR", "LEDGERD_WEBHOOK_TRUSTED_PROXIES", "300.0.0.0/8", `LEDGERD_WEBHOOK_TRUSTED_PROXIES: bad CIDR "300.0.0.0/8"`},
		{"bad tolerance", "LEDGERD_WEBHOOK_TIMESTAMP_TOLERANCE", "15", `LEDGERD_WEBHOOK_TIMESTAMP_TOLERANCE: bad duration "15"`},
		{"negative tolerance", "LEDGERD_WEBHOOK_TIMESTAMP_TOLERANCE", "-1m", `LEDGERD_WEBHOOK_TIMESTAMP_TOLERANCE: must not be negative, got "-1m"`},
		{"short cron", "LEDGERD_BACKFILL_SCHEDULE", "* *", `LEDGERD_BACKFILL_SCHEDULE: bad cron spec "* *": `},
		{"bad descriptor", "LEDGERD_RECONCILE_SCHEDULE", "@fortnightly", `LEDGERD_RECONCILE_SCHEDULE: bad cron spec "@fortnightly": `},
		{"sub-second every", "LEDGERD_BACKFILL_SCHEDULE", "@every 0s", `LEDGERD_BACKFILL_SCHEDULE: bad cron spec "@every 0s": interval must be at least 1s`},
		{"seconds field not standard", "LEDGERD_RECONCILE_SCHEDULE", "0 0 2 * * *", `LEDGERD_RECONCILE_SCHEDULE: bad cron spec "0 0 2 * * *": `},
		{"unknown zone", "LEDGERD_TZ", "Mars/Base", `LEDGERD_TZ: unknown time zone "Mars/Base"`},
		{"ledger grace without unit", "LEDGERD_RECONCILE_LEDGER_GRACE", "20", `LEDGERD_RECONCILE_LEDGER_GRACE: bad duration "20" (want e.g. 30m or 24h)`},
		{"zero fuse grace", "LEDGERD_RECONCILE_FUSE_GRACE", "0s", `LEDGERD_RECONCILE_FUSE_GRACE: must be positive, got "0s"`},
		{"negative stale threshold", "LEDGERD_RECONCILE_STALE_PENDING", "-1h", `LEDGERD_RECONCILE_STALE_PENDING: must be positive, got "-1h"`},
		{"empty stale threshold", "LEDGERD_RECONCILE_STALE_PENDING", "", `LEDGERD_RECONCILE_STALE_PENDING: bad duration ""`},
		{"break cap not a number", "LEDGERD_RECONCILE_MAX_NEW_BREAKS", "lots", `LEDGERD_RECONCILE_MAX_NEW_BREAKS: want a whole number of at least 1, got "lots"`},
		{"zero workers", "LEDGERD_RECONCILE_WORKERS", "0", `LEDGERD_RECONCILE_WORKERS: want a whole number of at least 1, got "0"`},
		{"empty zone", "LEDGERD_TZ", "", `LEDGERD_TZ: must not be empty`},
		{"log format", "LEDGERD_LOG_FORMAT", "logfmt", `LEDGERD_LOG_FORMAT: unknown format "logfmt" (want text or json)`},
		{"log level", "LEDGERD_LOG_LEVEL", "verbose", `LEDGERD_LOG_LEVEL: unknown level "verbose"`},
		{"relative base url", "FUSE_BASE_URL", "api.fuse.me/v1", `FUSE_BASE_URL: must be an absolute http or https URL, got "api.fuse.me/v1"`},
		{"ftp base url", "FUSE_BASE_URL", "ftp://api.fuse.me/v1", `FUSE_BASE_URL: must be an absolute http or https URL`},
		{"unparsable base url", "FUSE_BASE_URL", "https://api fuse.me", `FUSE_BASE_URL: not a URL: `},
		{"credentials in base url", "FUSE_BASE_URL", "https://u:hunter2@api.fuse.me", `FUSE_BASE_URL: must not contain credentials (https://u:xxxxx@api.fuse.me)`},
		{"relative auth url", "FUSE_AUTH_URL", "auth.fuse.me/oauth/token", `FUSE_AUTH_URL: must be an absolute http or https URL, got "auth.fuse.me/oauth/token"`},
		{"credentials in auth url", "FUSE_AUTH_URL", "https://u:hunter2@auth.fuse.me/oauth/token", `FUSE_AUTH_URL: must not contain credentials (https://u:xxxxx@auth.fuse.me/oauth/token)`},
		{"empty audience", "FUSE_AUDIENCE", " ", `FUSE_AUDIENCE: must not be empty`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := load(t, map[string]string{tt.key: tt.value})
			if !errors.Is(err, config.ErrInvalid) {
				t.Fatalf("Load error = %v, want one wrapping ErrInvalid", err)
			}
			if !strings.Contains(err.Error(), "\n"+tt.want) {
				t.Errorf("Load error =\n%v\nwant a line starting %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("Load error shows a password: %v", err)
			}
		})
	}
}

func TestLoadReportsEveryProblemAtOnce(t *testing.T) {
	_, err := load(t, map[string]string{
		"LEDGERD_TZ":                  "Mars/Base",
		"LEDGERD_BACKFILL_SCHEDULE":   "* *",
		"LEDGERD_WEBHOOK_ALLOW_CIDRS": "10.0.0.0/33,10.1.0.0/16,nope",
		"LEDGERD_LOG_LEVEL":           "loud",
		"FUSE_CLIENT_SECRET_FILE":     "/nonexistent/fuse_client_secret",
	})
	if !errors.Is(err, config.ErrInvalid) {
		t.Fatalf("Load error = %v, want one wrapping ErrInvalid", err)
	}
	lines := strings.Split(err.Error(), "\n")
	want := []string{
		"invalid configuration:",
		`LEDGERD_WEBHOOK_ALLOW_CIDRS: bad CIDR "10.0.0.0/33"`,
		`LEDGERD_WEBHOOK_ALLOW_CIDRS: bad CIDR or IP "nope"`,
		`LEDGERD_BACKFILL_SCHEDULE: bad cron spec "* *": expected exactly 5 fields, found 2: [* *]`,
		`LEDGERD_TZ: unknown time zone "Mars/Base"`,
		`LEDGERD_LOG_LEVEL: unknown level "loud" (want debug, info, warn or error)`,
		`FUSE_CLIENT_SECRET_FILE: read /nonexistent/fuse_client_secret: no such file or directory`,
	}
	if !reflect.DeepEqual(lines, want) {
		t.Errorf("Load error lines =\n%s\nwant\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
	if !errors.Is(err, os.ErrNotExist) {
		t.Error("the missing credential file's error is not kept in the chain")
	}
}

func TestLoadCredentialFromFileTrimsOneTrailingNewline(t *testing.T) {
	tests := []struct {
		name, content, want string
	}{
		{"no newline", "s3cr3t", "s3cr3t"},
		{"newline", "s3cr3t\n", "s3cr3t"},
		{"crlf", "s3cr3t\r\n", "s3cr3t"},
		{"only one newline trimmed", "s3cr3t\n\n", "s3cr3t\n"},
		{"inner and leading space kept", " s3 cr3t\n", " s3 cr3t"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := mustLoad(t, map[string]string{
				"LEDGERD_WEBHOOK_SECRET_FILE": writeFile(t, "webhook_secret", tt.content),
				"FUSE_CLIENT_ID_FILE":         writeFile(t, "fuse_client_id", tt.content),
				"FUSE_CLIENT_SECRET_FILE":     writeFile(t, "fuse_client_secret", tt.content),
			})
			if got := c.WebhookSecret.Reveal(); got != tt.want {
				t.Errorf("WebhookSecret = %q, want %q", got, tt.want)
			}
			if got := c.FuseClientID; got != tt.want {
				t.Errorf("FuseClientID = %q, want %q", got, tt.want)
			}
			if got := c.FuseClientSecret.Reveal(); got != tt.want {
				t.Errorf("FuseClientSecret = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestLoadCredentialProblems(t *testing.T) {
	const content = "do-not-print-me"
	secretFile := func(t *testing.T) string { return writeFile(t, "secret", content+"\n") }
	tests := []struct {
		name string
		env  func(t *testing.T) map[string]string
		want string
	}{
		{
			name: "both variable and file",
			env: func(t *testing.T) map[string]string {
				return map[string]string{"FUSE_CLIENT_SECRET": content, "FUSE_CLIENT_SECRET_FILE": secretFile(t)}
			},
			want: "FUSE_CLIENT_SECRET: both FUSE_CLIENT_SECRET and FUSE_CLIENT_SECRET_FILE are set; set only one",
		},
		{
			name: "both webhook variable and file",
			env: func(t *testing.T) map[string]string {
				return map[string]string{"LEDGERD_WEBHOOK_SECRET": content, "LEDGERD_WEBHOOK_SECRET_FILE": secretFile(t)}
			},
			want: "LEDGERD_WEBHOOK_SECRET: both LEDGERD_WEBHOOK_SECRET and LEDGERD_WEBHOOK_SECRET_FILE are set",
		},
		{
			name: "both client id and file",
			env: func(t *testing.T) map[string]string {
				return map[string]string{"FUSE_CLIENT_ID": "id", "FUSE_CLIENT_ID_FILE": secretFile(t)}
			},
			want: "FUSE_CLIENT_ID: both FUSE_CLIENT_ID and FUSE_CLIENT_ID_FILE are set",
		},
		{
			name: "missing file",
			env: func(t *testing.T) map[string]string {
				return map[string]string{"LEDGERD_WEBHOOK_SECRET_FILE": "/nope"}
			},
			want: "LEDGERD_WEBHOOK_SECRET_FILE: read /nope: no such file or directory",
		},
		{
			name: "directory",
			env: func(t *testing.T) map[string]string {
				return map[string]string{"FUSE_CLIENT_SECRET_FILE": t.TempDir()}
			},
			want: "FUSE_CLIENT_SECRET_FILE: read /",
		},
		{
			name: "unreadable file",
			env: func(t *testing.T) map[string]string {
				path := secretFile(t)
				if err := os.Chmod(path, 0); err != nil {
					t.Fatal(err)
				}
				if f, err := os.Open(path); err == nil {
					f.Close()
					t.Skip("running with permission to read a mode 0 file (root?)")
				}
				return map[string]string{"FUSE_CLIENT_SECRET_FILE": path}
			},
			want: "FUSE_CLIENT_SECRET_FILE: read /",
		},
		{
			name: "empty file",
			env: func(t *testing.T) map[string]string {
				return map[string]string{"FUSE_CLIENT_SECRET_FILE": writeFile(t, "empty", "\n")}
			},
			want: "FUSE_CLIENT_SECRET_FILE: /",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := load(t, tt.env(t))
			if !errors.Is(err, config.ErrInvalid) {
				t.Fatalf("Load error = %v, want one wrapping ErrInvalid", err)
			}
			if !strings.Contains(err.Error(), "\n"+tt.want) {
				t.Errorf("Load error =\n%v\nwant a line starting %q", err, tt.want)
			}
			if strings.Contains(err.Error(), content) {
				t.Errorf("Load error shows the credential: %v", err)
			}
		})
	}
}

func TestLoadEmptyCredentialVariablesCountAsUnset(t *testing.T) {
	c := mustLoad(t, map[string]string{
		"FUSE_CLIENT_SECRET":          "",
		"FUSE_CLIENT_SECRET_FILE":     writeFile(t, "secret", "from-file"),
		"LEDGERD_WEBHOOK_SECRET":      "from-env",
		"LEDGERD_WEBHOOK_SECRET_FILE": "",
	})
	if got := c.FuseClientSecret.Reveal(); got != "from-file" {
		t.Errorf("FuseClientSecret = %q, want %q", got, "from-file")
	}
	if got := c.WebhookSecret.Reveal(); got != "from-env" {
		t.Errorf("WebhookSecret = %q, want %q", got, "from-env")
	}
}

func TestLoadRejectsNilLookuper(t *testing.T) {
	if _, err := config.Load(t.Context(), nil); err == nil {
		t.Fatal("Load(nil) succeeded")
	}
}

// The logged configuration shows the Fuse client id by its last four
// characters only: it may come from a credential file.
func TestLoggedConfigMasksTheClientID(t *testing.T) {
	cfg, err := load(t, map[string]string{"FUSE_CLIENT_ID": "client-0123456789abcdef", "FUSE_CLIENT_SECRET": "fuse-secret-value"})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("config", "config", cfg)
	if strings.Contains(buf.String(), "client-0123456789abcdef") || !strings.Contains(buf.String(), "cdef") {
		t.Errorf("logged config: %s", buf.String())
	}
}
