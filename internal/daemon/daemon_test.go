package daemon_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ledgerd/ledgerd/config"
	"github.com/ledgerd/ledgerd/fuse/sandbox"
	"github.com/ledgerd/ledgerd/internal/daemon"
	"github.com/ledgerd/ledgerd/internal/logbuf"
	syncer "github.com/ledgerd/ledgerd/sync"
	"github.com/sethvargo/go-envconfig"
)

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		<-time.After(5 * time.Millisecond) // the next poll
	}
}

// TestOneBackfillRunsAtATimeWhoeverAsks: the daemon skips a backfill while
// one runs, whether the schedule or a caller asks, with the log line
// operators know; paused, it skips the start-up catch-up and the schedule
// but still runs the backfill asked for, which then brings in what Fuse
// lists.
func TestOneBackfillRunsAtATimeWhoeverAsks(t *testing.T) {
	sb := sandbox.New(sandbox.Options{Seed: 3})
	defer sb.Close()
	gen, err := sb.Generate(sandbox.GenerateOptions{Accounts: 2, Transactions: 40})
	if err != nil {
		t.Fatal(err)
	}
	// A gate before the API: a backfill waits in its first request until
	// the test opens it, and so stays running.
	entered, gate := make(chan struct{}, 1), make(chan struct{})
	open := sync.OnceFunc(func() { close(gate) })
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/v1/") {
			select {
			case entered <- struct{}{}:
			default:
			}
			select {
			case <-gate:
			case <-r.Context().Done():
				return
			}
		}
		sb.ServeHTTP(w, r)
	}))
	defer api.Close()
	ctx := t.Context()
	cfg, err := config.Load(ctx, envconfig.MapLookuper(map[string]string{
		"LEDGERD_DB":     filepath.Join(t.TempDir(), "ledgerd.db"),
		"LEDGERD_LISTEN": "127.0.0.1:0", "LEDGERD_ADMIN_LISTEN": "127.0.0.1:0",
		"LEDGERD_BACKFILL_SCHEDULE": "@every 1s", "LEDGERD_RECONCILE_SCHEDULE": "@every 1h",
		"FUSE_BASE_URL": api.URL + "/v1", "FUSE_AUTH_URL": api.URL + sandbox.TokenPath,
		"FUSE_CLIENT_ID": "sandbox", "FUSE_CLIENT_SECRET": "sandbox",
	}))
	if err != nil {
		t.Fatal(err)
	}
	var logs logbuf.Buffer
	d, err := daemon.New(ctx, cfg, slog.New(slog.NewTextHandler(&logs, nil)), daemon.Options{})
	if err != nil {
		t.Fatal(err)
	}
	skipped := func(why string) int { return strings.Count(logs.String(), `msg="backfill `+why+`: skipped"`) }

	d.PauseBackfill()
	d.Start()
	defer func() {
		stop, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := d.Shutdown(stop); err != nil {
			t.Error(err)
		}
	}()
	defer open() // first, should the test end early
	waitFor(t, "the paused start-up backfill to be skipped", func() bool { return skipped("paused") > 0 })

	type result struct {
		sum syncer.Summary
		err error
	}
	first := make(chan result, 1)
	go func() {
		sum, err := d.Backfill(ctx)
		first <- result{sum, err}
	}()
	select {
	case <-entered:
	case r := <-first:
		t.Fatalf("the backfill asked for while paused did not run: %+v", r)
	case <-time.After(10 * time.Second):
		t.Fatal("the backfill asked for while paused never reached Fuse")
	}
	d.ResumeBackfill()
	waitFor(t, "a scheduled backfill to be skipped while one runs", func() bool { return skipped("already running") > 0 })
	if _, err := d.Backfill(ctx); !errors.Is(err, daemon.ErrSkipped) {
		t.Errorf("a backfill asked for while one runs: %v, want ErrSkipped", err)
	}

	open()
	r := <-first
	if r.err != nil || r.sum.Transactions != gen.Transactions {
		t.Errorf("the backfill asked for: %d transactions, %v; want %d, nil", r.sum.Transactions, r.err, gen.Transactions)
	}
}
