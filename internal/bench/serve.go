package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/ledgerd/ledgerd/fuse/sandbox"
)

// Serve benchmark (issue 7): how fast `ledgerd serve` is ready and how
// much memory it holds when idle. The binary is built with go build and
// started as a child process on free loopback ports, with
// Fuse credentials for the built-in sandbox (served by this process), so
// that everything serve runs is running: webhook and admin listeners, the
// backfill and reconcile schedules, the start-up backfill. Start to ready
// is from exec to the first 200 from /readyz (polled every millisecond);
// idle memory is VmRSS from /proc/PID/status after serveIdle with no
// traffic. Each figure is the median of serveRepeats starts, on a fresh
// file, then on a copy of a file holding a realistic history.

const (
	serveRepeats         = 7
	serveIdle            = 2 * time.Second
	serveHistoryTx       = 20_000
	serveHistoryAccounts = 10
	serveGoalReadyMS     = 300
	serveGoalRSSMiB      = 40
)

func init() {
	benchmarks = append(benchmarks, benchmark{"serve",
		"ledgerd serve: time from exec to /readyz 200, idle resident memory (fresh file and a 20,000-transaction history)",
		benchServeSection})
}

// serveSample is one start.
type serveSample struct {
	ready time.Duration
	rss   int64 // KiB
}

type serveTarget struct {
	name    string
	samples []serveSample
	size    int64 // database file size, bytes
}

func (t serveTarget) medians() (time.Duration, int64) {
	rs := make([]time.Duration, 0, len(t.samples))
	ms := make([]int64, 0, len(t.samples))
	for _, s := range t.samples {
		rs, ms = append(rs, s.ready), append(ms, s.rss)
	}
	slices.Sort(rs)
	slices.Sort(ms)
	return rs[len(rs)/2], ms[len(ms)/2]
}

func benchServeSection(ctx context.Context, o options) (string, error) {
	dir, err := os.MkdirTemp("", "ledgerd-bench-serve-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(dir)
	bin := filepath.Join(dir, "ledgerd")
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/ledgerd")
	if out, err := build.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	binInfo, err := os.Stat(bin)
	if err != nil {
		return "", err
	}

	// The sandbox serve talks to: empty for the fresh file, the history
	// for the other (so that its start-up backfill finds nothing new).
	frozen := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	empty := sandbox.New(sandbox.Options{Seed: 1, Now: func() time.Time { return frozen }})
	defer empty.Close()
	emptySrv := httptest.NewServer(empty)
	defer emptySrv.Close()
	hist := sandbox.New(sandbox.Options{Seed: 2, Now: func() time.Time { return frozen }})
	defer hist.Close()
	gen, err := hist.Generate(sandbox.GenerateOptions{Accounts: serveHistoryAccounts, Transactions: serveHistoryTx, FailureRate: 0.05})
	if err != nil {
		return "", err
	}
	histSrv := httptest.NewServer(hist)
	defer histSrv.Close()
	histDB := filepath.Join(dir, "history.db")
	if _, err := runBackfill(ctx, options{}, histSrv.URL, histDB, nil, gen.Transactions); err != nil {
		return "", fmt.Errorf("history: %w", err)
	}

	targets := []serveTarget{{name: "fresh file"}, {name: fmt.Sprintf("%d,%03d-transaction history, %d accounts", serveHistoryTx/1000, serveHistoryTx%1000, serveHistoryAccounts)}}
	for i := range targets {
		t := &targets[i]
		for n := range serveRepeats {
			db := filepath.Join(dir, fmt.Sprintf("t%d-%d.db", i, n))
			base := emptySrv.URL
			if i == 1 {
				base = histSrv.URL
				// A closed file has no WAL left: copying it is a copy.
				if err := copyClosedDB(histDB, db); err != nil {
					return "", err
				}
			}
			s, size, err := measureServe(ctx, bin, db, base)
			if err != nil {
				return "", fmt.Errorf("%s: %w", t.name, err)
			}
			t.samples, t.size = append(t.samples, s), size
		}
	}

	var b strings.Builder
	fmt.Fprintf(&b, "## Serve: start and idle memory (issue 7)\n\n")
	fmt.Fprintf(&b, "`ledgerd serve` (a %.1f MiB binary from `go build`) started %d times per target as a child "+
		"process on free loopback ports, with Fuse credentials for the built-in sandbox (served by the benchmark process), "+
		"so that the webhook and admin listeners, both schedules and the start-up backfill all run. Start to ready: from "+
		"exec to the first 200 from `/readyz` (polled every millisecond; readiness includes opening the file, applying "+
		"the schema, binding both listeners and a write probe). Idle memory: VmRSS from `/proc/PID/status` after %s with "+
		"no traffic. Medians; the spread is in brackets.\n\n", float64(binInfo.Size())/(1<<20), serveRepeats, serveIdle)
	fmt.Fprintf(&b, "| file | size | start to ready | idle RSS |\n|---|---:|---:|---:|\n")
	met := true
	for i, t := range targets {
		ready, rss := t.medians()
		readyFig, rssFig := figServeFreshReadyMS, figServeFreshRSSMiB
		if i == 1 {
			readyFig, rssFig = figServeHistReadyMS, figServeHistRSSMiB
		}
		o.record(readyFig, float64(ready.Microseconds())/1000)
		o.record(rssFig, float64(rss)/1024)
		lo, hi := serveSpread(t.samples)
		fmt.Fprintf(&b, "| %s | %.1f MiB | **%d ms** (%s) | **%.1f MiB** (%s) |\n", t.name, float64(t.size)/(1<<20),
			ready.Milliseconds(), lo, float64(rss)/1024, hi)
		met = met && ready.Milliseconds() < serveGoalReadyMS && float64(rss)/1024 < serveGoalRSSMiB
	}
	verdict := "not met"
	if met {
		verdict = "met"
	}
	fmt.Fprintf(&b, "\nGoal: ready in under %d ms and idle under %d MiB resident: **%s**.\n", serveGoalReadyMS, serveGoalRSSMiB, verdict)
	return b.String(), nil
}

// serveSpread renders the range of the samples' ready times and RSS.
func serveSpread(ss []serveSample) (ready, rss string) {
	minR, maxR := ss[0].ready, ss[0].ready
	minM, maxM := ss[0].rss, ss[0].rss
	for _, s := range ss {
		minR, maxR = min(minR, s.ready), max(maxR, s.ready)
		minM, maxM = min(minM, s.rss), max(maxM, s.rss)
	}
	return fmt.Sprintf("%d–%d", minR.Milliseconds(), maxR.Milliseconds()),
		fmt.Sprintf("%.1f–%.1f", float64(minM)/1024, float64(maxM)/1024)
}

// measureServe starts serve on db, times it to ready, lets it idle, reads
// its resident memory, and stops it with SIGTERM (which must exit 0).
func measureServe(ctx context.Context, bin, db, fuseURL string) (serveSample, int64, error) {
	var s serveSample
	adminAddr, err := serveFreePort()
	if err != nil {
		return s, 0, err
	}
	cmd := exec.CommandContext(ctx, bin, "serve")
	cmd.Env = []string{
		"PATH=" + os.Getenv("PATH"),
		"LEDGERD_DB=" + db,
		"LEDGERD_LISTEN=127.0.0.1:0",
		"LEDGERD_ADMIN_LISTEN=" + adminAddr,
		"LEDGERD_LOG_FORMAT=json",
		"FUSE_BASE_URL=" + fuseURL + "/v1",
		"FUSE_AUTH_URL=" + fuseURL + sandbox.TokenPath,
		"FUSE_CLIENT_ID=sandbox",
		"FUSE_CLIENT_SECRET=sandbox",
	}
	var logs bytes.Buffer
	cmd.Stderr = &logs
	client := &http.Client{Timeout: time.Second}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return s, 0, err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stop := func() error {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-exited:
			return err
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			return errors.New("no exit 30 s after SIGTERM")
		}
	}
	s.ready, err = pollReady(client, "http://"+adminAddr+"/readyz", start, 30*time.Second, exited)
	if err != nil {
		if !errors.Is(err, errExitedBeforeReady) {
			stop()
		}
		return s, 0, fmt.Errorf("serve %w\n%s", err, logs.String())
	}
	time.Sleep(serveIdle) // idle on purpose: what it holds with no traffic
	s.rss, err = serveVMRSS(cmd.Process.Pid)
	if err != nil {
		stop()
		return s, 0, err
	}
	if err := stop(); err != nil {
		return s, 0, fmt.Errorf("serve after SIGTERM: %v\n%s", err, logs.String())
	}
	fi, err := os.Stat(db)
	if err != nil {
		return s, 0, err
	}
	return s, fi.Size(), nil
}

// errExitedBeforeReady is pollReady's answer when the program exits
// before it is ready.
var errExitedBeforeReady = errors.New("exited before ready")

// pollReady asks url every millisecond until it answers 200 and returns
// the time since start. It gives up after limit, or when exited (nil for
// none) delivers the program's exit.
func pollReady(client *http.Client, url string, start time.Time, limit time.Duration, exited <-chan error) (time.Duration, error) {
	for {
		resp, err := client.Get(url)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return time.Since(start), nil
			}
		}
		select {
		case exit := <-exited:
			return 0, fmt.Errorf("%w: %v", errExitedBeforeReady, exit)
		case <-time.After(time.Millisecond):
		}
		if time.Since(start) > limit {
			return 0, fmt.Errorf("not ready after %v: %v", limit, err)
		}
	}
}

// serveVMRSS reads a process's resident set from /proc (KiB).
func serveVMRSS(pid int) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			return strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		}
	}
	return 0, fmt.Errorf("no VmRSS in /proc/%d/status", pid)
}

// serveFreePort returns a loopback address nobody listens on right now.
func serveFreePort() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	addr := ln.Addr().String()
	return addr, ln.Close()
}

func copyClosedDB(src, dst string) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	if _, err := os.Stat(src + "-wal"); err == nil {
		return fmt.Errorf("%s still has a WAL: copy it with VACUUM INTO instead", src)
	}
	return os.WriteFile(dst, b, 0o644)
}
