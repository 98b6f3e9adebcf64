// Package sdnotify speaks systemd's service notification protocol
// (sd_notify(3)) for a Type=notify unit: READY=1 once the daemon serves,
// STOPPING=1 when it shuts down, STATUS= lines for `systemctl status`, and
// WATCHDOG=1 keep-alives at half the unit's WatchdogSec while the daemon is
// healthy. Each message is one datagram on the unix socket systemd names in
// $NOTIFY_SOCKET (a path, or an abstract socket written with a leading '@').
// Outside systemd the variable is unset and every call is a no-op, so the
// daemon needs no "am I under systemd" branch. It is written here rather
// than imported because the protocol is a dozen lines and ledgerd keeps its
// dependencies few.
package sdnotify

import (
	"context"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"
)

// Notifier sends notifications to one socket. The zero value (and a nil
// *Notifier) sends nothing.
type Notifier struct {
	socket   string
	watchdog time.Duration
}

// New returns a Notifier for socket (empty: no-op) whose watchdog expects a
// keep-alive at least every watchdog (0: no watchdog).
func New(socket string, watchdog time.Duration) *Notifier {
	return &Notifier{socket: socket, watchdog: watchdog}
}

// FromEnv returns the Notifier systemd set up for this process:
// $NOTIFY_SOCKET, and $WATCHDOG_USEC when $WATCHDOG_PID is unset or names
// this process (a watchdog meant for a parent or child is not ours).
func FromEnv() *Notifier {
	return fromLookup(os.LookupEnv, os.Getpid())
}

func fromLookup(lookup func(string) (string, bool), pid int) *Notifier {
	n := &Notifier{}
	n.socket, _ = lookup("NOTIFY_SOCKET")
	if p, ok := lookup("WATCHDOG_PID"); ok && p != "" && p != strconv.Itoa(pid) {
		return n
	}
	if v, ok := lookup("WATCHDOG_USEC"); ok {
		if usec, err := strconv.ParseInt(v, 10, 64); err == nil && usec > 0 {
			n.watchdog = time.Duration(usec) * time.Microsecond
		}
	}
	return n
}

// Enabled reports whether notifications go anywhere.
func (n *Notifier) Enabled() bool { return n != nil && n.socket != "" }

// WatchdogInterval returns the unit's watchdog timeout (WatchdogSec), or 0
// when there is no watchdog for this process or no socket to ping it on.
func (n *Notifier) WatchdogInterval() time.Duration {
	if !n.Enabled() {
		return 0
	}
	return n.watchdog
}

// Notify sends the given "KEY=value" assignments in one datagram. It is a
// no-op without a socket. Newlines inside an assignment would start a new
// one, so they are replaced with spaces.
func (n *Notifier) Notify(assignments ...string) error {
	if !n.Enabled() || len(assignments) == 0 {
		return nil
	}
	lines := make([]string, len(assignments))
	for i, a := range assignments {
		lines[i] = strings.NewReplacer("\r", " ", "\n", " ").Replace(a)
	}
	msg := strings.Join(lines, "\n") + "\n"
	// Go's net package maps a leading '@' to Linux's abstract namespace
	// (a leading NUL byte), which is how systemd writes such sockets.
	addr := &net.UnixAddr{Name: n.socket, Net: "unixgram"}
	conn, err := net.DialUnix("unixgram", nil, addr)
	if err != nil {
		return fmt.Errorf("sd_notify %s: %w", n.socket, err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte(msg)); err != nil {
		return fmt.Errorf("sd_notify %s: %w", n.socket, err)
	}
	return nil
}

// Ready tells systemd the daemon is up (READY=1): a Type=notify unit is
// "started" only from then on.
func (n *Notifier) Ready() error { return n.Notify("READY=1") }

// Stopping tells systemd the daemon has begun shutting down (STOPPING=1).
func (n *Notifier) Stopping() error { return n.Notify("STOPPING=1") }

// Status sets the one-line status `systemctl status` shows (STATUS=...).
func (n *Notifier) Status(s string) error { return n.Notify("STATUS=" + s) }

// Watchdog sends one keep-alive (WATCHDOG=1).
func (n *Notifier) Watchdog() error { return n.Notify("WATCHDOG=1") }

// WatchdogLoop sends WATCHDOG=1 at once and then every half watchdog
// interval for as long as healthy (nil: always healthy) returns nil, until
// ctx ends. While healthy fails it withholds the keep-alive and reports the
// error as STATUS=, so that a stuck daemon is killed and restarted by
// systemd with the reason visible in `systemctl status`. It returns at once
// when there is no watchdog.
func (n *Notifier) WatchdogLoop(ctx context.Context, healthy func() error) {
	interval := n.WatchdogInterval() / 2
	if interval <= 0 {
		return
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	failing := false
	for {
		switch err := check(healthy); {
		case err == nil:
			if failing {
				failing = false
				_ = n.Status("healthy again")
			}
			_ = n.Watchdog()
		case !failing:
			failing = true
			_ = n.Status("watchdog withheld: " + err.Error())
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func check(healthy func() error) error {
	if healthy == nil {
		return nil
	}
	return healthy()
}

// Ready sends READY=1 to $NOTIFY_SOCKET (no-op when unset).
func Ready() error { return FromEnv().Ready() }

// Stopping sends STOPPING=1 to $NOTIFY_SOCKET (no-op when unset).
func Stopping() error { return FromEnv().Stopping() }

// Status sends STATUS=s to $NOTIFY_SOCKET (no-op when unset).
func Status(s string) error { return FromEnv().Status(s) }

// WatchdogLoop runs Notifier.WatchdogLoop for the environment's socket and
// $WATCHDOG_USEC; it returns at once outside systemd or without WatchdogSec.
func WatchdogLoop(ctx context.Context, healthy func() error) {
	FromEnv().WatchdogLoop(ctx, healthy)
}
