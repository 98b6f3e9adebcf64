// Command ledgerd keeps a double-entry ledger of a company's Fuse bank
// accounts in one SQLite file, fed by Fuse webhooks and a scheduled
// backfill, and reconciles it against Fuse. main only wires: every command
// is reachable through run, which tests call directly.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/ledgerd/ledgerd/config"
	"github.com/ledgerd/ledgerd/internal/daemon"
	"github.com/ledgerd/ledgerd/logging"
	"github.com/sethvargo/go-envconfig"
)

// version is set at build time: -ldflags "-X main.version=$(git describe)".
var version = "dev"

// Exit codes of the external contract.
const (
	exitOK      = 0 // success
	exitProblem = 1 // the command ran and found a problem
	exitUsage   = 2 // usage or configuration error
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], envconfig.OsLookuper(), os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// env is what every command gets: where to write, and the environment.
type env struct {
	stdout, stderr io.Writer
	lookup         envconfig.Lookuper
}

// command is one ledgerd subcommand.
type command struct {
	name    string
	summary string
	// run parses args with fs (already holding the common flags) and does
	// the work. Errors wrapping errUsage, config.ErrInvalid or a
	// *daemon.ListenError exit 2; errProblem exits 1.
	run func(ctx context.Context, e env, args []string) error
}

// Errors that choose an exit code.
var (
	errUsage   = errors.New("usage")
	errProblem = errors.New("problem found")
)

func usageErrorf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errUsage, fmt.Sprintf(format, args...))
}

func commands() []command {
	return []command{
		{"serve", "run the daemon: webhook listener, scheduled backfill and reconcile, admin endpoints", cmdServe},
		{"backfill", "read Fuse's transactions since the last listing, and what is not final yet, and heal what webhooks missed", cmdBackfill},
		{"migrate", "create the database file or upgrade its schema in place; repair running balances", cmdMigrate},
		{"balances", "print balances per ledger account and currency (table or --json)", cmdBalances},
		{"reconcile", "compare the ledger with Fuse once, record breaks (exit 1 on BREAKS or INCOMPLETE)", cmdReconcile},
		{"breaks", "list reconciliation breaks, or acknowledge one with a note", cmdBreaks},
		{"report", "write a reconciliation run for finance as CSV, JSON or XLSX", cmdReport},
		{"export", "write the whole journal for hledger, ledger-cli or beancount (or as CSV)", cmdExport},
		{"verify", "check the file's invariants: integrity, balance, hash chain (exit 1 on a violation)", cmdVerify},
		{"restore", "restore the file from its replica (LEDGERD_REPLICA_URL) into a new path, then verify it", cmdRestore},
		{"quarantine", "list quarantined webhook bodies, or replay one after a fix", cmdQuarantine},
		{"sandbox", "run the built-in Fuse emulator (API, webhooks, controls) for tests and demos", cmdSandbox},
		{"certify", "run Fuse's integration test plan and write the evidence pack for production access", cmdCertify},
		{"demo", "run the sandbox and serve on loopback, drive a day of traffic, reconcile, write a report", cmdDemo},
		{"version", "print the version", cmdVersion},
	}
}

// run executes one ledgerd invocation and returns its exit code.
func run(ctx context.Context, args []string, lookup envconfig.Lookuper, stdout, stderr io.Writer) int {
	e := env{stdout: stdout, stderr: stderr, lookup: lookup}
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" || args[0] == "-help" {
		if len(args) > 1 {
			return run(ctx, []string{args[1], "--help"}, lookup, stdout, stderr)
		}
		printUsage(stdout)
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	if args[0] == "--version" {
		args[0] = "version"
	}
	for _, c := range commands() {
		if c.name != args[0] {
			continue
		}
		err := c.run(ctx, e, args[1:])
		switch {
		case err == nil, errors.Is(err, flag.ErrHelp):
			return exitOK
		case errors.Is(err, errUsage), errors.Is(err, config.ErrInvalid), errors.As(err, new(*daemon.ListenError)):
			fmt.Fprintf(stderr, "ledgerd %s: %v\n", c.name, strings.TrimPrefix(err.Error(), "usage: "))
			return exitUsage
		case errors.Is(err, errProblem):
			return exitProblem
		default:
			fmt.Fprintf(stderr, "ledgerd %s: %v\n", c.name, err)
			return exitProblem
		}
	}
	fmt.Fprintf(stderr, "ledgerd: unknown command %q (see ledgerd --help)\n", args[0])
	return exitUsage
}

func printUsage(w io.Writer) {
	fmt.Fprintf(w, `ledgerd %s: a double-entry ledger of your Fuse accounts in one SQLite file.

Usage: ledgerd <command> [flags]     (ledgerd <command> --help for its flags)

Commands:
`, version)
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-11s %s\n", c.name, c.summary)
	}
	fmt.Fprintf(w, `
Exit codes: 0 success; 1 the command ran and found a problem; 2 usage or
configuration error.

Environment (every *_SECRET and FUSE_CLIENT_ID also as *_FILE, a path to
read it from, e.g. a systemd credential):
`)
	for _, v := range config.Describe() {
		def := v.Default
		if def == "" {
			def = "(empty)"
		}
		fmt.Fprintf(w, "  %-36s %s\n  %-36s default: %s\n", v.Name, v.Description, "", def)
	}
}

// newFlags makes a command's flag set with a usage message that explains
// the command, writing help to stdout and errors to stderr.
func newFlags(e env, name, synopsis, about string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	fs.Usage = func() {
		fmt.Fprintf(e.stdout, "Usage: ledgerd %s %s\n\n%s\n", name, synopsis, about)
		hasFlags := false
		fs.VisitAll(func(*flag.Flag) { hasFlags = true })
		if hasFlags {
			fmt.Fprintln(e.stdout, "\nFlags:")
			fs.SetOutput(e.stdout)
			fs.PrintDefaults()
			fs.SetOutput(e.stderr)
		}
	}
	return fs
}

// parse parses args up to the first one that is not a flag (fs.Args() has
// the rest), turning flag errors into usage errors.
func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageErrorf("%v", err)
	}
	return nil
}

// parseArgs parses the flags wherever they stand among args (the flag
// package alone stops at the first argument that is not a flag, so
// "quarantine list --json" would leave --json unread) and returns the other
// arguments, in order. After "--" every argument is taken as it is.
func parseArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	var rest []string
	for {
		if err := parse(fs, args); err != nil {
			return nil, err
		}
		left := fs.Args()
		if len(left) == 0 {
			return rest, nil
		}
		if n := len(args) - len(left); n > 0 && args[n-1] == "--" {
			return append(rest, left...), nil
		}
		rest, args = append(rest, left[0]), left[1:]
	}
}

// parseNone parses a command that takes flags only: a stray argument is a
// usage error (exit 2), never silently ignored.
func parseNone(fs *flag.FlagSet, args []string) error {
	rest, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return usageErrorf("unexpected argument %q: ledgerd %s takes flags only (see --help)", rest[0], fs.Name())
	}
	return nil
}

// loadConfig reads the environment; a bad value is a configuration error
// (exit 2) listing every problem.
func loadConfig(ctx context.Context, e env) (*config.Config, *slog.Logger, error) {
	cfg, err := config.Load(ctx, e.lookup)
	if err != nil {
		return nil, nil, err
	}
	return cfg, logging.New(e.stderr, cfg.LogFormat, cfg.LogLevel), nil
}
