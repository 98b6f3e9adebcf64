package reconcile_test

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/ledgerd/ledgerd/reconcile"
)

// An unknown transaction type at Fuse is a critical break naming it, and
// the run still completes: it is neither dropped nor guessed into money.
// A real sandbox answers behind a loopback server that adds one object of
// a type the reference does not name to one account's listing page.
func TestATransactionOfAnUnknownTypeIsACriticalBreakNotAGuess(t *testing.T) {
	t.Parallel()
	w := newWorld(t, 11)
	truth := w.month(4, 200)
	w.ingest(without(truth.Transactions, nil)...)
	acct := truth.Accounts[0].AccountState
	const odd = `{"id":"7d1f2c4e-0000-4000-8000-000000000001","type":"card_payment","account_id":"` +
		`ACCT","currency":"AED","direction":"Outbound","state":"Executed","created_at":"2026-12-01T10:00:00Z","amount":1500}`
	inject := http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		rec := httptest.NewRecorder()
		w.sb.ServeHTTP(rec, r)
		body := rec.Body.Bytes()
		if r.Method == http.MethodGet && r.URL.Path == "/v1/accounts/"+acct.AccountID+"/transactions" && r.URL.Query().Get("cursor") == "" {
			item := strings.ReplaceAll(odd, "ACCT", acct.AccountID)
			body = bytes.Replace(body, []byte(`{"results":[`), []byte(`{"results":[`+item+`,`), 1)
		}
		for k, v := range rec.Header() {
			rw.Header()[k] = v
		}
		rw.Header().Del("Content-Length")
		rw.WriteHeader(rec.Code)
		_, _ = io.Copy(rw, bytes.NewReader(body))
	})
	_, client := serveFuse(t, inject)
	run := w.run(w.reconciler(func(o *reconcile.Options) { o.Fuse = client }))
	b, ok := w.seen(run)[key{reconcile.UnknownTransaction, "7d1f2c4e-0000-4000-8000-000000000001"}]
	if !ok || b.Severity != reconcile.Critical || b.FuseAccountID != acct.AccountID || !strings.Contains(b.Detail, "card_payment") {
		t.Fatalf("unknown_transaction break %+v (recorded %v), want a critical one on %s naming card_payment", b, ok, acct.AccountID)
	}
	if run.Verdict != reconcile.Breaks {
		t.Errorf("verdict %s (%s), want BREAKS: the run read Fuse completely", run.Verdict, run.Detail)
	}
}
