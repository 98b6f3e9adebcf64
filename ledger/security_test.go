package ledger

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestWALAndSharedMemoryFilesArePrivateToo extends
// TestOpenMakesAPrivateWALFileAtTheLatestVersion to the files SQLite
// creates next to the database: the write-ahead log holds recent
// transactions in clear and must be as private as the file itself.
func TestWALAndSharedMemoryFilesArePrivateToo(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "ledgerd.db")
	for round := range 2 { // created, then reopened
		l, err := Open(context.Background(), path, Options{})
		if err != nil {
			t.Fatal(err)
		}
		err = l.Update(context.Background(), func(tx *Tx) error {
			_, err := tx.Exec(`INSERT INTO recon_runs (started_at, time_zone, as_of) VALUES ('2026-01-01T00:00:00Z', 'UTC', '2026-01-01T00:00:00Z')`)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range []string{path, path + "-wal", path + "-shm"} {
			fi, err := os.Stat(p)
			if err != nil {
				t.Fatalf("round %d: %v", round, err)
			}
			if mode := fi.Mode().Perm(); mode != 0o600 {
				t.Errorf("round %d: %s has mode %o, want 600", round, filepath.Base(p), mode)
			}
		}
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// fileState is what a check must leave as it found: each of the database's
// files with its mode, size, modification time and content, or its
// absence.
func fileState(t *testing.T, path string) string {
	t.Helper()
	var b strings.Builder
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		fi, err := os.Stat(p)
		if errors.Is(err, os.ErrNotExist) {
			fmt.Fprintf(&b, "%s absent\n", filepath.Base(p))
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		raw, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "%s %04o %d %s %x\n", filepath.Base(p), fi.Mode().Perm(), fi.Size(), fi.ModTime(), sha256.Sum256(raw))
	}
	return b.String()
}

// TestReadOnlyVerifyReportsAReadableFileAndChangesNothing: a check must
// not change what it checks. Opened ReadOnly, a file others can read is
// reported by Verify, not made private, and nothing about the file
// changes; a missing file is not created, an older one not upgraded.
func TestReadOnlyVerifyReportsAReadableFileAndChangesNothing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "shared.db")
	l, err := Open(ctx, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ingestAll(t, l, scenario()[:3])
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	before := fileState(t, path)

	l, err = Open(ctx, path, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := l.Verify(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var failed []Check
	for _, c := range rep.Checks {
		if !c.OK {
			failed = append(failed, c)
		}
	}
	if len(failed) != 1 || len(failed[0].Details) != 1 || !strings.Contains(failed[0].Details[0], path+" is mode 0644") ||
		!strings.Contains(failed[0].Details[0], "ledgerd migrate") {
		t.Errorf("failed checks %+v, want only the file mode, naming %s and 0644", failed, path)
	}
	if _, err := l.Ingest(ctx, scenario()[3]); !errors.Is(err, ErrUnavailable) {
		t.Errorf("a write through a ReadOnly ledger: %v, want ErrUnavailable", err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if after := fileState(t, path); after != before {
		t.Errorf("verify changed the file:\n%s\nwas:\n%s", after, before)
	}

	// An open that may write makes it private, and Verify passes.
	l, err = Open(ctx, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	mustVerify(t, l)
	l.Close()
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("after a writing open: %v %v, want mode 0600", fi.Mode().Perm(), err)
	}

	missing := filepath.Join(t.TempDir(), "missing.db")
	if _, err := Open(ctx, missing, Options{ReadOnly: true}); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("ReadOnly open of a missing file: %v, want not exist", err)
	}
	if _, err := os.Stat(missing); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("ReadOnly open created %s (%v)", missing, err)
	}

	old := fileAtVersion(t, SchemaVersion()-1, eventAndAccount()...)
	before = fileState(t, old)
	if _, err := Open(ctx, old, Options{ReadOnly: true}); !errors.Is(err, ErrOlderSchema) || !strings.Contains(err.Error(), "ledgerd migrate") {
		t.Errorf("ReadOnly open of an older file: %v, want ErrOlderSchema saying ledgerd migrate", err)
	}
	if after := fileState(t, old); after != before {
		t.Errorf("ReadOnly open changed the older file:\n%s\nwas:\n%s", after, before)
	}
}
