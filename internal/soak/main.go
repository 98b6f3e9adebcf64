// Command soak is ledgerd's fault-and-crash soak (`make soak`): the Fuse
// sandbox, in this process on loopback, drives a day of traffic in a few
// minutes of wall time (payments, inbound funds, transfers, exchanges,
// failures) with webhooks dropped, duplicated, reordered and delayed, API
// 5xx and 429 answers and short-lived tokens, while a real `ledgerd serve`
// process is killed with SIGKILL at random moments and started again on
// the same port, and commands that write the same file (backfill,
// reconcile, quarantine replay, breaks ack, migrate) run from the shell
// beside it; after every kill `ledgerd verify` must pass. When the
// traffic stops (at a deadline, so the run ends by itself) the faults are
// cleared, deliveries drain, and the soak checks
// with the binary's own commands (backfill, reconcile, verify, balances)
// and with the file: every webhook the daemon acknowledged is in it, no
// event or entry is there twice, every transaction and every balance
// equals the sandbox's truth, the reconciliation is green and verify
// passes. The figures go to a JSON summary and to RELIABILITY.md; the
// exit status is 0 only when every check passed.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"
)

// options are the command line.
type options struct {
	bin       string
	duration  time.Duration
	simulated time.Duration
	minKills  int
	seed      uint64
	outDir    string
	workDir   string
	workers   int
	opEvery   time.Duration
	cliEvery  time.Duration
	keep      bool
}

func main() {
	var o options
	flag.StringVar(&o.bin, "bin", "bin/ledgerd", "the ledgerd binary to run (make soak builds it)")
	flag.DurationVar(&o.duration, "duration", 10*time.Minute, "how long traffic runs (wall time); the run then drains and checks, and stops by itself")
	flag.DurationVar(&o.simulated, "simulated", 24*time.Hour, "sandbox time the traffic spans (a day of traffic in -duration)")
	flag.IntVar(&o.minKills, "kills", 20, "the least number of SIGKILLs; the kill rate is chosen to reach about 1.5 times this")
	seed := flag.Uint64("seed", 0, "random seed (0: from the clock; printed)")
	flag.StringVar(&o.outDir, "out", ".", "where soak-summary.json and RELIABILITY.md are written")
	flag.StringVar(&o.workDir, "work", "", "directory for the database and logs (default: a new temporary one)")
	flag.IntVar(&o.workers, "workers", 4, "traffic goroutines")
	flag.DurationVar(&o.opEvery, "op-every", 200*time.Millisecond, "pause between two operations of one traffic goroutine")
	flag.DurationVar(&o.cliEvery, "cli-every", 3*time.Second, "largest pause between two writing commands run from the shell beside serve (backfill, quarantine replay, reconcile, breaks ack, migrate, in turn); 0: none")
	flag.BoolVar(&o.keep, "keep", false, "keep the work directory after a successful run")
	flag.Parse()
	o.seed = *seed
	if o.seed == 0 {
		o.seed = uint64(time.Now().UnixNano())
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o, log); err != nil {
		log.Error("soak failed", "err", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, o options, log *slog.Logger) error {
	bin, err := filepath.Abs(o.bin)
	if err != nil {
		return err
	}
	if _, err := os.Stat(bin); err != nil {
		return fmt.Errorf("ledgerd binary: %w (run `make build` first)", err)
	}
	o.bin = bin
	if o.workDir == "" {
		if o.workDir, err = os.MkdirTemp("", "ledgerd-soak-"); err != nil {
			return err
		}
	} else if err := os.MkdirAll(o.workDir, 0o755); err != nil {
		return err
	}
	log.Info("soak starting", "seed", o.seed, "duration", o.duration, "simulated", o.simulated,
		"min_kills", o.minKills, "work", o.workDir)
	rng := rand.New(rand.NewPCG(o.seed, 0x50a4))

	s, err := newSoak(o, rng, log)
	if err != nil {
		return err
	}
	defer s.close()
	sum, runErr := s.run(ctx)
	if err := writeReports(o, sum); err != nil {
		return err
	}
	log.Info("soak finished", "passed", sum.Passed, "events", sum.EventsEmitted, "kills", sum.Kills,
		"acknowledged", sum.Acknowledged, "lost", sum.Lost, "duplicates", sum.Duplicates, "verdict", sum.ReconcileVerdict)
	if runErr != nil {
		return runErr
	}
	if !sum.Passed {
		return fmt.Errorf("checks failed: %v (work directory kept: %s)", sum.Failures, o.workDir)
	}
	if !o.keep {
		_ = os.RemoveAll(o.workDir)
	}
	return nil
}
