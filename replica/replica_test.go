package replica

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ledgerd/ledgerd"
	"github.com/ledgerd/ledgerd/internal/logbuf"
	"github.com/ledgerd/ledgerd/ledger"
	"github.com/ledgerd/ledgerd/ledger/ledgertest"
	"github.com/ledgerd/ledgerd/webhook"
)

// longTests reports whether LEDGERD_LONG_TESTS=1 asks for the long
// variants (make soak).
func longTests() bool { return os.Getenv("LEDGERD_LONG_TESTS") == "1" }

// lockedBuffer is a log sink written by several goroutines.
type lockedBuffer struct{ logbuf.Buffer }

// count is how many times s occurs in what was written.
func (b *lockedBuffer) count(s string) int {
	return strings.Count(b.String(), s)
}

// lines returns the JSON log lines whose msg is msg.
func (b *lockedBuffer) lines(t *testing.T, msg string) []map[string]any {
	t.Helper()
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(b.String()))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var line map[string]any
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			t.Fatalf("log line %q: %v", sc.Text(), err)
		}
		if line["msg"] == msg {
			out = append(out, line)
		}
	}
	return out
}

// seedEvent is Fuse's inbound payment example.
func seedEvent(t *testing.T) string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "webhook", "testdata", "seed", "inbound_local_payment_settled.json"))
	if err != nil {
		t.Fatal(err)
	}
	return string(raw)
}

// numbered is the seed event as event n, with its own event and
// transaction ids, decoded as the webhook listener would.
func numbered(seed string, n int) (ledgerd.Observation, error) {
	raw := strings.NewReplacer(
		"018c35bc-9019-34b2-5210-ff9900d349bd", fmt.Sprintf("018c35bc-9019-34b2-5210-%012d", n),
		"018c35bc-9086-638d-0e9a-f1f46ea6146a", fmt.Sprintf("018c35bc-9086-638d-0e9a-%012d", n),
	).Replace(seed)
	return webhook.Decode([]byte(raw), webhook.Header{ReceivedAt: time.Now()})
}

// TestNoFrameLostAcrossCheckpointsUnderWriteLoad replicates a ledger
// opened with ExternalCheckpoints while four writers ingest events, a
// command beside writes too and a connection asks for PASSIVE
// checkpoints all the time, with the Replicator checkpointing every 8 WAL
// pages. Litestream must never have to fall back to a snapshot
// (which it takes when frames went by unseen: a WAL restarted or
// truncated behind its back), its checkpoints must really have run, and
// the replica must restore to a file holding every event, that verifies.
func TestNoFrameLostAcrossCheckpointsUnderWriteLoad(t *testing.T) {
	events, checkpoints := 100, 3
	if longTests() {
		events, checkpoints = 3000, 50
	}
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "ledgerd.db")
	var logs lockedBuffer
	log := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	l, err := ledger.Open(ctx, path, ledger.Options{Logger: log, ExternalCheckpoints: true})
	if err != nil {
		t.Fatal(err)
	}
	r := New(path, Options{Target: Target{URL: filepath.Join(dir, "replica")}, Interval: 20 * time.Millisecond,
		Logger: log, checkpointPages: 8})
	if err := r.Start(ctx, l); err != nil {
		l.Close()
		t.Fatal(err)
	}

	// The neighbour is a command run beside serve (a ledger of its own,
	// with its PASSIVE checkpoints but none at close, as commands run
	// with a replica configured) that writes now and then, and a
	// connection (sqlite3, a report) that asks for PASSIVE checkpoints all
	// the time.
	seed := seedEvent(t)
	command, err := ledger.Open(ctx, path, ledger.Options{KeepWALAtClose: true})
	if err != nil {
		t.Fatal(err)
	}
	neighbour, err := sql.Open("sqlite", "file:"+ledger.URIPath(path)+"?_pragma=busy_timeout(50)")
	if err != nil {
		t.Fatal(err)
	}
	defer neighbour.Close()
	stop := make(chan struct{})
	var neighbourDone, writers sync.WaitGroup
	var (
		mu            sync.Mutex
		written       = map[string]bool{}
		errs          []error
		neighbourRuns int
	)
	record := func(o ledgerd.Observation, err error) {
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			errs = append(errs, err)
		} else {
			written[o.Event.ID] = true
		}
	}
	neighbourDone.Add(1)
	go func() {
		defer neighbourDone.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
			if i%4 == 0 {
				o, err := numbered(seed, 1_000_000+i)
				if err == nil {
					_, err = command.Ingest(ctx, o)
				}
				record(o, err)
			}
			_, _ = neighbour.Exec("PRAGMA wal_checkpoint(PASSIVE)")
			neighbourRuns++
		}
	}()
	for w := range 4 {
		writers.Add(1)
		go func() {
			defer writers.Done()
			for n := w; ; n += 4 {
				select {
				case <-stop:
					return
				default:
				}
				o, err := numbered(seed, n)
				if err == nil {
					_, err = l.Ingest(ctx, o)
				}
				record(o, err)
			}
		}()
	}
	// The load goes on until Litestream has checkpointed a few times
	// with at least that many events written.
	deadline := time.Now().Add(60 * time.Second)
	for {
		mu.Lock()
		n := len(written)
		mu.Unlock()
		c := logs.count(`"msg":"checkpoint"`)
		if n >= events && c >= checkpoints {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 60 s: %d events, %d checkpoints", n, c)
		}
		time.Sleep(20 * time.Millisecond)
	}
	close(stop)
	writers.Wait()
	neighbourDone.Wait()
	if len(errs) > 0 {
		t.Fatalf("%d ingests failed, first: %v", len(errs), errs[0])
	}
	if err := command.Close(); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}

	checkpoints = len(logs.lines(t, "checkpoint"))
	var snapshots []string
	for _, line := range logs.lines(t, "sync") {
		if line["snap"] == "true" {
			snapshots = append(snapshots, fmt.Sprintf("txid %v: %v", line["txid"], line["reason"]))
		}
	}
	byCommand := 0
	for id := range written {
		if strings.HasPrefix(id, "018c35bc-9019-34b2-5210-000001") {
			byCommand++
		}
	}
	t.Logf("%d events (%d by the command), %d Litestream checkpoints, %d checkpoint requests by the neighbour, snapshots: %v",
		len(written), byCommand, checkpoints, neighbourRuns, snapshots)
	if byCommand == 0 {
		t.Error("the command beside wrote nothing")
	}
	// The first sync is a snapshot of the file as it was; any other means
	// Litestream found frames it had not read gone.
	if len(snapshots) != 1 {
		t.Errorf("Litestream took %d snapshots, want only the first: %v", len(snapshots), snapshots)
	}

	restored := filepath.Join(dir, "restored.db")
	res, err := Restore(ctx, Target{URL: filepath.Join(dir, "replica")}, restored, time.Time{}, log)
	if err != nil {
		t.Fatal(err)
	}
	if st := r.Status(); res.TXID != st.ReplicatedTXID || st.LocalTXID != st.ReplicatedTXID {
		t.Errorf("restored txid %d, replicator's status %+v: want all three equal after Close", res.TXID, st)
	}
	got := ledgertest.Events(t, restored)
	for id := range written {
		if _, ok := got[id]; !ok {
			t.Errorf("event %s acknowledged but not in the restored file", id)
		}
	}
	if len(got) != len(written) {
		t.Errorf("restored file holds %d events, %d were written", len(got), len(written))
	}
	rl, err := ledger.Open(ctx, restored, ledger.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer rl.Close()
	rep, err := rl.Verify(ctx)
	if err != nil || !rep.OK() {
		t.Fatalf("verify the restored file: %v %+v", err, rep)
	}
}
