// Command probe tries a built ledgerd binary the way an operator did when
// issue 15 was filed: CLI writes beside serve, a held write lock, a full
// disk, a damaged file, a junk flood, a break storm, reused event ids,
// currency mismatches, debug logs, verify on a loose file. Each probe runs
// real processes on its own file and a Fuse sandbox on loopback, and
// reports what was tried, what ledgerd answered and what the file kept.
// The table goes into RELIABILITY.md between its probe markers (make soak
// runs it after the soak); -out "" only prints it.
//
//	go run ./internal/probe -bin bin/ledgerd [-only REGEXP] [-out RELIABILITY.md]
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"regexp"
	"strings"
	"syscall"
	"time"
)

// flagBin is the binary under test.
var flagBin string

const (
	beginMarker = "<!-- probes:begin -->"
	endMarker   = "<!-- probes:end -->"
)

func main() {
	flag.StringVar(&flagBin, "bin", "bin/ledgerd", "the ledgerd binary to probe")
	only := flag.String("only", "", "run only the probes whose name matches this regular expression")
	out := flag.String("out", "RELIABILITY.md", "file whose probe section is rewritten; empty: print only")
	keep := flag.Bool("keep", false, "keep each probe's directory (files and serve.log) for a look afterwards")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *only, *out, *keep); err != nil {
		fmt.Fprintln(os.Stderr, "probe:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, only, out string, keep bool) error {
	re, err := regexp.Compile(only)
	if err != nil {
		return fmt.Errorf("-only: %w", err)
	}
	version, _ := exec.CommandContext(ctx, flagBin, "version").Output()
	var rows []row
	held := 0
	for _, p := range probes {
		if !re.MatchString(p.name) {
			continue
		}
		dir, err := os.MkdirTemp("", "ledgerd-probe-")
		if err != nil {
			return err
		}
		newRig := func(dbDir string, env map[string]string) (*rig, error) {
			sub, err := os.MkdirTemp(dir, "rig-")
			if err != nil {
				return nil, err
			}
			return newRig(flagBin, sub, dbDir, env)
		}
		t0 := time.Now()
		r, err := p.run(ctx, newRig)
		if err != nil {
			r = row{Tried: "—", Answered: "the probe itself failed: " + err.Error(), Kept: "—"}
		}
		r.Probe = p.name
		if r.Held {
			held++
		}
		fmt.Fprintf(os.Stderr, "%-50s %-5t %5.1fs  %s\n", p.name, r.Held, time.Since(t0).Seconds(), r.Answered)
		if keep {
			fmt.Fprintln(os.Stderr, "   kept in", dir)
		} else {
			os.RemoveAll(dir)
		}
		rows = append(rows, r)
	}
	table := render(rows, held, strings.TrimSpace(string(version)))
	if out == "" {
		fmt.Print(table)
		return nil
	}
	return writeSection(out, table)
}

func render(rows []row, held int, version string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "## Operator probes: %d of %d held\n\n", held, len(rows))
	b.WriteString("Issue 15's probes, tried against the built binary as an operator would (`go run ./internal/probe`, which `make soak` runs after the soak): each on its own file, with `ledgerd serve` and the CLI as real processes and a Fuse sandbox on loopback.\n\n")
	b.WriteString("| probe | tried | answered | kept | held |\n| --- | --- | --- | --- | --- |\n")
	for _, r := range rows {
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s |\n", cell(r.Probe), cell(r.Tried), cell(r.Answered), cell(r.Kept), yes(r.Held))
	}
	fmt.Fprintf(&b, "\nBinary: `%s`, %s.\n", version, time.Now().UTC().Format(time.RFC3339))
	return b.String()
}

func cell(s string) string { return strings.ReplaceAll(strings.ReplaceAll(s, "|", "\\|"), "\n", " ") }

func yes(b bool) string {
	if b {
		return "yes"
	}
	return "**no**"
}

// writeSection replaces the text between the probe markers of path, or
// appends the section with its markers.
func writeSection(path, table string) error {
	old, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		return err
	}
	section := beginMarker + "\n" + table + endMarker + "\n"
	s := string(old)
	i, j := strings.Index(s, beginMarker), strings.Index(s, endMarker)
	if i >= 0 && j > i {
		s = s[:i] + section + strings.TrimPrefix(s[j+len(endMarker):], "\n")
	} else {
		s = strings.TrimRight(s, "\n") + "\n\n" + section
	}
	return os.WriteFile(path, []byte(s), 0o644)
}
