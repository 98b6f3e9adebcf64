package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// Floor benchmark (issue 9): the anchor of the serve benchmark. A Go
// program that does nothing but answer GET /readyz on loopback, built with
// the same toolchain and measured exactly as serve is (exec to the first
// 200, polled every millisecond; VmRSS after serveIdle), is the least any
// Go daemon costs: serve's figures beside it show what ledgerd adds
// (SQLite, the schema, two listeners, the schedules, a backfill).

const floorProgram = `package main

import (
	"net/http"
	"os"
)

func main() {
	mux := http.NewServeMux()
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) })
	if err := http.ListenAndServe(os.Getenv("ADDR"), mux); err != nil {
		panic(err)
	}
}
`

func benchFloorSection(ctx context.Context, o options) (string, error) {
	dir, err := os.MkdirTemp("", "ledgerd-bench-floor-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(dir)
	if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte(floorProgram), 0o644); err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "floor")
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, "main.go")
	build.Dir = dir
	build.Env = append(os.Environ(), "GO111MODULE=off", "GOFLAGS=")
	if out, err := build.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	bi, err := os.Stat(bin)
	if err != nil {
		return "", err
	}
	var samples []serveSample
	for range serveRepeats {
		s, err := measureFloor(ctx, bin)
		if err != nil {
			return "", err
		}
		samples = append(samples, s)
	}
	ready, rss := serveTarget{samples: samples}.medians()
	o.record(figFloorReadyMS, float64(ready.Microseconds())/1000)
	o.record(figFloorRSSMiB, float64(rss)/1024)
	lo, hi := serveSpread(samples)
	var b strings.Builder
	fmt.Fprintf(&b, "## Floor: a minimal Go HTTP daemon (issue 9)\n\n")
	fmt.Fprintf(&b, "The anchor of the serve figures: a %.1f MiB Go program (same toolchain) that only answers `GET /readyz` "+
		"on loopback, started %d times and measured as serve is: exec to the first 200 (polled every millisecond), "+
		"VmRSS after %s idle. Medians, spread in brackets.\n\n", float64(bi.Size())/(1<<20), serveRepeats, serveIdle)
	b.WriteString("| program | start to ready | idle RSS |\n|---|---:|---:|\n")
	fmt.Fprintf(&b, "| minimal Go HTTP daemon | %.1f ms (%s) | %.1f MiB (%s) |\n",
		float64(ready.Microseconds())/1000, lo, float64(rss)/1024, hi)
	return b.String(), nil
}

// measureFloor starts the floor program, times it to ready, lets it idle
// and reads its resident memory.
func measureFloor(ctx context.Context, bin string) (serveSample, error) {
	var s serveSample
	addr, err := serveFreePort()
	if err != nil {
		return s, err
	}
	cmd := exec.CommandContext(ctx, bin)
	cmd.Env = []string{"ADDR=" + addr}
	client := &http.Client{Timeout: time.Second}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return s, err
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	s.ready, err = pollReady(client, "http://"+addr+"/readyz", start, 10*time.Second, nil)
	if err != nil {
		return s, fmt.Errorf("floor program %w", err)
	}
	time.Sleep(serveIdle)
	s.rss, err = serveVMRSS(cmd.Process.Pid)
	return s, err
}
