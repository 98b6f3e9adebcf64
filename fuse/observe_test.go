package fuse

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/ledgerd/ledgerd"
)

func TestTransactionObservation(t *testing.T) {
	at := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	cp := int64(36725)
	ex := Transaction{TransactionID: "t1", AccountID: "a1", Kind: KindExchangeOut, Status: StatusExecuted,
		Currency: "USD", InstructedAmount: 10000, AmountWithFee: 10000, CounterpartAccountID: "a2",
		CounterpartCurrency: "AED", CounterpartAmount: &cp, Rate: json.Number("3.6725"), CreatedAt: at, UpdatedAt: at}
	o, err := ex.Observation()
	if err != nil {
		t.Fatal(err)
	}
	if o.Kind != ledgerd.KindExchangeOut || o.Status != ledgerd.StatusExecuted || o.Currency != "USD" ||
		o.Amounts.Instructed != 10000 || *o.CounterpartAmount != 36725 || o.Rate != "3.6725" || !o.At.Equal(at) {
		t.Errorf("observation %+v", o)
	}
	bad := map[string]func(*Transaction){
		"unknown kind":        func(t *Transaction) { t.Kind = "card" },
		"unknown status":      func(t *Transaction) { t.Status = "pending" },
		"unknown currency":    func(t *Transaction) { t.Currency = "XYZ" },
		"negative amount":     func(t *Transaction) { t.InstructedAmount, t.AmountWithFee = -1, -1 },
		"inconsistent fee":    func(t *Transaction) { t.Kind, t.FeeAmount = KindLocalPaymentOut, 5 },
		"huge counterpart":    func(t *Transaction) { big := int64(1) << 62; t.CounterpartAmount = &big },
		"missing updated_at":  func(t *Transaction) { t.UpdatedAt = time.Time{} },
		"missing account":     func(t *Transaction) { t.AccountID = "" },
		"bad counterpart ccy": func(t *Transaction) { t.CounterpartCurrency = "aed" },
	}
	for name, mutate := range bad {
		tx := ex
		mutate(&tx)
		if _, err := tx.Observation(); err == nil || !strings.Contains(err.Error(), "t1") {
			t.Errorf("%s: err = %v, want an error naming the transaction", name, err)
		}
	}
}

func TestAccountObservation(t *testing.T) {
	at := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	a := Account{AccountID: "a1", AccountName: "Ops", AccountType: "payment", Currency: "AED",
		Balance: Balance{Current: 500, Available: 400}}
	o, err := a.Observation(at)
	if err != nil {
		t.Fatal(err)
	}
	if o.Currency != "AED" || o.Balance.Current != 500 || o.Balance.Available != 400 || !o.Balance.AsOf.Equal(at) {
		t.Errorf("observation %+v", o)
	}
	a.Currency = ""
	if _, err := a.Observation(at); err == nil {
		t.Error("account without currency accepted")
	}
}
