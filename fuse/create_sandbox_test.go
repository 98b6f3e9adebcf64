package fuse_test

import (
	"testing"

	"github.com/ledgerd/ledgerd/fuse"
	"github.com/ledgerd/ledgerd/fuse/sandbox"
)

// TestTheCreateCallsRunAgainstTheSandbox walks every create call of the
// reference through the client: customers (201 {id}), an account (202,
// then read back), a payment (202, then read back), an internal transfer
// and an exchange at the quoted amounts (201, then read back).
func TestTheCreateCallsRunAgainstTheSandbox(t *testing.T) {
	e := start(t, sandbox.Options{Instant: true}, nil)
	ctx := t.Context()
	custID, err := e.c.CreateBusiness(ctx, business("Falcon Trading LLC"))
	if err != nil {
		t.Fatal(err)
	}
	cust, err := e.c.GetCustomer(ctx, custID)
	if err != nil || cust.ID != custID || cust.Business == nil || cust.Business.BusinessName != "Falcon Trading LLC" ||
		cust.ApprovalStatus != fuse.ApprovalAutoApproved || string(cust.RelationshipType) != `"direct"` {
		t.Fatalf("GetCustomer = %+v, %v", cust, err)
	}
	female := fuse.GenderFemale
	indID, err := e.c.CreateIndividual(ctx, fuse.CreateIndividualRequest{
		Address: fuse.Address{CountryCode: "AE", Line1: "Villa 3, Al Barsha"}, DisplayName: "Layla H.",
		FirstName: "Layla", LastName: "Haddad", DateOfBirth: "1990-04-21", Gender: &female,
		Nationality: "JO", Reference: "layla-1"})
	if err != nil {
		t.Fatal(err)
	}
	if ind, err := e.c.GetCustomer(ctx, indID); err != nil || ind.Individual == nil || ind.Individual.Gender != fuse.GenderFemale ||
		ind.Individual.DateOfBirth != "1990-04-21T00:00:00Z" {
		t.Fatalf("GetCustomer(individual) = %+v, %v", ind, err)
	}

	open := func(name, currency string) fuse.Account {
		t.Helper()
		a, err := e.c.CreateAccount(ctx, custID, fuse.CreateAccountRequest{
			AccountName: name, AccountType: fuse.AccountTypeVirtual, Currency: currency, ExternalID: "falcon-" + currency + "-" + name})
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	aed, payroll, usd := open("Operating", "AED"), open("Payroll", "AED"), open("Treasury", "USD")
	if aed.AccountType != fuse.AccountTypeVirtual || aed.Currency != "AED" {
		t.Errorf("account read back %+v", aed)
	}
	for _, id := range []string{aed.ID, usd.ID} {
		if _, err := e.sb.InboundPayment(sandbox.InboundPayment{AccountID: id, Amount: 1_000_000}); err != nil {
			t.Fatal(err)
		}
	}

	pay, err := e.c.CreatePayment(ctx, aed.ID, payment(12_345))
	if err != nil || pay.ID == "" || amount(pay.InstructedAmount) != 12_345 || pay.AccountID != aed.ID ||
		pay.Type != fuse.TypeLocalPayment || pay.Direction != fuse.DirectionOutbound || pay.State != fuse.StateExecuted {
		t.Fatalf("CreatePayment = %+v, %v", pay, err)
	}
	tr, err := e.c.CreateInternalTransfer(ctx, fuse.CreateInternalTransferRequest{
		FromAccountID: aed.ID, ToAccountID: payroll.ID, Amount: 50_000, ExternalReference: "payroll"})
	if err != nil || tr.AccountID != aed.ID || tr.CounterpartAccountID != payroll.ID || tr.Type != fuse.TypeInternalTransfer {
		t.Fatalf("CreateInternalTransfer = %+v, %v", tr, err)
	}
	q, err := e.c.Quote(ctx, fuse.QuoteRequest{FromAccountID: usd.ID, ToAccountID: aed.ID, ToAmount: 100_00})
	if err != nil || q.FromCurrency != "USD" || q.ToCurrency != "AED" || q.ToAmount != 100_00 || q.FromAmount <= 0 {
		t.Fatalf("Quote = %+v, %v", q, err)
	}
	x, err := e.c.CreateExchange(ctx, fuse.CreateExchangeRequest{ExternalReference: "fx-1",
		From: fuse.ExchangeSide{AccountID: usd.ID}, To: fuse.ExchangeSide{AccountID: aed.ID, Amount: &q.ToAmount}})
	if err != nil || amount(x.InstructedAmount) != q.FromAmount || amount(x.CounterpartAmount) != q.ToAmount ||
		x.Type != fuse.TypeFXTransfer || x.Rate != q.ExchangeRate {
		t.Fatalf("CreateExchange = %+v, %v; quote %+v", x, err, q)
	}
}

// amount is *v, or -1 for nil.
func amount(v *int64) int64 {
	if v == nil {
		return -1
	}
	return *v
}
