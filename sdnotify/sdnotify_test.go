package sdnotify

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// listen opens a unixgram socket standing in for systemd's notify socket.
func listen(t *testing.T, name string) *net.UnixConn {
	t.Helper()
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: name, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// next reads one datagram, failing the test after a generous deadline.
func next(t *testing.T, c *net.UnixConn) string {
	t.Helper()
	if err := c.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4096)
	n, err := c.Read(buf)
	if err != nil {
		t.Fatalf("read notification: %v", err)
	}
	return string(buf[:n])
}

func TestNotificationsReachAPathSocket(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "notify.sock")
	c := listen(t, sock)
	n := New(sock, 0)
	steps := []struct {
		send func() error
		want string
	}{
		{n.Ready, "READY=1\n"},
		{func() error { return n.Status("backfill: 3 accounts\nsecond line") }, "STATUS=backfill: 3 accounts second line\n"},
		{n.Watchdog, "WATCHDOG=1\n"},
		{n.Stopping, "STOPPING=1\n"},
		{func() error { return n.Notify("READY=1", "STATUS=up") }, "READY=1\nSTATUS=up\n"},
	}
	for _, s := range steps {
		if err := s.send(); err != nil {
			t.Fatal(err)
		}
		if got := next(t, c); got != s.want {
			t.Errorf("got %q, want %q", got, s.want)
		}
	}
}

func TestNotificationsReachAnAbstractSocket(t *testing.T) {
	name := fmt.Sprintf("@ledgerd-sdnotify-test-%d-%d", os.Getpid(), time.Now().UnixNano())
	c := listen(t, name)
	if err := New(name, 0).Ready(); err != nil {
		t.Fatal(err)
	}
	if got := next(t, c); got != "READY=1\n" {
		t.Errorf("got %q", got)
	}
}

func TestPackageFunctionsUseTheEnvironment(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "notify.sock")
	c := listen(t, sock)
	t.Setenv("NOTIFY_SOCKET", sock)
	if err := Ready(); err != nil {
		t.Fatal(err)
	}
	if err := Status("serving"); err != nil {
		t.Fatal(err)
	}
	if err := Stopping(); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"READY=1\n", "STATUS=serving\n", "STOPPING=1\n"} {
		if got := next(t, c); got != want {
			t.Errorf("got %q, want %q", got, want)
		}
	}
}

func TestEverythingIsANoOpOutsideSystemd(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", "")
	t.Setenv("WATCHDOG_USEC", "1000")
	for _, f := range []func() error{Ready, Stopping, func() error { return Status("x") }} {
		if err := f(); err != nil {
			t.Errorf("no-op returned %v", err)
		}
	}
	var nilNotifier *Notifier
	if err := nilNotifier.Ready(); err != nil {
		t.Errorf("nil notifier: %v", err)
	}
	done := make(chan struct{})
	go func() {
		WatchdogLoop(context.Background(), nil) // must return at once: no socket
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("WatchdogLoop did not return without NOTIFY_SOCKET")
	}
}

func TestWatchdogIntervalFromEnvironment(t *testing.T) {
	pid := 4242
	tests := []struct {
		name string
		env  map[string]string
		want time.Duration
	}{
		{"no watchdog", map[string]string{"NOTIFY_SOCKET": "/run/x"}, 0},
		{"watchdog", map[string]string{"NOTIFY_SOCKET": "/run/x", "WATCHDOG_USEC": "30000000"}, 30 * time.Second},
		{"watchdog for this pid", map[string]string{"NOTIFY_SOCKET": "/run/x", "WATCHDOG_USEC": "30000000", "WATCHDOG_PID": strconv.Itoa(pid)}, 30 * time.Second},
		{"watchdog for another pid", map[string]string{"NOTIFY_SOCKET": "/run/x", "WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "1"}, 0},
		{"garbage", map[string]string{"NOTIFY_SOCKET": "/run/x", "WATCHDOG_USEC": "soon"}, 0},
		{"negative", map[string]string{"NOTIFY_SOCKET": "/run/x", "WATCHDOG_USEC": "-5"}, 0},
		{"no socket", map[string]string{"WATCHDOG_USEC": "30000000"}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := fromLookup(func(k string) (string, bool) { v, ok := tt.env[k]; return v, ok }, pid)
			if got := n.WatchdogInterval(); got != tt.want {
				t.Errorf("WatchdogInterval() = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestWatchdogLoopPingsWhileHealthyAndWithholdsWhileNot(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "notify.sock")
	c := listen(t, sock)
	// A 40ms watchdog: pings every 20ms.
	n := New(sock, 40*time.Millisecond)
	var sick atomic.Bool
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		n.WatchdogLoop(ctx, func() error {
			if sick.Load() {
				return errors.New("writer stuck")
			}
			return nil
		})
		close(done)
	}()
	for range 3 {
		if got := next(t, c); got != "WATCHDOG=1\n" {
			t.Fatalf("healthy: got %q, want WATCHDOG=1", got)
		}
	}
	sick.Store(true)
	// Pings already sent before the flag flipped may still be queued.
	got := next(t, c)
	for got == "WATCHDOG=1\n" {
		got = next(t, c)
	}
	if got != "STATUS=watchdog withheld: writer stuck\n" {
		t.Fatalf("unhealthy: got %q", got)
	}
	// While sick nothing more arrives; a few intervals of silence prove it.
	if err := c.SetReadDeadline(time.Now().Add(150 * time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	if n, err := c.Read(make([]byte, 64)); err == nil {
		t.Fatalf("sick daemon still notified: %d bytes", n)
	} else if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatal(err)
	}
	sick.Store(false)
	if got := next(t, c); !strings.HasPrefix(got, "STATUS=healthy again") {
		t.Fatalf("recovered: got %q", got)
	}
	if got := next(t, c); got != "WATCHDOG=1\n" {
		t.Fatalf("recovered: got %q, want WATCHDOG=1", got)
	}
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("WatchdogLoop did not stop with its context")
	}
}
