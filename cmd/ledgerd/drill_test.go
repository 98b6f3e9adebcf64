package main

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
	"github.com/ledgerd/ledgerd/ledger/ledgertest"
)

// The restore drill (issue 18): serve replicates under webhook load, the
// machine "dies" (SIGKILL), the file is restored from the replica to a new
// path, it verifies, and every event acknowledged more than one
// replication interval (plus the longest round) before the kill is in it.

// drillInterval is LEDGERD_REPLICA_INTERVAL in the drill: short in make
// test, the default in the long variant.
func drillInterval() time.Duration {
	if longTests() {
		return time.Second
	}
	return 200 * time.Millisecond
}

// drillReplica is where a drill replicates to: its URL and the
// environment serve and restore need to reach it.
type drillReplica struct {
	url string
	env map[string]string
	// requests counts the S3 requests signed with the configured access
	// key id (nil for a directory).
	signed func() int
}

// fileReplica is a directory replica.
func fileReplica(t *testing.T) drillReplica {
	return drillReplica{url: filepath.Join(t.TempDir(), "replica"), env: map[string]string{}}
}

// s3Replica is an S3 replica on an in-process S3 server (gofakes3 on a
// loopback listener) with its key pair in files, as systemd credentials.
func s3Replica(t *testing.T) drillReplica {
	const (
		bucket = "ledgerd-drill"
		keyID  = "AKIDDRILL0001"
		secret = "drill-secret-9f3a"
	)
	backend := s3mem.New()
	if err := backend.CreateBucket(bucket); err != nil {
		t.Fatal(err)
	}
	fake := gofakes3.New(backend).Server()
	var mu sync.Mutex
	signed := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.Contains(r.Header.Get("Authorization"), "Credential="+keyID+"/") {
			mu.Lock()
			signed++
			mu.Unlock()
		}
		fake.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	dir := t.TempDir()
	idFile, secretFile := filepath.Join(dir, "key-id"), filepath.Join(dir, "secret")
	for p, v := range map[string]string{idFile: keyID + "\n", secretFile: secret + "\n"} {
		if err := os.WriteFile(p, []byte(v), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return drillReplica{
		url: "s3://" + bucket + "/ledgerd?endpoint=" + srv.URL + "&region=us-east-1",
		env: map[string]string{
			"LEDGERD_REPLICA_ACCESS_KEY_ID_FILE":     idFile,
			"LEDGERD_REPLICA_SECRET_ACCESS_KEY_FILE": secretFile,
		},
		signed: func() int { mu.Lock(); defer mu.Unlock(); return signed },
	}
}

// longTests reports whether LEDGERD_LONG_TESTS=1 asks for the long
// variants (make soak).
func longTests() bool { return os.Getenv("LEDGERD_LONG_TESTS") == "1" }

// drillResult is what one drill measured.
type drillResult struct {
	acked, missing  int
	recoveryPoint   time.Duration // kill minus the oldest acknowledgement missing from the restored file; 0 if none is
	lag             []time.Duration
	maxRound        time.Duration // the round-duration bucket every round so far fits in
	restoreOutput   string
	restoreDuration time.Duration
}

func TestRestoreDrillFileReplica(t *testing.T) {
	r := runDrill(t, fileReplica(t))
	reportDrill(t, "file", r)
}

func TestRestoreDrillS3Replica(t *testing.T) {
	rep := s3Replica(t)
	r := runDrill(t, rep)
	reportDrill(t, "s3", r)
	if rep.signed() == 0 {
		t.Error("no S3 request was signed with the access key id from LEDGERD_REPLICA_ACCESS_KEY_ID_FILE")
	}
}

// runDrill runs the drill against rep and checks its promises.
func runDrill(t *testing.T, rep drillReplica) drillResult {
	load := 2 * time.Second
	if longTests() {
		load = time.Minute
	}

	dir := t.TempDir()
	env := map[string]string{
		"LEDGERD_DB":               filepath.Join(dir, "ledgerd.db"),
		"LEDGERD_LISTEN":           "127.0.0.1:0",
		"LEDGERD_ADMIN_LISTEN":     "127.0.0.1:0",
		"LEDGERD_LOG_FORMAT":       "json",
		"LEDGERD_REPLICA_URL":      rep.url,
		"LEDGERD_REPLICA_INTERVAL": drillInterval().String(),
	}
	for k, v := range rep.env {
		env[k] = v
	}
	p := startLedgerd(t, env, "serve")
	hook := p.hookURL + "/webhooks/fuse"

	// Webhook load: four posters, each acknowledgement stamped when its
	// 2xx arrived.
	stop := make(chan struct{})
	var (
		mu    sync.Mutex
		acked = map[int]time.Time{}
		wg    sync.WaitGroup
	)
	client := &http.Client{Timeout: 10 * time.Second}
	base := string(seedWebhook(t, "inbound_local_payment_settled"))
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := w + 1; ; n += 4 {
				select {
				case <-stop:
					return
				default:
				}
				body := strings.NewReplacer(
					"018c35bc-9019-34b2-5210-ff9900d349bd", fmt.Sprintf("018c35bc-9019-34b2-5210-%012d", n),
					"018c35bc-9086-638d-0e9a-f1f46ea6146a", fmt.Sprintf("018c35bc-9086-638d-0e9a-%012d", n),
				).Replace(base)
				if post(client, hook, []byte(body)) == http.StatusOK {
					at := time.Now()
					mu.Lock()
					acked[n] = at
					mu.Unlock()
				}
			}
		}()
	}
	// Sample the replica's lag (the recovery point's age) meanwhile.
	var res drillResult
	end := time.Now().Add(load)
	for time.Now().Before(end) {
		if text, ok := scrape(client, p.admin+"/metrics"); ok {
			if v, ok := metricValue(text, "ledgerd_replica_lag_seconds"); ok {
				res.lag = append(res.lag, time.Duration(v*float64(time.Second)))
			}
			res.maxRound = roundBound(text)
		}
		time.Sleep(50 * time.Millisecond)
	}
	killAt := time.Now()
	if err := p.cmd.Process.Kill(); err != nil { // SIGKILL: no shutdown, no final sync
		t.Fatal(err)
	}
	<-p.exited
	close(stop)
	wg.Wait()
	if len(res.lag) == 0 {
		t.Fatalf("never read ledgerd_replica_lag_seconds\n%s", p.logText())
	}

	restored := filepath.Join(dir, "restored.db")
	start := time.Now()
	code, out, errOut := ledgerdExec(t, env, "restore", "--from", rep.url, "--to", restored)
	res.restoreDuration, res.restoreOutput = time.Since(start), out
	if code != 0 || !strings.Contains(out, "checks passed") || !strings.Contains(out, "The next backfill\nbrings it back") {
		t.Fatalf("ledgerd restore: exit %d\n%s\n%s", code, out, errOut)
	}
	for _, secret := range []string{"drill-secret-9f3a"} {
		if strings.Contains(p.logText()+out+errOut, secret) {
			t.Errorf("the secret access key shows in serve's or restore's output")
		}
	}

	present := ledgertest.Events(t, restored)
	bound := killAt.Add(-drillInterval() - res.maxRound)
	var oldestMissing time.Time
	for n, at := range acked {
		if _, ok := present[fmt.Sprintf("018c35bc-9019-34b2-5210-%012d", n)]; ok {
			continue
		}
		res.missing++
		if oldestMissing.IsZero() || at.Before(oldestMissing) {
			oldestMissing = at
		}
		if at.Before(bound) {
			t.Errorf("event %d acknowledged %s before the kill is not in the restored file (promise: %s)",
				n, killAt.Sub(at).Round(time.Millisecond), (drillInterval() + res.maxRound))
		}
	}
	res.acked = len(acked)
	if !oldestMissing.IsZero() {
		res.recoveryPoint = killAt.Sub(oldestMissing)
	}
	if res.acked < 20 {
		t.Errorf("only %d webhooks acknowledged: the drill had no load", res.acked)
	}
	return res
}

// reportDrill logs the drill's figures (RELIABILITY.md reports them).
func reportDrill(t *testing.T, kind string, r drillResult) {
	sort.Slice(r.lag, func(i, j int) bool { return r.lag[i] < r.lag[j] })
	pct := func(p float64) time.Duration { return r.lag[int(p*float64(len(r.lag)-1))].Round(time.Millisecond) }
	t.Logf("drill %s: interval %s; lag p50 %s p99 %s max %s (%d samples); %d webhooks acknowledged, %d not in the restored file "+
		"(recovery point %s before the kill); rounds at most %s; restore+verify %s",
		kind, drillInterval(), pct(0.5), pct(0.99), pct(1), len(r.lag), r.acked, r.missing, r.recoveryPoint.Round(time.Millisecond),
		r.maxRound, r.restoreDuration.Round(time.Millisecond))
}

// post posts body and returns the status, 0 when the request failed (the
// process is gone).
func post(c *http.Client, url string, body []byte) int {
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Fuse-Timestamp", time.Now().UTC().Format(time.RFC3339))
	resp, err := c.Do(req)
	if err != nil {
		return 0
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// scrape fetches url's body; false when it could not.
func scrape(c *http.Client, url string) (string, bool) {
	resp, err := c.Get(url)
	if err != nil {
		return "", false
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err == nil && resp.StatusCode == http.StatusOK
}

// metricValue is the value of the unlabelled series name in a /metrics
// text.
func metricValue(text, name string) (float64, bool) {
	for _, line := range strings.Split(text, "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			return f, err == nil
		}
	}
	return 0, false
}

// roundBound is the smallest bucket of ledgerd_replica_round_duration_seconds
// that holds every round so far: no round took longer.
func roundBound(text string) time.Duration {
	count, _ := metricValue(text, "ledgerd_replica_round_duration_seconds_count")
	for _, line := range strings.Split(text, "\n") {
		rest, ok := strings.CutPrefix(line, `ledgerd_replica_round_duration_seconds_bucket{le="`)
		if !ok {
			continue
		}
		le, n, _ := strings.Cut(rest, `"} `)
		if c, err := strconv.ParseFloat(n, 64); err == nil && c >= count && le != "+Inf" {
			if s, err := strconv.ParseFloat(le, 64); err == nil {
				return time.Duration(s * float64(time.Second))
			}
		}
	}
	return time.Minute
}
