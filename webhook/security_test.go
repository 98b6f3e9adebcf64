package webhook_test

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ledgerd/ledgerd/ledger"
	"github.com/ledgerd/ledgerd/ledger/ledgertest"
	"github.com/ledgerd/ledgerd/webhook"
)

// Security checks of the listener beyond the status table of
// TestBadInputGetsItsDocumentedStatusAndNothingHalfApplied: the order of
// the checks (nothing from an unauthenticated sender is read past the
// limit, parsed or kept), address forms, and the server's own limits.

// direct serves one request through the handler with the given peer
// address, against a real file, and returns the status and how many
// events and quarantine rows the file then holds.
func direct(t *testing.T, o webhook.Options, remote string, body []byte, hdr ...string) (status, events, quarantined int) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "ledgerd.db")
	ledgertest.NewFile(t, path)
	l, err := ledger.Open(context.Background(), path, ledger.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	o.Store = l
	req := httptest.NewRequest(http.MethodPost, hookPath, bytes.NewReader(body))
	req.RemoteAddr = remote
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	rec := httptest.NewRecorder()
	webhook.NewHandler(o).ServeHTTP(rec, req)
	return rec.Code, rows(t, l, "events"), rows(t, l, "quarantine")
}

func TestAllowListMatchesEveryFormOfAnAddress(t *testing.T) {
	t.Parallel()
	body := seedBody(t, "seed", "inbound_local_payment_settled")
	v4 := []netip.Prefix{netip.MustParsePrefix("15.185.183.112/32")}
	v6 := []netip.Prefix{netip.MustParsePrefix("2001:db8::/32")}
	cases := []struct {
		name   string
		allow  []netip.Prefix
		remote string
		want   int
	}{
		{"IPv4 peer in the list", v4, "15.185.183.112:4431", 200},
		{"IPv4-mapped IPv6 peer in the list", v4, "[::ffff:15.185.183.112]:4431", 200},
		{"neighbour address", v4, "15.185.183.113:4431", 403},
		{"IPv6 loopback against an IPv4 list", v4, "[::1]:4431", 403},
		{"IPv6 peer in an IPv6 list", v6, "[2001:db8::7]:4431", 200},
		{"IPv6 peer outside an IPv6 list", v6, "[2001:db9::7]:4431", 403},
		{"zone-qualified link-local", v4, "[fe80::1%eth0]:4431", 403},
		{"garbage peer address", v4, "not-an-address", 403},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			status, events, q := direct(t, webhook.Options{AllowCIDRs: c.allow}, c.remote, body)
			if status != c.want {
				t.Errorf("status %d, want %d", status, c.want)
			}
			if c.want != 200 && (events != 0 || q != 0) {
				t.Errorf("refused request left %d events and %d quarantine rows", events, q)
			}
		})
	}
}

// A sender that is not allowed, or cannot sign, gets its answer before
// the body is read past the limit, parsed or quarantined: an anonymous
// party cannot fill the quarantine or make the listener parse anything.
func TestUnauthenticatedBodiesAreNeverReadParsedOrKept(t *testing.T) {
	t.Parallel()
	secret := []byte("order-of-checks")
	huge := bytes.Repeat([]byte("x"), webhook.MaxBody+10)
	malformed := []byte(`{"type":`)
	cases := []struct {
		name   string
		opts   webhook.Options
		remote string
		body   []byte
		hdr    []string
		want   int
	}{
		{"not allowed, oversize body", webhook.Options{AllowCIDRs: []netip.Prefix{netip.MustParsePrefix("15.185.183.112/32")}},
			"203.0.113.5:1", huge, nil, 403},
		{"not allowed, malformed body", webhook.Options{AllowCIDRs: []netip.Prefix{netip.MustParsePrefix("15.185.183.112/32")}},
			"203.0.113.5:1", malformed, nil, 403},
		{"unsigned, malformed body", webhook.Options{Secret: secret}, "203.0.113.5:1", malformed, nil, 401},
		{"badly signed, malformed body", webhook.Options{Secret: secret}, "203.0.113.5:1", malformed,
			[]string{"X-Ledgerd-Signature", webhook.Sign([]byte("nope"), malformed)}, 401},
		{"signed with an empty key", webhook.Options{Secret: secret}, "203.0.113.5:1", malformed,
			[]string{"X-Ledgerd-Signature", webhook.Sign(nil, malformed)}, 401},
		{"empty signature", webhook.Options{Secret: secret}, "203.0.113.5:1", malformed,
			[]string{"X-Ledgerd-Signature", "sha256="}, 401},
		{"unsigned, stale timestamp", webhook.Options{Secret: secret, TimestampTolerance: time.Minute}, "203.0.113.5:1",
			seedBody(t, "seed", "inbound_local_payment_settled"), []string{"X-Fuse-Timestamp", "2001-01-01T00:00:00Z"}, 401},
		// The positive control: once authenticated, a bad body is kept.
		{"signed, malformed body", webhook.Options{Secret: secret}, "203.0.113.5:1", malformed,
			[]string{"X-Ledgerd-Signature", webhook.Sign(secret, malformed)}, 400},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			status, events, q := direct(t, c.opts, c.remote, c.body, c.hdr...)
			if status != c.want {
				t.Errorf("status %d, want %d", status, c.want)
			}
			wantQ := 0
			if c.want == 400 {
				wantQ = 1
			}
			if events != 0 || q != wantQ {
				t.Errorf("%d events, %d quarantine rows; want 0 and %d", events, q, wantQ)
			}
		})
	}
}

// A chunked body (no Content-Length) is cut at MaxBody like any other.
func TestChunkedBodyOverTheLimitIsRefused(t *testing.T) {
	ls := startListener(t, "", webhook.Options{})
	pr, pw := io.Pipe()
	go func() {
		chunk := bytes.Repeat([]byte(" "), 64<<10)
		for n := 0; n <= webhook.MaxBody; n += len(chunk) {
			if _, err := pw.Write(chunk); err != nil {
				return
			}
		}
		pw.Close()
	}()
	req, err := http.NewRequest(http.MethodPost, ls.url, pr)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	pr.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("status %d, want 413", resp.StatusCode)
	}
	if n := rows(t, ls.l, "quarantine") + rows(t, ls.l, "events"); n != 0 {
		t.Errorf("%d rows kept from an oversize body", n)
	}
}

// Headers past the server's limit are refused by net/http before the
// handler runs.
func TestOversizeHeadersAreRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ledgerd.db")
	ledgertest.NewFile(t, path)
	l, err := ledger.Open(context.Background(), path, ledger.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	// The real server, not only its handler: the limit is the server's.
	s := webhook.NewServer("", hookPath, webhook.NewHandler(webhook.Options{Store: l}))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve(ln) //nolint:errcheck // closed below
	defer s.Close()
	url := "http://" + ln.Addr().String() + hookPath
	body := seedBody(t, "seed", "inbound_local_payment_settled")
	if status, _ := post(t, url, body, "X-Padding", strings.Repeat("a", 128<<10)); status != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("status %d, want 431", status)
	}
	if n := rows(t, l, "events"); n != 0 {
		t.Errorf("%d events stored", n)
	}
	// The positive control: the same body with normal headers is taken.
	if status, _ := post(t, url, body); status != http.StatusOK {
		t.Errorf("normal request: %d", status)
	}
}

// The server bounds every phase of a request, so a slow client cannot
// hold connections open (slowloris), and holds headers to 64 KiB.
func TestWebhookServerHasTimeoutsAndAHeaderLimit(t *testing.T) {
	s := webhook.NewServer(":0", hookPath, http.NotFoundHandler())
	if s.ReadHeaderTimeout <= 0 || s.ReadTimeout <= 0 || s.WriteTimeout <= 0 || s.IdleTimeout <= 0 {
		t.Errorf("timeouts: header %s, read %s, write %s, idle %s; want all set",
			s.ReadHeaderTimeout, s.ReadTimeout, s.WriteTimeout, s.IdleTimeout)
	}
	if s.MaxHeaderBytes <= 0 || s.MaxHeaderBytes > 1<<20 {
		t.Errorf("MaxHeaderBytes %d", s.MaxHeaderBytes)
	}
	// A client that sends half a header line and stalls is cut off.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.ReadHeaderTimeout = 200 * time.Millisecond
	go s.Serve(ln) //nolint:errcheck // closed below
	defer s.Close()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, "POST "+hookPath+" HTTP/1.1\r\nHost: x\r\n"); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadAll(c); err != nil {
		t.Errorf("the stalled connection was not closed by the server: %v", err)
	}
}
