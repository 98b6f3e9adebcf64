package config_test

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/ledgerd/ledgerd/config"
)

// TestReplicaURLAcceptsADirectoryAFileURLOrAnS3Bucket: the three forms
// serve replicates to, and every other value refused with a line naming
// LEDGERD_REPLICA_URL.
func TestReplicaURLAcceptsADirectoryAFileURLOrAnS3Bucket(t *testing.T) {
	for _, tt := range []struct {
		url, problem string // problem "" when the URL is accepted
	}{
		{"/var/backups/ledgerd", ""},
		{"relative/dir", ""},
		{"file:///var/backups/ledgerd", ""},
		{"s3://bucket", ""},
		{"s3://bucket/ledgerd?endpoint=http://127.0.0.1:9000&region=auto&forcePathStyle=true", ""},
		{"file://host/var/x", "want file:///absolute/path"},
		{"file://", "want file:///absolute/path"},
		{"s3:///ledgerd", "needs a bucket"},
		{"s3://AKID:secret@bucket/ledgerd", "must not contain credentials"},
		{"gs://bucket/ledgerd", `unsupported scheme "gs"`},
		{"s3://bucket/%zz", "not a URL"},
	} {
		t.Run(tt.url, func(t *testing.T) {
			c, err := load(t, map[string]string{"LEDGERD_REPLICA_URL": tt.url})
			if tt.problem == "" {
				if err != nil || c.ReplicaURL != tt.url {
					t.Fatalf("Load: %v, ReplicaURL %q", err, c.ReplicaURL)
				}
				return
			}
			if !errors.Is(err, config.ErrInvalid) || !strings.Contains(err.Error(), "LEDGERD_REPLICA_URL: ") ||
				!strings.Contains(err.Error(), tt.problem) {
				t.Fatalf("Load: %v, want ErrInvalid naming LEDGERD_REPLICA_URL: %s", err, tt.problem)
			}
			if strings.Contains(err.Error(), "secret") {
				t.Errorf("the error repeats the URL's password: %v", err)
			}
		})
	}
}

// TestReplicaCredentialsComeFromFilesAndNeverShow: the S3 key pair read
// from *_FILE variables, as systemd credentials give them, and neither
// the secret nor more than the id's last characters in the logged
// configuration.
func TestReplicaCredentialsComeFromFilesAndNeverShow(t *testing.T) {
	c := mustLoad(t, map[string]string{
		"LEDGERD_REPLICA_URL":                    "s3://bucket/ledgerd?sse-customer-key=c2VjcmV0LWtleQ",
		"LEDGERD_REPLICA_ACCESS_KEY_ID_FILE":     writeFile(t, "id", "AKIDREPLICA0123\n"),
		"LEDGERD_REPLICA_SECRET_ACCESS_KEY_FILE": writeFile(t, "secret", "replica-secret-value\n"),
	})
	if c.ReplicaAccessKeyID != "AKIDREPLICA0123" || c.ReplicaSecretAccessKey.Reveal() != "replica-secret-value" {
		t.Fatalf("credentials %q / %q", c.ReplicaAccessKeyID, c.ReplicaSecretAccessKey.Reveal())
	}
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("config", "config", c)
	for _, leak := range []string{"replica-secret-value", "AKIDREPLICA0123", "c2VjcmV0LWtleQ"} {
		if strings.Contains(buf.String(), leak) {
			t.Errorf("the logged configuration shows %q:\n%s", leak, buf.String())
		}
	}
	if !strings.Contains(buf.String(), `"replica_url":"s3://bucket/ledgerd?sse-customer-key=redacted"`) {
		t.Errorf("the logged configuration does not name the replica:\n%s", buf.String())
	}
}

// TestReplicaCredentialsNeedAnS3ReplicaAndBothHalves: a key pair given
// for a directory replica, or half a pair, is a mistake said at start.
func TestReplicaCredentialsNeedAnS3ReplicaAndBothHalves(t *testing.T) {
	for _, tt := range []struct {
		name    string
		env     map[string]string
		problem string
	}{
		{"no replica", map[string]string{"LEDGERD_REPLICA_ACCESS_KEY_ID": "id", "LEDGERD_REPLICA_SECRET_ACCESS_KEY": "s"},
			"not an s3:// URL"},
		{"directory replica", map[string]string{"LEDGERD_REPLICA_URL": "/backups", "LEDGERD_REPLICA_ACCESS_KEY_ID": "id",
			"LEDGERD_REPLICA_SECRET_ACCESS_KEY": "s"}, "not an s3:// URL"},
		{"id alone", map[string]string{"LEDGERD_REPLICA_URL": "s3://b/p", "LEDGERD_REPLICA_ACCESS_KEY_ID": "id"}, "set both"},
		{"secret alone", map[string]string{"LEDGERD_REPLICA_URL": "s3://b/p", "LEDGERD_REPLICA_SECRET_ACCESS_KEY": "s"}, "set both"},
		{"id twice", map[string]string{"LEDGERD_REPLICA_URL": "s3://b/p", "LEDGERD_REPLICA_ACCESS_KEY_ID": "id",
			"LEDGERD_REPLICA_ACCESS_KEY_ID_FILE": writeFile(t, "id", "id"), "LEDGERD_REPLICA_SECRET_ACCESS_KEY": "s"},
			"both LEDGERD_REPLICA_ACCESS_KEY_ID and LEDGERD_REPLICA_ACCESS_KEY_ID_FILE are set"},
		{"zero interval", map[string]string{"LEDGERD_REPLICA_INTERVAL": "0s"}, "LEDGERD_REPLICA_INTERVAL: must be positive"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := load(t, tt.env)
			if !errors.Is(err, config.ErrInvalid) || !strings.Contains(err.Error(), tt.problem) {
				t.Fatalf("Load: %v, want ErrInvalid: %s", err, tt.problem)
			}
		})
	}
}
