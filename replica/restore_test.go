package replica

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ledgerd/ledgerd/ledger"
	"github.com/ledgerd/ledgerd/ledger/ledgertest"
)

// ingest books events from..to-1 and waits until a round that started
// after they committed has ended: they are on the replica.
func ingest(t *testing.T, l *ledger.Ledger, r *Replicator, from, to int) {
	t.Helper()
	seed := seedEvent(t)
	for n := from; n < to; n++ {
		o, err := numbered(seed, n)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := l.Ingest(context.Background(), o); err != nil {
			t.Fatal(err)
		}
	}
	committed := time.Now()
	deadline := committed.Add(10 * time.Second)
	for st := r.Status(); !st.ReplicatedAt.After(committed); st = r.Status() {
		if time.Now().After(deadline) {
			t.Fatalf("events %d..%d not replicated within 10 s: %+v", from, to-1, st)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestRestoreAsOfGivesTheFileAsItWasThen: the latest restore holds every
// replicated event, one as of a time between two batches holds the first
// batch only; both are private files; a path that exists is refused and
// left as it was.
func TestRestoreAsOfGivesTheFileAsItWasThen(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "ledgerd.db")
	target := Target{URL: "file://" + filepath.Join(dir, "replica")}
	l, err := ledger.Open(ctx, path, ledger.Options{ExternalCheckpoints: true})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	r := New(path, Options{Target: target, Interval: 10 * time.Millisecond})
	if err := r.Start(ctx, l); err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	ingest(t, l, r, 0, 5)
	between := time.Now()
	ingest(t, l, r, 5, 10)

	for _, tt := range []struct {
		name   string
		asOf   time.Time
		events int
	}{{"latest", time.Time{}, 10}, {"as of between the batches", between, 5}} {
		t.Run(tt.name, func(t *testing.T) {
			to := filepath.Join(t.TempDir(), "restored.db")
			res, err := Restore(ctx, target, to, tt.asOf, nil)
			if err != nil {
				t.Fatal(err)
			}
			if got := len(ledgertest.Events(t, to)); got != tt.events {
				t.Errorf("restored file holds %d events, want %d (%+v)", got, tt.events, res)
			}
			if !tt.asOf.IsZero() && !res.ReplicatedAt.Before(tt.asOf) {
				t.Errorf("restored as of %s a file replicated at %s", tt.asOf, res.ReplicatedAt)
			}
			fi, err := os.Stat(to)
			if err != nil || fi.Mode().Perm() != 0o600 {
				t.Errorf("restored file mode %v (%v), want 0600", fi.Mode(), err)
			}
			if entries, _ := os.ReadDir(filepath.Dir(to)); len(entries) != 1 {
				t.Errorf("restore left work files beside %s: %v", to, entries)
			}
		})
	}

	t.Run("never overwrites", func(t *testing.T) {
		to := filepath.Join(t.TempDir(), "ledgerd.db")
		if err := os.WriteFile(to+"-wal", []byte("an old WAL"), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := Restore(ctx, target, to, time.Time{}, nil)
		if err == nil || !strings.Contains(err.Error(), "restore never overwrites a file") {
			t.Fatalf("restore next to an old WAL: %v, want a refusal", err)
		}
		if _, err := os.Stat(to); err == nil {
			t.Error("restore wrote a file next to an old WAL")
		}
	})
}
