package ledger

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/ledgerd/ledgerd"
)

// reloads is how many times l's writer has caught up with another
// connection's commit, read on the writer's own goroutine.
func reloads(t *testing.T, l *Ledger) int {
	t.Helper()
	var n int
	if err := l.w.do(context.Background(), func(tx *wtx) error { n = tx.w.reloads; return nil }); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestTwoLedgersOnOneFileKeepHashChainAndBalances is serve and a command
// run from the shell: two Ledgers open on the same file write in turn,
// each opened before the other's commits. Each writer must notice the
// other's commits and reload what it caches (the last event hash, the
// running balances), so that the file ends exactly as if one writer had
// ingested everything, and verify passes.
func TestTwoLedgersOnOneFileKeepHashChainAndBalances(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	obs := scenario()
	want := openTest(t, Options{})
	ingestAll(t, want, obs)

	path := filepath.Join(t.TempDir(), "ledgerd.db")
	freshFile(t, path)
	l1, err := Open(ctx, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer l1.Close()
	l2, err := Open(ctx, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer l2.Close()
	for i, o := range obs {
		l := []*Ledger{l1, l2}[i%2]
		if _, err := l.Ingest(ctx, o); err != nil {
			t.Fatalf("ingest %d: %v", i, err)
		}
		if i == len(obs)/2 {
			// A schema change by the other (as an index a newer ledgerd's
			// migrate adds): l1's prepared statements must be prepared
			// again, not fail.
			if err := l2.Update(ctx, func(tx *Tx) error {
				_, err := tx.Exec("CREATE INDEX test_events_type ON events (type)")
				return err
			}); err != nil {
				t.Fatal(err)
			}
		}
	}
	// A quarantined body replayed by one while the other keeps writing:
	// the sequence.
	var s script
	id, err := l1.Quarantine(ctx, Quarantined{Reason: "stale_timestamp", Raw: []byte(`{}`)})
	if err != nil {
		t.Fatal(err)
	}
	late := s.tx(ledgerd.TransactionObservation{TransactionID: "50000000-0000-4000-8000-000000000001",
		AccountID: "aaaaaaaa-0000-4000-8000-000000000001", Kind: ledgerd.KindLocalPaymentIn, Status: ledgerd.StatusSettled,
		At: at(60), Currency: "AED", Amounts: amounts(700, 0)})
	late.Event.ID = "late-1"
	if _, err := l2.ReplayQuarantined(ctx, id, late); err != nil {
		t.Fatal(err)
	}
	more := s.tx(ledgerd.TransactionObservation{TransactionID: "50000000-0000-4000-8000-000000000002",
		AccountID: "aaaaaaaa-0000-4000-8000-000000000001", Kind: ledgerd.KindLocalPaymentIn, Status: ledgerd.StatusSettled,
		At: at(61), Currency: "AED", Amounts: amounts(300, 0)})
	more.Event.ID = "late-2"
	ingestAll(t, l1, []ledgerd.Observation{more})
	ingestAll(t, want, []ledgerd.Observation{late, more})

	mustVerify(t, l1)
	if got, w := dump(t, l1), dump(t, want); got != w {
		t.Errorf("file written by two ledgers in turn:\n%s\nwant, as one writer leaves it:\n%s", got, w)
	}
	if n := reloads(t, l1); n == 0 {
		t.Errorf("l1's writer never reloaded after l2's commits")
	}
}

// TestWriterReloadsNothingWhileItIsTheOnlyWriter: the check for other
// writers costs one PRAGMA per batch and nothing more when serve is alone
// with its readers and its own background checkpoints, which do not count
// as another writer's commits.
func TestWriterReloadsNothingWhileItIsTheOnlyWriter(t *testing.T) {
	t.Parallel()
	l := openTest(t, Options{})
	for _, o := range scenario() {
		ingestAll(t, l, []ledgerd.Observation{o})
		if _, err := l.ckpt.db.Exec("PRAGMA wal_checkpoint(PASSIVE)"); err != nil {
			t.Fatal(err)
		}
		mustVerify(t, l)
	}
	if n := reloads(t, l); n != 0 {
		t.Errorf("writer reloaded %d times with no other writer", n)
	}
}

// holdWriteLock takes the file's write lock from a connection of its own,
// as another process would, and returns the function that releases it.
func holdWriteLock(t *testing.T, path string) (release func()) {
	t.Helper()
	db, err := sql.Open("sqlite", dsn(path, false))
	if err != nil {
		t.Fatal(err)
	}
	conn, err := db.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(context.Background(), "BEGIN IMMEDIATE"); err != nil {
		t.Fatal(err)
	}
	released := false
	release = func() {
		if released {
			return
		}
		released = true
		if _, err := conn.ExecContext(context.Background(), "ROLLBACK"); err != nil {
			t.Error(err)
		}
		conn.Close()
		db.Close()
	}
	t.Cleanup(release)
	return release
}

// TestUnitGivesUpAtItsDeadlineWhileAnotherProcessHoldsTheWriteLock: a
// webhook's ingest must fail (ErrUnavailable, then 503) when its deadline
// passes while another process holds the write lock, even when it queued
// behind a unit without a deadline that keeps waiting; that unit commits
// once the lock is released.
func TestUnitGivesUpAtItsDeadlineWhileAnotherProcessHoldsTheWriteLock(t *testing.T) {
	ctx := context.Background()
	l := openTest(t, Options{})
	path := l.Path()
	obs := scenario()
	release := holdWriteLock(t, path)

	patient := make(chan error, 1)
	go func() {
		_, err := l.Ingest(ctx, obs[0])
		patient <- err
	}()
	const deadline = 300 * time.Millisecond
	hurried, cancel := context.WithTimeout(ctx, deadline)
	defer cancel()
	start := time.Now()
	_, err := l.Ingest(hurried, obs[1])
	took := time.Since(start)
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("ingest with a deadline, lock held elsewhere: %v, want ErrUnavailable", err)
	}
	if took > deadline+2*time.Second {
		t.Errorf("ingest with a %s deadline answered after %s", deadline, took)
	}
	select {
	case err := <-patient:
		t.Fatalf("ingest without a deadline answered %v while the lock was still held", err)
	default:
	}
	release()
	if err := <-patient; err != nil {
		t.Fatalf("ingest without a deadline, after the lock was released: %v", err)
	}
	var ids []string
	rows, err := l.Reader().Query(`SELECT event_id FROM events`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	if len(ids) != 1 || ids[0] != obs[0].Event.ID {
		t.Errorf("events %v, want only %s (the unit that gave up left nothing)", ids, obs[0].Event.ID)
	}
	mustVerify(t, l)
}

// TestMigrationAnotherProcessAppliedMeanwhileIsSkipped: two processes
// opening a file that needs an upgrade (serve starting while `ledgerd
// migrate` runs) both see the old version; the second to get the write
// lock must find the version applied and not run it again.
func TestMigrationAnotherProcessAppliedMeanwhileIsSkipped(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := fileAtVersion(t, SchemaVersion()-1)
	ms, err := parseMigrations(ledgerd.SchemaSQL)
	if err != nil {
		t.Fatal(err)
	}
	last := ms[len(ms)-1]
	first, err := sql.Open("sqlite", dsn(path, false))
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	second, err := sql.Open("sqlite", dsn(path, false))
	if err != nil {
		t.Fatal(err)
	}
	defer second.Close()
	if err := applyMigration(ctx, first, last); err != nil {
		t.Fatal(err)
	}
	if err := applyMigration(ctx, second, last); err != nil {
		t.Errorf("the same version applied again by a second connection: %v, want nothing done", err)
	}
	l, err := Open(ctx, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	mustVerify(t, l)
}

// TestWriterRefusesAFileAnotherProcessMovedToANewerSchema: serve keeps
// running while a newer ledgerd's `migrate` upgrades the file; the old
// writer must not write into a schema it does not know (503 for webhooks,
// until it is restarted on the new binary).
func TestWriterRefusesAFileAnotherProcessMovedToANewerSchema(t *testing.T) {
	ctx := context.Background()
	l := openTest(t, Options{})
	path := l.Path()
	obs := scenario()
	ingestAll(t, l, obs[:1])
	newer, err := sql.Open("sqlite", dsn(path, false))
	if err != nil {
		t.Fatal(err)
	}
	defer newer.Close()
	if _, err := newer.Exec("CREATE TABLE from_the_future (x INTEGER)"); err != nil {
		t.Fatal(err)
	}
	if _, err := newer.Exec("PRAGMA user_version = 99"); err != nil {
		t.Fatal(err)
	}
	_, err = l.Ingest(ctx, obs[1])
	if !errors.Is(err, ErrUnavailable) || !errors.Is(err, ErrNewerSchema) {
		t.Fatalf("ingest into a file moved to schema 99: %v, want ErrUnavailable and ErrNewerSchema", err)
	}
	if n := count(t, l.Reader(), "events"); n != 1 {
		t.Errorf("%d events, want the 1 written before the upgrade", n)
	}
}
