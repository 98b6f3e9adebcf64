package admin_test

import (
	"bytes"
	"context"
	"html"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ledgerd/ledgerd/admin"
)

// chromium returns the path of a headless-capable Chromium. It is installed
// by scripts/install-deps.sh; under CI a missing browser fails the test,
// elsewhere it skips with a note.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "/usr/bin/chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("chromium not found: scripts/install-deps.sh installs it")
	}
	t.Skip("chromium not found (run scripts/install-deps.sh); skipping the browser rendering test")
	return ""
}

// runChromium runs a headless Chromium with a fresh profile and the flags
// that keep it off the network (the machine's network is closed; only
// loopback is used), returning its standard output.
func runChromium(t *testing.T, bin string, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	base := []string{
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--disable-quic", "--no-first-run", "--no-default-browser-check", "--hide-scrollbars",
		"--user-data-dir=" + t.TempDir(),
	}
	cmd := exec.CommandContext(ctx, bin, append(base, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.WaitDelay = 10 * time.Second
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium %v: %v\n%s", args, err, stderr.Bytes())
	}
	return stdout.Bytes()
}

func TestStatusPageRendersInHeadlessChromium(t *testing.T) {
	bin := chromium(t)
	l := openLedger(t)
	seedScenario(t, l)
	srv, _ := serve(t, l, admin.Options{Location: time.UTC, Version: "v1.2.3"})

	raw := string(runChromium(t, bin, "--dump-dom", srv.URL+"/"))
	// The hostile break detail is text in the DOM, never an element.
	if !strings.Contains(raw, `&lt;script&gt;alert("x")&lt;/script&gt; &amp; "quotes"`) || strings.Contains(raw, "<script") {
		t.Errorf("break detail not rendered as text")
	}
	dom := html.UnescapeString(raw)
	for _, s := range []string{
		`<span class="badge warn" id="verdict">INCOMPLETE</span>`,
		"bank:" + merchantID, "990000.00", "989995.00", `<td class="num drift">5.00</td>`,
		"balance_drift", "missing_at_fuse", missingTx, "12.50",
		`<span class="badge bad">BREAKS</span>`, `<span class="badge ok">RECONCILED</span>`,
		"Events ingested per hour", "Absolute drift per run, AED",
	} {
		if !strings.Contains(dom, s) {
			t.Errorf("rendered DOM lacks %q", s)
		}
	}
	if n := strings.Count(dom, "<rect "); n < 48+3*2 {
		t.Errorf("rendered DOM has %d SVG bars, want at least %d", n, 48+3*2)
	}

	shot := filepath.Join(t.TempDir(), "status.png")
	if p := os.Getenv("LEDGERD_SCREENSHOT"); p != "" {
		shot = p // keep it to look at: LEDGERD_SCREENSHOT=/tmp/status.png go test -run Chromium ./admin/
	}
	runChromium(t, bin, "--screenshot="+shot, "--window-size=1280,"+shotHeight(), srv.URL+"/")
	f, err := os.Open(shot)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	if b := img.Bounds(); b.Dx() != 1280 || b.Dy() != atoi(shotHeight()) {
		t.Errorf("screenshot is %dx%d, want 1280x%s", b.Dx(), b.Dy(), shotHeight())
	}
}

// shotHeight is the screenshot's height: 900, or LEDGERD_SCREENSHOT_HEIGHT
// to see the whole page while working on it.
func shotHeight() string {
	if h := os.Getenv("LEDGERD_SCREENSHOT_HEIGHT"); h != "" {
		return h
	}
	return "900"
}

func atoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}
