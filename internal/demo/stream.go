package demo

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/ledgerd/ledgerd/fuse"
	"github.com/ledgerd/ledgerd/fuse/sandbox"
	"github.com/ledgerd/ledgerd/reconcile"
)

// The demo's business: one company banking with Fuse, four accounts, the
// customers who pay it, the suppliers and staff it pays. Every choice in the
// stream (which operation, which counterparty, how much, which payment
// fails, how far the clock moves) comes from one generator seeded by
// --seed, and the sandbox draws its ids and its webhook faults from the same
// seed, so one seed gives the same book, the same faults and the same
// breaks; only the dates follow the wall clock.

// demoAccount is one of the company's Fuse accounts.
type demoAccount struct {
	name, typ, currency string
	id                  string // set once opened
}

// The accounts, by index.
const (
	acctOperating = iota
	acctPayroll
	acctUSD
	acctEUR
)

func demoAccounts() []demoAccount {
	return []demoAccount{
		acctOperating: {name: "Operating", typ: fuse.AccountTypePrimary, currency: "AED"},
		acctPayroll:   {name: "Payroll", typ: fuse.AccountTypeVirtual, currency: "AED"},
		acctUSD:       {name: "USD Treasury", typ: fuse.AccountTypeVirtual, currency: "USD"},
		acctEUR:       {name: "EUR Suppliers", typ: fuse.AccountTypeVirtual, currency: "EUR"},
	}
}

const demoCompany = "Falcon Trading LLC"

var (
	demoPayers = []string{"Gulf Retail Co", "Desert Rose Hotels", "Nakheel Logistics", "Blue Dhow Trading",
		"Oasis Foods LLC", "Harbor Freight FZE", "Palm Clinics", "Jumeirah Events"}
	demoSuppliers = map[string][]string{
		"AED": {"Emirates Office Supply", "Al Noor Printing", "Skyline Cloud Services", "Coastal Couriers",
			"Marina Catering", "Sandstone IT", "Creek Side Rentals"},
		"USD": {"Austin Software Inc", "Seattle Freight LLC", "Boston Analytics Corp"},
		"EUR": {"Berliner Maschinenbau GmbH", "Lyon Textiles SARL", "Rotterdam Shipping BV"},
	}
	demoStaff = []string{"Aisha Rahman", "Layla Haddad", "Sanjay Kapoor", "Omar Farouk", "Maria Santos",
		"Chen Wei", "Fatima Zahra", "Daniel Okafor"}
	demoFailures = []string{"Beneficiary account closed", "Invalid beneficiary IBAN",
		"Compliance review rejected the payment", "Beneficiary bank unreachable"}
)

// Stream parameters: demoOps operations spread over demoSpan of sandbox
// time (a business day).
const (
	demoOps  = 150
	demoSpan = 8 * time.Hour
	// demoSettle is the sandbox time given at the end for the last
	// payments to execute.
	demoSettle = time.Minute
	// demoEndMargin keeps the sandbox clock this far behind the wall
	// clock at the end, so that nothing Fuse did is after a run's cut-off
	// or within its grace period (which would make it pending).
	demoEndMargin = reconcile.DefaultLedgerGrace + 5*time.Minute
)

// Faults are the webhook faults while the stream runs.
func Faults() sandbox.Faults {
	return sandbox.Faults{Drop: 0.08, Duplicate: 0.10, Reorder: 0.10}
}

// Plan is the stream's timing, drawn before the sandbox starts so that
// its clock can be set to end demoEndMargin before now.
type Plan struct {
	gaps  []time.Duration // sandbox time after each operation
	total time.Duration   // every gap plus demoSettle
}

// NewPlan draws the stream's timing from seed.
func NewPlan(seed int64) Plan {
	r := rand.New(rand.NewPCG(uint64(seed), 0x7469_6d65)) // "time"
	p := Plan{gaps: make([]time.Duration, demoOps)}
	mean := demoSpan / demoOps
	for i := range p.gaps {
		// Between half and one and a half of the mean gap, to the second.
		p.gaps[i] = (mean/2 + time.Duration(r.Int64N(int64(mean)))).Truncate(time.Second)
		p.total += p.gaps[i]
	}
	p.total += demoSettle
	return p
}

// demoCounts is what the stream did, for the summary.
type demoCounts struct {
	inbound, payments, failed, payroll, transfers, exchanges, skipped int
}

// Streamer drives the stream: money movements through the Fuse API with
// the client, everything Fuse's API cannot do (money arriving from
// outside, a failure, the clock) through the sandbox's controls.
type Streamer struct {
	sb       *sandbox.Sandbox
	client   *fuse.Client
	r        *rand.Rand
	accounts []demoAccount
	counts   demoCounts
	seq      int // external ids
}

// NewStreamer drives sb, through client for what Fuse's API can do, with
// every choice drawn from seed.
func NewStreamer(sb *sandbox.Sandbox, client *fuse.Client, seed int64) *Streamer {
	return &Streamer{sb: sb, client: client, accounts: demoAccounts(),
		r: rand.New(rand.NewPCG(uint64(seed), 0x6465_6d6f))} // "demo"
}

// Open creates the customer and its accounts through the API and funds
// them with the company's opening capital. Fuse's API opens virtual
// accounts only: the operating account, the customer's primary one, is
// opened through the sandbox, as Fuse opens it at onboarding.
func (s *Streamer) Open(ctx context.Context) error {
	custID, err := s.client.CreateBusiness(ctx, fuse.CreateBusinessRequest{
		Address:      fuse.Address{CountryCode: "AE", Line1: "Office 1204, Bay Square 5", Line2: "Business Bay, Dubai"},
		BusinessName: demoCompany, DisplayName: "Falcon Trading", CountryOfIssuance: "AE",
		Reference: "demo-company-1", RegistrationNumber: "DED-1094471",
	})
	if err != nil {
		return fmt.Errorf("create customer: %w", err)
	}
	for i := range s.accounts {
		a := &s.accounts[i]
		extID := fmt.Sprintf("demo-acct-%d", i+1)
		if a.typ == fuse.AccountTypePrimary {
			got, err := s.sb.OpenAccount(sandbox.AccountSpec{CustomerID: custID, Name: a.name, Currency: a.currency,
				Type: a.typ, ExternalID: extID})
			if err != nil {
				return fmt.Errorf("open account %s: %w", a.name, err)
			}
			a.id = got.AccountID
			continue
		}
		got, err := s.client.CreateAccount(ctx, custID, fuse.CreateAccountRequest{
			AccountName: a.name, Currency: a.currency, AccountType: a.typ, ExternalID: extID})
		if err != nil {
			return fmt.Errorf("open account %s: %w", a.name, err)
		}
		a.id = got.ID
	}
	for _, f := range []struct {
		i      int
		amount int64
	}{{acctOperating, 250_000_00}, {acctUSD, 40_000_00}, {acctEUR, 25_000_00}} {
		if _, err := s.sb.InboundPayment(sandbox.InboundPayment{AccountID: s.accounts[f.i].id, Amount: f.amount,
			RemitterName: "Falcon Holdings (capital)", ExternalReference: "CAPITAL-2026"}); err != nil {
			return fmt.Errorf("fund %s: %w", s.accounts[f.i].name, err)
		}
	}
	return nil
}

// Stream runs the operations, moving the sandbox clock by each gap.
func (s *Streamer) Stream(ctx context.Context, plan Plan) error {
	for _, gap := range plan.gaps {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := s.step(ctx); err != nil {
			return err
		}
		s.sb.Advance(gap)
	}
	s.sb.Advance(demoSettle)
	return nil
}

// Operating is the operating account's Fuse id, once opened.
func (s *Streamer) Operating() string { return s.accounts[acctOperating].id }

// step performs one operation, chosen by weight.
func (s *Streamer) step(ctx context.Context) error {
	switch n := s.r.IntN(100); {
	case n < 28:
		return s.inbound()
	case n < 58:
		return s.supplierPayment(ctx)
	case n < 76:
		return s.payrollPayment(ctx)
	case n < 84:
		return s.transfer(ctx)
	default:
		return s.exchange(ctx)
	}
}

// amount draws an amount in minor units between lo and hi major units.
func (s *Streamer) amount(lo, hi int64) int64 {
	return (lo+s.r.Int64N(hi-lo+1))*100 + s.r.Int64N(100)
}

// available is what an account can still spend: the sandbox's own view,
// used only to keep the stream from asking for more than there is.
func (s *Streamer) available(i int) int64 {
	a, _ := s.sb.Account(s.accounts[i].id)
	return a.Balance.Available
}

func (s *Streamer) nextRef(prefix string) string {
	s.seq++
	return fmt.Sprintf("%s-%05d", prefix, s.seq)
}

// iban draws a plausible IBAN for a counterparty.
func (s *Streamer) iban(country string) string {
	return fmt.Sprintf("%s%02d%03d%016d", country, 10+s.r.IntN(90), s.r.IntN(1000), s.r.Int64N(1e16))
}

// beneficiary is a payee in the currency's country: an IBAN in the UAE
// and Germany; in the United States wire details, a BIC and the second
// address line the reference asks of USD payments.
func (s *Streamer) beneficiary(payee, currency, typ string) fuse.Beneficiary {
	b := fuse.Beneficiary{Type: typ, AccountHolderName: payee}
	switch currency {
	case "USD":
		b.AccountIdentifier = fuse.Identifier{Wire: &fuse.WireDetails{
			AccountNumber: fmt.Sprintf("%012d", s.r.Int64N(1e12)), RoutingNumber: fmt.Sprintf("%09d", s.r.Int64N(1e9))}}
		b.Address = fuse.Address{CountryCode: "US", Line1: "100 Congress Avenue", Line2: "Austin TX 78701"}
		b.Bank = &fuse.BeneficiaryBank{Code: "CHASUS33"}
	case "EUR":
		b.AccountIdentifier = fuse.Identifier{IBAN: s.iban("DE")}
		b.Address = fuse.Address{CountryCode: "DE", Line1: "Friedrichstrasse 68", Line2: "10117 Berlin"}
	default:
		b.AccountIdentifier = fuse.Identifier{IBAN: s.iban("AE")}
		b.Address = fuse.Address{CountryCode: "AE", Line1: "Al Quoz Industrial Area 3", Line2: "Dubai"}
	}
	return b
}

func (s *Streamer) inbound() error {
	i := acctOperating
	if s.r.IntN(5) == 0 {
		i = acctUSD
	}
	_, err := s.sb.InboundPayment(sandbox.InboundPayment{AccountID: s.accounts[i].id, Amount: s.amount(500, 15_000),
		RemitterName: demoPayers[s.r.IntN(len(demoPayers))], ExternalReference: s.nextRef("INV")})
	if err != nil {
		return fmt.Errorf("inbound payment: %w", err)
	}
	s.counts.inbound++
	return nil
}

func (s *Streamer) supplierPayment(ctx context.Context) error {
	i := []int{acctOperating, acctOperating, acctOperating, acctUSD, acctEUR}[s.r.IntN(5)]
	cur := s.accounts[i].currency
	names := demoSuppliers[cur]
	return s.pay(ctx, i, s.beneficiary(names[s.r.IntN(len(names))], cur, fuse.BeneficiaryBusiness),
		s.amount(200, 8_000), fuse.PurposeGoodsBought, "PO")
}

func (s *Streamer) payrollPayment(ctx context.Context) error {
	return s.pay(ctx, acctPayroll, s.beneficiary(demoStaff[s.r.IntN(len(demoStaff))], "AED", fuse.BeneficiaryIndividual),
		s.amount(3_000, 9_000), fuse.PurposeSalaries, "SAL")
}

// pay sends an outbound local payment; about one in eight fails at the
// bank, some before and some after Fuse submitted it.
func (s *Streamer) pay(ctx context.Context, i int, payee fuse.Beneficiary, amount int64, purpose, prefix string) error {
	fails, failLate := s.r.IntN(8) == 0, s.r.IntN(2) == 0
	reason := demoFailures[s.r.IntN(len(demoFailures))]
	// A fee of one major unit applies from 1,000.00: keep room for it.
	if amount+100 > s.available(i)/3 {
		s.counts.skipped++
		return nil
	}
	a := s.accounts[i]
	tx, err := s.client.CreatePayment(ctx, a.id, fuse.CreatePaymentRequest{Amount: amount,
		Beneficiary: payee, Purpose: purpose,
		ExternalReference: s.nextRef(prefix), ExternalID: s.nextRef("demo-pay")})
	if err != nil {
		return fmt.Errorf("payment from %s: %w", a.name, err)
	}
	if prefix == "SAL" {
		s.counts.payroll++
	} else {
		s.counts.payments++
	}
	if !fails {
		return nil
	}
	if failLate {
		s.sb.Advance(sandbox.PaymentSubmitDelay) // submitted, then failed
	}
	if _, err := s.sb.Fail(tx.ID, reason); err != nil {
		return fmt.Errorf("fail payment: %w", err)
	}
	s.counts.failed++
	return nil
}

// transfer funds payroll from the operating account.
func (s *Streamer) transfer(ctx context.Context) error {
	amount := s.amount(10_000, 25_000)
	if amount > s.available(acctOperating)/3 {
		s.counts.skipped++
		return nil
	}
	_, err := s.client.CreateInternalTransfer(ctx, fuse.CreateInternalTransferRequest{
		FromAccountID: s.accounts[acctOperating].id, ToAccountID: s.accounts[acctPayroll].id, Amount: amount,
		ExternalReference: "Payroll funding", ExternalID: s.nextRef("demo-xfer")})
	if err != nil {
		return fmt.Errorf("internal transfer: %w", err)
	}
	s.counts.transfers++
	return nil
}

// exchange buys dollars or euros with dirhams, or euros with dollars:
// it asks for a quote, then exchanges the quoted amount (a quote binds
// nothing [spec silent]; the sandbox prices both alike).
func (s *Streamer) exchange(ctx context.Context) error {
	pairs := [][2]int{{acctOperating, acctUSD}, {acctOperating, acctEUR}, {acctUSD, acctEUR}}
	p := pairs[s.r.IntN(len(pairs))]
	amount := s.amount(1_000, 10_000)
	if amount > s.available(p[0])/3 {
		s.counts.skipped++
		return nil
	}
	from, to := s.accounts[p[0]], s.accounts[p[1]]
	q, err := s.client.Quote(ctx, fuse.QuoteRequest{FromAccountID: from.id, ToAccountID: to.id, FromAmount: amount})
	if err != nil {
		return fmt.Errorf("quote %s to %s: %w", from.currency, to.currency, err)
	}
	_, err = s.client.CreateExchange(ctx, fuse.CreateExchangeRequest{ExternalReference: s.nextRef("FX"),
		From: fuse.ExchangeSide{AccountID: from.id, Amount: &q.FromAmount}, To: fuse.ExchangeSide{AccountID: to.id}})
	if err != nil {
		return fmt.Errorf("exchange %s to %s: %w", from.currency, to.currency, err)
	}
	s.counts.exchanges++
	return nil
}
