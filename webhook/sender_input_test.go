package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ledgerd/ledgerd/ledger"
)

// lastQuarantine is a Store that keeps the last quarantined body.
type lastQuarantine struct {
	memStore
	last ledger.Quarantined
}

func (s *lastQuarantine) Quarantine(_ context.Context, q ledger.Quarantined) (int64, error) {
	s.last = q
	return 1, nil
}

// Types ledgerd does not handle are counted by type only while they look
// like Fuse event types and are few: a sender choosing types cannot grow
// the metrics without end.
func TestUnhandledTypesCannotGrowTheMetricsWithoutEnd(t *testing.T) {
	reg := prometheus.NewRegistry()
	st := &memStore{}
	h := NewHandler(Options{Store: st, Metrics: NewMetrics(reg)})
	body := func(typ string, i int) []byte {
		return fmt.Appendf(nil, `{"type":%q,"event_id":"00000000-0000-4000-8000-%012d"}`, typ, i)
	}
	for i := range maxOtherTypes + 10 {
		serve(h, body(fmt.Sprintf("onboarding_step_%c%c", 'a'+i/26, 'a'+i%26), i))
	}
	serve(h, body(strings.Repeat("x", 100_000), 1000))
	serve(h, body("Customer-Verified", 1001))
	types := map[string]bool{}
	for _, s := range series(t, reg) {
		if strings.HasPrefix(s, "ledgerd_webhook_events_total{") {
			_, rest, _ := strings.Cut(s, "type=")
			types[strings.TrimRight(strings.Fields(rest)[0], "}")] = true
		}
	}
	if len(types) != maxOtherTypes+1 || !types[typeOther] || !types["onboarding_step_aa"] {
		t.Errorf("%d type labels (want %d, with %q): %v", len(types), maxOtherTypes+1, typeOther, types)
	}
}

// A key that occurs twice is named in the answer and the quarantine
// reason cut short, and the answer is valid JSON whatever the key holds.
func TestDuplicateKeysAreEchoedBoundedAndAsValidJSON(t *testing.T) {
	for _, key := range []string{strings.Repeat("k", 400_000), "a\u007f\u0000\u001b[2J"} {
		st := &lastQuarantine{}
		h := NewHandler(Options{Store: st})
		k, _ := json.Marshal(key)
		raw := fmt.Appendf(nil, `{"type":"account_opened","event_id":"%s",%s:1,%s:2}`, goodEventID, k, k)
		req := httptest.NewRequest(http.MethodPost, "/webhooks/fuse", bytes.NewReader(raw))
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusBadRequest {
			t.Fatalf("status %d, want 400", rec.Code)
		}
		if !json.Valid(rec.Body.Bytes()) || rec.Body.Len() > 1000 {
			t.Errorf("answer of %d bytes, valid JSON %v: %.200q", rec.Body.Len(), json.Valid(rec.Body.Bytes()), rec.Body.String())
		}
		q := st.last
		if len(q.Detail) > 300 || !bytes.Equal(q.Raw, raw) {
			t.Errorf("quarantine detail of %d bytes, or the body not kept whole", len(q.Detail))
		}
	}
}
