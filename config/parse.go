package config

import (
	"errors"
	"fmt"
	"io/fs"
	"math"
	"net"
	"net/netip"
	"net/url"
	"os"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
)

// problems collects one error per bad value, each naming its variable.
type problems []error

func (p *problems) addf(name, format string, args ...any) {
	*p = append(*p, fmt.Errorf("%s: %w", name, fmt.Errorf(format, args...)))
}

// parse turns the decoded strings into a Config, collecting every problem
// instead of stopping at the first.
func (e *env) parse() (*Config, []error) {
	var p problems
	c := &Config{
		DB:                e.DB,
		Listen:            e.Listen,
		AdminListen:       e.AdminListen,
		WebhookPath:       e.WebhookPath,
		BackfillSchedule:  e.BackfillSchedule,
		ReconcileSchedule: e.ReconcileSchedule,
		FuseBaseURL:       e.FuseBaseURL,
		FuseAuthURL:       e.FuseAuthURL,
		FuseAudience:      strings.TrimSpace(e.FuseAudience),
	}

	if c.DB == "" {
		p.addf("LEDGERD_DB", "must not be empty")
	}
	p.checkAddr("LEDGERD_LISTEN", c.Listen)
	p.checkAddr("LEDGERD_ADMIN_LISTEN", c.AdminListen)
	// Two listeners cannot share an address, except port 0, where the system
	// picks a free port for each (tests, demos).
	if c.Listen != "" && c.Listen == c.AdminListen && !strings.HasSuffix(c.Listen, ":0") {
		p.addf("LEDGERD_ADMIN_LISTEN", "same address as LEDGERD_LISTEN (%q)", c.Listen)
	}

	p.checkWebhookPath("LEDGERD_WEBHOOK_PATH", c.WebhookPath)
	c.WebhookAllow, c.WebhookAllowCIDRs = p.allow("LEDGERD_WEBHOOK_ALLOW_CIDRS", e.WebhookAllowCIDRs)
	c.WebhookTrustedProxies = p.prefixes("LEDGERD_WEBHOOK_TRUSTED_PROXIES", e.WebhookTrustedProxies)
	c.WebhookSecret = NewSecret(p.credential("LEDGERD_WEBHOOK_SECRET", e.WebhookSecret, e.WebhookSecretFile))
	c.WebhookTimestampTolerance = p.tolerance("LEDGERD_WEBHOOK_TIMESTAMP_TOLERANCE", e.WebhookTimestampTolerance)
	c.QuarantineMaxBytes = p.size("LEDGERD_QUARANTINE_MAX_BYTES", e.QuarantineMaxBytes)

	p.checkSchedule("LEDGERD_BACKFILL_SCHEDULE", c.BackfillSchedule)
	p.checkSchedule("LEDGERD_RECONCILE_SCHEDULE", c.ReconcileSchedule)
	c.Location = p.location("LEDGERD_TZ", e.TZ)

	c.ReconcileLedgerGrace = p.positiveDuration("LEDGERD_RECONCILE_LEDGER_GRACE", e.ReconcileLedgerGrace)
	c.ReconcileFuseGrace = p.positiveDuration("LEDGERD_RECONCILE_FUSE_GRACE", e.ReconcileFuseGrace)
	c.ReconcileStalePending = p.positiveDuration("LEDGERD_RECONCILE_STALE_PENDING", e.ReconcileStalePending)
	c.ReconcileMaxNewBreaks = p.count("LEDGERD_RECONCILE_MAX_NEW_BREAKS", e.ReconcileMaxNewBreaks)
	c.ReconcileMaxLookups = p.count("LEDGERD_RECONCILE_MAX_LOOKUPS", e.ReconcileMaxLookups)
	c.ReconcileLookupTime = p.positiveDuration("LEDGERD_RECONCILE_LOOKUP_TIME", e.ReconcileLookupTime)
	c.ReconcileWorkers = p.count("LEDGERD_RECONCILE_WORKERS", e.ReconcileWorkers)

	c.ReplicaURL = strings.TrimSpace(e.ReplicaURL)
	p.checkReplicaURL("LEDGERD_REPLICA_URL", c.ReplicaURL)
	c.ReplicaInterval = p.positiveDuration("LEDGERD_REPLICA_INTERVAL", e.ReplicaInterval)
	c.ReplicaAccessKeyID = p.credential("LEDGERD_REPLICA_ACCESS_KEY_ID", e.ReplicaAccessKeyID, e.ReplicaAccessKeyIDFile)
	c.ReplicaSecretAccessKey = NewSecret(p.credential("LEDGERD_REPLICA_SECRET_ACCESS_KEY", e.ReplicaSecretAccessKey, e.ReplicaSecretAccessKeyFile))
	p.checkReplicaCredentials(c)

	c.LogFormat = strings.ToLower(e.LogFormat)
	if c.LogFormat != LogFormatText && c.LogFormat != LogFormatJSON {
		p.addf("LEDGERD_LOG_FORMAT", "unknown format %q (want %s or %s)", e.LogFormat, LogFormatText, LogFormatJSON)
	}
	if err := c.LogLevel.UnmarshalText([]byte(e.LogLevel)); err != nil {
		p.addf("LEDGERD_LOG_LEVEL", "unknown level %q (want debug, info, warn or error)", e.LogLevel)
	}

	p.checkHTTPURL("FUSE_BASE_URL", c.FuseBaseURL)
	p.checkHTTPURL("FUSE_AUTH_URL", c.FuseAuthURL)
	if c.FuseAudience == "" {
		p.addf("FUSE_AUDIENCE", "must not be empty")
	}
	c.FuseClientID = p.credential("FUSE_CLIENT_ID", e.FuseClientID, e.FuseClientIDFile)
	c.FuseClientSecret = NewSecret(p.credential("FUSE_CLIENT_SECRET", e.FuseClientSecret, e.FuseClientSecretFile))

	return c, p
}

// checkWebhookPath accepts the one path the webhook listener serves: an
// absolute, clean URL path of letters, digits and / - . _ ~, so that
// nothing in it can be read as a route pattern's wildcard ({…}), method
// (a space), subtree (a trailing /), query or escape.
func (p *problems) checkWebhookPath(name, v string) {
	switch {
	case !strings.HasPrefix(v, "/"):
		p.addf(name, "must start with \"/\", got %q", v)
	case path.Clean(v) != v:
		p.addf(name, "must be a clean path (no trailing \"/\", \"//\", \".\" or \"..\"), got %q", v)
	case strings.IndexFunc(v, func(r rune) bool {
		return !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || strings.ContainsRune("/-._~", r))
	}) >= 0:
		p.addf(name, "may hold only letters, digits and / - . _ ~, got %q", v)
	}
}

// checkAddr checks a listen address has the host:port form net.Listen
// wants (the host may be empty).
func (p *problems) checkAddr(name, addr string) {
	if addr == "" {
		p.addf(name, "must not be empty")
		return
	}
	if _, port, err := net.SplitHostPort(addr); err != nil || port == "" {
		p.addf(name, "bad address %q (want host:port or :port)", addr)
	}
}

// prefixes parses a comma-separated list of CIDRs and bare addresses (taken
// as single-host prefixes). Empty items are skipped, so "" yields none.
func (p *problems) prefixes(name, list string) []netip.Prefix {
	var out []netip.Prefix
	for item := range strings.SplitSeq(list, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		pfx, err := parsePrefix(item)
		if err != nil {
			p.addf(name, "%w", err)
			continue
		}
		out = append(out, pfx)
	}
	return out
}

// allow parses an allow list (ParseAllow), one problem per bad item.
func (p *problems) allow(name, list string) (string, []netip.Prefix) {
	spec, nets, errs := parseAllow(list)
	for _, err := range errs {
		p.addf(name, "%w", err)
	}
	return spec, nets
}

// credential returns the value of name, or the content of the file named by
// name_FILE, less one trailing newline. Setting both is a problem. An empty
// value counts as unset, as an empty credential means "none" anyway.
// Problems name the variable and the path, never the content.
func (p *problems) credential(name, value, path string) string {
	fileVar := name + "_FILE"
	switch {
	case value != "" && path != "":
		p.addf(name, "both %s and %s are set; set only one", name, fileVar)
		return ""
	case path == "":
		return value
	}
	b, err := os.ReadFile(path)
	if err != nil {
		// The PathError says "open"; what failed, to the operator, is
		// reading the credential.
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		p.addf(fileVar, "read %s: %w", path, err)
		return ""
	}
	s := string(b)
	if t, ok := strings.CutSuffix(s, "\r\n"); ok {
		s = t
	} else {
		s = strings.TrimSuffix(s, "\n")
	}
	if s == "" {
		p.addf(fileVar, "%s is empty", path)
	}
	return s
}

// tolerance parses a non-negative duration.
func (p *problems) tolerance(name, v string) time.Duration {
	d, err := time.ParseDuration(v)
	switch {
	case err != nil:
		p.addf(name, "bad duration %q (want e.g. 15m, or 0 to disable)", v)
	case d < 0:
		p.addf(name, "must not be negative, got %q", v)
		d = 0
	}
	return d
}

// positiveDuration parses a duration above zero.
func (p *problems) positiveDuration(name, v string) time.Duration {
	d, err := time.ParseDuration(v)
	switch {
	case err != nil:
		p.addf(name, "bad duration %q (want e.g. 30m or 24h)", v)
	case d <= 0:
		p.addf(name, "must be positive, got %q", v)
	}
	return d
}

// count parses a whole number of at least 1.
func (p *problems) count(name, v string) int {
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		p.addf(name, "want a whole number of at least 1, got %q", v)
	}
	return n
}

// size parses a positive number of bytes, bare or with a binary unit
// (KiB, MiB, GiB, TiB).
func (p *problems) size(name, v string) int64 {
	num, mult := strings.TrimSpace(v), int64(1)
	for i, unit := range []string{"KiB", "MiB", "GiB", "TiB"} {
		if n, ok := strings.CutSuffix(num, unit); ok {
			num, mult = strings.TrimSpace(n), int64(1)<<(10*(i+1))
			break
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	switch {
	case err != nil:
		p.addf(name, "bad size %q (want bytes, or a number with KiB, MiB, GiB or TiB)", v)
		return 0
	case n <= 0:
		p.addf(name, "must be positive, got %q", v)
		return 0
	case n > math.MaxInt64/mult:
		p.addf(name, "too large: %q", v)
		return 0
	}
	return n * mult
}

// checkSchedule checks a cron spec the way the scheduler will parse it.
func (p *problems) checkSchedule(name, spec string) {
	if _, err := cron.ParseStandard(spec); err != nil {
		p.addf(name, "bad cron spec %q: %w", spec, err)
		return
	}
	// cron silently runs an "@every" below one second (or a negative one)
	// every second; that is never what an operator meant.
	if rest, ok := strings.CutPrefix(spec, "@every "); ok {
		if d, err := time.ParseDuration(strings.TrimSpace(rest)); err == nil && d < time.Second {
			p.addf(name, "bad cron spec %q: interval must be at least 1s", spec)
		}
	}
}

// location loads an IANA time zone.
func (p *problems) location(name, tz string) *time.Location {
	if tz == "" {
		p.addf(name, "must not be empty (use UTC)")
		return time.UTC
	}
	loc, err := time.LoadLocation(tz)
	if err != nil {
		p.addf(name, "unknown time zone %q", tz)
		return time.UTC
	}
	return loc
}

// checkHTTPURL checks for an absolute http(s) URL without credentials in it
// (those belong in FUSE_CLIENT_ID and FUSE_CLIENT_SECRET, and a URL gets
// logged). Messages never repeat a URL that might hold a password.
func (p *problems) checkHTTPURL(name, raw string) {
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		p.addf(name, "not a URL: %w", err)
	case u.User != nil:
		p.addf(name, "must not contain credentials (%s)", u.Redacted())
	case (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		if strings.Contains(raw, "@") {
			// Perhaps user:password@host without a scheme.
			p.addf(name, "must be an absolute http or https URL")
			return
		}
		p.addf(name, "must be an absolute http or https URL, got %q", raw)
	}
}
