package sandbox

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/ledgerd/ledgerd/fuse"
)

// discardWriter is an http.ResponseWriter that keeps nothing but the
// status and the byte count, so that a benchmark measures the handler, not
// a recorder's buffer.
type discardWriter struct {
	h      http.Header
	status int
	n      int
	last   []byte // the last write: the whole page, written in one go
}

func (w *discardWriter) Header() http.Header  { return w.h }
func (w *discardWriter) WriteHeader(code int) { w.status = code }
func (w *discardWriter) Write(b []byte) (int, error) {
	w.n += len(b)
	w.last = b
	return len(b), nil
}

// forgetEncodings drops every cached encoding (encode.go), for the cold
// benchmark.
func forgetEncodings(s *Sandbox) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, a := range s.acctList {
		for i := range a.txs {
			a.txs[i].enc = nil
		}
		a.encArena = nil
	}
}

// benchSandbox is a generated history with the reconcile bench's density
// (1,000 transactions per account) and a token to read it.
func benchSandbox(b *testing.B, accounts, txs int) (*Sandbox, []string, string) {
	b.Helper()
	sb := New(Options{Seed: 6, Now: func() time.Time { return t0 }})
	b.Cleanup(sb.Close)
	res, err := sb.Generate(GenerateOptions{Accounts: accounts, Transactions: txs, FailureRate: 0.05,
		Currencies: []string{"AED", "USD", "EUR", "GBP"}})
	if err != nil {
		b.Fatal(err)
	}
	body, _ := json.Marshal(tokenRequest("sandbox", "sandbox"))
	rec := httptest.NewRecorder()
	sb.ServeHTTP(rec, httptest.NewRequest("POST", TokenPath, bytes.NewReader(body)))
	var tr fuse.TokenResponse
	if err := json.Unmarshal(rec.Body.Bytes(), &tr); err != nil {
		b.Fatalf("token: %v %s", err, rec.Body.Bytes())
	}
	return sb, res.AccountIDs, tr.AccessToken
}

// BenchmarkListTransactions serves pages of 500 through the real handler
// (ServeHTTP), walking every account of a generated history by its
// cursors, as the reconcile bench does. One op is one page; ns/tx is the
// handler's time per listed transaction.
func BenchmarkListTransactions(b *testing.B) {
	sb, accts, token := benchSandbox(b, 100, 100_000)
	auth := "Bearer " + token
	nextCursor := func(body []byte) string {
		// A page ends with ,"pages":{"next":"…","size":n}} or
		// ,"pages":{"next":null,"size":n}}.
		i := bytes.LastIndex(body, []byte(`"pages":{"next":`))
		j := bytes.LastIndex(body, []byte(`,"size":`))
		if i < 0 || j < i {
			b.Fatalf("no pages.next at the end of the page: …%s", body[max(0, len(body)-200):])
		}
		v := body[i+len(`"pages":{"next":`) : j]
		if string(v) == "null" {
			return ""
		}
		var c string
		if err := json.Unmarshal(v, &c); err != nil {
			b.Fatal(err)
		}
		return c
	}
	run := func(b *testing.B, cold bool) {
		acct, cursor, listed := 0, "", 0
		w := &discardWriter{h: http.Header{}}
		b.ReportAllocs()
		b.ResetTimer()
		for range b.N {
			if cold && acct == 0 && cursor == "" {
				b.StopTimer()
				forgetEncodings(sb)
				b.StartTimer()
			}
			q := url.Values{"page_size": {"500"}}
			if cursor != "" {
				q = url.Values{"cursor": {cursor}}
			}
			r := httptest.NewRequest("GET", "/v1/accounts/"+accts[acct]+"/transactions?"+q.Encode(), nil)
			r.Header.Set("Authorization", auth)
			w.h, w.n, w.status = http.Header{}, 0, 0
			sb.ServeHTTP(w, r)
			if w.status != http.StatusOK {
				b.Fatalf("status %d: %s", w.status, w.last)
			}
			b.StopTimer()
			// The handler writes the page in one go.
			listed += bytes.Count(w.last, []byte(`{"id":`))
			if cursor = nextCursor(w.last); cursor == "" {
				acct = (acct + 1) % len(accts)
			}
			b.StartTimer()
		}
		b.StopTimer()
		if listed > 0 {
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(listed), "ns/tx")
			b.ReportMetric(float64(listed)/float64(b.N), "tx/op")
		}
	}
	b.Run("warm", func(b *testing.B) { run(b, false) })
	b.Run("cold", func(b *testing.B) { run(b, true) })
}
