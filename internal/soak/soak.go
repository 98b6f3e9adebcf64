package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"github.com/ledgerd/ledgerd/fuse"
	"github.com/ledgerd/ledgerd/fuse/sandbox"
)

const (
	clientID      = "ledgerd-soak"
	clientSecret  = "soak-client-secret-8d1f"
	webhookSecret = "soak-webhook-secret-2c9a"
)

// faults are the misbehaviours on during the traffic: each webhook has a
// few percent chance of being dropped, duplicated or held back behind the
// next one, and waits a little; a few percent of API calls fail with 503
// or 429; tokens live an hour of sandbox time (seconds of wall time).
var faults = sandbox.Faults{
	Drop: 0.03, Duplicate: 0.05, Reorder: 0.05, DelayMS: 1,
	HTTP429: 0.01, HTTP5xx: 0.03, TokenTTLSeconds: 3600,
}

// soak is one run: the sandbox and its listener, the traffic client, the
// daemon, and what was counted.
type soak struct {
	o   options
	log *slog.Logger
	rng *rand.Rand

	sb      *sandbox.Sandbox
	srv     *http.Server
	baseURL string
	client  *fuse.Client
	hc      *http.Client
	d       *daemon

	accounts []sandbox.AccountState

	mu       sync.Mutex
	inFlight []string // outbound transactions recently created, for the fail control
	ops      map[string]int

	trafficErrors atomic.Int64
	kills         atomic.Int64
	started       time.Time

	// Commands run from the shell beside the daemon (cli.go), under mu.
	cliRuns        map[string]int
	cliFailures    []string
	replayed       map[string]bool // event ids posted to be quarantined and replayed
	verifyRuns     int             // verify after a kill
	verifyFailures []string
}

func newSoak(o options, rng *rand.Rand, log *slog.Logger) (*soak, error) {
	s := &soak{o: o, log: log, rng: rng, ops: map[string]int{}, hc: &http.Client{Timeout: 30 * time.Second},
		cliRuns: map[string]int{}, replayed: map[string]bool{}}
	hookAddr, err := freePort()
	if err != nil {
		return nil, err
	}
	adminAddr, err := freePort()
	if err != nil {
		return nil, err
	}
	// The sandbox clock runs behind the wall clock by more than the day it
	// will be advanced through, so that every Fuse time stays in ledgerd's
	// past (its reconciliations cut off at its own now).
	lag := o.simulated + 14*time.Hour
	s.sb = sandbox.New(sandbox.Options{
		Seed: int64(o.seed), ClientID: clientID, ClientSecret: clientSecret,
		WebhookURL: "http://" + hookAddr + "/webhooks/fuse", WebhookSecret: webhookSecret,
		Now:        func() time.Time { return time.Now().Add(-lag) },
		HTTPClient: &http.Client{Timeout: 10 * time.Second},
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		s.sb.Close()
		return nil, err
	}
	s.srv = &http.Server{Handler: s.sb, ReadHeaderTimeout: 10 * time.Second}
	go s.srv.Serve(ln) //nolint:errcheck // closed by close
	s.baseURL = "http://" + ln.Addr().String()
	s.client, err = fuse.New(fuse.Config{BaseURL: s.baseURL + "/v1", AuthURL: s.baseURL + sandbox.TokenPath, ClientID: clientID, ClientSecret: clientSecret,
		RateLimit: rate.Inf, MaxRetries: 8, BaseBackoff: 20 * time.Millisecond, MaxBackoff: time.Second})
	if err != nil {
		s.close()
		return nil, err
	}
	logf, err := os.Create(filepath.Join(o.workDir, "serve.log"))
	if err != nil {
		s.close()
		return nil, err
	}
	s.d = &daemon{bin: o.bin, addr: hookAddr, logf: logf, env: environ(map[string]string{
		"LEDGERD_DB":                          filepath.Join(o.workDir, "ledgerd.db"),
		"LEDGERD_LISTEN":                      hookAddr,
		"LEDGERD_ADMIN_LISTEN":                adminAddr,
		"LEDGERD_WEBHOOK_SECRET":              webhookSecret,
		"LEDGERD_WEBHOOK_TIMESTAMP_TOLERANCE": "0", // the sandbox clock runs a day behind and fast
		"LEDGERD_BACKFILL_SCHEDULE":           "@every 10s",
		"LEDGERD_RECONCILE_SCHEDULE":          "@every 1m",
		"LEDGERD_LOG_FORMAT":                  "json",
		"LEDGERD_LOG_LEVEL":                   "info",
		"FUSE_BASE_URL":                       s.baseURL + "/v1",
		"FUSE_AUTH_URL":                       s.baseURL + sandbox.TokenPath,
		"FUSE_CLIENT_ID":                      clientID,
		"FUSE_CLIENT_SECRET":                  clientSecret,
	})}
	return s, nil
}

func (s *soak) close() {
	if s.d != nil {
		_ = s.d.stop()
		s.d.logf.Close()
	}
	if s.srv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = s.srv.Shutdown(ctx)
		cancel()
	}
	if s.sb != nil {
		s.sb.Close()
	}
}

// run is the whole soak: set-up, traffic under kills, drain, checks.
func (s *soak) run(ctx context.Context) (summary, error) {
	s.started = time.Now()
	if err := s.openAccounts(); err != nil {
		return summary{}, err
	}
	if err := s.d.startProcess(ctx); err != nil {
		return summary{}, err
	}
	s.sb.SetFaults(faults)

	trafficCtx, stopTraffic := context.WithTimeout(ctx, s.o.duration)
	defer stopTraffic()
	var wg sync.WaitGroup
	for i := range s.o.workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.traffic(trafficCtx, rand.New(rand.NewPCG(s.o.seed, uint64(i)+100)))
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		s.clock(trafficCtx)
	}()
	if s.o.cliEvery > 0 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.cliWriters(trafficCtx, rand.New(rand.NewPCG(s.o.seed, 0xc11)))
		}()
	}
	killErr := make(chan error, 1)
	go func() { killErr <- s.killLoop(trafficCtx) }()
	go s.progress(trafficCtx)

	err := <-killErr
	wg.Wait()
	if err != nil {
		return summary{}, err
	}
	if ctx.Err() != nil {
		return summary{}, ctx.Err()
	}
	trafficEnd := time.Now()
	s.log.Info("traffic stopped; draining", "kills", s.kills.Load(), "sandbox_now", s.sb.Now())
	sum, err := s.finish(ctx)
	sum.TrafficSeconds = trafficEnd.Sub(s.started).Seconds()
	return sum, err
}

// openAccounts opens a dozen funded accounts in five currencies.
func (s *soak) openAccounts() error {
	for i, cur := range []string{"AED", "AED", "AED", "USD", "USD", "USD", "EUR", "EUR", "GBP", "GBP", "JPY", "JPY"} {
		bal := int64(50_000_000)
		if cur == "JPY" {
			bal = 500_000
		}
		a, err := s.sb.OpenAccount(sandbox.AccountSpec{Currency: cur, Name: fmt.Sprintf("Soak %s %d", cur, i+1),
			CustomerName: "Soak Trading LLC", Balance: bal})
		if err != nil {
			return fmt.Errorf("open account: %w", err)
		}
		s.accounts = append(s.accounts, a)
	}
	return nil
}

// clock moves the sandbox clock so that -simulated passes in -duration:
// its own flow with the wall clock plus a steady advance.
func (s *soak) clock(ctx context.Context) {
	const tick = 100 * time.Millisecond
	factor := float64(s.o.simulated)/float64(s.o.duration) - 1
	step := time.Duration(float64(tick) * factor)
	every(ctx, tick, func() { s.sb.Advance(step) })
}

// every calls f at each tick of d until ctx ends.
func every(ctx context.Context, d time.Duration, f func()) {
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			f()
		}
	}
}

// killLoop SIGKILLs serve at random moments and starts it again after a
// random downtime, until the traffic's deadline and at least -kills
// times. A fifth of the uptimes are under a second: kills during the
// start-up catch-up backfill.
func (s *soak) killLoop(ctx context.Context) error {
	mean := s.o.duration / time.Duration(max(1, s.o.minKills*3/2))
	for ctx.Err() == nil || s.kills.Load() < int64(s.o.minKills) {
		up := time.Duration(float64(mean) * (0.25 + 1.5*s.rng.Float64()))
		if s.rng.IntN(5) == 0 {
			up = time.Duration(50+s.rng.IntN(950)) * time.Millisecond
		}
		if ctx.Err() != nil {
			up = 300 * time.Millisecond // catching up on the least number of kills
		}
		select {
		case <-ctx.Done():
		case <-time.After(up):
		}
		if ctx.Err() != nil && s.kills.Load() >= int64(s.o.minKills) {
			break
		}
		killed, err := s.d.kill()
		if err != nil {
			return err
		}
		if killed {
			s.kills.Add(1)
			// The file as SIGKILL left it, maybe mid-commit, with commands
			// from the shell writing beside: verify must pass.
			if err := s.verifyAfterKill(); err != nil {
				return err
			}
		}
		time.Sleep(time.Duration(s.rng.IntN(2000)) * time.Millisecond) // down: deliveries fail and are retried
		if err := s.d.startProcess(context.Background()); err != nil {
			return err
		}
	}
	return nil
}

func (s *soak) progress(ctx context.Context) {
	every(ctx, 30*time.Second, func() {
		st := s.sb.Stats()
		s.log.Info("soak progress", "elapsed", time.Since(s.started).Round(time.Second), "sandbox_now", s.sb.Now().Format(time.RFC3339),
			"events", st.EventsEmitted, "delivered", st.WebhooksDelivered, "failed_attempts", st.WebhooksFailed,
			"kills", s.kills.Load(), "traffic_errors", s.trafficErrors.Load())
	})
}

// traffic performs operations until ctx ends: inbound funds (through the
// sandbox's control), payments, internal transfers, exchanges (through
// the Fuse API with the client), and failures of payments in flight.
func (s *soak) traffic(ctx context.Context, rng *rand.Rand) {
	every(ctx, s.o.opEvery, func() { s.operate(ctx, rng) })
}

// operate performs one operation of the traffic and counts it.
func (s *soak) operate(ctx context.Context, rng *rand.Rand) {
	a := s.accounts[rng.IntN(len(s.accounts))]
	var kind string
	var err error
	switch k := rng.IntN(100); {
	case k < 28:
		kind = "inbound_payment"
		err = s.control(ctx, "/sandbox/inbound-payments", map[string]any{"account_id": a.AccountID,
			"amount": scaled(a.Currency, 1_000+rng.Int64N(2_000_000)), "remitter_name": "Soak Customer"})
	case k < 60:
		kind = "payment"
		var tx fuse.Transaction
		tx, err = s.client.CreatePayment(ctx, a.AccountID, fuse.CreatePaymentRequest{
			Amount: scaled(a.Currency, 100+rng.Int64N(1_500_000)), Beneficiary: soakSupplier(),
			Purpose: fuse.PurposeGoodsBought, ExternalReference: "soak-" + strconv.Itoa(rng.IntN(1e6))})
		s.remember(tx.ID)
		if err == nil && rng.IntN(10) == 0 {
			// The beneficiary's bank refuses it at once: fail it
			// before the sandbox clock executes it.
			if ferr := s.control(ctx, "/sandbox/transactions/"+tx.ID+"/fail",
				map[string]any{"reason": "Soak: beneficiary account closed"}); ferr == nil {
				s.count("fail")
			}
		}
	case k < 78:
		kind = "internal_transfer"
		to := s.other(rng, a, true)
		var tx fuse.Transaction
		tx, err = s.client.CreateInternalTransfer(ctx, fuse.CreateInternalTransferRequest{
			FromAccountID: a.AccountID, ToAccountID: to.AccountID,
			Amount: scaled(a.Currency, 100+rng.Int64N(500_000)), ExternalReference: "soak"})
		s.remember(tx.ID)
	case k < 92:
		kind = "exchange"
		to := s.other(rng, a, false)
		var tx fuse.Transaction
		amount := scaled(a.Currency, 10_000+rng.Int64N(500_000))
		tx, err = s.client.CreateExchange(ctx, fuse.CreateExchangeRequest{ExternalReference: "soak",
			From: fuse.ExchangeSide{AccountID: a.AccountID, Amount: &amount}, To: fuse.ExchangeSide{AccountID: to.AccountID}})
		s.remember(tx.ID)
	default:
		kind = "fail"
		if id := s.recent(rng); id != "" {
			err = s.control(ctx, "/sandbox/transactions/"+id+"/fail", map[string]any{"reason": "Soak: beneficiary bank down"})
		}
	}
	var apiErr *fuse.APIError
	var ctlErr *controlError
	switch {
	case err == nil:
		s.count(kind)
	case errors.As(err, &apiErr) && apiErr.Status >= 400 && apiErr.Status < 500,
		errors.As(err, &ctlErr) && ctlErr.status >= 400 && ctlErr.status < 500:
		s.count(kind + "_refused") // insufficient funds, no rate, not in flight any more
	case ctx.Err() != nil:
		// the traffic is ending: not an error
	default:
		s.trafficErrors.Add(1)
		s.log.Debug("traffic error", "kind", kind, "err", err)
	}
}

// soakSupplier is the payee of every soak payment, with what a payment in
// any currency needs (USD payments also need a BIC and a second address
// line).
func soakSupplier() fuse.Beneficiary {
	return fuse.Beneficiary{
		Type: fuse.BeneficiaryBusiness, AccountHolderName: "Soak Supplier",
		AccountIdentifier: fuse.Identifier{IBAN: "AE070331234567890123456"},
		Address:           fuse.Address{CountryCode: "AE", Line1: "Al Quoz Industrial Area 3", Line2: "Dubai"},
		Bank:              &fuse.BeneficiaryBank{Code: "EBILAEAD"},
	}
}

// scaled turns an amount in cents into the currency's minor units (JPY
// has none: a hundredth as many).
func scaled(cur string, cents int64) int64 {
	if cur == "JPY" {
		return max(cents/100, 1)
	}
	return cents
}

// other picks another account: of the same currency (same) or of another.
func (s *soak) other(rng *rand.Rand, a sandbox.AccountState, same bool) sandbox.AccountState {
	for {
		b := s.accounts[rng.IntN(len(s.accounts))]
		if b.AccountID != a.AccountID && (b.Currency == a.Currency) == same {
			return b
		}
	}
}

func (s *soak) remember(id string) {
	if id == "" {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.inFlight = append(s.inFlight, id)
	if len(s.inFlight) > 64 {
		s.inFlight = s.inFlight[len(s.inFlight)-64:]
	}
}

func (s *soak) recent(rng *rand.Rand) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.inFlight) == 0 {
		return ""
	}
	return s.inFlight[rng.IntN(len(s.inFlight))]
}

func (s *soak) count(kind string) {
	s.mu.Lock()
	s.ops[kind]++
	s.mu.Unlock()
}

// controlError is a sandbox control's refusal.
type controlError struct {
	status int
	body   string
}

func (e *controlError) Error() string {
	return fmt.Sprintf("control answered %d: %s", e.status, e.body)
}

// control POSTs to one of the sandbox's /sandbox/ controls.
func (s *soak) control(ctx context.Context, path string, body any) error {
	b, err := json.Marshal(body)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.baseURL+path, bytes.NewReader(b))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var out bytes.Buffer
	_, _ = out.ReadFrom(resp.Body)
	if resp.StatusCode >= 300 {
		return &controlError{status: resp.StatusCode, body: out.String()}
	}
	return nil
}

// outstanding counts webhook copies neither acknowledged, given up nor
// dropped by the drop fault.
func (s *soak) outstanding() int {
	st := s.sb.Stats()
	return st.EventsEmitted - st.WebhooksDropped + st.WebhooksDuplicated - st.WebhooksDelivered - st.WebhooksGivenUp
}
