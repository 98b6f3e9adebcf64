package main

import (
	"os"
	"path/filepath"
	"testing"
)

// TestSoakKeepsTheDrillAndProbeSections: a soak rewrites RELIABILITY.md
// but keeps, in order, the restore drill's section and the probes' table
// that others wrote there.
func TestSoakKeepsTheDrillAndProbeSections(t *testing.T) {
	path := filepath.Join(t.TempDir(), "RELIABILITY.md")
	old := "# old soak\n\n<!-- drill:begin -->\n## drill\n<!-- drill:end -->\n\n<!-- probes:begin -->\n## probes\n<!-- probes:end -->\n"
	if err := os.WriteFile(path, []byte(old), 0o644); err != nil {
		t.Fatal(err)
	}
	got := keepSections(path, "# new soak\n")
	want := "# new soak\n\n<!-- drill:begin -->\n## drill\n<!-- drill:end -->\n\n<!-- probes:begin -->\n## probes\n<!-- probes:end -->\n"
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	if got := keepSections(filepath.Join(t.TempDir(), "none.md"), "# new soak\n"); got != "# new soak\n" {
		t.Errorf("without a file: %q", got)
	}
}
