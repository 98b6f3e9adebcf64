package ledger

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// errDiskFull stands for SQLITE_FULL in the failAfter hook.
var errDiskFull = fmt.Errorf("%w: disk full (test)", ErrUnavailable)

// failEvents returns a failAfter hook that fails every insert into events
// with errDiskFull while *on is true.
func failEvents(on *atomic.Bool) func(string) error {
	return func(stmt string) error {
		if on.Load() && strings.HasPrefix(strings.TrimSpace(stmt), "INSERT INTO events") {
			return errDiskFull
		}
		return nil
	}
}

// A one-row probe can pass where webhooks fail (a reused WAL, a page
// limit): the fault a webhook met stays until real work commits again.
func TestLastWriteFaultStaysUntilRealWorkCommits(t *testing.T) {
	var full atomic.Bool
	l := openTest(t, Options{failAfter: failEvents(&full)})
	if at, err := l.LastWriteFault(); !at.IsZero() || err != nil {
		t.Fatalf("fresh ledger: fault %v %v", at, err)
	}
	var s script
	full.Store(true)
	if _, err := l.Ingest(context.Background(), s.account("aaaaaaaa-0000-4000-8000-000000000001", "AED")); !errors.Is(err, errDiskFull) {
		t.Fatalf("ingest on a full disk: %v", err)
	}
	at, err := l.LastWriteFault()
	if !errors.Is(err, errDiskFull) || time.Since(at) > time.Minute {
		t.Fatalf("after a failed ingest: fault %v %v", at, err)
	}
	if err := l.ProbeWrite(context.Background()); err != nil {
		t.Fatalf("probe: %v", err)
	}
	if err := l.ProbeLock(context.Background()); err != nil {
		t.Fatalf("lock probe: %v", err)
	}
	if _, err := l.LastWriteFault(); !errors.Is(err, errDiskFull) {
		t.Errorf("after probes passed: fault %v, want it kept", err)
	}
	full.Store(false)
	if _, err := l.Ingest(context.Background(), s.account("aaaaaaaa-0000-4000-8000-000000000001", "AED")); err != nil {
		t.Fatal(err)
	}
	if at, err := l.LastWriteFault(); !at.IsZero() || err != nil {
		t.Errorf("after an ingest committed: fault %v %v, want none", at, err)
	}
	var probedAt string
	if err := l.reader.QueryRow("SELECT probed_at FROM write_probe WHERE id = 1").Scan(&probedAt); err != nil || probedAt == "" {
		t.Errorf("write_probe row: %q %v", probedAt, err)
	}
}

// A Close whose final checkpoint fails (a full disk) loses nothing: it
// says so with ErrNotCheckpointed, and the next open has every commit.
func TestCloseWithoutCheckpointLosesNothingAndSaysSo(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "ledgerd.db")
	freshFile(t, path)
	l, err := Open(context.Background(), path, Options{failAfter: func(stmt string) error {
		if strings.HasPrefix(stmt, "PRAGMA wal_checkpoint") || stmt == "PRAGMA optimize" {
			return errDiskFull
		}
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	obs := scenario()
	ingestAll(t, l, obs)
	err = l.Close()
	if !errors.Is(err, ErrNotCheckpointed) || !strings.Contains(err.Error(), "checkpoint: ") || !strings.Contains(err.Error(), "optimize: ") {
		t.Fatalf("Close = %v, want ErrNotCheckpointed naming optimize and checkpoint", err)
	}
	l2, err := Open(context.Background(), path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer l2.Close()
	if n := count(t, l2.reader, "events"); n != len(obs) {
		t.Errorf("after reopening: %d events, want %d", n, len(obs))
	}
	mustVerify(t, l2)
}

// Writes that were queued when Close began and then failed are a real
// failure of Close, not housekeeping left undone.
func TestCloseReportsQueuedWritesThatFailedWhileClosing(t *testing.T) {
	t.Parallel()
	var full atomic.Bool
	path := filepath.Join(t.TempDir(), "ledgerd.db")
	freshFile(t, path)
	l, err := Open(context.Background(), path, Options{failAfter: failEvents(&full)})
	if err != nil {
		t.Fatal(err)
	}
	full.Store(true)
	// Hold the writer so that the ingests queue behind it.
	release, holding := make(chan struct{}), make(chan struct{})
	go l.Update(context.Background(), func(*Tx) error { close(holding); <-release; return nil }) //nolint:errcheck // only holds the writer
	<-holding
	var s script
	obs := s.account("aaaaaaaa-0000-4000-8000-000000000001", "AED")
	failed := make(chan error, 2)
	for range 2 {
		go func() { _, err := l.Ingest(context.Background(), obs); failed <- err }()
	}
	waitUntil(t, "two ingests queued", func() bool { return len(l.w.reqs) == 2 })
	closed := make(chan error, 1)
	go func() { closed <- l.Close() }()
	waitUntil(t, "Close to begin", l.w.closing.Load)
	close(release)
	for range 2 {
		if err := <-failed; !errors.Is(err, errDiskFull) {
			t.Errorf("queued ingest: %v", err)
		}
	}
	err = <-closed
	if err == nil || errors.Is(err, ErrNotCheckpointed) || !strings.Contains(err.Error(), "2 queued writes failed while closing") {
		t.Fatalf("Close = %v, want the 2 failed writes, not ErrNotCheckpointed", err)
	}
}

// waitUntil polls cond until it holds, for at most 10 s.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}
