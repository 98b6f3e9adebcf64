package admin_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ledgerd/ledgerd/admin"
	"github.com/ledgerd/ledgerd/ledger"
	"github.com/ledgerd/ledgerd/replica"
)

// replicatedLedger opens a ledger as serve does with a replica at url,
// and starts the replication; both are closed at the end, in that order.
func replicatedLedger(t *testing.T, url string) (*ledger.Ledger, *replica.Replicator) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "ledgerd.db")
	l, err := ledger.Open(context.Background(), path, ledger.Options{ExternalCheckpoints: true})
	if err != nil {
		t.Fatal(err)
	}
	r := replica.New(path, replica.Options{Target: replica.Target{URL: url}, Interval: 10 * time.Millisecond})
	if err := r.Start(context.Background(), l); err != nil {
		l.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		l.Close()
		r.Close()
	})
	return l, r
}

// replicationTile is the status page's replication tile, "" when the
// page has none.
func replicationTile(t *testing.T, page string) string {
	t.Helper()
	_, tile, ok := strings.Cut(page, `id="replication-tile"`)
	if !ok {
		return ""
	}
	tile, _, _ = strings.Cut(tile, `<div class="tile"`)
	return tile
}

// TestStatusPageShowsReplicationState: the tile says OFF when serve has no
// replica, OK with the target and the recovery point when rounds succeed,
// and FAILING with the reason when they do not; a handler given no
// Replication shows no tile.
func TestStatusPageShowsReplicationState(t *testing.T) {
	t.Run("no replica configured", func(t *testing.T) {
		srv, _ := serve(t, openLedger(t), admin.Options{Replication: (*replica.Replicator)(nil)})
		_, page := get(t, srv, "/")
		tile := replicationTile(t, string(page))
		if !strings.Contains(tile, ">OFF<") || !strings.Contains(tile, "LEDGERD_REPLICA_URL is not set") {
			t.Errorf("tile without a replica:\n%s", tile)
		}
	})
	t.Run("not wired", func(t *testing.T) {
		srv, _ := serve(t, openLedger(t), admin.Options{})
		if _, page := get(t, srv, "/"); replicationTile(t, string(page)) != "" {
			t.Error("a replication tile without a Replication")
		}
	})
	t.Run("replicating", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "replica")
		l, r := replicatedLedger(t, dir)
		srv, _ := serve(t, l, admin.Options{Replication: r, Now: time.Now})
		var tile string
		waitUntil(t, "an OK replication tile", func() bool {
			_, page := get(t, srv, "/")
			tile = replicationTile(t, string(page))
			return strings.Contains(tile, ">OK<")
		})
		if !strings.Contains(tile, "to "+dir+" every 10ms; recovery point ") {
			t.Errorf("OK tile does not name the target and the recovery point:\n%s", tile)
		}
	})
	t.Run("failing", func(t *testing.T) {
		// A replica directory that is a file: every upload fails.
		blocker := filepath.Join(t.TempDir(), "not-a-directory")
		if err := os.WriteFile(blocker, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		l, r := replicatedLedger(t, blocker)
		srv, _ := serve(t, l, admin.Options{Replication: r, Now: time.Now})
		var tile string
		waitUntil(t, "a FAILING replication tile", func() bool {
			_, page := get(t, srv, "/")
			tile = replicationTile(t, string(page))
			return strings.Contains(tile, ">FAILING<")
		})
		if !strings.Contains(tile, "last failure") || !strings.Contains(tile, "not a directory") {
			t.Errorf("FAILING tile does not say why:\n%s", tile)
		}
	})
}

// waitUntil polls cond every 10 ms for at most 10 s.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
