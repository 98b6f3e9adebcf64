package webhook

import (
	"bytes"
	"fmt"
	"mime"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// serve runs one request through h and returns the status.
func serve(h *Handler, body []byte, hdr ...string) int {
	req := httptest.NewRequest(http.MethodPost, "/webhooks/fuse", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Code
}

// series renders every sample of the webhook's metrics, one line each.
func series(t *testing.T, reg *prometheus.Registry) []string {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, l.GetName()+"="+l.GetValue())
			}
			value := fmt.Sprint(m.GetCounter().GetValue())
			if h := m.GetHistogram(); h != nil {
				value = fmt.Sprintf("count=%d", h.GetSampleCount())
			}
			out = append(out, fmt.Sprintf("%s{%s} %s", mf.GetName(), strings.Join(labels, ","), value))
		}
	}
	sort.Strings(out)
	return out
}

// The metrics' per-type cache changes nothing of what is exported: the
// same series, each only once used, for known types, unknown ones and
// bodies without a type.
func TestMetricsSeriesAreTheSameAsByLabelValues(t *testing.T) {
	reg := prometheus.NewRegistry()
	st := &memStore{}
	h := NewHandler(Options{Store: st, Metrics: NewMetrics(reg)})
	unknown := []byte(`{"type":"customer_verified","event_id":"` + goodEventID + `"}`)
	for range 3 {
		serve(h, benchBody(1))
	}
	serve(h, unknown)
	serve(h, []byte(`{"type":`))
	serve(h, benchBody(1), "Content-Type", "text/plain")
	want := []string{
		"ledgerd_ledger_commit_batch_size{} count=0",
		"ledgerd_webhook_duration_seconds{result=accepted} count=3",
		"ledgerd_webhook_duration_seconds{result=quarantined} count=2",
		"ledgerd_webhook_duration_seconds{result=unhandled} count=1",
		"ledgerd_webhook_events_total{result=accepted,type=inbound_local_payment_settled} 3",
		"ledgerd_webhook_events_total{result=quarantined,type=unknown} 2",
		"ledgerd_webhook_events_total{result=unhandled,type=customer_verified} 1",
		"ledgerd_webhook_quarantined_total{reason=malformed_json} 1",
		"ledgerd_webhook_quarantined_total{reason=unsupported_media_type} 1",
	}
	if got := series(t, reg); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("series:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// The content type check takes exactly what mime.ParseMediaType says is
// JSON, with or without its fast path for the plain spelling.
func TestContentTypesAreJudgedAsBefore(t *testing.T) {
	for _, ct := range []string{"application/json", "application/json; charset=utf-8", "Application/JSON",
		"application/json;", "application/problem+json", "application/jsonx", "text/plain", "application/json; =",
		"application/json ", " application/json", "application/json\x00", "json"} {
		mt, _, err := mime.ParseMediaType(ct)
		wantOK := err == nil && (mt == "application/json" || strings.HasSuffix(mt, "+json"))
		h := NewHandler(Options{Store: &memStore{}})
		if got := serve(h, benchBody(1), "Content-Type", ct); (got == http.StatusOK) != wantOK || !wantOK && got != http.StatusUnsupportedMediaType {
			t.Errorf("Content-Type %q: status %d, want ok=%v", ct, got, wantOK)
		}
	}
}

func TestSignatureForms(t *testing.T) {
	secret := []byte("forms")
	body := benchBody(1)
	good := Sign(secret, body)
	for _, tc := range []struct {
		sig  string
		want int
	}{
		{good, http.StatusOK},
		{"sha256=" + strings.ToUpper(strings.TrimPrefix(good, "sha256=")), http.StatusOK},
		{"SHA256=" + strings.TrimPrefix(good, "sha256="), http.StatusUnauthorized},
		{good[:len(good)-2], http.StatusUnauthorized},
		{good + "00", http.StatusUnauthorized},
		{good[:len(good)-1] + "g", http.StatusUnauthorized},
		{"sha256=" + strings.Repeat("0", 64), http.StatusUnauthorized},
		{"", http.StatusUnauthorized},
	} {
		if got := serve(NewHandler(Options{Store: &memStore{}, Secret: secret}), body, "X-Ledgerd-Signature", tc.sig); got != tc.want {
			t.Errorf("signature %q: status %d, want %d", tc.sig, got, tc.want)
		}
	}
}

// Concurrent requests share the handler's pooled MACs and payload
// readers; run with -race.
func TestConcurrentSignedRequests(t *testing.T) {
	secret := []byte("concurrent")
	st := &memStore{}
	h := NewHandler(Options{Store: st, Secret: secret, Metrics: NewMetrics(prometheus.NewRegistry())})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				body := benchBody(g*1000 + i)
				sig, want := Sign(secret, body), http.StatusOK
				if i%3 == 0 {
					sig, want = Sign([]byte("other"), body), http.StatusUnauthorized
				}
				if got := serve(h, body, "X-Ledgerd-Signature", sig); got != want {
					t.Errorf("status %d, want %d", got, want)
					return
				}
			}
		}()
	}
	wg.Wait()
	if n := st.ingested.Load(); n != 8*133 {
		t.Errorf("%d ingested, want %d", n, 8*133)
	}
}

// The common request stays cheap: a guard against a change that quietly
// puts encoding/json, or a per-request allocation, back on the path.
func TestCommonRequestAllocations(t *testing.T) {
	raw := benchBody(1)
	if n := testing.AllocsPerRun(200, func() {
		if _, err := Decode(raw, Header{}); err != nil {
			t.Fatal(err)
		}
	}); n > 10 {
		t.Errorf("Decode: %.0f allocations, want at most 10", n)
	}
	h := NewHandler(Options{Store: &memStore{}})
	if n := testing.AllocsPerRun(200, func() { serve(h, raw) }); n > 40 {
		t.Errorf("handler with httptest: %.0f allocations, want at most 40", n)
	}
}
