package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRestoreUsageErrorsExitTwoAndAnEmptyReplicaOne: restore needs a new
// path and a replica; it never overwrites a file, and a replica with
// nothing in it is a problem found (exit 1), not a usage error.
func TestRestoreUsageErrorsExitTwoAndAnEmptyReplicaOne(t *testing.T) {
	dir := t.TempDir()
	existing := filepath.Join(dir, "ledgerd.db")
	if err := os.WriteFile(existing, []byte("the old file"), 0o600); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty-replica")
	for _, tt := range []struct {
		name string
		env  map[string]string
		args []string
		code int
		says string
	}{
		{"no --to", nil, []string{"--from", empty}, 2, "--to PATH is required"},
		{"existing --to", nil, []string{"--from", empty, "--to", existing}, 2, "restore never overwrites a file"},
		{"no replica", nil, []string{"--to", filepath.Join(dir, "a.db")}, 2, "give --from URL or set LEDGERD_REPLICA_URL"},
		{"bad --as-of", nil, []string{"--from", empty, "--to", filepath.Join(dir, "b.db"), "--as-of", "yesterday"}, 2, "RFC 3339"},
		{"bad URL", nil, []string{"--from", "gs://bucket/x", "--to", filepath.Join(dir, "c.db")}, 2, `--from: replica URL: unsupported scheme "gs"`},
		{"empty replica", map[string]string{"LEDGERD_REPLICA_URL": empty}, []string{"--to", filepath.Join(dir, "d.db")}, 1,
			"the replica holds no backup"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := ledgerdRun(t, tt.env, append([]string{"restore"}, tt.args...)...)
			if code != tt.code || !strings.Contains(errOut, tt.says) {
				t.Errorf("exit %d, want %d saying %q\n%s%s", code, tt.code, tt.says, out, errOut)
			}
		})
	}
	if b, err := os.ReadFile(existing); err != nil || string(b) != "the old file" {
		t.Errorf("the existing file was touched: %q %v", b, err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("restore left files behind: %v", entries)
	}
}
