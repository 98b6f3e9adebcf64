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
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ledgerd/ledgerd/ledger"
	"github.com/ledgerd/ledgerd/webhook"
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
		perSecond: float64(n) / elapsed.Seconds()}
}

// benchTarget measures one handler: a warm-up run, then the measured run.
func benchTarget(o options, name string, h http.Handler, requests int) (loadResult, error) {
	url, stop, err := serveOn(h)
	if err != nil {
		return loadResult{}, err
	}
	defer stop()
	load(url, webhookConns, webhookWarmup, 1)
	// "ledgerd, group commit" → webhook-ledgerd-group.pprof
	words := strings.Fields(strings.ReplaceAll(name, ",", ""))
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

// benchWebhook runs the three targets and renders the BENCHMARKS.md section.
func benchWebhook(o options, requests int) (string, error) {
	var results []loadResult
	r, err := benchTarget(o, "no-op Go handler (ceiling)", noopHandler, requests)
	if err != nil {
		return "", err
	}
	results = append(results, r)
	for _, t := range []struct {
		name     string
		maxBatch int
	}{{"ledgerd, group commit", 256}, {"ledgerd, one commit per request (naive)", 1}} {
		dir, err := os.MkdirTemp("", "ledgerd-bench-webhook-")
		if err != nil {
			return "", err
		}
		h, closeFn, err := ledgerdHandler(dir, t.maxBatch)
		if err != nil {
			return "", err
		}
		r, err := benchTarget(o, t.name, h, requests)
		closeFn()
		os.RemoveAll(dir)
		if err != nil {
			return "", err
		}
		results = append(results, r)
	}
	ceiling := results[0].perSecond
	var b strings.Builder
	fmt.Fprintf(&b, "## Webhook ingest (issue 4)\n\n")
	fmt.Fprintf(&b, "%d concurrent keep-alive connections on loopback, %d POSTs of distinct `inbound_local_payment_settled` "+
		"events per target after %d warm-up requests; ledgerd targets are durable (WAL, `synchronous=FULL`) on a fresh file. "+
		"The load generator runs in the same process and shares the cores.\n\n", webhookConns, requests, webhookWarmup)
	fmt.Fprintf(&b, "| target | requests/s | p50 | p99 | failures | vs ceiling |\n|---|---:|---:|---:|---:|---:|\n")
	for _, r := range results {
		fmt.Fprintf(&b, "| %s | %.0f | %s | %s | %d | %.0f %% |\n", r.name, r.perSecond, ms(r.p50), ms(r.p99), r.failures,
			100*r.perSecond/ceiling)
	}
	gc := results[1]
	o.record(figWebhookNoopRPS, ceiling)
	o.record(figWebhookNoopP99, float64(results[0].p99.Microseconds())/1000)
	o.record(figWebhookGroupRPS, gc.perSecond)
	o.record(figWebhookGroupP99, float64(gc.p99.Microseconds())/1000)
	o.record(figWebhookNaiveRPS, results[2].perSecond)
	met := gc.perSecond >= 0.4*ceiling && gc.p99 < 20*time.Millisecond
	verdict := "not met"
	if met {
		verdict = "met"
	}
	fmt.Fprintf(&b, "\nGoal: at least 40 %% of the ceiling and p99 under 20 ms: **%s** (%.0f %% of the ceiling, p99 %s); "+
		"group commit is %.1f× the naive one-commit-per-request throughput.\n",
		verdict, 100*gc.perSecond/ceiling, ms(gc.p99), gc.perSecond/results[2].perSecond)
	return b.String(), nil
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d.Microseconds())/1000) }
