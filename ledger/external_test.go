package ledger

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestExternalCheckpointsLeaveTheWALToTheReplicator: with
// ExternalCheckpoints the ledger never checkpoints (no automatic
// checkpoint on the writer, no background checkpointer, no TRUNCATE at
// Close), so that Litestream sees every frame before the WAL starts over;
// with KeepWALAtClose it checkpoints as usual but does not truncate at
// Close; with neither, Close truncates the WAL. Another connection stays open, as
// Litestream's does, so that SQLite's own checkpoint when the last
// connection closes does not hide the difference.
func TestExternalCheckpointsLeaveTheWALToTheReplicator(t *testing.T) {
	for _, tt := range []struct {
		name      string
		opts      Options
		autoPages int
		keepWAL   bool
	}{
		{"own checkpoints", Options{}, ckptWriterFrames, false},
		{"external checkpoints", Options{ExternalCheckpoints: true}, 0, true},
		{"own checkpoints, WAL kept at close", Options{KeepWALAtClose: true}, ckptWriterFrames, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "ledgerd.db")
			l, err := Open(context.Background(), path, tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			other, err := sql.Open("sqlite", dsn(path, false))
			if err != nil {
				t.Fatal(err)
			}
			defer other.Close()
			if err := other.Ping(); err != nil {
				t.Fatal(err)
			}
			ingestAll(t, l, scenario())
			var auto int
			if err := l.writer.QueryRow("PRAGMA wal_autocheckpoint").Scan(&auto); err != nil || auto != tt.autoPages {
				t.Errorf("writer's wal_autocheckpoint %d (%v), want %d", auto, err, tt.autoPages)
			}
			if (l.ckpt == nil) != tt.opts.ExternalCheckpoints {
				t.Errorf("background checkpointer running: %v, want %v", l.ckpt != nil, !tt.opts.ExternalCheckpoints)
			}
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			fi, err := os.Stat(path + "-wal")
			if err != nil {
				t.Fatal(err)
			}
			if got := fi.Size() > 0; got != tt.keepWAL {
				t.Errorf("WAL after Close: %d bytes; want it kept: %v", fi.Size(), tt.keepWAL)
			}
		})
	}
}

// TestPausedCommitsNothingUntilItReturns: a write queued while the
// replicator holds the writer paused waits, and commits once it returns.
func TestPausedCommitsNothingUntilItReturns(t *testing.T) {
	l := openTest(t, Options{ExternalCheckpoints: true})
	obs := scenario()
	done := make(chan error, 1)
	err := l.Paused(func() error {
		go func() {
			_, err := l.IngestAll(context.Background(), obs[:1], nil)
			done <- err
		}()
		select {
		case err := <-done:
			t.Errorf("a write committed while paused (%v)", err)
		case <-time.After(200 * time.Millisecond): // nothing may happen meanwhile
		}
		if n := count(t, l.Reader(), "events"); n != 0 {
			t.Errorf("%d events in the file while paused", n)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if n := count(t, l.Reader(), "events"); n != 1 {
		t.Errorf("%d events after the pause, want 1", n)
	}
}
