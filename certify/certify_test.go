package certify

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/ledgerd/ledgerd/fuse"
	"github.com/ledgerd/ledgerd/fuse/sandbox"
)

// One passing run against the built-in sandbox, then every claim of the
// evidence checked against the raw logs and the sandbox's own counters.
func TestCertifyPassesAgainstTheBuiltInSandboxAndTheEvidenceHoldsUp(t *testing.T) {
	e := newEnv(t, sandbox.Options{Seed: 8})
	res := e.run(t, e.options(t))
	if !res.Pass {
		for _, q := range res.Failed() {
			t.Errorf("%s %s: %s", q.ID, q.Title, q.Detail)
		}
		t.FailNow()
	}
	reqs := readJSONL[reqLine](t, filepath.Join(e.dir, FileRequests))
	hooks := readJSONL[webhookLine](t, filepath.Join(e.dir, FileWebhooks))
	summary, err := os.ReadFile(filepath.Join(e.dir, FileSummary))
	if err != nil {
		t.Fatal(err)
	}

	t.Run("every requirement of the plan is in the summary, passed", func(t *testing.T) {
		for _, q := range res.Requirements {
			row := "| " + q.ID + " | "
			i := bytes.Index(summary, []byte(row))
			if i < 0 {
				t.Errorf("no row for %s", q.ID)
				continue
			}
			line, _, _ := bytes.Cut(summary[i:], []byte("\n"))
			if !bytes.Contains(line, []byte("| PASS |")) {
				t.Errorf("row %s: %s", q.ID, line)
			}
		}
		if len(res.Requirements) != 23 {
			t.Errorf("%d requirements, want 23", len(res.Requirements))
		}
		if !bytes.Contains(summary, []byte("**PASS**")) {
			t.Error("summary does not say PASS")
		}
	})

	t.Run("token count: one token for every request until the forced expiry, then exactly one more", func(t *testing.T) {
		var tokenLines []reqLine
		api := 0
		for _, l := range reqs {
			if l.tokenRequest() {
				tokenLines = append(tokenLines, l)
			} else {
				api++
			}
		}
		if len(tokenLines) != 2 {
			t.Fatalf("%d token requests in %s, want 2 (one, then one after the expiry)", len(tokenLines), FileRequests)
		}
		st := e.sb.Stats()
		apiAtSandbox := 0
		for _, n := range st.APIRequests {
			apiAtSandbox += n
		}
		if st.TokenRequests != 2 || apiAtSandbox != api {
			t.Errorf("sandbox saw %d token and %d API requests; the log shows %d and %d", st.TokenRequests, apiAtSandbox, len(tokenLines), api)
		}
		if res.TokenRequests != 2 || res.APIRequests != api {
			t.Errorf("result claims %d/%d, log has %d/%d", res.TokenRequests, res.APIRequests, 2, api)
		}
		if !strings.Contains(string(summary), strconv.Itoa(api)+" API requests, 2 token requests") {
			t.Errorf("summary does not state the counts %d/2", api)
		}
		second := tokenLines[1].Line
		before := 0
		for _, l := range reqs {
			if l.tokenRequest() {
				continue
			}
			want := "#1"
			if l.Line > second {
				want = "#2"
			} else {
				before++
			}
			if l.Token != want {
				t.Errorf("line %d (%s %s) carried token %q, want %s", l.Line, l.Method, l.Path, l.Token, want)
			}
			if l.Step == stepRefresh && l.Line < second {
				t.Errorf("line %d of the refresh step came before the new token", l.Line)
			}
		}
		if before < 10 {
			t.Errorf("only %d API requests before the refresh", before)
		}
		q := requirement(t, res, "3.2")
		if !strings.Contains(q.Detail, "1 token request for "+strconv.Itoa(before)+" API requests") {
			t.Errorf("3.2 claims %q; the log has 1 token for %d requests", q.Detail, before)
		}
	})

	t.Run("headers: the token is never written, the Idempotency-Key is", func(t *testing.T) {
		for _, l := range reqs {
			if a, ok := l.RequestHeaders["Authorization"]; ok && a != "Bearer [redacted]" {
				t.Errorf("line %d: Authorization %q", l.Line, a)
			}
			if l.Method == "POST" && !l.tokenRequest() && l.RequestHeaders["Idempotency-Key"] == "" {
				t.Errorf("line %d: POST without Idempotency-Key", l.Line)
			}
			if l.Time == "" || !strings.HasSuffix(l.Time, "+04:00") {
				t.Errorf("line %d: time %q not in the run's zone", l.Line, l.Time)
			}
		}
	})

	t.Run("webhooks: the nine types, every line answered 2xx and stored", func(t *testing.T) {
		types := map[string]bool{}
		for _, h := range hooks {
			if h.StatusSent < 200 || h.StatusSent > 299 {
				t.Errorf("webhook line %d (%s) answered %d", h.Line, h.Type, h.StatusSent)
			}
			if !h.Stored || h.EventsSeq == 0 || h.ReceivedAt == "" {
				t.Errorf("webhook line %d (%s) not in the events table", h.Line, h.Type)
			}
			if h.ThisRun {
				types[h.Type] = true
			}
		}
		for _, typ := range requiredEvents {
			if !types[typ] {
				t.Errorf("no %s in %s", typ, FileWebhooks)
			}
		}
		// Every event the sandbox delivered with a 2xx is in the log.
		logged := map[string]bool{}
		for _, h := range hooks {
			logged[h.EventID] = true
		}
		for _, d := range e.sb.Deliveries() {
			if d.StatusCode >= 200 && d.StatusCode < 300 && !logged[d.EventID] {
				t.Errorf("sandbox delivered %s (%s), not in %s", d.EventID, d.Type, FileWebhooks)
			}
		}
	})

	t.Run("idempotency: three identical answers, one payment, then 422", func(t *testing.T) {
		var same, readBacks []reqLine
		var conflict []reqLine
		for _, l := range reqs {
			switch {
			case l.tokenRequest():
			case l.Step == stepIdempotent && l.Method == "POST":
				same = append(same, l)
			case l.Step == stepIdempotent:
				readBacks = append(readBacks, l)
			case l.Step == stepConflict:
				conflict = append(conflict, l)
			}
		}
		if len(same) != 3 || len(readBacks) != 3 {
			t.Fatalf("%d POSTs and %d read-backs for the idempotent payment, want 3 and 3", len(same), len(readBacks))
		}
		key := same[0].RequestHeaders["Idempotency-Key"]
		for _, l := range same {
			if l.RequestHeaders["Idempotency-Key"] != key || l.Status != 202 || !bytes.Equal(l.ResponseBody, same[0].ResponseBody) ||
				!bytes.Equal(l.RequestBody, same[0].RequestBody) {
				t.Errorf("line %d differs from line %d", l.Line, same[0].Line)
			}
		}
		if len(conflict) != 1 || conflict[0].Status != 422 || conflict[0].RequestHeaders["Idempotency-Key"] != key ||
			bytes.Equal(conflict[0].RequestBody, same[0].RequestBody) {
			t.Errorf("conflict lines: %+v", conflict)
		}
		var tx struct {
			TransactionID string `json:"transaction_id"`
		}
		if err := json.Unmarshal(same[0].ResponseBody, &tx); err != nil {
			t.Fatal(err)
		}
		for _, l := range readBacks {
			if l.Method != "GET" || l.Path != "/v1/transactions/"+tx.TransactionID || l.Status != 200 {
				t.Errorf("line %d: %s %s %d, want the read-back of %s", l.Line, l.Method, l.Path, l.Status, tx.TransactionID)
			}
		}
		n := 0
		for _, tt := range e.sb.Truth().Transactions {
			if tt.ExternalID != "" && tt.Kind == "local_payment_out" && tt.InstructedAmount == idemAmount {
				n++
			}
		}
		if n != 1 {
			t.Errorf("the sandbox holds %d idempotency payments, want 1", n)
		}
		if st := e.sb.Stats(); st.IdempotentReplays != 2 || st.IdempotencyMismatches != 1 {
			t.Errorf("sandbox: %d replays, %d mismatches; want 2 and 1", st.IdempotentReplays, st.IdempotencyMismatches)
		}
	})

	t.Run("create calls: the published routes, 201 or 202 with an id, then the object read back", func(t *testing.T) {
		type call struct{ method, path string }
		steps := map[string][]call{}
		for _, l := range reqs {
			if l.tokenRequest() || l.Attempt != 1 || l.Step == stepConflict {
				continue
			}
			steps[l.Step] = append(steps[l.Step], call{l.Method, pathPattern(l.Path)})
			if l.Status/100 != 2 {
				t.Errorf("line %d (%s): %s %s answered %d", l.Line, l.Step, l.Method, l.Path, l.Status)
			}
		}
		for step, want := range map[string][]call{
			stepCustomer: {{"POST", "/v1/customers/businesses"}, {"GET", "/v1/customers/{id}"}},
			stepAccount:  {{"POST", "/v1/customers/{id}/accounts"}, {"GET", "/v1/accounts/{id}"}},
			stepPayment:  {{"POST", "/v1/accounts/{id}/payments"}, {"GET", "/v1/transactions/{id}"}},
			stepTransfer: {{"POST", "/v1/internal-transfers"}, {"GET", "/v1/transactions/{id}"}},
			stepExchange: {{"GET", "/v1/exchange/quote"}, {"POST", "/v1/exchange"}, {"GET", "/v1/transactions/{id}"}},
		} {
			if fmt.Sprint(steps[step]) != fmt.Sprint(want) {
				t.Errorf("step %q made %v, want %v", step, steps[step], want)
			}
		}
		for _, l := range reqs {
			switch {
			case l.Step == stepAccount && l.Method == "POST" && l.Status != 202,
				l.Step == stepPayment && l.Method == "POST" && l.Status != 202,
				l.Step == stepTransfer && l.Method == "POST" && l.Status != 201,
				l.Step == stepExchange && l.Method == "POST" && l.Status != 201:
				t.Errorf("line %d (%s): %s answered %d", l.Line, l.Step, l.Path, l.Status)
			}
		}
		for _, title := range []string{"| Internal transfer: POST /v1/internal-transfers | OK | requests.jsonl lines ",
			"| Exchange with a quote: GET /v1/exchange/quote, POST /v1/exchange | OK | requests.jsonl lines "} {
			if !bytes.Contains(summary, []byte(title)) {
				t.Errorf("summary lacks the row %q", title)
			}
		}
		if !bytes.Contains(summary, []byte("as quoted")) {
			t.Error("the exchange row does not say it was priced as quoted")
		}
	})

	t.Run("pagination: each page asked with the previous pages.next, the last null", func(t *testing.T) {
		var pages []reqLine
		for _, l := range reqs {
			if l.Step == stepList && !l.tokenRequest() {
				pages = append(pages, l)
			}
		}
		if len(pages) < 2 {
			t.Fatalf("%d pages", len(pages))
		}
		prev := ""
		for i, p := range pages {
			q, err := url.ParseQuery(p.Query)
			if err != nil {
				t.Fatal(err)
			}
			if q.Get("cursor") != prev {
				t.Errorf("page %d asked cursor %q, want %q", i+1, q.Get("cursor"), prev)
			}
			var body fuse.Page[json.RawMessage]
			if err := json.Unmarshal(p.ResponseBody, &body); err != nil {
				t.Fatal(err)
			}
			last := i == len(pages)-1
			if (body.Pages.Next == nil) != last {
				t.Errorf("page %d pages.next %v, last %v", i+1, body.Pages.Next, last)
			}
			if body.Pages.Next != nil {
				prev = *body.Pages.Next
			}
		}
	})

	t.Run("the zip holds the four files as written", func(t *testing.T) {
		files := evidenceFiles(t, e.dir)
		for _, name := range []string{FileRequests, FileWebhooks, FileSummary, FileTokenDoc} {
			disk := files[filepath.Join(e.dir, name)]
			zipped, ok := files[res.Zip+"!"+name]
			if !ok || !bytes.Equal(disk, zipped) {
				t.Errorf("%s: in zip %v, equal %v", name, ok, bytes.Equal(disk, zipped))
			}
		}
		if !regexp.MustCompile(`ledgerd-certify-\d{8}T\d{6}Z\.zip$`).MatchString(res.Zip) {
			t.Errorf("zip name %s", res.Zip)
		}
	})

	t.Run("no secret, token, IBAN or name anywhere in the directory", func(t *testing.T) {
		assertNoSecrets(t, e)
	})
}

// assertNoSecrets scans every file (and zip entry) for the client secret,
// every token the sandbox issued, and every IBAN and name it knows.
func assertNoSecrets(t *testing.T, e *env) {
	t.Helper()
	needles := map[string]string{testClientSecret: "client secret"}
	toks := e.tokens.all()
	if len(toks) == 0 {
		t.Error("no token captured: the scan would prove nothing")
	}
	for i, tok := range toks {
		needles[tok] = "access token " + strconv.Itoa(i+1)
		// A JWT's signature alone would identify it too.
		if parts := strings.Split(tok, "."); len(parts) == 3 {
			needles[parts[2]] = "token signature"
		}
	}
	truth := e.sb.Truth()
	for _, a := range truth.Accounts {
		needles[a.IBAN] = "account IBAN"
		needles[a.AccountName] = "account name"
	}
	for _, tx := range truth.Transactions {
		if tx.Remitter != nil {
			needles[tx.Remitter.IBAN] = "remitter IBAN"
			needles[tx.Remitter.Name] = "remitter name"
		}
		if tx.Beneficiary != nil {
			needles[tx.Beneficiary.IBAN] = "beneficiary IBAN"
			needles[tx.Beneficiary.Name] = "beneficiary name"
		}
	}
	if len(truth.Accounts) == 0 {
		t.Error("the sandbox holds no account: the scan would prove little")
	}
	delete(needles, "")
	files := evidenceFiles(t, e.dir)
	if len(files) < 9 {
		t.Errorf("%d files and zip entries, want 9", len(files))
	}
	names := slices.Sorted(func(yield func(string) bool) {
		for n := range files {
			if !yield(n) {
				return
			}
		}
	})
	for _, name := range names {
		for needle, what := range needles {
			if bytes.Contains(files[name], []byte(needle)) {
				t.Errorf("%s contains the %s", name, what)
			}
		}
	}
}

// uuidSegment is a path segment that is a UUID.
var uuidSegment = regexp.MustCompile(`/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`)

// pathPattern is path with its ids as {id}: /v1/accounts/{id}/payments.
func pathPattern(path string) string {
	return uuidSegment.ReplaceAllString(path, "/{id}")
}
