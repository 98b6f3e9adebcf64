package atomicfile

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// A write that fails leaves the file as it was and no temporary file
// beside it; one that succeeds replaces it whole, private.
func TestWriteReplacesTheFileWholeOrLeavesItAsItWas(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "report.json")
	if err := os.WriteFile(path, []byte("before"), 0o644); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("disk on fire")
	err := Write(path, func(w io.Writer) error {
		if _, err := io.WriteString(w, "half"); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("failed write: %v, want it to wrap %v", err, boom)
	}
	if b, _ := os.ReadFile(path); string(b) != "before" {
		t.Errorf("after a failed write the file holds %q, want %q", b, "before")
	}
	if left, _ := filepath.Glob(filepath.Join(dir, ".*.tmp")); len(left) > 0 {
		t.Errorf("temporary files left: %v", left)
	}
	if err := Write(path, func(w io.Writer) error { _, err := io.WriteString(w, "after"); return err }); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if b, _ := os.ReadFile(path); err != nil || string(b) != "after" || fi.Mode().Perm() != 0o600 {
		t.Errorf("after a write: %q, mode %v (%v); want %q, 0600", b, fi.Mode().Perm(), err, "after")
	}
}
