package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ledgerd/ledgerd/internal/damage"
	"github.com/ledgerd/ledgerd/ledger"
)

// Readiness tells the truth (issue 15 §2): /readyz answers 200 only when a
// webhook posted now would be acknowledged, and serve stops with exit 0
// when nothing was lost.

// getStatus fetches url and returns its status and body, whatever the
// status.
func getStatus(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// numberedWebhook is Fuse's inbound payment example as event n, with its
// own event and transaction ids.
func numberedWebhook(t *testing.T, n int) []byte {
	t.Helper()
	return []byte(strings.NewReplacer(
		"018c35bc-9019-34b2-5210-ff9900d349bd", fmt.Sprintf("018c35bc-9019-34b2-5210-%012d", n),
		"018c35bc-9086-638d-0e9a-f1f46ea6146a", fmt.Sprintf("018c35bc-9086-638d-0e9a-%012d", n),
	).Replace(string(seedWebhook(t, "inbound_local_payment_settled"))))
}

// A file damaged on disk is served (reads go on) but not ready and takes
// no webhook; the log and the status page say what is wrong. An intact
// file is ready and the status page says it was checked.
func TestServeChecksTheFileAtStartAndRefusesADamagedOne(t *testing.T) {
	for _, tt := range []struct {
		name    string
		damage  func(path string) error
		problem string // in /readyz, the log and the status page; "" for an intact file
	}{
		{"intact", func(string) error { return nil }, ""},
		{"event body overwritten", func(p string) error { return damage.EventBody(p, 2) },
			"events hash chain: event 2: hash does not match its body"},
		{"index page overwritten", func(p string) error { return damage.IndexPage(p, "fuse_transactions_account_id") },
			"quick_check: "},
	} {
		t.Run(tt.name, func(t *testing.T) {
			path := seedFile(t)
			if err := tt.damage(path); err != nil {
				t.Fatal(err)
			}
			d := serveLogged(t, map[string]string{"LEDGERD_DB": path})
			waitFor(t, "the integrity check to end", 10*time.Second, func() bool {
				return strings.Contains(d.logs.String(), `"msg":"integrity check passed"`) ||
					strings.Contains(d.logs.String(), `"msg":"integrity check failed`)
			})
			code, body := getStatus(t, d.adminURL+"/readyz")
			page := getBody(t, d.adminURL+"/")
			hook := postHook(t, d.hookURL, numberedWebhook(t, 1))
			if tt.problem == "" {
				if code != http.StatusOK || hook != http.StatusOK || !strings.Contains(page, "hash chain of 3 events passed") {
					t.Fatalf("intact file: /readyz %d %s, webhook %d, status page integrity:\n%s", code, body, hook, page)
				}
				if code := d.stop(); code != 0 {
					t.Errorf("exit %d", code)
				}
				return
			}
			if code != http.StatusServiceUnavailable || !strings.Contains(body, "integrity check failed") || !strings.Contains(body, tt.problem) {
				t.Errorf("/readyz %d %s, want 503 naming %q", code, body, tt.problem)
			}
			if hook != http.StatusServiceUnavailable {
				t.Errorf("webhook on a damaged file: %d, want 503", hook)
			}
			if !strings.Contains(page, `<section id="integrity" class="alarm">`) || !strings.Contains(page, tt.problem) {
				t.Errorf("status page does not show the damage %q", tt.problem)
			}
			logs := d.logs.String()
			if !strings.Contains(logs, `"level":"ERROR","msg":"integrity check failed`) || !strings.Contains(logs, tt.problem) ||
				!strings.Contains(logs, `"duration":`) {
				t.Errorf("log does not say what failed:\n%s", logs)
			}
			d.stop()
		})
	}
}

// mountTmpfs mounts a tmpfs of size bytes on a fresh directory and
// unmounts it at the end, or skips the test where it cannot (not root, no
// mount rights).
func mountTmpfs(t *testing.T, size int) string {
	t.Helper()
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, fmt.Sprintf("size=%d", size)); err != nil {
		t.Skipf("cannot mount a tmpfs to fill (%v): run as root, or with CAP_SYS_ADMIN, to test a full disk; "+
			"TestReadyzIsNotReadyWhileWebhooksFailForLackOfSpace in admin/ proves the rule everywhere", err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, 0); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	return dir
}

// fill writes a file in dir until the file system is full, and returns a
// function that deletes it.
func fill(t *testing.T, dir string) (free func()) {
	t.Helper()
	path := filepath.Join(dir, "filler")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	block := make([]byte, 4096)
	for {
		if _, err := f.Write(block); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatal(err)
			}
			break
		}
	}
	f.Close()
	return func() {
		if err := os.Remove(path); err != nil {
			t.Fatal(err)
		}
	}
}

// The reproduction, on a real full file system: ledgerd serve with
// its file on an 8 MiB tmpfs. Filled up, /readyz answers 503 and webhooks
// get 503; with space again, both recover. SIGTERM on a full disk, where
// the final checkpoint fails, exits 0, and every webhook answered 200 is in
// the file when it is opened again.
func TestServeOnAFullDiskIsNotReadyRecoversAndStopsWithExitZero(t *testing.T) {
	dir := mountTmpfs(t, 8<<20)
	path := filepath.Join(dir, "ledgerd.db")
	p := startLedgerd(t, map[string]string{"LEDGERD_DB": path, "LEDGERD_LISTEN": "127.0.0.1:0",
		"LEDGERD_ADMIN_LISTEN": "127.0.0.1:0", "LEDGERD_LOG_FORMAT": "json"}, "serve")
	hookURL := p.hookURL + "/webhooks/fuse"
	acked := 0 // webhooks answered 200, numbered 0..acked-1 in order
	post := func() int {
		code := postHook(t, hookURL, numberedWebhook(t, acked))
		if code == http.StatusOK {
			acked++
		}
		return code
	}
	// postUntil503 posts webhooks until one gets 503 (a full disk may take
	// a few more into the WAL it reuses).
	postUntil503 := func() {
		t.Helper()
		for range 1000 {
			switch code := post(); code {
			case http.StatusOK:
			case http.StatusServiceUnavailable:
				return
			default:
				t.Fatalf("webhook on a full disk: %d", code)
			}
		}
		t.Fatalf("1000 webhooks on a full disk, none refused")
	}
	ready := func() (bool, string) {
		code, body := getStatus(t, p.admin+"/readyz")
		return code == http.StatusOK, body
	}
	if code := post(); code != http.StatusOK {
		t.Fatalf("first webhook: %d\n%s", code, p.logText())
	}
	waitFor(t, "ready", 10*time.Second, func() bool { ok, _ := ready(); return ok })

	free := fill(t, dir)
	if ok, body := ready(); ok || !strings.Contains(body, "free on its file system") {
		t.Errorf("full disk: /readyz ready=%v %s, want 503 saying the disk is full", ok, body)
	}
	postUntil503()
	if ok, body := ready(); ok {
		t.Errorf("full disk after a webhook got 503: /readyz ready %s", body)
	}

	free()
	if code := post(); code != http.StatusOK {
		t.Fatalf("webhook once there is space again: %d", code)
	}
	waitFor(t, "ready again", 10*time.Second, func() bool { ok, _ := ready(); return ok })

	fill(t, dir)
	postUntil503()
	p.terminate(t)
	if !strings.Contains(p.logText(), `"level":"WARN","msg":"closed the database without finishing its housekeeping`) {
		t.Errorf("serve's log does not say what it could not do:\n%s", p.logText())
	}

	// With space again, every webhook answered 200 is in the file.
	if err := os.Remove(filepath.Join(dir, "filler")); err != nil {
		t.Fatal(err)
	}
	l, err := ledger.Open(context.Background(), path, ledger.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if n, err := eventCount(l); err != nil || n != int64(acked) {
		t.Errorf("events in the file: %d (%v), webhooks answered 200: %d", n, err, acked)
	}
	if rep, err := l.Verify(context.Background()); err != nil || !rep.OK() {
		t.Errorf("verify: %v %+v", err, rep)
	}
}
