// Command bench runs ledgerd's benchmarks and writes their figures into
// BENCHMARKS.md, one section per benchmark between markers
// (<!-- bench:NAME:start --> … <!-- bench:NAME:end -->), so that each
// benchmark rewrites its own section and leaves the others alone. Each
// section ends with the machine it ran on and the exact command.
//
//	go run ./internal/bench all          # every benchmark (make bench)
//	go run ./internal/bench backfill     # one of them
//	go run ./internal/bench -out FILE -cpuprofile PREFIX backfill
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"strings"
	"time"
)

// benchmark is one subcommand. run returns the markdown body of its
// section (a "## " heading first).
type benchmark struct {
	name  string
	about string
	run   func(ctx context.Context, o options) (string, error)
}

// options are the flags every benchmark sees.
type options struct {
	// cpuprofile, when set, is a file name prefix: a benchmark may write
	// PREFIX-<name>.pprof for the part it measures.
	cpuprofile string
	// figures collects this run's headline figures for the summary table
	// (summary.go); nil unless every benchmark runs. Benchmarks add theirs
	// with record.
	figures *figures
}

// benchmarks is the registry: add a line to make `all` run a new one.
var benchmarks = []benchmark{
	{"backfill", "backfill throughput from the sandbox on loopback vs raw SQLite inserts", benchBackfillSection},
	{"webhook", "durable webhook ingest under concurrent load vs a no-op handler", func(_ context.Context, o options) (string, error) {
		return benchWebhook(o, webhookRequests)
	}},
	{"storage", "bytes per transaction in the file (live, vacuumed, by table) vs pgledger's 743 bytes per transfer", benchStorageSection},
	{"floor", "a minimal Go HTTP daemon's start to ready and idle memory: the anchor for serve", benchFloorSection},
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	err := run(ctx, os.Args[1:])
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	out := fs.String("out", "BENCHMARKS.md", "file whose sections are rewritten")
	var o options
	fs.StringVar(&o.cpuprofile, "cpuprofile", "", "write CPU profiles of the measured parts to PREFIX-<name>.pprof")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: go run ./internal/bench [flags] all|NAME...\n\nBenchmarks:\n")
		for _, b := range benchmarks {
			fmt.Fprintf(fs.Output(), "  %-10s %s\n", b.name, b.about)
		}
		fmt.Fprintln(fs.Output(), "\nFlags:")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	names := fs.Args()
	if len(names) == 0 {
		fs.Usage()
		return errors.New("name a benchmark, or all")
	}
	var todo []benchmark
	for _, n := range names {
		if n == "all" {
			todo = benchmarks
			o.figures = newFigures()
			break
		}
		found := false
		for _, b := range benchmarks {
			if b.name == n {
				todo, found = append(todo, b), true
			}
		}
		if !found {
			return fmt.Errorf("no benchmark %q (see -h)", n)
		}
	}
	machine := machineLine()
	for _, b := range todo {
		fmt.Fprintf(os.Stderr, "bench: %s…\n", b.name)
		start := time.Now()
		body, err := b.run(ctx, o)
		if err != nil {
			return fmt.Errorf("%s: %w", b.name, err)
		}
		section := strings.TrimRight(body, "\n") + "\n\n" + machine +
			fmt.Sprintf("Command: `make bench` (all benchmarks) or `go run ./internal/bench %s`; this run took %s.\n",
				b.name, time.Since(start).Round(time.Second))
		if err := writeSection(*out, b.name, section); err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "bench: %s written to %s\n", b.name, *out)
	}
	if o.figures != nil {
		body, met, total := summarySection(o.figures)
		if err := writeSectionFirst(*out, "summary", strings.TrimRight(body, "\n")+"\n\n"+machine+
			"Command: `make bench`; the figures are those of the sections below, from the same run.\n"); err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "bench: summary written to %s (%d of %d goals met)\n", *out, met, total)
	}
	return nil
}

// machineLine describes where the figures come from.
func machineLine() string {
	cpu := "unknown CPU"
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				cpu = strings.TrimSpace(v)
				break
			}
		}
		f.Close()
	}
	goVersion := runtime.Version()
	if b, err := exec.Command("go", "version").Output(); err == nil {
		goVersion = strings.TrimPrefix(strings.TrimSpace(string(b)), "go version ")
	}
	return fmt.Sprintf("Machine: %d CPUs (nproc), %s, %s/%s; %s; %s.\n",
		runtime.NumCPU(), cpu, runtime.GOOS, runtime.GOARCH, goVersion, time.Now().UTC().Format("2006-01-02 15:04 MST"))
}

const fileHeader = `# Benchmarks

Figures written by ` + "`make bench`" + ` (internal/bench). Each section is rewritten by its
own benchmark; the machine and the exact command are at its end.
`

// writeSection replaces the named section of the file, or appends it;
// everything outside the markers is kept.
func writeSection(path, name, body string) error {
	return rewriteSection(path, name, body, false)
}

// writeSectionFirst is writeSection for a section that belongs before
// every other (the summary): a new one goes right after the file's
// header.
func writeSectionFirst(path, name, body string) error {
	return rewriteSection(path, name, body, true)
}

func rewriteSection(path, name, body string, first bool) error {
	start := "<!-- bench:" + name + ":start -->"
	end := "<!-- bench:" + name + ":end -->"
	old, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		old = []byte(fileHeader)
	} else if err != nil {
		return err
	}
	text := string(old)
	block := start + "\n" + body + end
	i, j := strings.Index(text, start), strings.Index(text, end)
	k := strings.Index(text, "<!-- bench:")
	switch {
	case i >= 0 && j > i:
		text = text[:i] + block + text[j+len(end):]
	case first && k >= 0:
		text = text[:k] + block + "\n\n" + text[k:]
	default:
		text = strings.TrimRight(text, "\n") + "\n\n" + block + "\n"
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(text), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
