package config

import (
	"errors"
	"net/url"
	"strings"
)

// Replica URL schemes ledgerd replicates to: a directory (a bare path or
// file://) and an S3-compatible bucket.
const (
	ReplicaSchemeFile = "file"
	ReplicaSchemeS3   = "s3"
)

// ReplicaScheme is the kind of replica raw names: ReplicaSchemeFile for a
// path (anything without "://") or a file:// URL, ReplicaSchemeS3, or
// another URL's scheme as it is (which Load refuses).
func ReplicaScheme(raw string) string {
	if scheme, _, ok := strings.Cut(raw, "://"); ok {
		return strings.ToLower(scheme)
	}
	return ReplicaSchemeFile
}

// ReplicaDir is the directory of a file replica: raw itself for a path,
// the path of a file:///path URL.
func ReplicaDir(raw string) (string, error) {
	if !strings.Contains(raw, "://") {
		return raw, nil
	}
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return "", errors.Unwrap(err)
	case !strings.EqualFold(u.Scheme, ReplicaSchemeFile) || u.Host != "" || u.Path == "":
		return "", errors.New("want file:///absolute/path (three slashes)")
	}
	return u.Path, nil
}

// CheckReplicaURL reports what is wrong with raw as a replica URL (see
// LEDGERD_REPLICA_URL), for a URL given on a command line; nil when it is
// fine.
func CheckReplicaURL(raw string) error {
	var p problems
	p.checkReplicaURL("replica URL", raw)
	return errors.Join(p...)
}

// checkReplicaURL accepts "" (no replication), a directory path, a
// file:// URL and s3://bucket/path with options in the query. Credentials
// do not belong in the URL, which is logged: they have their own
// variables.
func (p *problems) checkReplicaURL(name, raw string) {
	if raw == "" {
		return
	}
	switch ReplicaScheme(raw) {
	case ReplicaSchemeFile:
		if _, err := ReplicaDir(raw); err != nil {
			p.addf(name, "%v, got %q", err, raw)
		}
		return
	case ReplicaSchemeS3:
	default:
		p.addf(name, "unsupported scheme %q: want a directory path, file:///path or s3://bucket/path", ReplicaScheme(raw))
		return
	}
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		p.addf(name, "not a URL: %v", errors.Unwrap(err))
	case u.User != nil:
		p.addf(name, "must not contain credentials (%s): set LEDGERD_REPLICA_ACCESS_KEY_ID and LEDGERD_REPLICA_SECRET_ACCESS_KEY (or their _FILE)",
			RedactReplicaURL(raw))
	case u.Host == "":
		p.addf(name, "an s3:// URL needs a bucket: s3://bucket/path")
	}
}

// checkReplicaCredentials refuses S3 credentials without an S3 replica,
// and one half of a key pair without the other.
func (p *problems) checkReplicaCredentials(c *Config) {
	id, secret := c.ReplicaAccessKeyID != "", c.ReplicaSecretAccessKey.IsSet()
	switch {
	case !id && !secret:
	case c.ReplicaURL == "" || ReplicaScheme(c.ReplicaURL) != ReplicaSchemeS3:
		p.addf("LEDGERD_REPLICA_ACCESS_KEY_ID", "S3 credentials are set but LEDGERD_REPLICA_URL is not an s3:// URL")
	case id != secret:
		p.addf("LEDGERD_REPLICA_ACCESS_KEY_ID", "set both LEDGERD_REPLICA_ACCESS_KEY_ID and LEDGERD_REPLICA_SECRET_ACCESS_KEY, or neither")
	}
}

// RedactReplicaURL is a replica URL fit for logs and the status page: no
// user info, and the value of every query parameter that may carry a key
// (an SSE-C key) replaced by "redacted".
func RedactReplicaURL(raw string) string {
	if ReplicaScheme(raw) == ReplicaSchemeFile {
		return raw
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	u.User = nil
	q := u.Query()
	for k := range q {
		if strings.Contains(strings.ToLower(k), "key") {
			q[k] = []string{"redacted"}
		}
	}
	u.RawQuery = q.Encode()
	return u.String()
}
