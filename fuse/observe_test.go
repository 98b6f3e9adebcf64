package fuse

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ledgerd/ledgerd"
)

func i64(v int64) *int64           { return &v }
func at(t time.Time) *time.Time    { return &t }
func raw(s string) json.RawMessage { return json.RawMessage(s) }

func TestTransactionObservation(t *testing.T) {
	created := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	executed := created.Add(5 * time.Second)
	ex := Transaction{ID: "t1", Type: TypeFXTransfer, AccountID: "a1", Direction: DirectionOutbound, State: StateExecuted,
		Currency: "USD", InstructedAmount: i64(10000), CounterpartAccountID: "a2", CounterpartCurrency: "AED",
		CounterpartAmount: i64(36725), Rate: json.Number("3.6725"), ExternalReference: ptr("fx"),
		CreatedAt: at(created), ExecutedAt: at(executed)}
	o, err := ex.Observation()
	if err != nil {
		t.Fatal(err)
	}
	if o.Kind != ledgerd.KindExchangeOut || o.Status != ledgerd.StatusExecuted || o.Currency != "USD" ||
		o.Amounts.Instructed != 10000 || o.Amounts.WithFee != 10000 || *o.CounterpartAmount != 36725 ||
		o.Rate != "3.6725" || !o.At.Equal(executed) || !o.CreatedAt.Equal(created) || o.ExternalReference != "fx" {
		t.Errorf("observation %+v", o)
	}
	bad := map[string]struct {
		mutate func(*Transaction)
		want   error
	}{
		"unknown type":        {func(t *Transaction) { t.Type = "card" }, ErrUnknownTransaction},
		"unknown state":       {func(t *Transaction) { t.State = "Pending" }, ErrUnknownTransaction},
		"lower-case state":    {func(t *Transaction) { t.State = "executed" }, ErrUnknownTransaction},
		"unknown direction":   {func(t *Transaction) { t.Direction = "Sideways" }, ErrUnknownTransaction},
		"no direction":        {func(t *Transaction) { t.Direction = "" }, ErrUnknownTransaction},
		"unknown currency":    {func(t *Transaction) { t.Currency = "XYZ" }, ErrIncompleteObject},
		"negative amount":     {func(t *Transaction) { t.InstructedAmount = i64(-1) }, ErrIncompleteObject},
		"missing amount":      {func(t *Transaction) { t.InstructedAmount = nil }, ErrIncompleteObject},
		"huge counterpart":    {func(t *Transaction) { t.CounterpartAmount = i64(1 << 62) }, ErrIncompleteObject},
		"missing counterpart": {func(t *Transaction) { t.CounterpartAmount = nil }, ErrIncompleteObject},
		"no counterpart acct": {func(t *Transaction) { t.CounterpartAccountID = "" }, ErrIncompleteObject},
		"no time at all":      {func(t *Transaction) { t.CreatedAt, t.ExecutedAt = nil, nil }, ErrIncompleteObject},
		"missing account":     {func(t *Transaction) { t.AccountID = "" }, ErrIncompleteObject},
		"bad counterpart ccy": {func(t *Transaction) { t.CounterpartCurrency = "aed" }, ErrIncompleteObject},
		"payment without fee": {func(t *Transaction) { t.Type = TypeLocalPayment }, ErrIncompleteObject},
		"inconsistent fee": {func(t *Transaction) {
			t.Type, t.FeeAmount, t.AmountWithFee = TypeLocalPayment, i64(5), i64(10000)
		}, ErrIncompleteObject},
		"return without payment": {func(t *Transaction) { t.Type = TypeLocalReturnPayment }, ErrIncompleteObject},
		"fee debit without amount": {func(t *Transaction) {
			t.Type, t.Timestamp = TypeFeeDebit, at(created)
		}, ErrIncompleteObject},
	}
	for name, c := range bad {
		tx := ex
		c.mutate(&tx)
		o, err := tx.Observation()
		if !errors.Is(err, c.want) || !strings.Contains(err.Error(), "t1") {
			t.Errorf("%s: err = %v, want %v naming the transaction", name, err, c.want)
		}
		if o != (ledgerd.TransactionObservation{}) {
			t.Errorf("%s: observation %+v beside the error", name, o)
		}
	}
}

// TestObservationTimeIsTheStatesOwn: At is the time the object gives for
// its state (submitted_at, executed_at, failed_at, settled_at, a fee
// debit's timestamp), else the latest it carries (Created and Booked have
// none of their own; an inbound payment has no settled_at).
func TestObservationTimeIsTheStatesOwn(t *testing.T) {
	t0 := time.Date(2026, 4, 1, 8, 0, 0, 0, time.UTC)
	tick := func(n int) *time.Time { return at(t0.Add(time.Duration(n) * time.Minute)) }
	base := Transaction{ID: "t", Type: TypeLocalPayment, AccountID: "a", Direction: DirectionOutbound, Currency: "AED",
		InstructedAmount: i64(100), FeeAmount: i64(0), AmountWithFee: i64(100),
		CreatedAt: tick(0), AuthorisedAt: tick(1), SubmittedAt: tick(2), ExecutedAt: tick(3)}
	for _, c := range []struct {
		name string
		tx   func(Transaction) Transaction
		want *time.Time
	}{
		{"created", func(x Transaction) Transaction {
			x.State = StateCreated
			x.SubmittedAt, x.ExecutedAt = nil, nil
			return x
		}, tick(1)},
		{"submitted", func(x Transaction) Transaction { x.State = StateSubmitted; x.ExecutedAt = nil; return x }, tick(2)},
		{"executed", func(x Transaction) Transaction { x.State = StateExecuted; return x }, tick(3)},
		{"failed", func(x Transaction) Transaction {
			x.State, x.ExecutedAt, x.FailedAt = StateFailed, nil, tick(4)
			return x
		}, tick(4)},
		{"inbound settled", func(x Transaction) Transaction {
			x.Direction, x.State, x.AuthorisedAt, x.SubmittedAt, x.ExecutedAt = DirectionInbound, StateSettled, nil, nil, nil
			return x
		}, tick(0)},
		{"booked transfer", func(Transaction) Transaction {
			return Transaction{ID: "t", Type: TypeInternalTransfer, AccountID: "a", Direction: DirectionOutbound, State: StateBooked,
				Currency: "AED", InstructedAmount: i64(5), CounterpartAccountID: "b", CreatedAt: tick(7)}
		}, tick(7)},
		{"settled transfer", func(Transaction) Transaction {
			return Transaction{ID: "t", Type: TypeInternalTransfer, AccountID: "a", Direction: DirectionInbound, State: StateSettled,
				Currency: "AED", InstructedAmount: i64(5), CounterpartAccountID: "b", CreatedAt: tick(7), SettledAt: tick(9)}
		}, tick(9)},
		{"fee debit", func(Transaction) Transaction {
			return Transaction{ID: "t", Type: TypeFeeDebit, AccountID: "a", Currency: "AED", Amount: i64(5), Timestamp: tick(11),
				FeeTarget: &FeeTarget{Type: "Transaction", Reference: "p"}}
		}, tick(11)},
	} {
		o, err := c.tx(base).Observation()
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if !o.At.Equal(*c.want) || o.At.Location() != time.UTC {
			t.Errorf("%s: at %v, want %v", c.name, o.At, *c.want)
		}
	}
}

func TestFailureText(t *testing.T) {
	for in, want := range map[string]string{
		``:                                     "",
		`null`:                                 "",
		` "insufficient_funds" `:               "insufficient_funds",
		`{"bank_error": "Account closed"}`:     "bank_error: Account closed",
		`{"system_error":"down"}`:              "system_error: down",
		`{"compliance_error":"sanctions hit"}`: "compliance_error: sanctions hit",
		`{"quote_error":"expired"}`:            "quote_error: expired",
		`{"a":"x","b":"y"}`:                    `{"a":"x","b":"y"}`,
		`{"code": 42}`:                         `{"code":42}`,
		`17`:                                   "17",
	} {
		if got := FailureText(raw(in)); got != want {
			t.Errorf("FailureText(%s) = %q, want %q", in, got, want)
		}
	}
}

func TestAccountObservation(t *testing.T) {
	asOf := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	a := Account{ID: "a1", AccountName: "Ops", AccountType: "payment", Currency: "AED", Status: AccountOpen,
		CurrentBalance: i64(500), AvailableBalance: i64(400), CustomerID: ptr("c1"),
		AddressableDetails: []AddressableDetails{{AccountDetails: Identifier{IBAN: "AE070331234567890123456"}}}}
	o, err := a.Observation(asOf)
	if err != nil {
		t.Fatal(err)
	}
	if o.AccountID != "a1" || o.Currency != "AED" || o.Balance.Current != 500 || o.Balance.Available != 400 ||
		!o.Balance.AsOf.Equal(asOf) || o.CustomerID != "c1" || o.IBAN != "AE070331234567890123456" || o.Status != AccountOpen {
		t.Errorf("observation %+v", o)
	}
	for name, mutate := range map[string]func(*Account){
		"no currency":          func(a *Account) { a.Currency = "" },
		"no id":                func(a *Account) { a.ID = "" },
		"no current balance":   func(a *Account) { a.CurrentBalance = nil },
		"no available balance": func(a *Account) { a.AvailableBalance = nil },
		"negative balance":     func(a *Account) { a.CurrentBalance = i64(-1) },
	} {
		b := a
		mutate(&b)
		if _, err := b.Observation(asOf); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
