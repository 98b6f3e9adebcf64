package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/time/rate"

	"github.com/ledgerd/ledgerd/fuse"
	"github.com/ledgerd/ledgerd/fuse/sandbox"
	"github.com/ledgerd/ledgerd/internal/gcpercent"
	"github.com/ledgerd/ledgerd/ledger"
	"github.com/ledgerd/ledgerd/reconcile"
)

// Reconcile benchmark (issue 6): one reconciliation run over 1,000,000
// transactions on 1,000 accounts, read from the sandbox on loopback
// (paginated, 500 per page) and merged with a ledger file that booked all
// of them, side by side with ledger-cli and hledger computing the balances
// of the same journal (exported by ledgerd export --format hledger).
//
// The run's time and peak memory are its own: it runs in a child process
// (this binary again, told so by reconcileChildEnv), whose peak resident
// set (VmHWM) it reports; the sandbox holding the million transactions
// stays in the parent. ledger-cli and hledger are measured the same way,
// from their rusage (ru_maxrss).
//
// LEDGERD_BENCH_RECONCILE_TXS and LEDGERD_BENCH_RECONCILE_ACCOUNTS scale
// it down for a quick look; LEDGERD_BENCH_RECONCILE_ONLY=1 skips ledger-cli
// and hledger (minutes) while working on the run itself.

const (
	reconcileTransactions = 1_000_000
	reconcileAccounts     = 1_000
	reconcileChildEnv     = "LEDGERD_BENCH_RECONCILE_CHILD"
	reconcileGoalSeconds  = 5
	reconcileGoalMiB      = 250
)

func init() {
	benchmarks = append(benchmarks, benchmark{"reconcile",
		"a reconcile run over 1M transactions and 1,000 accounts vs ledger-cli and hledger balance", benchReconcileSection})
	// The measured run, in its own process (see above).
	if os.Getenv(reconcileChildEnv) != "" {
		os.Exit(reconcileChild())
	}
}

// childResult is what the child reports on its standard output.
type childResult struct {
	Seconds      float64 `json:"seconds"`
	PeakKiB      int64   `json:"peak_kib"`
	Verdict      string  `json:"verdict"`
	Transactions int     `json:"transactions"`
	Accounts     int     `json:"accounts"`
	Breaks       int     `json:"breaks"`
	Detail       string  `json:"detail"`
}

func reconcileChild() int {
	res, err := runReconcileChild()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench reconcile child:", err)
		return 1
	}
	if err := json.NewEncoder(os.Stdout).Encode(res); err != nil {
		return 1
	}
	return 0
}

func runReconcileChild() (childResult, error) {
	var res childResult
	ctx := context.Background()
	l, err := ledger.Open(ctx, os.Getenv("BENCH_DB"), ledger.Options{})
	if err != nil {
		return res, err
	}
	defer l.Close()
	client, err := fuse.New(fuse.Config{BaseURL: os.Getenv("BENCH_URL") + "/v1", AuthURL: os.Getenv("BENCH_URL") + sandbox.TokenPath,
		ClientID: "sandbox", ClientSecret: "sandbox",
		RateLimit: rate.Inf})
	if err != nil {
		return res, err
	}
	r, err := reconcile.New(reconcile.Options{Ledger: l, Fuse: client, ScratchDir: os.Getenv("BENCH_DIR"),
		ReadCacheMiB: envInt("LEDGERD_BENCH_READ_CACHE_MIB", 0)})
	if err != nil {
		return res, err
	}
	if p := os.Getenv("BENCH_CPUPROFILE"); p != "" {
		f, err := os.Create(p)
		if err != nil {
			return res, err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			return res, err
		}
		defer func() { pprof.StopCPUProfile(); f.Close() }()
	}
	// The collector's target as ledgerd reconcile sets it
	// (internal/gcpercent), unless GOGC says otherwise (to measure what it
	// is worth). The child is the run's own process: nothing to put back.
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(gcpercent.Reconcile)
	}
	start := time.Now()
	run, err := r.Run(ctx, time.Time{})
	if err != nil {
		return res, err
	}
	res.Seconds = time.Since(start).Seconds()
	res.PeakKiB = vmHWM()
	res.Verdict, res.Transactions, res.Accounts, res.Breaks, res.Detail = string(run.Verdict),
		run.TransactionsChecked, run.AccountsChecked, run.BreaksOpen, run.Detail
	return res, nil
}

// vmHWM reads this process's peak resident set from /proc (KiB).
func vmHWM() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return n
		}
	}
	return 0
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// toolRun is one measured external command.
type toolRun struct {
	name    string
	seconds float64
	peakKiB int64
	err     error
}

// measure runs a command with its output discarded, returning its wall
// time and its peak resident set from rusage.
func measure(ctx context.Context, name string, args ...string) toolRun {
	shown := make([]string, len(args))
	for i, a := range args {
		shown[i] = filepath.Base(a) // the temporary directory says nothing
	}
	t := toolRun{name: name + " " + strings.Join(shown, " ")}
	bin, err := exec.LookPath(name)
	if err != nil {
		t.err = fmt.Errorf("%s not installed (scripts/install-deps.sh installs it)", name)
		return t
	}
	ctx, cancel := context.WithTimeout(ctx, 15*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Stdout = io.Discard
	var stderr strings.Builder
	cmd.Stderr = &stderr
	start := time.Now()
	err = cmd.Run()
	t.seconds = time.Since(start).Seconds()
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		t.peakKiB = ru.Maxrss
	}
	if err != nil {
		t.err = fmt.Errorf("%v: %s", err, strings.TrimSpace(stderr.String()))
	}
	return t
}

func benchReconcileSection(ctx context.Context, o options) (string, error) {
	nTx := envInt("LEDGERD_BENCH_RECONCILE_TXS", reconcileTransactions)
	nAcct := envInt("LEDGERD_BENCH_RECONCILE_ACCOUNTS", reconcileAccounts)
	dir, err := os.MkdirTemp("", "ledgerd-bench-reconcile-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(dir)

	// The bank: a sandbox with the history, on loopback.
	genStart := time.Now()
	frozen := time.Date(2026, 3, 31, 18, 0, 0, 0, time.UTC)
	sb := sandbox.New(sandbox.Options{Seed: 6, Now: func() time.Time { return frozen }})
	defer sb.Close()
	if _, err := sb.Generate(sandbox.GenerateOptions{Accounts: nAcct, Transactions: nTx, FailureRate: 0.05,
		Currencies: []string{"AED", "USD", "EUR", "GBP"}}); err != nil {
		return "", err
	}
	genSandbox := time.Since(genStart)

	// The ledger, and the journal for the other tools: from the cache when
	// an earlier run built them from the same observations.
	files, err := reconcileFiles(ctx, sb, dir, nTx, nAcct)
	if err != nil {
		return "", err
	}
	dbPath, journal, ledgerFile := files.db, files.journal, filepath.Join(dir, "export.ledger")
	if err := os.Link(journal, ledgerFile); err != nil {
		return "", err
	}
	fi, err := os.Stat(journal)
	if err != nil {
		return "", err
	}

	srv := httptest.NewServer(sb)
	defer srv.Close()
	self, err := os.Executable()
	if err != nil {
		return "", err
	}
	syscall.Sync()
	child := exec.CommandContext(ctx, self)
	child.Env = append(os.Environ(), reconcileChildEnv+"=1", "BENCH_DB="+dbPath, "BENCH_URL="+srv.URL, "BENCH_DIR="+dir)
	if o.cpuprofile != "" {
		child.Env = append(child.Env, "BENCH_CPUPROFILE="+o.cpuprofile+"-reconcile.pprof")
	}
	child.Stderr = os.Stderr
	// The sandbox's side of the run, profiled in this process beside the
	// child's own profile.
	stopProfile := func() {}
	if o.cpuprofile != "" {
		f, err := os.Create(o.cpuprofile + "-reconcile-sandbox.pprof")
		if err != nil {
			return "", err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			f.Close()
			return "", err
		}
		stopProfile = func() { pprof.StopCPUProfile(); f.Close() }
	}
	parentBefore := cpuTime(syscall.RUSAGE_SELF)
	out, err := child.Output()
	// The parent does nothing but serve the sandbox while the child runs.
	sandboxCPU := cpuTime(syscall.RUSAGE_SELF) - parentBefore
	stopProfile()
	if err != nil {
		return "", fmt.Errorf("reconcile run: %w", err)
	}
	var runCPU time.Duration
	if ru, ok := child.ProcessState.SysUsage().(*syscall.Rusage); ok {
		runCPU = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	var res childResult
	if err := json.Unmarshal(out, &res); err != nil {
		return "", fmt.Errorf("reconcile run said %q: %w", out, err)
	}
	if res.Verdict != string(reconcile.Reconciled) || res.Breaks != 0 {
		return "", fmt.Errorf("the run over a faithful ledger ended %s with %d breaks: %s", res.Verdict, res.Breaks, res.Detail)
	}

	var lcli, hl toolRun
	if os.Getenv("LEDGERD_BENCH_RECONCILE_ONLY") == "" {
		lcli = measure(ctx, "ledger", "-f", ledgerFile, "balance")
		hl = measure(ctx, "hledger", "-f", journal, "balance")
	} else {
		lcli.err, hl.err = errors.New("skipped"), errors.New("skipped")
		lcli.name, hl.name = "ledger", "hledger"
	}

	var b strings.Builder
	fmt.Fprintf(&b, "## Reconcile (issue 6)\n\n")
	fmt.Fprintf(&b, "One `reconcile.Run` over %d transactions on %d accounts (sandbox seed 6, 5 %% failed, AED/USD/EUR/GBP), "+
		"read through the Fuse client from the sandbox on loopback (pages of 500; the sandbox runs in the parent "+
		"process and shares the cores) and merged with a ledger file that booked every one of them; verdict %s, "+
		"%d transactions checked. The run is a child process: time is its wall time, memory its peak resident set "+
		"(VmHWM). ledger-cli and hledger compute `balance` over the same book, exported by `ledgerd export --format "+
		"hledger` (%d MiB, one file read by both); their memory is ru_maxrss.\n\n",
		nTx, nAcct, res.Verdict, res.Transactions, fi.Size()>>20)
	fmt.Fprintf(&b, "| target | seconds | peak memory (MiB) |\n|---|---:|---:|\n")
	fmt.Fprintf(&b, "| **ledgerd reconcile** (Fuse API + ledger + every check) | **%.2f** | **%d** |\n", res.Seconds, res.PeakKiB>>10)

	for _, t := range []toolRun{lcli, hl} {
		if t.err != nil {
			fmt.Fprintf(&b, "| `%s` | failed: %v | |\n", t.name, t.err)
			continue
		}
		fmt.Fprintf(&b, "| `%s` | %.2f | %d |\n", t.name, t.seconds, t.peakKiB>>10)
	}
	fmt.Fprintf(&b, "\nCPU time of the reconcile run: %.1f s in its own process (start-up included) and %.1f s in the sandbox "+
		"serving its requests; on %d cores that work alone takes at least %.1f s of wall time.\n",
		runCPU.Seconds(), sandboxCPU.Seconds(), runtime.NumCPU(), (runCPU+sandboxCPU).Seconds()/float64(runtime.NumCPU()))
	fmt.Fprintf(&b, "\nSetting up, not measured: sandbox history %.1f s; %s\n", genSandbox.Seconds(), files.about())
	o.record(figReconcileSeconds, res.Seconds)
	o.record(figReconcileMiB, float64(res.PeakKiB)/1024)
	if lcli.err == nil {
		o.record(figLedgerCLISeconds, lcli.seconds)
		o.record(figLedgerCLIMiB, float64(lcli.peakKiB)/1024)
	}
	if hl.err == nil {
		o.record(figHledgerSeconds, hl.seconds)
		o.record(figHledgerMiB, float64(hl.peakKiB)/1024)
	}
	met := res.Seconds < reconcileGoalSeconds && res.PeakKiB>>10 < reconcileGoalMiB
	faster := lcli.err == nil && res.Seconds < lcli.seconds
	fmt.Fprintf(&b, "\nGoal: under %d s and %d MiB: **%s**; faster than ledger-cli: **%s**.\n",
		reconcileGoalSeconds, reconcileGoalMiB, yesNo(met), yesNo(faster))
	return b.String(), nil
}

// cpuTime is the user and system time of who (RUSAGE_SELF, RUSAGE_CHILDREN).
func cpuTime(who int) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(who, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func yesNo(ok bool) string {
	if ok {
		return "met"
	}
	return "not met"
}

func writeFile(path string, write func(io.Writer) error) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := write(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
