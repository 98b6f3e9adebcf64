package ledger

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ledgerd/ledgerd"
)

// The crash child: when LEDGERD_CRASH_DB is set, TestCrashChild ingests an
// endless stream of observations from several goroutines, printing
// "ack <event_id>" after each durable Ingest, and SIGKILLs itself in the
// middle of a transaction at write statement LEDGERD_CRASH_AT (between two
// SQL statements of one unit).
func TestCrashChild(t *testing.T) {
	path := os.Getenv("LEDGERD_CRASH_DB")
	if path == "" {
		t.Skip("crash child: run by TestCrashAtAnyMomentLeavesAConsistentFile")
	}
	killAt, _ := strconv.Atoi(os.Getenv("LEDGERD_CRASH_AT"))
	offset, _ := strconv.Atoi(os.Getenv("LEDGERD_CRASH_OFFSET"))
	n := 0
	l, err := Open(context.Background(), path, Options{failAfter: func(string) error {
		n++ // only the writer goroutine calls this
		if killAt > 0 && n == killAt {
			_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
			time.Sleep(time.Minute)
		}
		return nil
	}})
	if err != nil {
		fmt.Println("open:", err)
		os.Exit(3)
	}
	out := bufio.NewWriter(os.Stdout)
	acks := make(chan string, 64)
	for g := range 4 {
		go func() {
			var s script
			s.n = offset + g*1_000_000
			for i := 0; ; i++ {
				for _, o := range crashTraffic(&s, g, offset+i) {
					if _, err := l.Ingest(context.Background(), o); err != nil {
						fmt.Fprintln(os.Stderr, "ingest:", err)
						os.Exit(4)
					}
					acks <- o.Event.ID
				}
			}
		}()
	}
	for id := range acks {
		fmt.Fprintln(out, "ack", id)
		out.Flush()
	}
}

// crashTraffic is one payment's life on a per-goroutine account: created,
// then executed or failed, plus an inbound payment to keep funds flowing.
func crashTraffic(s *script, g, i int) []ledgerd.Observation {
	acct := fmt.Sprintf("eeeeeeee-0000-4000-8000-%012d", g)
	pay := fmt.Sprintf("6%07d-0000-4000-8000-%012d", g, i)
	in := fmt.Sprintf("7%07d-0000-4000-8000-%012d", g, i)
	created := ledgerd.TransactionObservation{TransactionID: pay, AccountID: acct, Kind: ledgerd.KindLocalPaymentOut,
		Status: ledgerd.StatusCreated, At: at(i), Currency: "AED", Amounts: amounts(int64(100+i%7), int64(i%3))}
	final := ledgerd.TransactionObservation{TransactionID: pay, AccountID: acct, Kind: ledgerd.KindLocalPaymentOut,
		Status: ledgerd.StatusExecuted, At: at(i + 1)}
	if i%5 == 0 {
		final.Status = ledgerd.StatusFailed
	}
	inbound := ledgerd.TransactionObservation{TransactionID: in, AccountID: acct, Kind: ledgerd.KindLocalPaymentIn,
		Status: ledgerd.StatusSettled, At: at(i), Currency: "AED", Amounts: amounts(200, 0)}
	return []ledgerd.Observation{s.tx(created), s.tx(inbound), s.tx(final)}
}

func TestCrashAtAnyMomentLeavesAConsistentFile(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("spawns processes")
	}
	path := filepath.Join(t.TempDir(), "crash.db")
	rng := rand.New(rand.NewPCG(9, 9))
	acked := map[string]bool{}
	rounds := 8
	for round := range rounds {
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.v=false")
		killAt := 0
		if round%2 == 0 {
			killAt = 20 + rng.IntN(400) // die between two statements of a transaction
		}
		cmd.Env = append(os.Environ(), "LEDGERD_CRASH_DB="+path,
			"LEDGERD_CRASH_AT="+strconv.Itoa(killAt), "LEDGERD_CRASH_OFFSET="+strconv.Itoa(round*10_000))
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		var stderr strings.Builder
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		if killAt == 0 {
			// Kill from outside at a random moment.
			delay := time.Duration(50+rng.IntN(250)) * time.Millisecond
			timer := time.AfterFunc(delay, func() { _ = cmd.Process.Kill() })
			defer timer.Stop()
		}
		sc := bufio.NewScanner(stdout)
		n := 0
		for sc.Scan() {
			if id, ok := strings.CutPrefix(sc.Text(), "ack "); ok {
				acked[id] = true
				n++
			}
		}
		err = cmd.Wait()
		ws, _ := cmd.ProcessState.Sys().(syscall.WaitStatus)
		if err == nil || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
			t.Fatalf("round %d: child ended with %v, not SIGKILL; stderr:\n%s", round, err, stderr.String())
		}
		t.Logf("round %d: killed after %d acknowledged events (kill at statement %d)", round, n, killAt)
	}
	if len(acked) == 0 {
		t.Fatal("no event was ever acknowledged")
	}

	l, err := Open(context.Background(), path, Options{})
	if err != nil {
		t.Fatalf("reopen after crashes: %v", err)
	}
	defer l.Close()
	mustVerify(t, l)
	// Every acknowledged event is in the file.
	missing := 0
	for id := range acked {
		var seq int64
		if err := l.Reader().QueryRow("SELECT seq FROM events WHERE event_id = ?", id).Scan(&seq); err != nil {
			missing++
		}
	}
	if missing > 0 {
		t.Errorf("%d of %d acknowledged events are missing after the crashes", missing, len(acked))
	}
	// No partial entry: every transaction with amounts has its entry and
	// every entry has its postings.
	var orphans int
	if err := l.Reader().QueryRow(`SELECT count(*) FROM fuse_transactions t LEFT JOIN entries e USING (transaction_id)
		WHERE t.instructed_amount IS NOT NULL AND e.id IS NULL`).Scan(&orphans); err != nil || orphans != 0 {
		t.Errorf("%d transactions with amounts but no entry (%v)", orphans, err)
	}
	if err := l.Reader().QueryRow(`SELECT count(*) FROM entries e WHERE NOT EXISTS (SELECT 1 FROM postings p WHERE p.entry_id = e.id)`).Scan(&orphans); err != nil || orphans != 0 {
		t.Errorf("%d entries without postings (%v)", orphans, err)
	}
	t.Logf("%d acknowledged events, all present; %d events in the file", len(acked), count(t, l.Reader(), "events"))
}
