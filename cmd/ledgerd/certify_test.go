package main

import (
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ledgerd/ledgerd/fuse/sandbox"
)

func TestCertifyWithTheBuiltInSandboxPassesAndWritesTheEvidence(t *testing.T) {
	dir := t.TempDir()
	const secret = "cli-secret-7d1e5a90"
	secretFile := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(secretFile, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := ledgerdRun(t, map[string]string{
		"FUSE_CLIENT_ID":          "cli-client",
		"FUSE_CLIENT_SECRET_FILE": secretFile,
		"LEDGERD_TZ":              "Asia/Dubai",
		"LEDGERD_LOG_FORMAT":      "json",
		"LEDGERD_LOG_LEVEL":       "warn",
	}, "certify", "--sandbox", "--individual", "--out", dir)
	if code != exitOK {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	if !strings.Contains(out, "PASS 6    No secret") || strings.Contains(out, "FAIL") {
		t.Errorf("stdout:\n%s", out)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(b), secret) {
			t.Errorf("%s holds the client secret", e.Name())
		}
	}
	if len(names) != 5 {
		t.Errorf("files: %v", names)
	}
	summary, _ := os.ReadFile(filepath.Join(dir, "SUMMARY.md"))
	for _, want := range []string{"**PASS**", "(Add Individual)", "Asia/Dubai", "built-in sandbox"} {
		if !strings.Contains(string(summary), want) {
			t.Errorf("SUMMARY.md lacks %q", want)
		}
	}
	doc, _ := os.ReadFile(filepath.Join(dir, "token-and-idempotency.md"))
	if !strings.Contains(string(doc), "FUSE_CLIENT_SECRET_FILE (a file)") {
		t.Errorf("the token document does not name the credential's source:\n%s", doc)
	}
}

func TestCertifyAgainstAFuseThatRefusesTheSecretExitsOne(t *testing.T) {
	sb := sandbox.New(sandbox.Options{ClientID: "cli-client", ClientSecret: "the-right-secret"})
	srv := httptest.NewServer(sb)
	t.Cleanup(func() { srv.Close(); sb.Close() })
	dir := t.TempDir()
	code, out, errOut := ledgerdRun(t, map[string]string{
		"FUSE_BASE_URL":      srv.URL + "/v1",
		"FUSE_AUTH_URL":      srv.URL + sandbox.TokenPath,
		"FUSE_CLIENT_ID":     "cli-client",
		"FUSE_CLIENT_SECRET": "a-wrong-secret",
		"LEDGERD_LOG_LEVEL":  "error",
	}, "certify", "--out", dir, "--listen", "127.0.0.1:0", "--webhook-wait", "1s")
	if code != exitProblem {
		t.Fatalf("exit %d, want 1\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	if !strings.Contains(errOut, "requirements not met") || !strings.Contains(out, "FAIL 3.1") {
		t.Errorf("stdout:\n%s\nstderr:\n%s", out, errOut)
	}
	summary, err := os.ReadFile(filepath.Join(dir, "SUMMARY.md"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(summary), "**FAIL**") || !strings.Contains(string(summary), "400 Bad Request; check FUSE_CLIENT_ID") {
		t.Errorf("SUMMARY.md:\n%s", summary)
	}
}

func TestCertifyUsageErrorsExitTwo(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"no --out", nil, []string{"certify", "--sandbox"}, "--out DIR is required"},
		{"both customer kinds", nil, []string{"certify", "--sandbox", "--out", "x", "--business", "--individual"}, "exclude each other"},
		{"no credentials without --sandbox", nil, []string{"certify", "--out", "x"}, "FUSE_CLIENT_ID and FUSE_CLIENT_SECRET"},
		{"stray argument", nil, []string{"certify", "--out", "x", "now"}, "unexpected argument"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, errOut := ledgerdRun(t, tc.env, tc.args...)
			if code != exitUsage || !strings.Contains(errOut, tc.want) {
				t.Errorf("exit %d, stderr %q; want 2 and %q", code, errOut, tc.want)
			}
		})
	}
}
