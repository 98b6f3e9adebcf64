package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/ledgerd/ledgerd/fuse/sandbox"
)

// Credentials of the probes' sandbox. The client id is long and unusual so
// that a probe can look for it in a log.
const (
	probeClientID     = "probe-client-7f3a9c21e4b84d0d"
	probeClientSecret = "probe-secret-5b1e8d7a"
)

// rig is one probe's world: a Fuse sandbox on loopback that records its
// webhooks instead of sending them (the probe posts them, as it likes),
// and a `ledgerd serve` process on its own file.
type rig struct {
	bin     string
	dir     string
	db      string
	hook    string // webhook listener address
	admin   string // admin listener address
	sb      *sandbox.Sandbox
	srv     *http.Server
	baseURL string
	env     map[string]string
	hc      *http.Client

	serve     *exec.Cmd
	serveDone chan error
	logf      *os.File
	sent      int // sandbox events posted so far
}

// newRig starts the sandbox; serve starts with start. dbDir, when not
// empty, holds the database instead of dir (a small tmpfs, say).
func newRig(bin, dir, dbDir string, extra map[string]string) (*rig, error) {
	if dbDir == "" {
		dbDir = dir
	}
	r := &rig{bin: bin, dir: dir, db: filepath.Join(dbDir, "ledgerd.db"), hc: &http.Client{Timeout: 60 * time.Second}}
	var err error
	if r.hook, err = freePort("127.0.0.1"); err != nil {
		return nil, err
	}
	if r.admin, err = freePort("127.0.0.1"); err != nil {
		return nil, err
	}
	r.sb = sandbox.New(sandbox.Options{Seed: 15, Instant: true, ClientID: probeClientID, ClientSecret: probeClientSecret,
		Now: func() time.Time { return time.Now().Add(-time.Hour) }})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		r.sb.Close()
		return nil, err
	}
	r.srv = &http.Server{Handler: r.sb, ReadHeaderTimeout: 10 * time.Second}
	go r.srv.Serve(ln) //nolint:errcheck // closed by close
	r.baseURL = "http://" + ln.Addr().String()
	r.env = map[string]string{
		"LEDGERD_DB":                 r.db,
		"LEDGERD_LISTEN":             r.hook,
		"LEDGERD_ADMIN_LISTEN":       r.admin,
		"LEDGERD_BACKFILL_SCHEDULE":  "@every 24h",
		"LEDGERD_RECONCILE_SCHEDULE": "@every 24h",
		"LEDGERD_LOG_FORMAT":         "json",
		"FUSE_BASE_URL":              r.baseURL + "/v1",
		"FUSE_AUTH_URL":              r.baseURL + sandbox.TokenPath,
		"FUSE_CLIENT_ID":             probeClientID,
		"FUSE_CLIENT_SECRET":         probeClientSecret,
	}
	for k, v := range extra {
		r.env[k] = v
	}
	if r.logf, err = os.Create(filepath.Join(dir, "serve.log")); err != nil {
		r.close()
		return nil, err
	}
	return r, nil
}

func freePort(host string) (string, error) {
	ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

func (r *rig) environ() []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "LEDGERD_") || strings.HasPrefix(kv, "FUSE_") || strings.HasPrefix(kv, "NOTIFY_SOCKET=") {
			continue
		}
		env = append(env, kv)
	}
	for k, v := range r.env {
		env = append(env, k+"="+v)
	}
	return env
}

// start starts serve and waits until its webhook listener accepts.
func (r *rig) start() error {
	cmd := exec.Command(r.bin, "serve")
	cmd.Env = r.environ()
	cmd.Stdout, cmd.Stderr = r.logf, r.logf
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start serve: %w", err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	r.serve, r.serveDone = cmd, done
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if c, err := net.DialTimeout("tcp", r.hookDial(), 100*time.Millisecond); err == nil {
			c.Close()
			return nil
		}
		select {
		case err := <-done:
			r.serve = nil
			return fmt.Errorf("serve exited at start: %v (log: %s)", err, r.logTail())
		case <-time.After(20 * time.Millisecond):
		}
	}
	return errors.New("serve did not listen within 10 s")
}

// hookDial is the address to dial for the webhook listener (":port" means
// every interface: dial loopback).
func (r *rig) hookDial() string {
	h, p, _ := net.SplitHostPort(r.hook)
	if h == "" {
		h = "127.0.0.1"
	}
	return net.JoinHostPort(h, p)
}

// stop sends sig to serve and returns its exit code (-1: killed by a
// signal, or did not exit within 30 s).
func (r *rig) stop(sig syscall.Signal) int {
	if r.serve == nil {
		return -1
	}
	_ = r.serve.Process.Signal(sig)
	var err error
	select {
	case err = <-r.serveDone:
	case <-time.After(30 * time.Second):
		_ = r.serve.Process.Kill()
		<-r.serveDone
		r.serve = nil
		return -1
	}
	r.serve = nil
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	if err != nil {
		return -1
	}
	return 0
}

func (r *rig) close() {
	if r.serve != nil {
		r.stop(syscall.SIGKILL)
	}
	if r.srv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = r.srv.Shutdown(ctx)
		cancel()
	}
	r.sb.Close()
	if r.logf != nil {
		r.logf.Close()
	}
}

// cli runs a one-shot ledgerd command on the rig's file and environment.
func (r *rig) cli(ctx context.Context, args ...string) (code int, stdout, stderr string) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, r.bin, args...)
	cmd.Env = r.environ()
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	// Messages name the file; the table does not need the temp path.
	stderr = strings.ReplaceAll(errb.String(), r.db, "FILE")
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		return ee.ExitCode(), out.String(), stderr
	case err != nil:
		return -1, out.String(), err.Error()
	}
	return 0, out.String(), stderr
}

// post sends a webhook body to serve; stale sends an X-Fuse-Timestamp an
// hour old.
func (r *rig) post(body []byte, stale bool) (int, time.Duration) {
	return r.postTo(r.hc, "http://"+r.hookDial()+"/webhooks/fuse", body, stale)
}

func (r *rig) postTo(hc *http.Client, url string, body []byte, stale bool) (int, time.Duration) {
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return -1, 0
	}
	req.Header.Set("Content-Type", "application/json")
	ts := time.Now()
	if stale {
		ts = ts.Add(-time.Hour)
	}
	req.Header.Set("X-Fuse-Timestamp", ts.UTC().Format(time.RFC3339Nano))
	t0 := time.Now()
	resp, err := hc.Do(req)
	if err != nil {
		return -1, time.Since(t0)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, time.Since(t0)
}

// deliver posts every sandbox event not posted yet, and fails on any
// answer but 200.
func (r *rig) deliver() error {
	evs := r.sb.Events()
	for _, ev := range evs[r.sent:] {
		if st, _ := r.post(ev.Body, false); st != http.StatusOK {
			return fmt.Errorf("webhook %s answered %d", ev.Type, st)
		}
	}
	r.sent = len(evs)
	return nil
}

// pending returns the sandbox events not posted yet and marks them posted.
func (r *rig) pending() []sandbox.Event {
	evs := r.sb.Events()
	out := evs[r.sent:]
	r.sent = len(evs)
	return out
}

// adminGet fetches an admin path and returns its status and body.
func (r *rig) adminGet(path string) (int, string) {
	resp, err := r.hc.Get("http://" + r.admin + path)
	if err != nil {
		return -1, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// fileBytes is the size of the database with its WAL.
func (r *rig) fileBytes() int64 {
	var n int64
	for _, p := range []string{r.db, r.db + "-wal"} {
		if fi, err := os.Stat(p); err == nil {
			n += fi.Size()
		}
	}
	return n
}

func (r *rig) logTail() string {
	b, _ := os.ReadFile(r.logf.Name())
	if len(b) > 600 {
		b = b[len(b)-600:]
	}
	return string(b)
}

// breakRow is what the probes read of `ledgerd breaks list --json`.
type breakRow struct {
	ID                int64           `json:"break_id"`
	Category          string          `json:"category"`
	Severity          string          `json:"severity"`
	Subject           string          `json:"subject"`
	Currency          string          `json:"currency"`
	FuseAccountID     string          `json:"fuse_account_id"`
	FuseTransactionID string          `json:"fuse_transaction_id"`
	Detail            string          `json:"detail"`
	LedgerAmount      json.RawMessage `json:"ledger_amount"`
	FuseAmount        json.RawMessage `json:"fuse_amount"`
	Difference        json.RawMessage `json:"difference"`
}

func (r *rig) breaks(ctx context.Context) ([]breakRow, error) {
	code, out, errs := r.cli(ctx, "breaks", "list", "--json")
	if code != 0 {
		return nil, fmt.Errorf("breaks list: exit %d: %s", code, firstLine(errs))
	}
	var bs []breakRow
	if err := json.Unmarshal([]byte(out), &bs); err != nil {
		return nil, fmt.Errorf("breaks list: %w", err)
	}
	return bs, nil
}

// countBy counts breaks by category.
func countBy(bs []breakRow) map[string]int {
	m := map[string]int{}
	for _, b := range bs {
		m[b.Category]++
	}
	return m
}

// firstLine is the first line of s (all of s when it is JSON, on one
// line), clipped.
func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, "{") {
		s = strings.Join(strings.Fields(s), " ")
	} else if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	if len(s) > 160 {
		s = s[:160] + "…"
	}
	return s
}

// verdict is the verdict word in reconcile's output.
func verdict(out string) string {
	for _, v := range []string{"RECONCILED_WITH_PENDING", "RECONCILED", "BREAKS", "INCOMPLETE"} {
		if strings.Contains(out, v) {
			return v
		}
	}
	return "?"
}
