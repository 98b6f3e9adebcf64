package sandbox

import (
	"fmt"
	"time"

	"github.com/ledgerd/ledgerd"
	"github.com/ledgerd/ledgerd/fuse"
)

// GenerateOptions describes a history for Generate.
type GenerateOptions struct {
	// AccountIDs are existing accounts to fill; when empty, Accounts new
	// accounts (default 8) are opened for one new business customer, their
	// currencies cycling through Currencies (default AED, USD, EUR, GBP).
	AccountIDs []string
	Accounts   int
	Currencies []string
	// Transactions is the exact number of transaction legs to create; each
	// leg of a transfer or exchange counts.
	Transactions int
	// Span is how far back the history starts; it ends a few seconds
	// before the sandbox clock. Default 30 days, at least one minute.
	Span time.Duration
	// FailureRate is the share of outbound operations that end failed.
	FailureRate float64
	// Webhooks emits every event the history would have produced (their
	// payload timestamps are historical; delivery starts now). By default
	// Generate emits nothing.
	Webhooks bool
}

// GenerateResult tells what Generate created.
type GenerateResult struct {
	AccountIDs   []string       `json:"account_ids"`
	Transactions int            `json:"transactions"`
	ByKind       map[string]int `json:"by_kind"`
	ByStatus     map[string]int `json:"by_status"`
}

// Generate creates a history without HTTP: inbound payments, outbound
// payments, internal transfers and exchanges (both legs), a share of them
// failed, spread over Span and all finished (executed, settled or failed)
// by the sandbox clock. It goes through the same operations as the API, so
// balances follow from the transactions and never go negative, and every
// choice comes from the seed. Call it before clients sync: the history is
// dated in the past.
func (s *Sandbox) Generate(g GenerateOptions) (GenerateResult, error) {
	if g.Transactions < 0 || !(g.FailureRate >= 0 && g.FailureRate <= 1) {
		return GenerateResult{}, fmt.Errorf("generate: transactions must be >= 0 and failure rate in [0, 1]")
	}
	if g.Span == 0 {
		g.Span = 30 * 24 * time.Hour
	}
	if g.Span < time.Minute {
		return GenerateResult{}, fmt.Errorf("generate: span %s is under a minute", g.Span)
	}
	if len(g.Currencies) == 0 {
		g.Currencies = []string{"AED", "USD", "EUR", "GBP"}
	}
	if g.Accounts <= 0 {
		g.Accounts = 8
	}
	now := s.lockNow()
	defer s.mu.Unlock()
	s.silent, s.manualSteps = !g.Webhooks, true
	defer func() { s.silent, s.manualSteps = false, false }()

	start, end := now.Add(-g.Span), now.Add(-10*time.Second)
	accts, err := s.generateAccountsLocked(g, start)
	if err != nil {
		return GenerateResult{}, err
	}
	gen := generator{s: s, accts: accts, failRate: g.FailureRate, byCur: map[string][]*account{}}
	for _, a := range accts {
		gen.byCur[a.Currency] = append(gen.byCur[a.Currency], a)
	}
	n := g.Transactions
	for gen.created < n {
		stamp := start.Add(time.Duration(int64(end.Sub(start)) / int64(n) * int64(gen.created)))
		made := len(gen.made)
		if err := gen.step(stamp, n-gen.created); err != nil {
			return GenerateResult{}, err
		}
		// The step's legs are final: encode them now, while they are in
		// the processor's cache, so that listing them costs copies only
		// (encode.go).
		for _, t := range gen.made[made:] {
			s.cacheLegLocked(t)
		}
	}
	res := GenerateResult{Transactions: gen.created, ByKind: map[string]int{}, ByStatus: map[string]int{}}
	for _, a := range accts {
		res.AccountIDs = append(res.AccountIDs, a.AccountID)
	}
	for _, t := range gen.made {
		res.ByKind[string(t.Kind)]++
		res.ByStatus[string(t.Status)]++
	}
	return res, nil
}

func (s *Sandbox) generateAccountsLocked(g GenerateOptions, stamp time.Time) ([]*account, error) {
	var accts []*account
	if len(g.AccountIDs) > 0 {
		for _, id := range g.AccountIDs {
			a, err := s.accountLocked(id)
			if err != nil {
				return nil, fmt.Errorf("generate: %w", err)
			}
			accts = append(accts, a)
		}
		return accts, nil
	}
	for _, c := range g.Currencies {
		if !ledgerd.Currency(c).Valid() {
			return nil, fmt.Errorf("generate: unknown currency %q", c)
		}
	}
	c := s.addBusinessLocked(sandboxBusiness("Generated Holdings LLC"))
	for i := range g.Accounts {
		cur := g.Currencies[i%len(g.Currencies)]
		a, err := s.openAccountLocked(c, fuse.CreateAccountRequest{
			AccountName: fmt.Sprintf("Generated %s %d", cur, i+1),
			Currency:    cur, AccountType: "payment", ExternalID: fmt.Sprintf("gen-%d", i+1),
		}, stamp)
		if err != nil {
			return nil, err
		}
		accts = append(accts, a)
	}
	return accts, nil
}

// generator makes one operation at a time, counting legs.
type generator struct {
	s        *Sandbox
	accts    []*account
	byCur    map[string][]*account
	failRate float64
	created  int
	made     []*txn
}

var beneficiaries = []string{"Fulan AlFulani", "Desert Logistics FZE", "Gulf Office Supplies", "Noor Catering LLC", "Al Waha Rentals"}

// generatedBeneficiary is a business payee with everything a payment in
// any currency needs (a USD payment also needs a BIC and a second
// address line).
func generatedBeneficiary(name, iban string) fuse.Beneficiary {
	return fuse.Beneficiary{
		Type: fuse.BeneficiaryBusiness, AccountHolderName: name,
		AccountIdentifier: fuse.Identifier{IBAN: iban},
		Address:           fuse.Address{CountryCode: "AE", Line1: "Office 12, Al Quoz 3", Line2: "Dubai"},
		Bank:              &fuse.BeneficiaryBank{Code: "EBILAEAD"},
	}
}

// amount draws between lo and hi major units of currency, in minor units.
func (g *generator) amount(currency string, lo, hi int64) int64 {
	unit := pow10(ledgerd.Currency(currency).Exponent())
	return (lo+g.s.ids.Int64N(hi-lo+1))*unit + g.s.ids.Int64N(unit)
}

// step makes one operation at stamp, never more than room legs.
func (g *generator) step(stamp time.Time, room int) error {
	s := g.s
	a := g.accts[s.ids.IntN(len(g.accts))]
	fail := s.ids.Float64() < g.failRate
	legs := 2
	if fail {
		legs = 1
	}
	var t *txn
	var err error
	switch op := s.ids.IntN(100); {
	case op < 35:
		amt := g.amount(a.Currency, 10, 5000)
		if a.Balance.Available < amt+paymentFee(amt, a.Currency) {
			break
		}
		t, err = s.createPaymentLocked(a, fuse.CreatePaymentRequest{
			Amount: amt, Purpose: fuse.PurposeGoodsBought,
			Beneficiary:       generatedBeneficiary(beneficiaries[s.ids.IntN(len(beneficiaries))], newIBAN(s.ids, "033")),
			ExternalReference: fmt.Sprintf("gen-pay-%d", g.created), ExternalID: s.newIDLocked(),
		}, stamp)
		if err == nil && !fail {
			s.applyStepLocked(step{tx: t, kind: stepSubmitPayment}, stamp.Add(PaymentSubmitDelay))
			s.applyStepLocked(step{tx: t, kind: stepExecutePayment}, stamp.Add(PaymentExecuteDelay))
		}
	case op < 55:
		peers := g.byCur[a.Currency]
		if len(peers) < 2 || room < legs {
			break
		}
		to := peers[s.ids.IntN(len(peers))]
		amt := g.amount(a.Currency, 10, 2000)
		if to == a || a.Balance.Available < amt {
			break
		}
		t, err = s.createTransferLocked(fuse.CreateInternalTransferRequest{
			FromAccountID: a.AccountID, ToAccountID: to.AccountID, Amount: amt,
			ExternalReference: fmt.Sprintf("gen-transfer-%d", g.created), ExternalID: s.newIDLocked(),
		}, stamp)
		if err == nil && !fail {
			s.applyStepLocked(step{tx: t, kind: stepSettleTransfer}, stamp.Add(TransferSettleDelay))
		}
	case op < 75:
		to := g.accts[s.ids.IntN(len(g.accts))]
		amt := g.amount(a.Currency, 10, 2000)
		if room < legs || to.Currency == a.Currency || a.Balance.Available < amt {
			break
		}
		if c, _, ok := convert(amt, a.Currency, to.Currency); !ok || c <= 0 {
			break
		}
		t, err = s.createExchangeLocked(fuse.CreateExchangeRequest{
			ExternalReference: fmt.Sprintf("gen-fx-%d", g.created),
			From:              fuse.ExchangeSide{AccountID: a.AccountID, Amount: &amt},
			To:                fuse.ExchangeSide{AccountID: to.AccountID},
		}, stamp)
		if err == nil && !fail {
			s.applyStepLocked(step{tx: t, kind: stepExecuteExchange}, stamp.Add(ExchangeExecuteDelay))
		}
	}
	if err != nil {
		return fmt.Errorf("generate: %w", err)
	}
	if t == nil {
		// An inbound payment: chosen, or the fallback when the account
		// cannot afford the outbound operation drawn.
		t, err = s.inboundPaymentLocked(a, InboundPayment{
			Amount: g.amount(a.Currency, 1000, 50000), RemitterName: "Generated Remitter",
			ExternalReference: fmt.Sprintf("gen-in-%d", g.created),
		}, stamp)
		if err != nil {
			return fmt.Errorf("generate: %w", err)
		}
		g.created++
		g.made = append(g.made, t)
		return nil
	}
	if fail {
		if err := s.failLocked(t, "Generated failure", stamp.Add(2*time.Second)); err != nil {
			return fmt.Errorf("generate: %w", err)
		}
	}
	g.made = append(g.made, t)
	g.created++
	if t.pair != nil {
		g.made = append(g.made, t.pair)
		g.created++
	}
	return nil
}
