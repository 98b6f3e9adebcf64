package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ledgerd/ledgerd/ledger"
	"github.com/ledgerd/ledgerd/ledger/ledgertest"
)

// Past the quarantine's cap a body that belongs there is refused with 503
// (Fuse retries), never a 2xx and never dropped in silence: nothing of it
// is stored, a metric counts it, and the log says so once a minute, not
// once a request. Valid events are still taken.
func TestFullQuarantineAnswers503KeepsNothingAndCountsTheRefusal(t *testing.T) {
	const limit = 2 * (ledger.MaxQuarantineBody + 1024)
	path := filepath.Join(t.TempDir(), "ledgerd.db")
	ledgertest.NewFile(t, path)
	l, err := ledger.Open(context.Background(), path, ledger.Options{QuarantineMaxBytes: limit})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	quarantined := func() int {
		var n int
		if err := l.Reader().QueryRow(`SELECT count(*) FROM quarantine`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	reg := prometheus.NewRegistry()
	now := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	var logs bytes.Buffer
	h := NewHandler(Options{Store: l, Metrics: NewMetrics(reg), Now: func() time.Time { return now },
		Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
	// logged returns the lines (at info and above) whose message starts so.
	logged := func(prefix string) []map[string]any {
		var out []map[string]any
		for line := range strings.SplitSeq(logs.String(), "\n") {
			var m map[string]any
			if json.Unmarshal([]byte(line), &m) == nil && strings.HasPrefix(m["msg"].(string), prefix) {
				out = append(out, m)
			}
		}
		return out
	}
	junk := func(n int, seed byte) []byte {
		b := bytes.Repeat([]byte("junk"), n/4+1)[:n]
		b[0] = seed
		return b
	}

	for i := range 2 {
		if status := serve(h, junk(MaxBody, byte(i))); status != http.StatusBadRequest {
			t.Fatalf("junk %d: %d, want 400 while the quarantine has room", i, status)
		}
	}
	before := quarantined()
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodPost, "/webhooks/fuse", bytes.NewReader(junk(MaxBody, 10)))
	req.Header.Set("Content-Type", "application/json")
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") == "" || !strings.Contains(rec.Body.String(), "quarantine_full") {
		t.Fatalf("junk past the cap: %d (Retry-After %q) %s, want 503 quarantine_full with Retry-After",
			rec.Code, rec.Header().Get("Retry-After"), rec.Body)
	}
	for i := range 4 {
		if status := serve(h, junk(MaxBody, byte(11+i))); status != http.StatusServiceUnavailable {
			t.Fatalf("junk past the cap: %d, want 503", status)
		}
	}
	if got := quarantined(); got != before {
		t.Errorf("%d quarantine rows after refusals, want %d", got, before)
	}
	if got := series(t, reg); !strings.Contains(strings.Join(got, "\n"), "ledgerd_webhook_quarantine_refused_total{reason=malformed_json} 5") {
		t.Errorf("no refusal count of 5 in:\n%s", strings.Join(got, "\n"))
	}
	if got := logged("quarantine full"); len(got) != 1 || got[0]["refused"] != 1.0 {
		t.Errorf("log lines about the full quarantine: %v, want one, at the first refusal", got)
	}
	if got := logged("webhook"); len(got) != 2 {
		t.Errorf("%d per-request lines at info level and above, want 2 (the refusals log at debug)", len(got))
	}
	// A minute later the next refusal is logged, with the count since.
	now = now.Add(time.Minute)
	if status := serve(h, junk(4000, 'y')); status != http.StatusServiceUnavailable {
		t.Errorf("small junk past the cap: %d, want 503", status)
	}
	if got := logged("quarantine full"); len(got) != 2 || got[1]["refused"] != 5.0 {
		t.Errorf("log lines about the full quarantine: %v, want a second one counting 5", got)
	}
	// A full quarantine does not stop the book.
	valid, err := os.ReadFile(filepath.Join("testdata", "seed", "inbound_local_payment_settled.json"))
	if err != nil {
		t.Fatal(err)
	}
	if status := serve(h, valid); status != http.StatusOK {
		t.Errorf("valid event with the quarantine full: %d, want 200", status)
	}
}
