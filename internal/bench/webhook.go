package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unicode"

	"github.com/ledgerd/ledgerd/ledger"
	"github.com/ledgerd/ledgerd/webhook"
	"modernc.org/sqlite"
)

// Webhook ingest benchmark (issue 4): throughput and latency of durable
// webhook ingest at 64 concurrent connections on loopback, side by side with
// the ceiling (a Go handler that reads the body and answers, storing
// nothing) and the naive way (the same ledgerd handler, one commit per
// request). The load generator runs in the same process, so every target
// shares the same two cores with it.

const (
	webhookConns    = 64
	webhookRequests = 20_000
	webhookWarmup   = 1_000
)

// loadResult is one target's figures.
type loadResult struct {
	name      string
	requests  int
	failures  int
	elapsed   time.Duration
	p50, p99  time.Duration
	perSecond float64
	// cpu is the process's CPU time (user and system) per request: the
	// target's and the load generator's, which is the same for every
	// target.
	cpu time.Duration
}

// webhookBody is a distinct, valid inbound_local_payment_settled event.
func webhookBody(run, i int) []byte {
	return fmt.Appendf(nil, `{"type":"inbound_local_payment_settled","event_id":"%08x-0000-4000-8000-%012x","event_version":1,`+
		`"inbound_local_payment_settled":{"account_id":"aaaaaaaa-0000-4000-8000-%012x","transaction_id":"%08x-1111-4000-8000-%012x",`+
		`"instructed_amount":%d,"amount_with_fee":%d,"fee_amount":0,"remitter":{"name":"Topup","identifier":{"iban":"AE080070000000785666509"}},`+
		`"external_reference":"bench","timestamp":"2026-11-02T09:00:00Z","purpose":"none","currency":"AED"}}`,
		run, i, i%16, run, i, 100+i%1000, 100+i%1000)
}

// serveOn starts h on a loopback port and returns its URL and a stop func.
func serveOn(h http.Handler) (string, func(), error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	srv := webhook.NewServer("", "/webhooks/fuse", h)
	go srv.Serve(ln) //nolint:errcheck // ends with Shutdown
	stop := func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	}
	return "http://" + ln.Addr().String() + "/webhooks/fuse", stop, nil
}

// load posts n distinct bodies over conns keep-alive connections and
// measures each request's latency.
func load(url string, conns, n, run int) loadResult {
	tr := &http.Transport{MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns, DisableCompression: true}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	var next atomic.Int64
	lat := make([][]time.Duration, conns)
	fails := make([]int, conns)
	var wg sync.WaitGroup
	cpu0 := cpuTime(syscall.RUSAGE_SELF)
	start := time.Now()
	for c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				t0 := time.Now()
				req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(webhookBody(run, i)))
				req.Header.Set("Content-Type", "application/json")
				resp, err := client.Do(req)
				if err != nil {
					fails[c]++
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					fails[c]++
				}
				lat[c] = append(lat[c], time.Since(t0))
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	cpu := cpuTime(syscall.RUSAGE_SELF) - cpu0
	var all []time.Duration
	failures := 0
	for c := range conns {
		all = append(all, lat[c]...)
		failures += fails[c]
	}
	slices.Sort(all)
	pct := func(p float64) time.Duration {
		if len(all) == 0 {
			return 0
		}
		return all[min(len(all)-1, int(p*float64(len(all))))]
	}
	return loadResult{requests: n, failures: failures, elapsed: elapsed, p50: pct(0.50), p99: pct(0.99),
		perSecond: float64(n) / elapsed.Seconds(), cpu: cpu / time.Duration(max(1, n))}
}

// benchTarget measures one handler: a warm-up run, then the measured run,
// profiled when asked (only the last round's profile is kept).
func benchTarget(o options, name string, h http.Handler, requests int) (loadResult, error) {
	url, stop, err := serveOn(h)
	if err != nil {
		return loadResult{}, err
	}
	defer stop()
	load(url, webhookConns, webhookWarmup, 1)
	// "ledgerd, group commit" → webhook-ledgerd-group.pprof,
	// "durable floor: …" → webhook-durable-floor.pprof
	words := strings.FieldsFunc(name, func(r rune) bool { return !unicode.IsLetter(r) && r != '-' })
	stopProfile, err := startProfile(o, "webhook-"+strings.Join(words[:min(2, len(words))], "-"))
	if err != nil {
		return loadResult{}, err
	}
	r := load(url, webhookConns, requests, 2)
	stopProfile()
	r.name = name
	return r, nil
}

// ledgerdHandler is the real webhook handler over a fresh file in dir.
func ledgerdHandler(dir string, maxBatch int) (http.Handler, func(), error) {
	l, err := ledger.Open(context.Background(), filepath.Join(dir, "ledgerd.db"), ledger.Options{MaxBatch: maxBatch})
	if err != nil {
		return nil, nil, err
	}
	return webhook.NewHandler(webhook.Options{Store: l}), func() { l.Close() }, nil
}

// noopHandler reads the body and answers like ledgerd, storing nothing.
var noopHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	_, _ = io.Copy(io.Discard, http.MaxBytesReader(w, r.Body, webhook.MaxBody))
	w.Header().Set("Content-Type", "application/json")
	_, _ = io.WriteString(w, "{\"received\":true}\n")
})

// webhookRounds is how many times the ceiling, the durable floor and
// ledgerd's group commit are measured, one after the other: this machine's
// speed drifts by a quarter over minutes, so the section reports each
// target's median over rounds that alternate with the others'.
const webhookRounds = 5

// benchWebhook runs the targets and renders the BENCHMARKS.md section.
func benchWebhook(o options, requests int) (string, error) {
	var noop, floor, group, unsynced []loadResult
	for range webhookRounds {
		r, err := benchTarget(o, "no-op Go handler (ceiling)", noopHandler, requests)
		if err != nil {
			return "", err
		}
		noop = append(noop, r)
		if r, err = benchFloor(o, requests); err != nil {
			return "", err
		}
		floor = append(floor, r)
		if r, err = benchLedgerd(o, "ledgerd, group commit", 256, requests); err != nil {
			return "", err
		}
		group = append(group, r)
		if r, err = benchUnsynced(o, requests); err != nil {
			return "", err
		}
		unsynced = append(unsynced, r)
	}
	naive, err := benchLedgerd(o, "ledgerd, one commit per request (naive)", 1, requests)
	if err != nil {
		return "", err
	}
	ceiling, fl, gc, nv := summarize(noop), summarize(floor), summarize(group), summarize([]loadResult{naive})
	us := summarize(unsynced)
	var b strings.Builder
	fmt.Fprintf(&b, "## Webhook ingest (issue 4)\n\n")
	fmt.Fprintf(&b, "%d concurrent keep-alive connections on loopback, %d POSTs of distinct `inbound_local_payment_settled` "+
		"events per target after %d warm-up requests; the durable targets commit with WAL and `synchronous=FULL` on a fresh file. "+
		"The load generator runs in the same process and shares the cores. The durable floor is the least a receiver can "+
		"do and be durable on SQLite: it stores each body with its event_id (a UNIQUE index) through a minimal group-commit "+
		"writer, with no validation, ledger or hash chain. The unsynced row is ledgerd's group commit with `synchronous=OFF` "+
		"(commits never wait for the disk: not durable, never a setting ledgerd offers), for reference: what ledgerd's "+
		"SQLite work costs without any fsync. The ceiling, the floor and both group commits are measured "+
		"%d times in turn (this machine's speed drifts by a quarter over minutes); each figure is the median of its rounds. "+
		"CPU per request is the whole process's user and system time, load generator included.\n\n",
		webhookConns, requests, webhookWarmup, webhookRounds)
	fmt.Fprintf(&b, "| target | requests/s | p50 | p99 | CPU per request | failures | vs ceiling | rounds (requests/s) |\n"+
		"|---|---:|---:|---:|---:|---:|---:|---|\n")
	for _, t := range []targetSummary{ceiling, fl, gc, us, nv} {
		fmt.Fprintf(&b, "| %s | %.0f | %.2f ms | %.2f ms | %.0f µs | %d | %.0f %% | %s |\n", t.name, t.rps, t.p50, t.p99,
			t.cpu, t.failures, 100*t.rps/ceiling.rps, t.rounds)
	}
	o.record(figWebhookNoopRPS, ceiling.rps)
	o.record(figWebhookNoopP99, ceiling.p99)
	o.record(figWebhookGroupRPS, gc.rps)
	o.record(figWebhookGroupP99, gc.p99)
	o.record(figWebhookNaiveRPS, nv.rps)
	o.record(figWebhookFloorRPS, fl.rps)
	o.record(figWebhookUnsyncedRPS, us.rps)
	verdict := "not met"
	if gc.rps >= 0.5*fl.rps && gc.p99 < 20 {
		verdict = "met"
	}
	fmt.Fprintf(&b, "\nGoal: at least 50 %% of the durable floor measured in the same run, and p99 under 20 ms: **%s** "+
		"(%.0f %% of the durable floor, p99 %.2f ms); group commit is %.1f× the naive one-commit-per-request throughput "+
		"and %.0f %% of the ceiling, and the durable floor itself reaches %.0f %% of the ceiling. Without any fsync "+
		"(unsynced), ledgerd reaches %.0f %% of the ceiling. (The older goal, 40 %% of the ceiling, is retired: on 2 "+
		"cores the floor itself reaches only about half of the ceiling.)\n",
		verdict, 100*gc.rps/fl.rps, gc.p99, gc.rps/nv.rps, 100*gc.rps/ceiling.rps, 100*fl.rps/ceiling.rps,
		100*us.rps/ceiling.rps)
	// What the goal leaves for storing an event on this machine: at half
	// the durable floor's rate the cores give each request at most budget
	// of CPU time, of which HTTP on both sides (all the ceiling does) is
	// spent before anything is stored.
	budget := float64(runtime.NumCPU()) * 1e6 / (0.5 * fl.rps)
	fmt.Fprintf(&b, "\nCPU budget: at 50 %% of the durable floor's rate, %d cores give each request at most %.0f µs of CPU time. "+
		"HTTP alone (the ceiling) takes %.0f µs of it, which leaves %.0f µs to store the event; the durable floor spends "+
		"%.0f µs beyond the ceiling, ledgerd's group commit %.0f µs (%.0f µs unsynced). On top of the budget, ledgerd's "+
		"SQLite work runs on one writer thread, which cannot use more than one core.\n",
		runtime.NumCPU(), budget, ceiling.cpu, budget-ceiling.cpu, fl.cpu-ceiling.cpu, gc.cpu-ceiling.cpu, us.cpu-ceiling.cpu)
	return b.String(), nil
}

// benchLedgerd measures the real handler over a fresh file.
func benchLedgerd(o options, name string, maxBatch, requests int) (loadResult, error) {
	dir, err := os.MkdirTemp("", "ledgerd-bench-webhook-")
	if err != nil {
		return loadResult{}, err
	}
	defer os.RemoveAll(dir)
	h, closeFn, err := ledgerdHandler(dir, maxBatch)
	if err != nil {
		return loadResult{}, err
	}
	defer closeFn()
	return benchTarget(o, name, h, requests)
}

// median is the middle value of v (the mean of the two middle ones when
// their number is even).
func median(v []float64) float64 {
	v = slices.Clone(v)
	slices.Sort(v)
	n := len(v)
	if n == 0 {
		return 0
	}
	if n%2 == 1 {
		return v[n/2]
	}
	return (v[n/2-1] + v[n/2]) / 2
}

// targetSummary is one target's rounds, each figure the median of the
// rounds'.
type targetSummary struct {
	name               string
	rps, p50, p99, cpu float64 // requests/s, ms, ms, µs
	failures           int     // over all rounds
	rounds             string  // each round's requests/s
}

func summarize(rs []loadResult) targetSummary {
	var rps, p50, p99, cpu []float64
	var rounds []string
	t := targetSummary{name: rs[0].name}
	for _, r := range rs {
		rps = append(rps, r.perSecond)
		p50 = append(p50, float64(r.p50.Microseconds())/1000)
		p99 = append(p99, float64(r.p99.Microseconds())/1000)
		cpu = append(cpu, float64(r.cpu.Nanoseconds())/1000)
		rounds = append(rounds, fmt.Sprintf("%.0f", r.perSecond))
		t.failures += r.failures
	}
	t.rps, t.p50, t.p99, t.cpu = median(rps), median(p50), median(p99), median(cpu)
	t.rounds = strings.Join(rounds, ", ")
	return t
}

// unsyncedConns, while set, makes every new writable SQLite connection of
// this process commit with synchronous=OFF (see benchUnsynced).
var unsyncedConns atomic.Bool

func init() {
	sqlite.RegisterConnectionHook(func(conn sqlite.ExecQuerierContext, dsn string) error {
		if !unsyncedConns.Load() || strings.Contains(dsn, "query_only") {
			return nil
		}
		_, err := conn.ExecContext(context.Background(), "PRAGMA synchronous = OFF", nil)
		return err
	})
}

// benchUnsynced measures ledgerd's group commit on a fresh file whose
// writer connections commit with synchronous=OFF: the hook above runs after
// the DSN's synchronous(FULL), on the connections ledger.Open makes while
// the flag is set.
func benchUnsynced(o options, requests int) (loadResult, error) {
	unsyncedConns.Store(true)
	defer unsyncedConns.Store(false)
	return benchLedgerd(o, "ledgerd unsynced: group commit with synchronous=OFF (not durable; reference only)", 256, requests)
}

// benchFloor measures the durable floor on a fresh file.
func benchFloor(o options, requests int) (loadResult, error) {
	dir, err := os.MkdirTemp("", "ledgerd-bench-floor-")
	if err != nil {
		return loadResult{}, err
	}
	defer os.RemoveAll(dir)
	s, err := openFloorStore(dir)
	if err != nil {
		return loadResult{}, err
	}
	defer s.close()
	return benchTarget(o, "durable floor: body and event_id only, group commit", s.handler(), requests)
}
