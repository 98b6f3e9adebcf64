package ledger

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ledgerd/ledgerd"
	"github.com/ledgerd/ledgerd/internal/damage"
)

// closedScenarioFile writes the scenario into a fresh file, closes it
// cleanly, and returns its path and the number of events.
func closedScenarioFile(t *testing.T) (string, int) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "ledgerd.db")
	freshFile(t, path)
	l, err := Open(context.Background(), path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ingestAll(t, l, scenario())
	n := count(t, l.reader, "events")
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return path, n
}

// openDamaged opens a file that may be damaged; its Close may fail.
func openDamaged(t *testing.T, path string) *Ledger {
	t.Helper()
	l, err := Open(context.Background(), path, Options{})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = l.Close() })
	return l
}

// oneMore is an observation the scenario does not have.
func oneMore() ledgerd.Observation {
	s := script{n: 1000}
	return s.account("dddddddd-0000-4000-8000-000000000004", "AED")
}

func TestIntegrityCheckPassesOnAnIntactFileWalkingTheChainInChunks(t *testing.T) {
	t.Parallel()
	path, n := closedScenarioFile(t)
	l := openDamaged(t, path)
	if got := l.Integrity().State; got != IntegrityUnchecked {
		t.Errorf("before the check: %s, want unchecked", got)
	}
	// Chunks of 3 events: the walk carries the chain across read
	// transactions.
	bad, walked, err := l.walkChain(context.Background(), 3)
	if err != nil || len(bad) != 0 || walked != int64(n) {
		t.Fatalf("walk in chunks of 3: %v %v, %d of %d events", err, bad, walked, n)
	}
	res, err := l.CheckIntegrity(context.Background())
	if err != nil || res.State != IntegrityOK || len(res.Problems) != 0 || res.Events != int64(n) || res.Finished.IsZero() {
		t.Fatalf("CheckIntegrity = %+v, %v; want ok over %d events", res, err, n)
	}
	if got := l.Integrity(); got.State != IntegrityOK {
		t.Errorf("Integrity() = %+v", got)
	}
	if _, err := l.Ingest(context.Background(), oneMore()); err != nil {
		t.Errorf("ingest after a passed check: %v", err)
	}
}

// An event body overwritten on disk is well-formed to SQLite: only the hash
// chain notices. The check says which event, and the ledger then refuses
// writes (that would extend a chain that no longer verifies) but still
// reads.
func TestIntegrityCheckFindsAnOverwrittenEventBodyAndRefusesWrites(t *testing.T) {
	t.Parallel()
	path, _ := closedScenarioFile(t)
	if err := damage.EventBody(path, 2); err != nil {
		t.Fatal(err)
	}
	l := openDamaged(t, path)
	if _, err := l.Ingest(context.Background(), oneMore()); err != nil {
		t.Fatalf("before the check, writes go on: %v", err)
	}
	res, err := l.CheckIntegrity(context.Background())
	if err != nil || res.State != IntegrityFailed || len(res.Problems) != 1 ||
		!strings.Contains(res.Problems[0], "hash does not match its body") {
		t.Fatalf("CheckIntegrity = %+v, %v; want failed naming the event", res, err)
	}
	_, err = l.Ingest(context.Background(), (&script{n: 2000}).account("eeeeeeee-0000-4000-8000-000000000005", "AED"))
	if !errors.Is(err, ErrDamaged) || !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), res.Problems[0]) {
		t.Errorf("ingest after the check found damage: %v; want ErrDamaged in ErrUnavailable, naming it", err)
	}
	if err := l.ProbeWrite(context.Background()); !errors.Is(err, ErrDamaged) {
		t.Errorf("write probe on a damaged file: %v", err)
	}
	if _, err := l.Balances(context.Background()); err != nil {
		t.Errorf("reads on a damaged file: %v", err)
	}
}

func TestIntegrityCheckFindsADamagedIndexPage(t *testing.T) {
	t.Parallel()
	path, _ := closedScenarioFile(t)
	if err := damage.IndexPage(path, "postings_account"); err != nil {
		t.Fatal(err)
	}
	l := openDamaged(t, path)
	res, err := l.CheckIntegrity(context.Background())
	if err != nil || res.State != IntegrityFailed || len(res.Problems) == 0 || !strings.Contains(res.Problems[0], "quick_check") {
		t.Fatalf("CheckIntegrity = %+v, %v; want failed by quick_check", res, err)
	}
	if _, err := l.Ingest(context.Background(), oneMore()); !errors.Is(err, ErrDamaged) {
		t.Errorf("ingest after the check found damage: %v", err)
	}
}

func TestIntegrityCheckStoppedBeforeTheEndCountsAsNotRun(t *testing.T) {
	t.Parallel()
	path, _ := closedScenarioFile(t)
	l := openDamaged(t, path)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if res, err := l.CheckIntegrity(ctx); !errors.Is(err, context.Canceled) || res.State != IntegrityUnchecked {
		t.Fatalf("cancelled check = %+v, %v", res, err)
	}
	if _, err := l.Ingest(context.Background(), oneMore()); err != nil {
		t.Errorf("a check that did not finish refuses nothing: %v", err)
	}
}
