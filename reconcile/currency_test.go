package reconcile_test

import (
	"bytes"
	"context"
	"encoding/json"
	"strconv"
	"testing"
	"time"

	"github.com/ledgerd/ledgerd"
	"github.com/ledgerd/ledgerd/fuse"
	"github.com/ledgerd/ledgerd/fuse/sandbox"
	"github.com/ledgerd/ledgerd/reconcile"
)

// TestAnExchangesCounterpartAmountMismatchIsInTheCounterpartCurrency: an
// exchange leg whose counterpart_amount differs between what the ledger
// was told and Fuse opens an amount_mismatch whose currency is the
// counterpart currency, the one its amounts are in, and the report scales
// them by that currency's exponent: AED→JPY (no decimals) on the sending
// leg, BHD→AED (three decimals) on the receiving leg.
func TestAnExchangesCounterpartAmountMismatchIsInTheCounterpartCurrency(t *testing.T) {
	t.Parallel()
	w := newWorld(t, 5)
	open := func(cur string, balance int64) sandbox.AccountState {
		a, err := w.sb.OpenAccount(sandbox.AccountSpec{Currency: cur, Balance: balance})
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	aed, jpy, bhd := open("AED", 10_000_00), open("JPY", 0), open("BHD", 1_000_000)
	exchange := func(from, to sandbox.AccountState, amount int64, ref string) string {
		x, err := w.client.CreateExchange(context.Background(), fuse.CreateExchangeRequest{ExternalReference: ref,
			From: fuse.ExchangeSide{AccountID: from.AccountID, Amount: &amount}, To: fuse.ExchangeSide{AccountID: to.AccountID}})
		if err != nil {
			t.Fatal(err)
		}
		return x.ID
	}
	toJPY := exchange(aed, jpy, 100_00, "FX-JPY")   // 100.00 AED buys 4118 JPY
	fromBHD := exchange(bhd, aed, 12_345, "FX-BHD") // 12.345 BHD buys 120.57 AED
	w.sb.Advance(time.Minute)

	// The webhooks said one minor unit more than Fuse now does: on the
	// sending leg of the first (its counterpart is the JPY it bought), on
	// the receiving leg of the second (its counterpart is the BHD it cost).
	var fromBHDIn string
	var obs []ledgerd.TransactionObservation
	for _, x := range w.sb.Truth().Transactions {
		o, err := x.Wire().Observation()
		if err != nil {
			t.Fatal(err)
		}
		if x.TransactionID == toJPY || (x.Kind == ledgerd.KindExchangeIn && x.PairedTransactionID == fromBHD) {
			if x.TransactionID != toJPY {
				fromBHDIn = x.TransactionID
			}
			more := *o.CounterpartAmount + 1
			o.CounterpartAmount = &more
		}
		obs = append(obs, o)
	}
	if fromBHDIn == "" {
		t.Fatal("the BHD exchange has no receiving leg")
	}
	w.ingestObs(obs...)
	w.ahead = time.Hour

	run := w.run(w.reconciler(nil))
	// The receiving leg took 12.346 BHD out of clearing, the sending leg
	// put 12.345 in: neither pairs.
	got := w.assertExactly(run, keys(key{reconcile.AmountMismatch, toJPY}, key{reconcile.AmountMismatch, fromBHDIn},
		key{reconcile.UnpairedLeg, fromBHD}, key{reconcile.UnpairedLeg, fromBHDIn}))
	for _, c := range []struct {
		id, cur      string
		ledger, fuse int64
	}{{toJPY, "JPY", 4119, 4118}, {fromBHDIn, "BHD", 12_346, 12_345}} {
		b := got[key{reconcile.AmountMismatch, c.id}]
		if string(b.Currency) != c.cur || b.LedgerAmount == nil || int64(*b.LedgerAmount) != c.ledger ||
			b.FuseAmount == nil || int64(*b.FuseAmount) != c.fuse || b.Difference == nil || int64(*b.Difference) != c.ledger-c.fuse {
			t.Errorf("amount_mismatch of %s: %s %s %s %s, want %s %d %d %d (%s)", c.id, b.Currency,
				amtS(b.LedgerAmount), amtS(b.FuseAmount), amtS(b.Difference), c.cur, c.ledger, c.fuse, c.ledger-c.fuse, b.Detail)
		}
	}
	for _, id := range []string{fromBHD, fromBHDIn} {
		if b := got[key{reconcile.UnpairedLeg, id}]; b.Currency != "BHD" {
			t.Errorf("unpaired_leg %s in %s, want BHD (the amount through clearing)", id, b.Currency)
		}
	}

	rep, err := reconcile.NewStore(w.l).Report(context.Background(), run.ID, time.UTC)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := rep.WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Breaks []struct {
			Category          string  `json:"category"`
			FuseTransactionID string  `json:"fuse_transaction_id"`
			Currency          string  `json:"currency"`
			LedgerAmount      *string `json:"ledger_amount"`
			FuseAmount        *string `json:"fuse_amount"`
			Difference        *string `json:"difference"`
		} `json:"breaks"`
	}
	if err := json.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	want := map[string][4]string{toJPY: {"JPY", "4119", "4118", "1"}, fromBHDIn: {"BHD", "12.346", "12.345", "0.001"}}
	found := 0
	for _, b := range doc.Breaks {
		w, ok := want[b.FuseTransactionID]
		if b.Category != string(reconcile.AmountMismatch) || !ok {
			continue
		}
		found++
		if b.LedgerAmount == nil || b.FuseAmount == nil || b.Difference == nil ||
			[4]string{b.Currency, *b.LedgerAmount, *b.FuseAmount, *b.Difference} != w {
			t.Errorf("report row of %s: %s %v %v %v, want %v", b.FuseTransactionID, b.Currency,
				str(b.LedgerAmount), str(b.FuseAmount), str(b.Difference), w)
		}
	}
	if found != len(want) {
		t.Errorf("the report has %d of the %d amount_mismatch rows", found, len(want))
	}
}

func str(s *string) string {
	if s == nil {
		return "null"
	}
	return *s
}

// TestABreakCarriesNoAmountsInACurrencyItCannotName: a settled transfer
// leg on an account whose currency the ledger never learned (and Fuse
// does not know) is missing at Fuse and unpaired, but its amounts are in
// no currency the ledger knows: the breaks carry none, and their details
// tell the amount in minor units instead of scaling it by a guessed
// exponent.
func TestABreakCarriesNoAmountsInACurrencyItCannotName(t *testing.T) {
	t.Parallel()
	w := newWorld(t, 5)
	id, acct := "7d0c4c51-5a3e-4a55-9a39-1f5e1b3c0001", "b1a6e1de-0000-4000-8000-00000000c0de"
	at := t0.Add(-10 * 24 * time.Hour)
	w.ingestObs(ledgerd.TransactionObservation{TransactionID: id, AccountID: acct, Kind: ledgerd.KindInternalTransferIn,
		Status: ledgerd.StatusSettled, Amounts: &ledgerd.TxAmounts{Instructed: 12_345, WithFee: 12_345},
		CounterpartAccountID: "b1a6e1de-0000-4000-8000-0000000000ff", Reference: "rent", At: at, CreatedAt: at})
	w.ahead = time.Hour

	run := w.run(w.reconciler(nil))
	got := w.assertExactly(run, keys(key{reconcile.MissingAtFuse, acct}, key{reconcile.MissingAtFuse, id},
		key{reconcile.UnpairedLeg, id}, key{reconcile.IncompleteData, id}))
	for k, b := range got {
		if b.Currency == "" && (b.LedgerAmount != nil || b.FuseAmount != nil || b.Difference != nil) {
			t.Errorf("%s carries amounts %s/%s/%s in no currency (%s)", k, amtS(b.LedgerAmount), amtS(b.FuseAmount),
				amtS(b.Difference), b.Detail)
		}
	}
	for _, k := range []key{{reconcile.MissingAtFuse, id}, {reconcile.UnpairedLeg, id}} {
		if b := got[k]; !contains(b.Detail, "12345 minor units of a currency the ledger does not know") {
			t.Errorf("%s: detail %q does not tell the amount in minor units", k, b.Detail)
		}
	}
}

func amtS(a *ledgerd.Amount) string {
	if a == nil {
		return "null"
	}
	return strconv.FormatInt(int64(*a), 10)
}

// TestAmountsInTwoCurrenciesAreACurrencyMismatchNotAnAmountMismatch: a
// payment the ledger booked in USD, and for 1.00 more, while Fuse has it
// in AED, is one currency_mismatch that shows each side's amount in its
// own currency; no amount_mismatch subtracts dollars from dirhams.
func TestAmountsInTwoCurrenciesAreACurrencyMismatchNotAnAmountMismatch(t *testing.T) {
	t.Parallel()
	w := newWorld(t, 5)
	a, err := w.sb.OpenAccount(sandbox.AccountSpec{Currency: "AED", Balance: 1_000_00})
	if err != nil {
		t.Fatal(err)
	}
	p := w.pay(a.AccountID, 100_00, "")
	w.sb.Advance(time.Minute)
	var obs []ledgerd.TransactionObservation
	for _, x := range w.sb.Truth().Transactions {
		o, err := x.Wire().Observation()
		if err != nil {
			t.Fatal(err)
		}
		if x.TransactionID == p.TransactionID {
			o.Currency = "USD"
			o.Amounts.Instructed += 1_00
			o.Amounts.WithFee += 1_00
		}
		obs = append(obs, o)
	}
	w.ingestObs(obs...)
	w.ahead = time.Hour

	run := w.run(w.reconciler(nil))
	// The ledger holds the USD payment off the AED account (no USD drift)
	// and says so where it entered: a currency_mismatch naming the event.
	got := w.assertExactly(run, keys(key{reconcile.CurrencyMismatch, p.TransactionID},
		key{reconcile.CurrencyMismatch, "event:2"}, drift(a.AccountID, "AED")))
	b := got[key{reconcile.CurrencyMismatch, p.TransactionID}]
	if want := "currency: ledger 101.00 USD, Fuse 100.00 AED"; b.Detail != want {
		t.Errorf("currency_mismatch detail %q, want %q", b.Detail, want)
	}
}
