package certify

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ledgerd/ledgerd/fuse/sandbox"
)

// assertFailed checks that requirement id failed with a reason containing
// every one of wants, that the summary says so, and that the run failed.
func assertFailed(t *testing.T, e *env, res Result, id string, wants ...string) {
	t.Helper()
	if res.Pass {
		t.Fatal("the run passed")
	}
	q := requirement(t, res, id)
	if q.Pass {
		t.Errorf("%s passed: %s", id, q.Detail)
		return
	}
	for _, w := range wants {
		if !strings.Contains(q.Detail, w) {
			t.Errorf("%s reason %q lacks %q", id, q.Detail, w)
		}
	}
	summary, err := os.ReadFile(filepath.Join(e.dir, FileSummary))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(summary), "**FAIL**") || !strings.Contains(string(summary), "| "+id+" | "+cell(q.Title)+" | FAIL |") {
		t.Errorf("summary does not report %s as failed:\n%s", id, summary)
	}
}

// TestWrongClientSecretFailsTokenAndAPIRequirementsNamingTheSettings: the
// token endpoint's documented refusal, 400 {}, fails 3.1 with the settings
// to check, and every API requirement with the refusal.
func TestWrongClientSecretFailsTokenAndAPIRequirementsNamingTheSettings(t *testing.T) {
	e := newEnv(t, sandbox.Options{Seed: 1})
	o := e.options(t)
	o.ClientSecret = "not-the-secret-at-all"
	res := e.run(t, o)
	assertFailed(t, e, res, "3.1", "400 Bad Request", "FUSE_CLIENT_ID, FUSE_CLIENT_SECRET and FUSE_AUDIENCE")
	assertFailed(t, e, res, "1.1", "refused the credentials (400 Bad Request): check FUSE_CLIENT_ID")
	for _, id := range []string{"1.2", "1.3", "1.4", "1.5", "1.6", "4.1", "4.2"} {
		assertFailed(t, e, res, id, "400 Bad Request")
	}
	assertFailed(t, e, res, "2.1", "not triggered")
	// The wrong secret is not the configured one, but it must not leak
	// either.
	for name, b := range evidenceFiles(t, e.dir) {
		if strings.Contains(string(b), o.ClientSecret) {
			t.Errorf("%s holds the client secret", name)
		}
	}
}

func TestServerErrorsFailCustomerAndAccountWithTheReason(t *testing.T) {
	e := newEnv(t, sandbox.Options{Seed: 2})
	e.sb.SetFaults(sandbox.Faults{HTTP5xx: 1})
	res := e.run(t, e.options(t))
	assertFailed(t, e, res, "1.1", "503 Service Unavailable", "giving up after 3 attempts")
	assertFailed(t, e, res, "1.2", "not attempted", "503 Service Unavailable")
	// The retries are in the log, numbered, under one Idempotency-Key.
	reqs := readJSONL[reqLine](t, filepath.Join(e.dir, FileRequests))
	var attempts []int
	key := ""
	for _, l := range reqs {
		if l.Step == stepCustomer && !l.tokenRequest() {
			attempts = append(attempts, l.Attempt)
			if key == "" {
				key = l.RequestHeaders["Idempotency-Key"]
			}
			if l.RequestHeaders["Idempotency-Key"] != key || l.Status != http.StatusServiceUnavailable {
				t.Errorf("line %d: key %s status %d", l.Line, l.RequestHeaders["Idempotency-Key"], l.Status)
			}
		}
	}
	if len(attempts) != 3 || attempts[0] != 1 || attempts[1] != 2 || attempts[2] != 3 {
		t.Errorf("attempts %v, want [1 2 3]", attempts)
	}
}

func TestDroppedWebhooksFailTheWebhookRequirementsListingTheMissingTypes(t *testing.T) {
	e := newEnv(t, sandbox.Options{Seed: 3})
	e.sb.SetFaults(sandbox.Faults{Drop: 1})
	o := e.options(t)
	o.WebhookWait = 500 * time.Millisecond
	res := e.run(t, o)
	for i := range requiredEvents {
		assertFailed(t, e, res, fmt.Sprintf("2.%d", i+1), "not received within 500ms")
	}
	assertFailed(t, e, res, "2.10", append([]string{"no webhook was received"}, requiredEvents...)...)
	for _, id := range []string{"1.1", "1.2", "1.3", "1.4", "1.5", "1.6", "3.1", "3.2", "3.3", "4.1", "4.2", "6"} {
		if q := requirement(t, res, id); !q.Pass {
			t.Errorf("%s failed: %s", id, q.Detail)
		}
	}
}

func TestRefusedWebhooksAreReportedWithTheStatusSent(t *testing.T) {
	e := newEnv(t, sandbox.Options{Seed: 4, WebhookSecret: "the-sandbox-signs-with-this"})
	o := e.options(t)
	o.WebhookSecret = []byte("the-listener-expects-another")
	o.WebhookWait = 500 * time.Millisecond
	res := e.run(t, o)
	assertFailed(t, e, res, "2.1", "received but answered 401", "bad_signature")
	assertFailed(t, e, res, "2.10", "never answered 2xx")
}

// Against a Fuse without sandbox controls, certify asks the operator to
// act in the portal and waits for the webhook; here the test is the
// operator, acting on the sandbox directly when asked.
func TestWithoutControlsCertifyAsksForPortalActionsAndWaitsForThem(t *testing.T) {
	e := newEnv(t, sandbox.Options{Seed: 5})
	// A Fuse that has no /sandbox/ routes.
	noCtl := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/sandbox/") {
			http.NotFound(w, r)
			return
		}
		e.sb.ServeHTTP(w, r)
	}))
	t.Cleanup(noCtl.Close)
	o := e.options(t)
	o.BaseURL = noCtl.URL + "/v1"
	o.BuiltInSandbox = false
	pr, pw := io.Pipe()
	o.Progress = pw

	var wg sync.WaitGroup
	var asked []string
	wg.Add(1)
	go func() {
		defer wg.Done()
		inbound := regexp.MustCompile(`send an inbound local payment .* to account ([0-9a-f-]{36})`)
		fail := regexp.MustCompile(`fail payment ([0-9a-f-]{36})`)
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			line := sc.Text()
			if m := inbound.FindStringSubmatch(line); m != nil {
				asked = append(asked, "inbound")
				if _, err := e.sb.InboundPayment(sandbox.InboundPayment{AccountID: m[1], Amount: fundingAmount, RemitterName: "Portal Operator"}); err != nil {
					t.Error(err)
				}
			}
			if m := fail.FindStringSubmatch(line); m != nil {
				asked = append(asked, "fail")
				if _, err := e.sb.Fail(m[1], "failed in the portal"); err != nil {
					t.Error(err)
				}
			}
			if strings.Contains(line, "waiting up to") {
				// Time passes at Fuse: the payments execute.
				e.sb.Advance(10 * time.Second)
			}
		}
	}()
	res := e.run(t, o)
	pw.Close()
	wg.Wait()
	if !res.Pass {
		for _, q := range res.Failed() {
			t.Errorf("%s %s: %s", q.ID, q.Title, q.Detail)
		}
	}
	if strings.Join(asked, ",") != "inbound,fail" {
		t.Errorf("portal actions asked: %v", asked)
	}
	if q := requirement(t, res, "2.6"); !strings.Contains(q.Detail, "Fuse portal") {
		t.Errorf("2.6 does not say the failure came from the portal: %s", q.Detail)
	}
	if q := requirement(t, res, "3.3"); !strings.HasPrefix(q.Detail, "the client's clock moved") {
		t.Errorf("3.3 without controls: %s", q.Detail)
	}
	assertNoSecrets(t, e)
}
