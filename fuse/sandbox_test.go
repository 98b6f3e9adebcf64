package fuse_test

// End-to-end tests of the client against the emulator in fuse/sandbox,
// served on loopback. They check what Fuse's integration test plan checks:
// token reuse, idempotency, retries, paging, and logs without secrets.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/time/rate"

	"github.com/ledgerd/ledgerd"
	"github.com/ledgerd/ledgerd/fuse"
	"github.com/ledgerd/ledgerd/fuse/sandbox"
)

const (
	testClientID     = "ledgerd-test-client"
	testClientSecret = "s3cret-0f-the-test-client"
	testIBAN         = "AE070331234567890123456"
	testPayee        = "Fulan AlFulani"
)

// env is a sandbox on loopback and a client for it whose HTTP exchanges,
// waits and debug logs are recorded.
type env struct {
	sb  *sandbox.Sandbox
	srv *httptest.Server
	c   *fuse.Client
	rec *recorder

	mu      sync.Mutex
	waits   []time.Duration
	onSleep func(n int) // called with the number of waits so far
	logs    bytes.Buffer
}

func start(t *testing.T, opts sandbox.Options, mod func(*fuse.Config)) *env {
	t.Helper()
	opts.ClientID, opts.ClientSecret = testClientID, testClientSecret
	if opts.Seed == 0 {
		opts.Seed = 42
	}
	e := &env{sb: sandbox.New(opts)}
	t.Cleanup(e.sb.Close)
	e.srv = httptest.NewServer(e.sb)
	t.Cleanup(e.srv.Close)
	e.rec = &recorder{next: e.srv.Client().Transport}

	cfg := fuse.Config{
		BaseURL:      e.srv.URL + "/v1",
		AuthURL:      e.srv.URL + sandbox.TokenPath,
		ClientID:     testClientID,
		ClientSecret: testClientSecret,
		HTTPClient:   &http.Client{Transport: e.rec},
		RateLimit:    rate.Inf,
		Logger:       slog.New(slog.NewJSONHandler(lockedWriter{&e.mu, &e.logs}, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Sleep:        e.sleep,
	}
	if mod != nil {
		mod(&cfg)
	}
	c, err := fuse.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	e.c = c
	t.Cleanup(func() { e.assertNoSecretsLogged(t) })
	return e
}

// sleep records a wait instead of waiting.
func (e *env) sleep(ctx context.Context, d time.Duration) error {
	e.mu.Lock()
	e.waits = append(e.waits, d)
	n, hook := len(e.waits), e.onSleep
	e.mu.Unlock()
	if hook != nil {
		hook(n)
	}
	return ctx.Err()
}

// afterSleep sets what each recorded wait does next (typically: clear the
// faults so that the retry passes).
func (e *env) afterSleep(f func(n int)) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.onSleep = f
}

func (e *env) recordedWaits() []time.Duration {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.waits)
}

func (e *env) logText() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.logs.String()
}

// assertNoSecretsLogged scans every debug line for the client id
// unmasked, the client secret, every access token the sandbox issued, and
// the unmasked test IBAN and payee name.
func (e *env) assertNoSecretsLogged(t *testing.T) {
	t.Helper()
	logs := e.logText()
	secrets := append([]string{testClientID, testClientSecret, testIBAN, testPayee}, e.rec.accessTokens()...)
	for _, s := range secrets {
		if strings.Contains(logs, s) {
			t.Errorf("debug log contains the secret %.12q…", s)
		}
	}
}

// control calls one of the sandbox's /sandbox/ controls.
func (e *env) control(t *testing.T, path string, in, out any) {
	t.Helper()
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := e.srv.Client().Post(e.srv.URL+"/sandbox/"+path, "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		t.Fatalf("control %s: %d %s", path, resp.StatusCode, body)
	}
	if out != nil {
		if err := json.Unmarshal(body, out); err != nil {
			t.Fatalf("control %s: %v", path, err)
		}
	}
}

// fundedAccount creates a business, an AED account, and credits it.
func (e *env) fundedAccount(t *testing.T, ctx context.Context) fuse.Account {
	t.Helper()
	cust, err := e.c.CreateBusiness(ctx, business("Acme Trading LLC"))
	if err != nil {
		t.Fatal(err)
	}
	acct, err := e.c.CreateAccount(ctx, cust, fuse.CreateAccountRequest{
		AccountName: "Operating", Currency: "AED", AccountType: fuse.AccountTypeVirtual, ExternalID: "acme-operating",
	})
	if err != nil {
		t.Fatal(err)
	}
	e.control(t, "inbound-payments", map[string]any{
		"account_id": acct.ID, "amount": 10_000_000, "currency": "AED", "remitter_name": "Big Client",
	}, nil)
	return acct
}

// accountWithPayments is fundedAccount with n payments from it, of 100,
// 101, … minor units.
func (e *env) accountWithPayments(t *testing.T, n int) fuse.Account {
	t.Helper()
	acct := e.fundedAccount(t, t.Context())
	for i := range n {
		if _, err := e.c.CreatePayment(t.Context(), acct.ID, payment(int64(100+i))); err != nil {
			t.Fatal(err)
		}
	}
	return acct
}

func payment(amount int64) fuse.CreatePaymentRequest {
	return fuse.CreatePaymentRequest{
		Amount: amount, Purpose: fuse.PurposeGoodsBought, ExternalReference: "INV-1",
		Beneficiary: fuse.Beneficiary{
			Type: fuse.BeneficiaryIndividual, AccountHolderName: testPayee,
			AccountIdentifier: fuse.Identifier{IBAN: testIBAN},
			Address:           fuse.Address{CountryCode: "AE", Line1: "1 Sheikh Zayed Road"},
		},
	}
}

// business is a business customer with every field the reference
// requires.
func business(name string) fuse.CreateBusinessRequest {
	return fuse.CreateBusinessRequest{
		Address:      fuse.Address{CountryCode: "AE", Line1: "Business Bay"},
		BusinessName: name, DisplayName: name, CountryOfIssuance: "AE",
		Reference: "ref-" + name, RegistrationNumber: "CN-1234567",
	}
}

// exchange is one HTTP exchange as the client's transport saw it.
type exchange struct {
	method, path, key string
	status            int
	header            http.Header
	body              []byte
}

// recorder is an http.RoundTripper that keeps a copy of every exchange.
type recorder struct {
	next http.RoundTripper
	mu   sync.Mutex
	log  []exchange
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := r.next.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(body))
	r.mu.Lock()
	r.log = append(r.log, exchange{
		method: req.Method, path: req.URL.Path, key: req.Header.Get(fuse.HeaderIdempotencyKey),
		status: resp.StatusCode, header: resp.Header.Clone(), body: body,
	})
	r.mu.Unlock()
	return resp, err
}

func (r *recorder) exchanges(method, pathSuffix string) []exchange {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []exchange
	for _, x := range r.log {
		if x.method == method && strings.HasSuffix(x.path, pathSuffix) {
			out = append(out, x)
		}
	}
	return out
}

func (r *recorder) exchangesWithStatus(status int) []exchange {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []exchange
	for _, x := range r.log {
		if x.status == status {
			out = append(out, x)
		}
	}
	return out
}

func (r *recorder) accessTokens() []string {
	var toks []string
	for _, x := range r.exchanges(http.MethodPost, sandbox.TokenPath) {
		var tr fuse.TokenResponse
		if json.Unmarshal(x.body, &tr) == nil && tr.AccessToken != "" {
			toks = append(toks, tr.AccessToken)
		}
	}
	return toks
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func TestRequestsFromSixteenGoroutinesShareOneToken(t *testing.T) {
	e := start(t, sandbox.Options{Instant: true}, nil)
	acct := e.fundedAccount(t, t.Context())
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for range 20 {
				if _, err := e.c.GetAccount(t.Context(), acct.ID); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if n := e.sb.Stats().TokenRequests; n != 1 {
		t.Errorf("sandbox saw %d token requests, want 1", n)
	}
	if n := e.c.TokenFetches(); n != 1 {
		t.Errorf("TokenFetches() = %d, want 1", n)
	}
}

func TestAnExpiredTokenIsRefreshedExactlyOnce(t *testing.T) {
	e := start(t, sandbox.Options{Instant: true, TokenTTL: time.Hour}, nil)
	acct := e.fundedAccount(t, t.Context())
	e.sb.Advance(time.Hour + time.Minute)

	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for range 5 {
				if _, err := e.c.GetAccount(t.Context(), acct.ID); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if n := e.sb.Stats().TokenRequests; n != 2 {
		t.Errorf("sandbox saw %d token requests, want 2 (the first and one refresh)", n)
	}
	if len(e.rec.exchangesWithStatus(http.StatusUnauthorized)) == 0 {
		t.Error("no 401 seen: the refresh was not caused by the expiry")
	}
}

func TestATokenIsRenewedBeforeItExpiresWhenTheClocksAgree(t *testing.T) {
	var sb *sandbox.Sandbox
	e := start(t, sandbox.Options{Instant: true, TokenTTL: time.Hour, Now: func() time.Time {
		return time.Date(2025, 6, 1, 9, 0, 0, 0, time.UTC)
	}}, func(cfg *fuse.Config) { cfg.Now = func() time.Time { return sb.Now() } })
	sb = e.sb
	acct := e.fundedAccount(t, t.Context())
	e.sb.Advance(55 * time.Minute) // past 90% of the hour
	if _, err := e.c.GetAccount(t.Context(), acct.ID); err != nil {
		t.Fatal(err)
	}
	if n := e.sb.Stats().TokenRequests; n != 2 {
		t.Errorf("sandbox saw %d token requests, want 2", n)
	}
	if got := e.rec.exchangesWithStatus(http.StatusUnauthorized); len(got) != 0 {
		t.Errorf("%d answers 401, want none: the token is renewed before it expires", len(got))
	}
}

func TestTheSamePostThreeTimesWithOneKeyCreatesOnePayment(t *testing.T) {
	e := start(t, sandbox.Options{Instant: true}, nil)
	acct := e.fundedAccount(t, t.Context())
	key := fuse.NewIdempotencyKey()
	ctx := fuse.WithIdempotencyKey(t.Context(), key)

	var got []fuse.Transaction
	for range 3 {
		tx, err := e.c.CreatePayment(ctx, acct.ID, payment(12_345))
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, tx)
	}
	if got[0].ID == "" || !reflect.DeepEqual(got[1], got[0]) || !reflect.DeepEqual(got[2], got[0]) {
		t.Errorf("three answers differ: %+v", got)
	}
	sent := e.rec.exchanges(http.MethodPost, "/payments")
	if len(sent) != 3 {
		t.Fatalf("%d payment requests, want 3", len(sent))
	}
	for _, x := range sent {
		if x.key != key {
			t.Errorf("sent key %q, want %q", x.key, key)
		}
		if !bytes.Equal(x.body, sent[0].body) || x.status != sent[0].status {
			t.Errorf("answer %d %s differs from the first %d %s", x.status, x.body, sent[0].status, sent[0].body)
		}
	}
	var payments int
	for tx, err := range e.c.AllTransactions(t.Context(), acct.ID, fuse.ListTransactionsParams{}) {
		if err != nil {
			t.Fatal(err)
		}
		if tx.Type == fuse.TypeLocalPayment && tx.Direction == fuse.DirectionOutbound {
			payments++
		}
	}
	if payments != 1 {
		t.Errorf("%d outbound payments on the account, want 1", payments)
	}

	// The same key with another body is refused, not run.
	_, err := e.c.CreatePayment(ctx, acct.ID, payment(999))
	var ae *fuse.APIError
	if !errors.As(err, &ae) || ae.Status != http.StatusUnprocessableEntity || !errors.Is(err, fuse.ErrIdempotencyConflict) {
		t.Fatalf("different body under the same key: %v, want 422 ErrIdempotencyConflict", err)
	}
}

func TestA429IsWaitedOutForExactlyRetryAfter(t *testing.T) {
	e := start(t, sandbox.Options{Instant: true}, nil)
	acct := e.fundedAccount(t, t.Context())
	e.sb.SetFaults(sandbox.Faults{HTTP429: 1})
	e.afterSleep(func(int) { e.sb.SetFaults(sandbox.Faults{}) })

	before := len(e.rec.exchanges(http.MethodGet, "/accounts/"+acct.ID)) // CreateAccount's read-back
	if _, err := e.c.GetAccount(t.Context(), acct.ID); err != nil {
		t.Fatal(err)
	}
	answers := e.rec.exchanges(http.MethodGet, "/accounts/"+acct.ID)[before:]
	if len(answers) != 2 || answers[0].status != http.StatusTooManyRequests {
		t.Fatalf("answers %d, want a 429 then a 200", len(answers))
	}
	secs := answers[0].header.Get(fuse.HeaderRetryAfter)
	want, err := time.ParseDuration(secs + "s")
	if err != nil {
		t.Fatalf("Retry-After %q: %v", secs, err)
	}
	if w := e.recordedWaits(); len(w) != 1 || w[0] != want {
		t.Errorf("waits %v, want [%v] (Retry-After)", w, want)
	}
}

func TestABurstOf5xxIsRetriedUntilItPasses(t *testing.T) {
	e := start(t, sandbox.Options{Instant: true}, nil)
	acct := e.fundedAccount(t, t.Context())
	e.sb.SetFaults(sandbox.Faults{HTTP5xx: 1})
	e.afterSleep(func(n int) {
		if n == 3 {
			e.sb.SetFaults(sandbox.Faults{})
		}
	})
	// A POST that fails after it ran: the retries with the same key must
	// get the stored result, not a second payment.
	tx, err := e.c.CreatePayment(t.Context(), acct.ID, payment(500))
	if err != nil {
		t.Fatal(err)
	}
	sent := e.rec.exchanges(http.MethodPost, "/payments")
	if len(sent) != 4 || sent[0].status/100 != 5 || sent[3].status/100 != 2 {
		t.Fatalf("%d payment requests, want three 5xx then a success", len(sent))
	}
	for _, x := range sent {
		if x.key != sent[0].key {
			t.Errorf("retry changed the key: %q then %q", sent[0].key, x.key)
		}
	}
	got, err := e.c.GetTransaction(t.Context(), tx.ID)
	if err != nil || got.InstructedAmount == nil || *got.InstructedAmount != 500 {
		t.Fatalf("GetTransaction = %+v, %v", got, err)
	}
}

func TestPagingWithLimits1And7And500ReturnsTheSameTransactions(t *testing.T) {
	e := start(t, sandbox.Options{Instant: true}, nil)
	acct := e.accountWithPayments(t, 23)
	list := func(limit int) []string {
		var ids []string
		for tx, err := range e.c.AllTransactions(t.Context(), acct.ID, fuse.ListTransactionsParams{Limit: limit}) {
			if err != nil {
				t.Fatalf("limit %d: %v", limit, err)
			}
			ids = append(ids, tx.ID)
		}
		return ids
	}
	one, seven, all := list(1), list(7), list(500)
	if len(all) != 24 {
		t.Fatalf("limit 500: %d transactions, want 24 (one inbound, 23 payments)", len(all))
	}
	if !slices.Equal(one, all) || !slices.Equal(seven, all) {
		t.Errorf("listings differ:\n  1: %v\n  7: %v\n500: %v", one, seven, all)
	}
	pages := 0
	for p, err := range e.c.TransactionPages(t.Context(), acct.ID, fuse.ListTransactionsParams{Limit: 7}) {
		if err != nil {
			t.Fatal(err)
		}
		if pages == 0 && p.Cursor != "" {
			t.Errorf("first page came from cursor %q, want \"\"", p.Cursor)
		}
		pages++
	}
	if pages < 4 {
		t.Errorf("%d pages of 7 for 24 transactions", pages)
	}
}

// TestSkipRawListsTheSameTransactionsWithoutRaw: a listing that skips Raw
// (a reconciliation's) reads every transaction as one that keeps it (the
// backfill's), on an account's listing and on the organisation's, with
// Raw nil.
func TestSkipRawListsTheSameTransactionsWithoutRaw(t *testing.T) {
	e := start(t, sandbox.Options{Instant: true}, nil)
	acct := e.accountWithPayments(t, 5)
	read := func(list func(context.Context, fuse.ListTransactionsParams) (fuse.Page[fuse.Transaction], error), skip bool) []fuse.Transaction {
		var txs []fuse.Transaction
		params := fuse.ListTransactionsParams{Limit: 4, SkipRaw: skip}
		for {
			p, err := list(t.Context(), params)
			if err != nil {
				t.Fatal(err)
			}
			txs = append(txs, p.Data...)
			if p.Pages.Next == nil {
				return txs
			}
			params.Cursor = *p.Pages.Next
		}
	}
	account := func(ctx context.Context, p fuse.ListTransactionsParams) (fuse.Page[fuse.Transaction], error) {
		return e.c.ListTransactions(ctx, acct.ID, p)
	}
	for name, list := range map[string]func(context.Context, fuse.ListTransactionsParams) (fuse.Page[fuse.Transaction], error){
		"account": account, "organisation": e.c.ListOrgTransactions,
	} {
		kept, skipped := read(list, false), read(list, true)
		if len(kept) != 6 {
			t.Fatalf("%s: %d transactions, want 6 (one inbound, 5 payments)", name, len(kept))
		}
		for i := range kept {
			if len(kept[i].Raw) == 0 || skipped[i].Raw != nil {
				t.Errorf("%s: Raw %d bytes kept, %d skipped", name, len(kept[i].Raw), len(skipped[i].Raw))
			}
			kept[i].Raw = nil
		}
		if !reflect.DeepEqual(kept, skipped) {
			t.Errorf("%s: without Raw\n%+v\nwith it\n%+v", name, skipped, kept)
		}
	}
}

func TestARepeatedCursorStopsTheWalk(t *testing.T) {
	e := start(t, sandbox.Options{Instant: true}, nil)
	acct := e.accountWithPayments(t, 3)
	e.sb.SetFaults(sandbox.Faults{RepeatCursor: true})
	var last error
	n := 0
	for _, err := range e.c.AllTransactions(t.Context(), acct.ID, fuse.ListTransactionsParams{Limit: 1}) {
		if err != nil {
			last = err
			break
		}
		n++
	}
	if !errors.Is(last, fuse.ErrRepeatedCursor) {
		t.Fatalf("walk ended with %v after %d items, want ErrRepeatedCursor", last, n)
	}
}

func TestASlowPagePastTheClientTimeoutIsRetried(t *testing.T) {
	e := start(t, sandbox.Options{Instant: true}, func(cfg *fuse.Config) { cfg.Timeout = 500 * time.Millisecond })
	acct := e.fundedAccount(t, t.Context())
	before := len(e.recordedWaits())
	e.sb.SetFaults(sandbox.Faults{SlowPageMS: 60_000})
	e.afterSleep(func(int) { e.sb.SetFaults(sandbox.Faults{}) })

	page, err := e.c.ListTransactions(t.Context(), acct.ID, fuse.ListTransactionsParams{Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Data) != 1 {
		t.Errorf("%d transactions, want the one inbound payment", len(page.Data))
	}
	if w := e.recordedWaits()[before:]; len(w) != 1 {
		t.Errorf("waits %v, want one backoff after the timeout", w)
	}
}

func TestWrongCredentialsAreRefusedClearly(t *testing.T) {
	e := start(t, sandbox.Options{}, func(cfg *fuse.Config) { cfg.ClientSecret = "not-the-secret" })
	_, err := e.c.GetAccount(t.Context(), "00000000-0000-4000-8000-000000000000")
	if !errors.Is(err, fuse.ErrCredentialsRefused) || !strings.Contains(err.Error(), "FUSE_CLIENT_ID ("+ledgerd.MaskID(testClientID)+")") {
		t.Fatalf("err %v, want ErrCredentialsRefused naming the masked FUSE_CLIENT_ID", err)
	}
	if strings.Contains(err.Error(), "not-the-secret") {
		t.Errorf("err %v shows the secret", err)
	}
}

func TestDebugLogsShowEveryExchangeWithoutSecrets(t *testing.T) {
	e := start(t, sandbox.Options{Instant: true, TokenTTL: time.Hour}, nil)
	acct := e.fundedAccount(t, t.Context())
	if _, err := e.c.CreatePayment(t.Context(), acct.ID, payment(700)); err != nil {
		t.Fatal(err)
	}
	e.sb.Advance(2 * time.Hour) // forces a 401 and a second token
	for _, err := range e.c.AllTransactions(t.Context(), acct.ID, fuse.ListTransactionsParams{Limit: 1}) {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := len(e.rec.accessTokens()); n != 2 {
		t.Fatalf("%d tokens issued, want 2", n)
	}
	logs := e.logText()
	for _, want := range []string{`"status":401`, `"path":"/oauth/token"`, `"idempotency_key":`, `AE*****************3456`, `F**** A*******`} {
		if !strings.Contains(logs, want) {
			t.Errorf("debug log lacks %s", want)
		}
	}
	if strings.Contains(logs, "Bearer ey") {
		t.Error("debug log contains an Authorization header")
	}
	// assertNoSecretsLogged runs at cleanup.
}

// TestTheTokenRequestsDebugLineMasksTheClientIDAsTheConfigLineDoes: the
// debug line of POST /oauth/token shows the client id by its last four
// characters (ledgerd.MaskID, as config's start-up line), the secret not at
// all, and the answer's access token not at all.
func TestTheTokenRequestsDebugLineMasksTheClientIDAsTheConfigLineDoes(t *testing.T) {
	e := start(t, sandbox.Options{Instant: true}, nil)
	e.fundedAccount(t, t.Context())
	var line string
	for l := range strings.SplitSeq(e.logText(), "\n") {
		if strings.Contains(l, `"path":"/oauth/token"`) {
			line = l
			break
		}
	}
	if line == "" {
		t.Fatalf("no debug line for the token request in:\n%s", e.logText())
	}
	if want := `\"client_id\":\"` + ledgerd.MaskID(testClientID) + `\"`; !strings.Contains(line, want) {
		t.Errorf("token request line lacks %s: %s", want, line)
	}
	if !strings.Contains(line, `\"client_secret\":\"[redacted]\"`) || !strings.Contains(line, `\"access_token\":\"[redacted]\"`) {
		t.Errorf("token request line does not show the secret and the token as redacted: %s", line)
	}
	// assertNoSecretsLogged, at cleanup, checks the whole client id
	// appears nowhere.
}
