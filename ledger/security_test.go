package ledger

import (
	"context"
	"os"
	"path/filepath"
	"testing"
)

// TestWALAndSharedMemoryFilesArePrivateToo extends
// TestOpenMakesAPrivateWALFileAtTheLatestVersion to the files SQLite
// creates next to the database: the write-ahead log holds recent
// transactions in clear and must be as private as the file itself.
func TestWALAndSharedMemoryFilesArePrivateToo(t *testing.T) {
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
