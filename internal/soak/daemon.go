package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// daemon is the `ledgerd serve` process under test: always the same file,
// the same listeners and the same environment, so that a restart is what
// a crash and systemd's Restart= would give.
type daemon struct {
	bin  string
	env  []string
	addr string // webhook listener, fixed across restarts
	logf *os.File

	mu    sync.Mutex
	cmd   *exec.Cmd
	done  chan struct{} // closed when cmd has been waited for
	start time.Time
	// readyTimes are the start-to-listening times of each start.
	readyTimes []time.Duration
}

// freePort returns a loopback address nobody listens on now. The soak
// keeps it for every restart, as a fixed LEDGERD_LISTEN would be.
func freePort() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// environ is the process environment without any LEDGERD_ or FUSE_
// variable of the caller, plus vars.
func environ(vars map[string]string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "LEDGERD_") || strings.HasPrefix(kv, "FUSE_") || strings.HasPrefix(kv, "NOTIFY_SOCKET=") {
			continue
		}
		env = append(env, kv)
	}
	for k, v := range vars {
		env = append(env, k+"="+v)
	}
	return env
}

// startProcess starts serve and waits until its webhook listener accepts
// connections.
func (d *daemon) startProcess(ctx context.Context) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	cmd := exec.Command(d.bin, "serve")
	cmd.Env = d.env
	cmd.Stdout, cmd.Stderr = d.logf, d.logf
	t0 := time.Now()
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start serve: %w", err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	d.cmd, d.done, d.start = cmd, done, t0
	for {
		c, err := net.DialTimeout("tcp", d.addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			d.readyTimes = append(d.readyTimes, time.Since(t0))
			return nil
		}
		select {
		case <-done:
			return fmt.Errorf("serve exited at start (%s); see %s", cmd.ProcessState, d.logf.Name())
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
		if time.Since(t0) > 30*time.Second {
			return errors.New("serve did not listen within 30 s")
		}
	}
}

// kill sends SIGKILL and waits for the process to be gone; it reports
// whether the process was killed by the signal (and not already dead).
func (d *daemon) kill() (bool, error) {
	d.mu.Lock()
	cmd, done := d.cmd, d.done
	d.mu.Unlock()
	if cmd == nil {
		return false, nil
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		<-done
		return false, fmt.Errorf("serve had already exited (%s); see %s", cmd.ProcessState, d.logf.Name())
	}
	<-done
	ws, _ := cmd.ProcessState.Sys().(syscall.WaitStatus)
	if !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		return false, fmt.Errorf("serve ended with %s before the SIGKILL; see %s", cmd.ProcessState, d.logf.Name())
	}
	return true, nil
}

// stop ends serve the way systemd does (SIGTERM) and reports how it
// ended: a clean stop exits 0.
func (d *daemon) stop() error {
	d.mu.Lock()
	cmd, done := d.cmd, d.done
	d.cmd = nil
	d.mu.Unlock()
	if cmd == nil {
		return nil
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(40 * time.Second):
		_ = cmd.Process.Kill()
		<-done
		return errors.New("serve did not stop within 40 s of SIGTERM")
	}
	if !cmd.ProcessState.Success() {
		return fmt.Errorf("serve stopped with %s", cmd.ProcessState)
	}
	return nil
}

// alive reports whether the current process is still running.
func (d *daemon) alive() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.cmd == nil {
		return false
	}
	select {
	case <-d.done:
		return false
	default:
		return true
	}
}

// command runs a one-shot ledgerd command with the daemon's environment
// and returns its exit code and output.
func (d *daemon) command(ctx context.Context, args ...string) (int, string, string, error) {
	cmd := exec.CommandContext(ctx, d.bin, args...)
	cmd.Env = d.env
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode(), out.String(), errb.String(), nil
	}
	if err != nil {
		return -1, out.String(), errb.String(), err
	}
	return 0, out.String(), errb.String(), nil
}
