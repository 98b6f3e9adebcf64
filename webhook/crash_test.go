package webhook_test

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/ledgerd/ledgerd/ledger"
	"github.com/ledgerd/ledgerd/ledger/ledgertest"
	"github.com/ledgerd/ledgerd/webhook"
)

// TestServeChild is the server process of the kill test: it serves the
// webhook listener on a loopback port over LEDGERD_KILL_DB and prints the
// address, until it is killed.
func TestServeChild(t *testing.T) {
	path := os.Getenv("LEDGERD_KILL_DB")
	if path == "" {
		t.Skip("server child: run by TestKilledListenerLosesNoAcknowledgedEvent")
	}
	l, err := ledger.Open(context.Background(), path, ledger.Options{})
	if err != nil {
		fmt.Println("open:", err)
		os.Exit(3)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Println("listen:", err)
		os.Exit(3)
	}
	fmt.Printf("listening %s\n", ln.Addr())
	srv := webhook.NewServer("", hookPath, webhook.NewHandler(webhook.Options{Store: l}))
	_ = srv.Serve(ln)
}

// TestKilledListenerLosesNoAcknowledgedEvent posts events from 32
// connections while the server process is SIGKILLed at random moments and
// restarted on the same file. Every event that got a 2xx must be in the
// file afterwards, and the file must verify.
func TestKilledListenerLosesNoAcknowledgedEvent(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("spawns processes")
	}
	path := filepath.Join(t.TempDir(), "killed.db")
	ledgertest.NewFile(t, path)
	rng := rand.New(rand.NewPCG(4, 2))
	var (
		mu    sync.Mutex
		acked = map[string]bool{}
	)
	client := &http.Client{Timeout: 5 * time.Second}
	for round := range 6 {
		cmd := exec.Command(os.Args[0], "-test.run=^TestServeChild$")
		cmd.Env = append(os.Environ(), "LEDGERD_KILL_DB="+path)
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(out)
		var addr string
		for sc.Scan() {
			if a, ok := strings.CutPrefix(sc.Text(), "listening "); ok {
				addr = a
				break
			}
		}
		if addr == "" {
			_ = cmd.Process.Kill()
			t.Fatalf("round %d: child never listened", round)
		}
		url := "http://" + addr + hookPath
		var sent atomic.Int64
		var wg sync.WaitGroup
		stop := make(chan struct{})
		for g := range 32 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					n := g*1_000_000 + i
					body := inboundBody(n, round, int64(1+n%97))
					resp, err := client.Post(url, "application/json", strings.NewReader(string(body)))
					if err != nil {
						return // the server is gone
					}
					resp.Body.Close()
					if resp.StatusCode == http.StatusOK {
						mu.Lock()
						acked[fmt.Sprintf("%08x-0000-4000-8000-%012x", round, n)] = true
						mu.Unlock()
						sent.Add(1)
					}
				}
			}()
		}
		// Kill at a random moment: once a random number of events have been
		// acknowledged, with requests in flight on every connection.
		target := int64(50 + rng.IntN(300))
		// Poll without spinning: the server child needs the cores.
		for deadline := time.Now().Add(20 * time.Second); sent.Load() < target && time.Now().Before(deadline); {
			time.Sleep(time.Millisecond)
		}
		_ = cmd.Process.Signal(syscall.SIGKILL)
		_ = cmd.Wait()
		close(stop)
		wg.Wait()
		t.Logf("round %d: %d events acknowledged before SIGKILL", round, sent.Load())
	}

	l, err := ledger.Open(context.Background(), path, ledger.Options{})
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer l.Close()
	missing := 0
	for id := range acked {
		var seq int64
		if err := l.Reader().QueryRow(`SELECT seq FROM events WHERE event_id = ?`, id).Scan(&seq); err != nil {
			missing++
		}
	}
	if len(acked) == 0 || missing != 0 {
		t.Errorf("%d of %d acknowledged events missing", missing, len(acked))
	}
	rep, err := l.Verify(context.Background())
	if err != nil || !rep.OK() {
		t.Errorf("verify after kills: %v %+v", err, rep)
	}
	t.Logf("%d acknowledged events, all present", len(acked))
}
