// Package config turns ledgerd's environment into one typed, validated
// Config. It is the only place that reads the environment: cmd/ledgerd calls
// FromEnv once and passes the result down. Every problem in the environment
// is reported at once, one line per variable, wrapped in ErrInvalid so the
// command can exit with the usage/configuration status. Credentials may be
// given in files (VAR_FILE, as systemd's LoadCredential provides them) and
// are held as Secret, which never prints its value.
package config

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"path/filepath"
	"strings"
	"time"

	"github.com/sethvargo/go-envconfig"

	"github.com/ledgerd/ledgerd"

	// Embedded zoneinfo, so LEDGERD_TZ works on hosts (containers,
	// distroless images) that ship no /usr/share/zoneinfo.
	_ "time/tzdata"
)

// ErrInvalid is wrapped by the error Load returns when the environment holds
// bad values; cmd/ledgerd maps it to exit status 2.
var ErrInvalid = errors.New("invalid configuration")

// Log formats accepted in LEDGERD_LOG_FORMAT.
const (
	LogFormatText = "text"
	LogFormatJSON = "json"
)

// Config is ledgerd's configuration, decoded and validated from the
// environment. See Describe for the variable behind each field.
type Config struct {
	// DB is the path of the SQLite database file (LEDGERD_DB).
	DB string
	// Listen is the webhook listener's address (LEDGERD_LISTEN).
	Listen string
	// AdminListen is the address of the metrics, health, status page and
	// JSON API listener (LEDGERD_ADMIN_LISTEN).
	AdminListen string

	// WebhookPath is the URL path Fuse posts webhooks to; it starts with
	// "/" (LEDGERD_WEBHOOK_PATH).
	WebhookPath string
	// WebhookAllow is the webhook allow list as it applies, for logs: the
	// names and networks of LEDGERD_WEBHOOK_ALLOW_CIDRS (or of its
	// default), e.g. "fuse,loopback" (ParseAllow).
	WebhookAllow string
	// WebhookAllowCIDRs are the networks WebhookAllow stands for: the
	// clients allowed to post webhooks. Load never leaves it empty.
	WebhookAllowCIDRs []netip.Prefix
	// WebhookTrustedProxies are the peers whose X-Forwarded-For is
	// believed; empty trusts none (LEDGERD_WEBHOOK_TRUSTED_PROXIES).
	WebhookTrustedProxies []netip.Prefix
	// WebhookSecret is the HMAC key for webhook signatures; unset means no
	// signature is required (LEDGERD_WEBHOOK_SECRET).
	WebhookSecret Secret
	// WebhookTimestampTolerance is how far any webhook's X-Fuse-Timestamp may
	// be from now; 0 disables the check
	// (LEDGERD_WEBHOOK_TIMESTAMP_TOLERANCE).
	WebhookTimestampTolerance time.Duration
	// QuarantineMaxBytes caps the bytes the quarantine table may hold; a
	// body that would pass it is refused (503) instead of kept
	// (LEDGERD_QUARANTINE_MAX_BYTES).
	QuarantineMaxBytes int64

	// BackfillSchedule is a cron spec accepted by cron.ParseStandard
	// (LEDGERD_BACKFILL_SCHEDULE).
	BackfillSchedule string
	// ReconcileSchedule is a cron spec accepted by cron.ParseStandard
	// (LEDGERD_RECONCILE_SCHEDULE).
	ReconcileSchedule string
	// Location is the time zone of the schedules and of reports
	// (LEDGERD_TZ).
	Location *time.Location

	// ReconcileLedgerGrace, ReconcileFuseGrace, ReconcileStalePending,
	// ReconcileMaxNewBreaks, ReconcileMaxLookups, ReconcileLookupTime and
	// ReconcileWorkers tune every reconciliation, serve's scheduled ones
	// and the defaults of ledgerd reconcile's flags alike
	// (reconcile.Options: LedgerGrace, FuseGrace, StalePendingAfter,
	// MaxNewBreaks, MaxLookups, LookupTime, Workers). Durations are
	// positive, counts at least 1 (LEDGERD_RECONCILE_LEDGER_GRACE,
	// LEDGERD_RECONCILE_FUSE_GRACE, LEDGERD_RECONCILE_STALE_PENDING,
	// LEDGERD_RECONCILE_MAX_NEW_BREAKS, LEDGERD_RECONCILE_MAX_LOOKUPS,
	// LEDGERD_RECONCILE_LOOKUP_TIME, LEDGERD_RECONCILE_WORKERS).
	ReconcileLedgerGrace  time.Duration
	ReconcileFuseGrace    time.Duration
	ReconcileStalePending time.Duration
	ReconcileMaxNewBreaks int
	ReconcileMaxLookups   int
	ReconcileLookupTime   time.Duration
	ReconcileWorkers      int

	// ReplicaURL is where serve replicates the file continuously with
	// Litestream: a directory (a path or a file:// URL) or an S3 bucket
	// (s3://bucket/path, endpoint and region as query parameters); ""
	// replicates nothing (LEDGERD_REPLICA_URL).
	ReplicaURL string
	// ReplicaInterval is how often changes are shipped to the replica
	// (LEDGERD_REPLICA_INTERVAL).
	ReplicaInterval time.Duration
	// ReplicaAccessKeyID and ReplicaSecretAccessKey are the S3
	// credentials; empty: the AWS SDK's own chain (AWS_* variables, an
	// instance role) (LEDGERD_REPLICA_ACCESS_KEY_ID,
	// LEDGERD_REPLICA_SECRET_ACCESS_KEY).
	ReplicaAccessKeyID     string
	ReplicaSecretAccessKey Secret

	// LogFormat is LogFormatText or LogFormatJSON (LEDGERD_LOG_FORMAT).
	LogFormat string
	// LogLevel is the minimum level logged (LEDGERD_LOG_LEVEL).
	LogLevel slog.Level

	// FuseBaseURL is the absolute http(s) URL of the Fuse API
	// (FUSE_BASE_URL).
	FuseBaseURL string
	// FuseAuthURL is the absolute http(s) URL of Fuse's token endpoint
	// (FUSE_AUTH_URL).
	FuseAuthURL string
	// FuseAudience is the audience of token requests (FUSE_AUDIENCE).
	FuseAudience string
	// FuseClientID is the Fuse API client id (FUSE_CLIENT_ID).
	FuseClientID string
	// FuseClientSecret is the Fuse API client secret (FUSE_CLIENT_SECRET).
	FuseClientSecret Secret
}

// env is what go-envconfig decodes. Every field is a plain string: the
// library stops at the first value it cannot decode, and an operator fixing
// a unit file deserves every problem in one go, so parsing happens in
// Config's own code afterwards. The tags are also the one source of the
// variable names, defaults and descriptions that Describe lists.
type env struct {
	DB             string `env:"LEDGERD_DB, default=ledgerd.db" desc:"SQLite database file; under systemd (STATE_DIRECTORY set) the default is $STATE_DIRECTORY/ledgerd.db"`
	StateDirectory string `env:"STATE_DIRECTORY" desc:"set by systemd's StateDirectory=; its first path holds the default LEDGERD_DB"`
	Listen         string `env:"LEDGERD_LISTEN, default=:8080" desc:"address of the webhook listener"`
	AdminListen    string `env:"LEDGERD_ADMIN_LISTEN, default=127.0.0.1:9090" desc:"address of metrics, health, status page and JSON API"`

	WebhookPath               string `env:"LEDGERD_WEBHOOK_PATH, default=/webhooks/fuse" desc:"URL path Fuse posts webhooks to: starts with /, letters, digits and / - . _ ~"`
	WebhookAllowCIDRs         string `env:"LEDGERD_WEBHOOK_ALLOW_CIDRS, default=fuse,loopback" desc:"who may post webhooks, comma-separated: fuse (Fuse's published addresses, sandbox and production), fuse-sandbox, fuse-production, loopback, any (everyone), CIDRs and IPs; fuse alone by default when LEDGERD_WEBHOOK_TRUSTED_PROXIES is set; set but empty is an error (say any to allow all)"`
	WebhookTrustedProxies     string `env:"LEDGERD_WEBHOOK_TRUSTED_PROXIES" desc:"comma-separated CIDRs or IPs whose X-Forwarded-For is honoured; empty trusts none"`
	WebhookSecret             string `env:"LEDGERD_WEBHOOK_SECRET" desc:"HMAC key for webhook signatures; empty: no signature required"`
	WebhookSecretFile         string `env:"LEDGERD_WEBHOOK_SECRET_FILE" desc:"file holding LEDGERD_WEBHOOK_SECRET (e.g. a systemd credential)"`
	WebhookTimestampTolerance string `env:"LEDGERD_WEBHOOK_TIMESTAMP_TOLERANCE, default=15m" desc:"how far a webhook's X-Fuse-Timestamp may be from now before it is quarantined as stale; 0 disables the check"`
	QuarantineMaxBytes        string `env:"LEDGERD_QUARANTINE_MAX_BYTES, default=256MiB" desc:"most bytes the quarantine of refused bodies may hold (bodies as kept, their details, 256 bytes a row); past it a malformed webhook gets 503; bytes, or with KiB, MiB, GiB or TiB"`

	BackfillSchedule  string `env:"LEDGERD_BACKFILL_SCHEDULE, default=@every 15m" desc:"cron spec (5 fields or @descriptor) for backfill"`
	ReconcileSchedule string `env:"LEDGERD_RECONCILE_SCHEDULE, default=0 2 * * *" desc:"cron spec (5 fields or @descriptor) for reconciliation"`
	TZ                string `env:"LEDGERD_TZ, default=UTC" desc:"IANA time zone of schedules, reports and the reconciler's days (a day ends at midnight there)"`

	// The defaults are reconcile's Default* (a test holds them equal):
	// config does not import reconcile.
	ReconcileLedgerGrace  string `env:"LEDGERD_RECONCILE_LEDGER_GRACE, default=20m" desc:"how long the ledger may lag Fuse (webhooks in flight, next backfill) before a difference is a break"`
	ReconcileFuseGrace    string `env:"LEDGERD_RECONCILE_FUSE_GRACE, default=5m" desc:"how long Fuse's listings may lag the ledger before a transaction is missing_at_fuse"`
	ReconcileStalePending string `env:"LEDGERD_RECONCILE_STALE_PENDING, default=24h" desc:"how long a transaction may stay in flight on both sides before it is a stale_pending break"`
	ReconcileMaxNewBreaks string `env:"LEDGERD_RECONCILE_MAX_NEW_BREAKS, default=1000" desc:"most new breaks one reconciliation records besides the critical ones (always recorded); what is left out is counted in one too_many_breaks break"`
	ReconcileMaxLookups   string `env:"LEDGERD_RECONCILE_MAX_LOOKUPS, default=200" desc:"most transactions one reconciliation looks up one by one at Fuse; past it the run is INCOMPLETE"`
	ReconcileLookupTime   string `env:"LEDGERD_RECONCILE_LOOKUP_TIME, default=10s" desc:"most time one reconciliation spends on those lookups, all together; past it the run is INCOMPLETE"`
	ReconcileWorkers      string `env:"LEDGERD_RECONCILE_WORKERS, default=8" desc:"Fuse accounts a reconciliation reads and compares at once"`

	ReplicaURL                 string `env:"LEDGERD_REPLICA_URL" desc:"where serve replicates the file continuously (Litestream): a directory path or file:///path, or s3://bucket/path?endpoint=URL&region=R for an S3-compatible store; empty: no replication"`
	ReplicaInterval            string `env:"LEDGERD_REPLICA_INTERVAL, default=1s" desc:"how often serve ships new commits to the replica: a webhook acknowledged this long (plus one sync) before a crash is in the replica"`
	ReplicaAccessKeyID         string `env:"LEDGERD_REPLICA_ACCESS_KEY_ID" desc:"S3 access key id of the replica; empty: the AWS SDK's own (AWS_ACCESS_KEY_ID, an instance role)"`
	ReplicaAccessKeyIDFile     string `env:"LEDGERD_REPLICA_ACCESS_KEY_ID_FILE" desc:"file holding LEDGERD_REPLICA_ACCESS_KEY_ID"`
	ReplicaSecretAccessKey     string `env:"LEDGERD_REPLICA_SECRET_ACCESS_KEY" desc:"S3 secret access key of the replica"`
	ReplicaSecretAccessKeyFile string `env:"LEDGERD_REPLICA_SECRET_ACCESS_KEY_FILE" desc:"file holding LEDGERD_REPLICA_SECRET_ACCESS_KEY (e.g. a systemd credential)"`

	LogFormat string `env:"LEDGERD_LOG_FORMAT, default=text" desc:"text (colour only on a terminal) or json"`
	LogLevel  string `env:"LEDGERD_LOG_LEVEL, default=info" desc:"debug, info, warn or error"`

	FuseBaseURL          string `env:"FUSE_BASE_URL, default=https://api-sandbox.fuse.me/v1" desc:"Fuse API base URL, including /v1 (absolute http or https)"`
	FuseAuthURL          string `env:"FUSE_AUTH_URL, default=https://auth-sandbox.fuse.me/oauth/token" desc:"Fuse's token endpoint, the whole URL (absolute http or https; production: https://auth.fuse.me/oauth/token)"`
	FuseAudience         string `env:"FUSE_AUDIENCE, default=https://api.fuse.me" desc:"audience of Fuse token requests (the same in sandbox and production)"`
	FuseClientID         string `env:"FUSE_CLIENT_ID" desc:"Fuse API client id"`
	FuseClientIDFile     string `env:"FUSE_CLIENT_ID_FILE" desc:"file holding FUSE_CLIENT_ID"`
	FuseClientSecret     string `env:"FUSE_CLIENT_SECRET" desc:"Fuse API client secret"`
	FuseClientSecretFile string `env:"FUSE_CLIENT_SECRET_FILE" desc:"file holding FUSE_CLIENT_SECRET (e.g. a systemd credential)"`
}

// FromEnv loads the configuration from the process environment.
func FromEnv(ctx context.Context) (*Config, error) {
	return Load(ctx, envconfig.OsLookuper())
}

// Load reads the variables listed by Describe through l, applies defaults,
// reads *_FILE credentials and validates everything. If any value is bad,
// the error wraps ErrInvalid and lists every problem, one per line, each
// starting with the variable's name; it never contains a secret's value.
func Load(ctx context.Context, l envconfig.Lookuper) (*Config, error) {
	if l == nil {
		return nil, errors.New("load config: nil lookuper")
	}
	var e env
	if err := envconfig.Process(ctx, &envconfig.Config{Target: &e, Lookuper: l}); err != nil {
		return nil, fmt.Errorf("load config: %w", err)
	}
	// The systemd default depends on whether LEDGERD_DB is present at all
	// (set to "" is present, and then an error), which the decoded string
	// cannot tell.
	if _, ok := l.Lookup("LEDGERD_DB"); !ok {
		if dir, _, _ := strings.Cut(e.StateDirectory, ":"); dir != "" {
			// systemd lists one path per StateDirectory= entry; the
			// first is ours.
			e.DB = filepath.Join(dir, "ledgerd.db")
		}
	}

	// Behind a trusted proxy the default allow list leaves out loopback
	// (DefaultWebhookAllowBehindProxies); that, too, depends on presence.
	if _, ok := l.Lookup("LEDGERD_WEBHOOK_ALLOW_CIDRS"); !ok && strings.Trim(e.WebhookTrustedProxies, " ,") != "" {
		e.WebhookAllowCIDRs = DefaultWebhookAllowBehindProxies
	}

	c, errs := e.parse()
	if len(errs) > 0 {
		return nil, fmt.Errorf("%w:\n%w", ErrInvalid, errors.Join(errs...))
	}
	return c, nil
}

// LogValue implements slog.LogValuer so the effective configuration can be
// logged at start-up; secrets show only as "[redacted]" or "".
func (c *Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("db", c.DB),
		slog.String("listen", c.Listen),
		slog.String("admin_listen", c.AdminListen),
		slog.String("webhook_path", c.WebhookPath),
		slog.String("webhook_allow_cidrs", c.WebhookAllow),
		slog.String("webhook_trusted_proxies", joinPrefixes(c.WebhookTrustedProxies)),
		slog.Any("webhook_secret", c.WebhookSecret),
		slog.Duration("webhook_timestamp_tolerance", c.WebhookTimestampTolerance),
		slog.Int64("quarantine_max_bytes", c.QuarantineMaxBytes),
		slog.String("backfill_schedule", c.BackfillSchedule),
		slog.String("reconcile_schedule", c.ReconcileSchedule),
		slog.String("tz", c.Location.String()),
		slog.Duration("reconcile_ledger_grace", c.ReconcileLedgerGrace),
		slog.Duration("reconcile_fuse_grace", c.ReconcileFuseGrace),
		slog.Duration("reconcile_stale_pending", c.ReconcileStalePending),
		slog.Int("reconcile_max_new_breaks", c.ReconcileMaxNewBreaks),
		slog.Int("reconcile_max_lookups", c.ReconcileMaxLookups),
		slog.Duration("reconcile_lookup_time", c.ReconcileLookupTime),
		slog.Int("reconcile_workers", c.ReconcileWorkers),
		slog.String("replica_url", RedactReplicaURL(c.ReplicaURL)),
		slog.Duration("replica_interval", c.ReplicaInterval),
		slog.String("replica_access_key_id", ledgerd.MaskID(c.ReplicaAccessKeyID)),
		slog.Any("replica_secret_access_key", c.ReplicaSecretAccessKey),
		slog.String("log_format", c.LogFormat),
		slog.String("log_level", c.LogLevel.String()),
		slog.String("fuse_base_url", c.FuseBaseURL),
		slog.String("fuse_auth_url", c.FuseAuthURL),
		slog.String("fuse_audience", c.FuseAudience),
		// The client id is no secret, but it may come from a credential
		// file: its last four characters are enough to tell which one.
		slog.String("fuse_client_id", ledgerd.MaskID(c.FuseClientID)),
		slog.Any("fuse_client_secret", c.FuseClientSecret),
	)
}

func joinPrefixes(ps []netip.Prefix) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = p.String()
	}
	return strings.Join(s, ",")
}
