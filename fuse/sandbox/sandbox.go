// Package sandbox is a stateful, in-memory emulator of the Fuse banking API
// as ledgerd speaks it (shared/fuse-api.md): tokens that expire on a
// controllable clock, an idempotency store, customers and accounts with
// IBANs, payments, internal transfers and exchanges that move through their
// lifecycles with both legs, balances that follow from the transactions,
// paginated listings, and webhook delivery with Fuse's retry policy plus
// injectable faults. Every random choice comes from Options.Seed, so the
// same seed and the same calls give the same ids, IBANs and fault
// decisions. Tests start it in-process with httptest; `ledgerd sandbox`
// serves it standalone (Serve).
//
// Routes: Fuse's token endpoint at /oauth/token (TokenPath), on the same
// listener as the Fuse API under /v1/ (customers/businesses,
// customers/individuals, customers/{id}, customers/{id}/accounts (POST
// and GET), accounts, accounts/{id}, accounts/{id}/payments,
// internal-transfers, exchange/quote, exchange,
// accounts/{id}/transactions, accounts/{id}/history, transactions,
// transactions/{id}, and PATCH
// accounts/{id} to rename); the controls under /sandbox/
// (inbound-payments, transactions/{id}/fail, adjustments, accounts
// (any account type, primary too), accounts/{id}/rename,
// clock, faults, truth, stats, deliveries, events); GET / describes the
// service. The sandbox's own choices where Fuse publishes nothing (fees,
// rates, cursors, lifecycle timing, returns, fees from the primary
// account, retry policy) are documented next to the code that makes them:
// pricing.go, listing.go, lifecycle.go, fees.go and delivery.go.
package sandbox

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"sync"
	"time"

	"github.com/google/uuid"
)

// Lifecycle timing on the sandbox clock when Options.Instant is false. An
// outbound local payment is submitted PaymentSubmitDelay after creation and
// executed PaymentExecuteDelay after creation; an internal transfer is
// Booked TransferBookDelay after creation (Fuse sends no webhook for it)
// and settles TransferSettleDelay after creation; an exchange executes
// (and its inbound leg settles) ExchangeExecuteDelay after creation.
const (
	PaymentSubmitDelay   = time.Second
	PaymentExecuteDelay  = 5 * time.Second
	TransferBookDelay    = 500 * time.Millisecond
	TransferSettleDelay  = time.Second
	ExchangeExecuteDelay = 5 * time.Second
)

// DefaultTokenTTL is the lifetime of an access token unless Options.TokenTTL
// or Faults.TokenTTLSeconds says otherwise (Fuse documents 24 hours).
const DefaultTokenTTL = 24 * time.Hour

// Options configures a Sandbox. The zero value is usable.
type Options struct {
	// ClientID and ClientSecret are the accepted credentials; "" means
	// "sandbox".
	ClientID, ClientSecret string
	// Seed drives every random choice: ids, IBANs, token ids, and the fault
	// decisions (each from its own stream, so API faults do not shift ids).
	Seed int64
	// Instant makes every lifecycle transition happen inside the request
	// that starts it: the API answers with the transaction already
	// executed or settled, after emitting every event of its lifecycle.
	Instant bool
	// WebhookURL receives every event; "" records events without delivery.
	WebhookURL string
	// WebhookSecret, when set, signs each webhook body:
	// X-Ledgerd-Signature: sha256=<hex HMAC-SHA256(body)>.
	WebhookSecret string
	// TokenTTL is the lifetime of access tokens; 0 means DefaultTokenTTL.
	TokenTTL time.Duration
	// Now is the sandbox's time source; the sandbox clock is Now() plus the
	// sum of every Advance. Default time.Now. A function returning a fixed
	// time freezes the clock so that only Advance moves it (tests).
	Now func() time.Time
	// Logger receives operational logs; nil discards them.
	Logger *slog.Logger
	// HTTPClient delivers webhooks; nil means a client with a 10 s timeout.
	HTTPClient *http.Client
	// HistoryZone is the time zone whose days the balance history
	// (GET /accounts/{id}/history) closes; nil means UTC. Fuse does not
	// document its day boundary [model].
	HistoryZone *time.Location
	// FeesFromPrimary makes a virtual account's payments take their fee
	// from its customer's primary account by a fee debit (fees.go); off,
	// every fee is included in its payment.
	FeesFromPrimary bool
}

// Sandbox is the emulator. It is an http.Handler and safe for concurrent
// use. Create it with New and release it with Close.
type Sandbox struct {
	opts   Options
	log    *slog.Logger
	client *http.Client
	mux    *http.ServeMux

	mu        sync.Mutex
	offset    time.Duration // sum of Advance
	ids       *rand.Rand    // ids, IBANs, generated history
	hookRand  *rand.Rand    // webhook fault decisions
	apiRand   *rand.Rand    // HTTP 429/5xx decisions
	tokenRand *rand.Rand    // token ids
	signKey   []byte        // signs the sandbox's JWTs
	faults    Faults

	tokens      map[string]time.Time // access token → expiry
	idem        map[string]*idemEntry
	customers   map[string]*customer
	accounts    map[string]*account
	acctList    []*account // creation order: the account listing's order
	txns        map[string]*txn
	txnList     []*txn // creation order: Truth's order
	steps       stepHeap
	stepSeq     uint64
	silent      bool   // Generate without webhooks: emit nothing
	manualSteps bool   // Generate applies lifecycle steps itself, with historical stamps
	encScratch  []byte // encodedLocked's reusable buffer (encode.go)

	journals map[*account]*balanceJournal // current balance by day (history.go)

	events     []Event
	queue      deliveryHeap
	queueSeq   uint64
	held       []*delivery // reorder fault: waits for the next event
	inflight   int
	deliveries []Delivery
	stats      Stats
	changed    chan struct{} // closed and replaced when delivery state moves
	closed     bool

	wake      chan struct{} // nudges the delivery goroutine
	stop      chan struct{}
	ctx       context.Context // cancelled by Close: aborts webhook requests
	cancel    context.CancelFunc
	wg        sync.WaitGroup
	closeOnce sync.Once

	// hookIdemRunning, when set (tests, under mu), runs after an
	// idempotency key is marked in flight and before its operation,
	// outside the mutex.
	hookIdemRunning func()
}

// New returns a ready Sandbox and starts its webhook delivery goroutine and
// the ticker that runs lifecycle steps as the clock moves on its own.
func New(opts Options) *Sandbox {
	if opts.ClientID == "" {
		opts.ClientID = "sandbox"
	}
	if opts.ClientSecret == "" {
		opts.ClientSecret = "sandbox"
	}
	if opts.TokenTTL <= 0 {
		opts.TokenTTL = DefaultTokenTTL
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	client := opts.HTTPClient
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	seed := uint64(opts.Seed)
	key := sha256.Sum256(binary.BigEndian.AppendUint64([]byte("fuse-sandbox-jwt"), seed))
	ctx, cancel := context.WithCancel(context.Background())
	s := &Sandbox{
		opts:      opts,
		log:       log,
		client:    client,
		ids:       rand.New(rand.NewPCG(seed, 1)),
		hookRand:  rand.New(rand.NewPCG(seed, 2)),
		apiRand:   rand.New(rand.NewPCG(seed, 3)),
		tokenRand: rand.New(rand.NewPCG(seed, 4)),
		signKey:   key[:],
		tokens:    map[string]time.Time{},
		idem:      map[string]*idemEntry{},
		customers: map[string]*customer{},
		accounts:  map[string]*account{},
		txns:      map[string]*txn{},
		stats:     Stats{APIRequests: map[string]int{}},
		changed:   make(chan struct{}),
		wake:      make(chan struct{}, 1),
		stop:      make(chan struct{}),
		ctx:       ctx,
		cancel:    cancel,
	}
	s.mux = s.routes()
	s.wg.Add(2)
	go s.deliverLoop()
	go s.tickLoop()
	return s
}

// ServeHTTP serves the Fuse API under /v1/, the controls under /sandbox/,
// and a short description at GET /.
func (s *Sandbox) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mux.ServeHTTP(w, r)
}

// Close stops the delivery goroutines, aborts webhook requests in flight,
// and waits for them. Queued webhooks are abandoned. Close is idempotent.
func (s *Sandbox) Close() {
	s.closeOnce.Do(func() {
		s.cancel()
		close(s.stop)
		s.wg.Wait()
		s.mu.Lock()
		s.closed = true
		s.notifyLocked()
		s.mu.Unlock()
	})
}

// Now returns the sandbox clock.
func (s *Sandbox) Now() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.nowLocked()
}

func (s *Sandbox) nowLocked() time.Time {
	return s.opts.Now().Add(s.offset).UTC()
}

// Advance moves the sandbox clock forward by d (a negative d does nothing).
// Lifecycle steps that fall due run in order, each stamped with its own due
// time; an event held back by the reorder fault is released; webhook
// retries that fall due are sent by the delivery goroutine (WaitIdle waits
// for them).
func (s *Sandbox) Advance(d time.Duration) {
	if d < 0 {
		return
	}
	s.mu.Lock()
	start := s.nowLocked()
	s.runDueLocked(start.Add(d), start)
	s.offset += d
	s.releaseHeldLocked()
	s.notifyLocked()
	s.mu.Unlock()
	s.nudge()
}

// SetFaults replaces the fault settings; the zero Faults clears them.
func (s *Sandbox) SetFaults(f Faults) {
	s.mu.Lock()
	s.faults = f
	s.mu.Unlock()
}

// Faults returns the current fault settings.
func (s *Sandbox) Faults() Faults {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.faults
}

// lockNow takes the mutex, runs lifecycle steps that are due (the clock may
// move on its own), and returns the sandbox time. The caller unlocks.
func (s *Sandbox) lockNow() time.Time {
	s.mu.Lock()
	now := s.nowLocked()
	s.runDueLocked(now, now)
	return now
}

// tickLoop runs due lifecycle steps while the clock moves with real time,
// so that a standalone sandbox executes payments without being asked.
func (s *Sandbox) tickLoop() {
	defer s.wg.Done()
	t := time.NewTicker(200 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			s.lockNow()
			s.mu.Unlock()
			s.nudge()
		}
	}
}

// newIDLocked returns a version 4 UUID drawn from the seeded id stream.
func (s *Sandbox) newIDLocked() string {
	return randomUUID(s.ids)
}

func randomUUID(r *rand.Rand) string {
	var u uuid.UUID
	binary.LittleEndian.PutUint64(u[0:8], r.Uint64())
	binary.LittleEndian.PutUint64(u[8:16], r.Uint64())
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	return u.String()
}
