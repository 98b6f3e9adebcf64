package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// --out never overwrites the database it reads (nor its -wal or -shm),
// and what it writes is private (0600), replaced whole.
func TestOutNeverOverwritesTheDatabaseAndIsPrivate(t *testing.T) {
	db := seedFile(t)
	env := map[string]string{"LEDGERD_DB": db}
	for _, target := range []string{db, db + "-wal"} {
		if _, err := os.Stat(target); err != nil {
			continue // no WAL left after a clean close
		}
		code, _, errOut := ledgerdRun(t, env, "export", "--format", "csv", "--out", target)
		if code != 2 || !strings.Contains(errOut, "is the database") {
			t.Errorf("export --out %s: exit %d, %s; want 2", target, code, errOut)
		}
	}
	if code, out, errOut := ledgerdRun(t, env, "verify"); code != 0 {
		t.Fatalf("verify after the refused exports: exit %d\n%s%s", code, out, errOut)
	}
	out := filepath.Join(t.TempDir(), "journal.csv")
	if err := os.WriteFile(out, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, _, errOut := ledgerdRun(t, env, "export", "--format", "csv", "--out", out); code != 0 {
		t.Fatalf("export: exit %d\n%s", code, errOut)
	}
	fi, err := os.Stat(out)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("export file: %v, mode %v, want 0600", err, fi.Mode())
	}
	if b, _ := os.ReadFile(out); !strings.HasPrefix(string(b), "date,") {
		t.Errorf("export file does not hold the export: %.40q", b)
	}
	left, _ := filepath.Glob(filepath.Join(filepath.Dir(out), ".*.tmp"))
	if len(left) > 0 {
		t.Errorf("temporary files left: %v", left)
	}
	if code, _, _ := ledgerdRun(t, env, "export", "--format", "csv", "--out", t.TempDir()); code != 2 {
		t.Errorf("export --out DIR: exit %d, want 2", code)
	}
}
