package certify

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/ledgerd/ledgerd/fuse"
	"github.com/ledgerd/ledgerd/ledger"
)

// The webhook event types the plan names, in the order the summary lists
// them.
var requiredEvents = []string{
	"account_opened",
	"inbound_local_payment_settled",
	"outbound_local_payment_created",
	"outbound_local_payment_submitted",
	"outbound_local_payment_executed",
	"outbound_local_payment_failed",
	"internal_transfer_created",
	"inbound_internal_transfer_settled",
	"internal_transfer_settled",
}

// Steps tag the exchanges of requests.jsonl.
const (
	stepCustomer      = "1.1 create customer"
	stepAccount       = "1.2 create account"
	stepSecondAccount = "2 open second account (internal transfer target)"
	stepPayment       = "1.3 initiate payment"
	stepFailPayment   = "2 payment to be failed"
	stepTransfer      = "2 internal transfer"
	stepFXAccount     = "7 open an account in another currency (exchange target)"
	stepExchange      = "7 exchange with a quote"
	stepIdempotent    = "4.1 same POST three times"
	stepConflict      = "4.2 same key, different body"
	stepGetAccount    = "1.4 retrieve account"
	stepGetTx         = "1.5 retrieve transaction"
	stepList          = "1.6 list transactions"
	stepRefresh       = "3.3 requests after the token expired"
)

// Amounts in minor units: the funding covers every payment and its fee.
const (
	fundingAmount  = 100_000
	paymentAmount  = 1_000
	failAmount     = 1_500
	idemAmount     = 2_000
	transferAmount = 2_500
	exchangeAmount = 5_000
	pageLimit      = 2
	// beneficiaryIBAN is a well-formed test IBAN (the payments' payee),
	// beneficiaryBIC its bank's BIC.
	beneficiaryIBAN = "AE070331234567890123456"
	beneficiaryBIC  = "EBILAEAD"
	// lifecycleAdvance moves the sandbox clock past every lifecycle step.
	lifecycleAdvance = 10 * time.Second
	pollEvery        = 50 * time.Millisecond
)

// runner holds one run's state.
type runner struct {
	o         Options
	client    *fuse.Client
	rec       *recorder
	hooks     *hookRecorder
	ledger    *ledger.Ledger
	stopHooks func()
	hookAddr  string
	ctl       *controls
	offset    clockOffset

	reqs []*Requirement
	byID map[string]*Requirement

	started, finished time.Time

	customerID         string
	accountA, accountB string
	accountFX          string // in fxCurrency, for the exchange
	payment            fuse.Transaction
	failTxID           string
	transferID         string
	ourAccounts        map[string]bool
	ourTxs             map[string]bool
	triggers           map[string]string // event type → how certify caused it
	rootCause          map[string]string // why a prerequisite is missing

	extras   []*extraCall // calls beyond the plan, in the summary's order
	idem     idemEvidence
	pages    pageEvidence
	token    tokenEvidence
	deliver  []hookLine
	tokenTTL time.Duration
}

// idemEvidence is what 4.1 and 4.2 observed.
type idemEvidence struct {
	key        string
	externalID string
	ids        []string
	conflict   error
	err        error
}

// pageEvidence is what 1.6 observed.
type pageEvidence struct {
	pages   int
	cursors []string
	listed  []fuse.Transaction
	err     error
}

// tokenEvidence is what 3.2 and 3.3 observed.
type tokenEvidence struct {
	beforeTokens, beforeAPI int
	afterTokens             int
	bump                    time.Duration
	sandboxAdvanced         bool
	afterLines              []int
	afterTokenNos           []int
	err                     error
}

func (r *runner) clientNow() time.Time { return r.o.Now().Add(r.offset.get()) }

func (r *runner) progressf(format string, args ...any) {
	fmt.Fprintf(r.o.Progress, format+"\n", args...)
}

// plan lists every requirement, in the summary's order.
func (r *runner) plan() {
	add := func(id, title string) {
		q := &Requirement{ID: id, Title: title}
		r.reqs = append(r.reqs, q)
		r.byID[id] = q
	}
	r.byID = map[string]*Requirement{}
	kind := "Add Business"
	if r.o.Customer == CustomerIndividual {
		kind = "Add Individual"
	}
	add("1.1", "Create a customer ("+kind+")")
	add("1.2", "Create an account")
	add("1.3", "Initiate a payment")
	add("1.4", "Retrieve an account")
	add("1.5", "Retrieve a transaction")
	add("1.6", "List an account's transactions, walking the pages")
	for i, t := range requiredEvents {
		add(fmt.Sprintf("2.%d", i+1), "Webhook "+t+" received, stored, answered 2xx")
	}
	add("2.10", "Every webhook received was answered 2xx and is in the events table")
	add("3.1", "Token from client credentials kept outside the code")
	add("3.2", "Live token reused instead of one per request")
	add("3.3", "Expired token refreshed, new token used")
	add("4.1", "Same POST three times with one Idempotency-Key: one resource, identical responses")
	add("4.2", "Same Idempotency-Key with a different body refused")
	add("5", "Timestamp and time zone of the run")
	add("6", "No secret, token, IBAN or name unmasked in the evidence")
}

func (r *runner) pass(id, format string, args ...any) {
	q := r.byID[id]
	q.Pass, q.Detail = true, fmt.Sprintf(format, args...)
}

func (r *runner) fail(id, format string, args ...any) {
	q := r.byID[id]
	q.Pass, q.Detail = false, fmt.Sprintf(format, args...)
}

// blocked fails id because a prerequisite is missing, quoting the root
// cause so the reason stands on its own.
func (r *runner) blocked(id, need string) {
	r.fail(id, "not attempted: %s", r.why(need))
}

// shortErr is an error in a few words, for reasons quoted by the
// requirements that depend on a failed one: the status and code Fuse
// answered, and how many attempts were made.
func shortErr(err error) string {
	var ae *fuse.APIError
	if !errors.As(err, &ae) {
		return err.Error()
	}
	s := fmt.Sprintf("%s %s answered %d %s", ae.Method, ae.Path, ae.Status, http.StatusText(ae.Status))
	if ae.Code != "" {
		s += " (" + ae.Code + ")"
	}
	if m := attemptsRE.FindString(err.Error()); m != "" {
		s += ", " + m
	}
	return s
}

var attemptsRE = regexp.MustCompile(`giving up after \d+ attempts`)

func (r *runner) why(need string) string {
	if c, ok := r.rootCause[need]; ok {
		return "no " + need + " (" + c + ")"
	}
	return "no " + need
}

// run executes the plan in order. Each step records its verdict; a step
// whose prerequisite failed is reported as not attempted, with the cause.
func (r *runner) run(ctx context.Context) (Result, error) {
	r.started = r.o.Now()
	r.ourAccounts, r.ourTxs = map[string]bool{}, map[string]bool{}
	r.triggers, r.rootCause = map[string]string{}, map[string]string{}
	r.plan()
	target := r.o.BaseURL
	if r.o.BuiltInSandbox {
		target += " (ledgerd's built-in sandbox)"
	}
	r.progressf("certify: Fuse API %s; webhooks expected at http://%s%s", target, r.hookAddr, r.o.WebhookPath)

	r.ctl = detectControls(ctx, r.o.HTTPClient, r.o.BaseURL)
	if r.ctl.available {
		r.progressf("certify: sandbox controls found: events are triggered with them")
	} else {
		r.progressf("certify: no sandbox controls: some events need an action in the Fuse portal; certify will say which and wait up to %s", r.o.WebhookWait)
	}

	r.createCustomer(ctx)
	r.createAccounts(ctx)
	r.fund(ctx)
	r.initiatePayment(ctx)
	r.failPayment(ctx)
	r.transfer(ctx)
	r.exchange(ctx)
	r.idempotency(ctx)
	if r.ctl.available && len(r.ourAccounts) > 0 {
		if err := r.ctl.advance(ctx, lifecycleAdvance); err != nil {
			r.progressf("certify: %v", err)
		}
	}
	r.waitForWebhooks(ctx)
	r.retrieve(ctx)
	r.list(ctx)
	if err := ctx.Err(); err != nil {
		return Result{}, fmt.Errorf("certify: %w", err)
	}

	// Webhooks are complete: stop the listener before moving any clock
	// (a sandbox 24 hours ahead would send timestamps the listener's
	// tolerance refuses), then read what it stored.
	r.stopHooks()
	if err := r.collectWebhooks(ctx); err != nil {
		return Result{}, err
	}
	r.judgeWebhooks()

	r.tokenRefresh(ctx)
	if err := ctx.Err(); err != nil {
		return Result{}, fmt.Errorf("certify: %w", err)
	}
	r.judgeTokens()
	r.judgeIdempotency()
	r.finished = r.o.Now()
	r.judgeTime()
	return Result{StartedAt: r.started, FinishedAt: r.finished}, nil
}

// certifyRef is a reference or external id unique to this run, within
// the reference's 36 characters.
func certifyRef() string {
	return "certify-" + strings.ReplaceAll(fuse.NewIdempotencyKey(), "-", "")[:20]
}

func (r *runner) createCustomer(ctx context.Context) {
	ctx = withStep(ctx, stepCustomer)
	address := fuse.Address{CountryCode: "AE", Line1: "Office 1204, Business Bay", Line2: "Dubai"}
	var id string
	var err error
	if r.o.Customer == CustomerIndividual {
		id, err = r.client.CreateIndividual(ctx, fuse.CreateIndividualRequest{
			Address: address, DisplayName: "Layla Certify-Haddad", FirstName: "Layla", LastName: "Certify-Haddad",
			DateOfBirth: "1990-04-21", Nationality: "AE", Reference: certifyRef(),
		})
	} else {
		id, err = r.client.CreateBusiness(ctx, fuse.CreateBusinessRequest{
			Address: address, BusinessName: "Certify Trading LLC", DisplayName: "Certify Trading",
			CountryOfIssuance: "AE", Reference: certifyRef(), RegistrationNumber: "CN-" + certifyRef()[8:18],
		})
	}
	if err != nil {
		r.rootCause["customer"] = "1.1 failed: " + shortErr(err)
		r.fail("1.1", "%v", err)
		return
	}
	r.customerID = id
	// Read back: the answer to the create call is the id alone.
	c, err := r.client.GetCustomer(ctx, id)
	if err != nil {
		r.fail("1.1", "customer %s created (201) but not read back: %v", id, err)
		return
	}
	r.pass("1.1", "%s customer %s created (201 with its id), read back: approval_status %s", r.o.Customer, c.ID, c.ApprovalStatus)
}

// openAccount asks Fuse for a virtual account of the customer (202) and
// reads it back once it appears.
func (r *runner) openAccount(ctx context.Context, name, currency string) (fuse.Account, error) {
	return r.client.CreateAccount(ctx, r.customerID, fuse.CreateAccountRequest{
		AccountName: name, AccountType: fuse.AccountTypeVirtual, Currency: currency, ExternalID: certifyRef(),
	})
}

func (r *runner) createAccounts(ctx context.Context) {
	if r.customerID == "" {
		r.rootCause["account"] = r.rootCause["customer"]
		r.blocked("1.2", "customer")
		return
	}
	a, err := r.openAccount(withStep(ctx, stepAccount), "Certify Operating Account", r.o.Currency)
	if err != nil {
		r.rootCause["account"] = "1.2 failed: " + shortErr(err)
		r.fail("1.2", "%v", err)
		return
	}
	r.accountA = a.ID
	r.ourAccounts[a.ID] = true
	r.triggers["account_opened"] = "POST /customers/{id}/accounts (" + stepAccount + ")"
	r.pass("1.2", "%s %s account %s accepted (202 with its id), then read back: status %s", a.Currency, a.AccountType, a.ID, a.Status)

	b, err := r.openAccount(withStep(ctx, stepSecondAccount), "Certify Settlement Account", r.o.Currency)
	if err != nil {
		r.rootCause["second account"] = "opening it failed: " + shortErr(err)
		r.progressf("certify: second account: %v", err)
		return
	}
	r.accountB = b.ID
	r.ourAccounts[b.ID] = true
}

// fund brings money in, so that the payments and the transfer can go out.
func (r *runner) fund(ctx context.Context) {
	if r.accountA == "" {
		return
	}
	if r.ctl.available {
		if err := r.ctl.inboundPayment(ctx, r.accountA, fundingAmount, r.o.Currency); err != nil {
			r.rootCause["inbound_local_payment_settled"] = err.Error()
			r.progressf("certify: %v", err)
			return
		}
		r.triggers["inbound_local_payment_settled"] = "sandbox control POST /sandbox/inbound-payments"
		return
	}
	r.triggers["inbound_local_payment_settled"] = "inbound payment sent from the Fuse portal"
	r.progressf("ACTION in the Fuse portal: send an inbound local payment of at least %s minor units of %s to account %s.\n"+
		"  certify waits up to %s for its inbound_local_payment_settled webhook.",
		fmt.Sprint(fundingAmount), r.o.Currency, r.accountA, r.o.WebhookWait)
	if !r.waitFor(ctx, func(d hookDelivery) bool {
		return d.Type == "inbound_local_payment_settled" && r.refersTo(d, r.accountA)
	}) {
		r.rootCause["inbound_local_payment_settled"] = "no inbound payment arrived within " + r.o.WebhookWait.String()
	}
}

func (r *runner) paymentRequest(amount int64, ref string) fuse.CreatePaymentRequest {
	return fuse.CreatePaymentRequest{
		Amount: amount, Purpose: fuse.PurposeProfessional, ExternalReference: ref, ExternalID: certifyRef(),
		Beneficiary: fuse.Beneficiary{
			Type: fuse.BeneficiaryBusiness, AccountHolderName: "Certify Beneficiary Company",
			AccountIdentifier: fuse.Identifier{IBAN: beneficiaryIBAN},
			// Line 2 and the BIC are required for USD payments only;
			// sending them always keeps one request for every currency.
			Address: fuse.Address{CountryCode: "AE", Line1: "Office 7, Al Quoz 3", Line2: "Dubai"},
			Bank:    &fuse.BeneficiaryBank{Code: beneficiaryBIC},
		},
	}
}

func (r *runner) initiatePayment(ctx context.Context) {
	if r.accountA == "" {
		r.rootCause["payment"] = r.rootCause["account"]
		r.blocked("1.3", "account")
		return
	}
	t, err := r.client.CreatePayment(withStep(ctx, stepPayment), r.accountA, r.paymentRequest(paymentAmount, "certify-payment"))
	if err != nil {
		r.rootCause["payment"] = "1.3 failed: " + shortErr(err)
		r.fail("1.3", "%v", err)
		return
	}
	r.payment = t
	r.ourTxs[t.ID] = true
	for _, e := range []string{"outbound_local_payment_created", "outbound_local_payment_submitted", "outbound_local_payment_executed"} {
		r.triggers[e] = "POST /accounts/{id}/payments (" + stepPayment + ")"
	}
	if r.ctl.available {
		r.triggers["outbound_local_payment_submitted"] += ", sandbox clock advanced " + lifecycleAdvance.String()
		r.triggers["outbound_local_payment_executed"] += ", sandbox clock advanced " + lifecycleAdvance.String()
	}
	r.pass("1.3", "payment %s of %d %s accepted (202 with its transaction_id), then read back: state %s",
		t.ID, deref(t.InstructedAmount), t.Currency, t.State)
}

func (r *runner) failPayment(ctx context.Context) {
	if r.accountA == "" {
		r.rootCause["outbound_local_payment_failed"] = r.why("account")
		return
	}
	t, err := r.client.CreatePayment(withStep(ctx, stepFailPayment), r.accountA, r.paymentRequest(failAmount, "certify-to-fail"))
	if err != nil {
		r.rootCause["outbound_local_payment_failed"] = "creating the payment to fail failed: " + shortErr(err)
		r.progressf("certify: payment to fail: %v", err)
		return
	}
	r.failTxID = t.ID
	r.ourTxs[t.ID] = true
	if r.ctl.available {
		if err := r.ctl.fail(ctx, t.ID, "certify: failed on purpose"); err != nil {
			r.rootCause["outbound_local_payment_failed"] = err.Error()
			r.progressf("certify: %v", err)
			return
		}
		r.triggers["outbound_local_payment_failed"] = "sandbox control POST /sandbox/transactions/{id}/fail"
		return
	}
	r.triggers["outbound_local_payment_failed"] = "payment failed from the Fuse portal"
	r.progressf("ACTION in the Fuse portal: fail payment %s (account %s) before it executes.\n"+
		"  certify waits up to %s for its outbound_local_payment_failed webhook.", t.ID, r.accountA, r.o.WebhookWait)
	if !r.waitFor(ctx, func(d hookDelivery) bool {
		return d.Type == "outbound_local_payment_failed" && r.refersTo(d, t.ID)
	}) {
		r.rootCause["outbound_local_payment_failed"] = "the payment was not failed within " + r.o.WebhookWait.String()
	}
}

func (r *runner) transfer(ctx context.Context) {
	if r.accountA == "" || r.accountB == "" {
		need := "account"
		if r.accountA != "" {
			need = "second account"
		}
		for _, e := range []string{"internal_transfer_created", "inbound_internal_transfer_settled", "internal_transfer_settled"} {
			r.rootCause[e] = r.why(need)
		}
		return
	}
	t, err := r.client.CreateInternalTransfer(withStep(ctx, stepTransfer), fuse.CreateInternalTransferRequest{
		FromAccountID: r.accountA, ToAccountID: r.accountB, Amount: transferAmount,
		ExternalReference: "certify-transfer", ExternalID: certifyRef(),
	})
	if err != nil {
		for _, e := range []string{"internal_transfer_created", "inbound_internal_transfer_settled", "internal_transfer_settled"} {
			r.rootCause[e] = "the internal transfer failed: " + shortErr(err)
		}
		r.progressf("certify: internal transfer: %v", err)
		return
	}
	r.transferID = t.ID
	r.ourTxs[t.ID] = true
	for _, e := range []string{"internal_transfer_created", "inbound_internal_transfer_settled", "internal_transfer_settled"} {
		r.triggers[e] = "POST /internal-transfers (" + stepTransfer + ")"
	}
	r.extra("Internal transfer: POST /v1/internal-transfers", []string{stepTransfer}, true,
		"transfer %s of %d %s to the second account created (201 with its transaction_id), then read back: state %s",
		t.ID, transferAmount, r.o.Currency, t.State)
}

// extraCall is a call certify makes beyond the plan's requirements (the
// internal transfer, the exchange), with what it observed: SUMMARY.md
// lists them apart, and they do not decide the verdict.
type extraCall struct {
	title    string
	steps    []string // its requests.jsonl steps
	ok       bool
	detail   string
	evidence string // set by setRequestEvidence
}

func (r *runner) extra(title string, steps []string, ok bool, format string, args ...any) {
	r.extras = append(r.extras, &extraCall{title: title, steps: steps, ok: ok, detail: fmt.Sprintf(format, args...)})
}

// fxCurrency is the currency certify exchanges into: USD, or AED when
// the run's accounts are in USD.
func fxCurrency(currency string) string {
	if currency == "USD" {
		return "AED"
	}
	return "USD"
}

// exchange opens an account in another currency, asks for a quote of
// exchangeAmount out of account A and exchanges that amount. The
// reference does not say that a quote binds the exchange (there is no
// quote id to pass), so the exchange fixes the from amount the quote
// was asked for and certify reports whether Fuse priced both alike.
func (r *runner) exchange(ctx context.Context) {
	const title = "Exchange with a quote: GET /v1/exchange/quote, POST /v1/exchange"
	steps := []string{stepFXAccount, stepExchange}
	if r.accountA == "" {
		r.extra(title, steps, false, "not attempted: %s", r.why("account"))
		return
	}
	cur := fxCurrency(r.o.Currency)
	c, err := r.openAccount(withStep(ctx, stepFXAccount), "Certify "+cur+" Account", cur)
	if err != nil {
		r.extra(title, steps, false, "opening a %s account failed: %s", cur, shortErr(err))
		return
	}
	r.accountFX = c.ID
	r.ourAccounts[c.ID] = true
	ctx = withStep(ctx, stepExchange)
	q, err := r.client.Quote(ctx, fuse.QuoteRequest{FromAccountID: r.accountA, ToAccountID: c.ID, FromAmount: exchangeAmount})
	if err != nil {
		r.extra(title, steps, false, "the quote failed: %s", shortErr(err))
		return
	}
	amount := q.FromAmount
	x, err := r.client.CreateExchange(ctx, fuse.CreateExchangeRequest{ExternalReference: "certify-exchange",
		From: fuse.ExchangeSide{AccountID: r.accountA, Amount: &amount}, To: fuse.ExchangeSide{AccountID: c.ID}})
	if err != nil {
		r.extra(title, steps, false, "quote %d %s → %d %s at %s; the exchange failed: %s",
			q.FromAmount, q.FromCurrency, q.ToAmount, q.ToCurrency, q.ExchangeRate, shortErr(err))
		return
	}
	r.ourTxs[x.ID] = true
	priced := "as quoted"
	if x.CounterpartAmount == nil || *x.CounterpartAmount != q.ToAmount {
		priced = fmt.Sprintf("not as quoted: %d %s", deref(x.CounterpartAmount), x.CounterpartCurrency)
	}
	r.extra(title, steps, true, "quote %d %s → %d %s at %s; exchange %s created (201 with its transaction_id), then read back: state %s, %s",
		q.FromAmount, q.FromCurrency, q.ToAmount, q.ToCurrency, q.ExchangeRate, x.ID, x.State, priced)
}

// idempotency sends one payment three times under one key, then the same
// key with another body.
func (r *runner) idempotency(ctx context.Context) {
	if r.accountA == "" {
		r.blocked("4.1", "account")
		r.blocked("4.2", "account")
		return
	}
	key := fuse.NewIdempotencyKey()
	req := r.paymentRequest(idemAmount, "certify-idempotency")
	r.idem.key, r.idem.externalID = key, req.ExternalID
	kctx := fuse.WithIdempotencyKey(withStep(ctx, stepIdempotent), key)
	for range 3 {
		t, err := r.client.CreatePayment(kctx, r.accountA, req)
		if err != nil {
			r.idem.err = err
			break
		}
		r.idem.ids = append(r.idem.ids, t.ID)
		r.ourTxs[t.ID] = true
	}
	other := req
	other.Amount++
	_, err := r.client.CreatePayment(fuse.WithIdempotencyKey(withStep(ctx, stepConflict), key), r.accountA, other)
	r.idem.conflict = err
	if err == nil {
		r.idem.conflict = errors.New("accepted")
	}
}

func (r *runner) retrieve(ctx context.Context) {
	if r.accountA == "" {
		r.blocked("1.4", "account")
	} else if a, err := r.client.GetAccount(withStep(ctx, stepGetAccount), r.accountA); err != nil {
		r.fail("1.4", "%v", err)
	} else {
		r.pass("1.4", "account %s: %s, balance current %d available %d %s", a.ID, a.Status,
			deref(a.CurrentBalance), deref(a.AvailableBalance), a.Currency)
	}
	if r.payment.ID == "" {
		r.blocked("1.5", "payment")
	} else if t, err := r.client.GetTransaction(withStep(ctx, stepGetTx), r.payment.ID); err != nil {
		r.fail("1.5", "%v", err)
	} else {
		r.pass("1.5", "transaction %s: %s %s, state %s", t.ID, t.Type, t.Direction, t.State)
	}
}

// list walks account A's transactions pageLimit at a time, and checks
// that the walk followed the cursors to the end and saw every transaction
// this run made on the account.
func (r *runner) list(ctx context.Context) {
	if r.accountA == "" {
		r.blocked("1.6", "account")
		return
	}
	seen := map[string]bool{}
	for p, err := range r.client.TransactionPages(withStep(ctx, stepList), r.accountA, fuse.ListTransactionsParams{Limit: pageLimit}) {
		if err != nil {
			r.pages.err = err
			break
		}
		r.pages.pages++
		r.pages.cursors = append(r.pages.cursors, p.Cursor)
		for _, t := range p.Data {
			if seen[t.ID] {
				r.pages.err = fmt.Errorf("transaction %s listed twice", t.ID)
			}
			seen[t.ID] = true
			r.pages.listed = append(r.pages.listed, t)
		}
	}
	// Every transaction in ourTxs is an outbound leg of account A.
	var absent []string
	for id := range r.ourTxs {
		if !seen[id] {
			absent = append(absent, id)
		}
	}
	slices.Sort(absent)
	switch {
	case r.pages.err != nil:
		r.fail("1.6", "after %d page(s): %v", r.pages.pages, r.pages.err)
	case r.pages.pages < 2:
		r.fail("1.6", "only %d page of %d transaction(s) at page_size=%d: pagination not exercised", r.pages.pages, len(r.pages.listed), pageLimit)
	case len(absent) > 0:
		r.fail("1.6", "the walk missed transactions of this run: %s", strings.Join(absent, ", "))
	default:
		r.pass("1.6", "%d transactions in %d pages of page_size=%d, each page fetched with the previous page's pages.next as its cursor, the last with pages.next null",
			len(r.pages.listed), r.pages.pages, pageLimit)
	}
}

// deref is *v, or 0 for nil.
func deref(v *int64) int64 {
	if v == nil {
		return 0
	}
	return *v
}
