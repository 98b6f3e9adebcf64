package webhook

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/ledgerd/ledgerd"
)

// FuzzDecode checks that Decode never panics, is deterministic, and that
// whatever it accepts satisfies the invariants the ledger relies on.
func FuzzDecode(f *testing.F) {
	paths, err := filepath.Glob("testdata/*/*.json")
	if err != nil {
		f.Fatal(err)
	}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(body("outbound_local_payment_created", goodPayment)))
	f.Add([]byte(body("outbound_exchange_transfer_created", goodExchange)))

	f.Fuzz(func(t *testing.T, raw []byte) {
		h := Header{FuseTimestamp: "2023-06-19T12:44:47Z", ReceivedAt: receivedAt}
		obs, err := Decode(raw, h)
		again, err2 := Decode(bytes.Clone(raw), h)
		if (err == nil) != (err2 == nil) || err != nil && err.Error() != err2.Error() {
			t.Fatalf("not deterministic: %v, then %v", err, err2)
		}
		if !reflect.DeepEqual(obs, again) {
			t.Fatalf("not deterministic:\n%s\n%s", dump(obs), dump(again))
		}
		if err != nil {
			var de *DecodeError
			if !errors.Is(err, ErrMalformed) || !errors.As(err, &de) || de.Reason == "" {
				t.Fatalf("error %v is not a *DecodeError with a reason wrapping ErrMalformed", err)
			}
			if !reflect.DeepEqual(obs, ledgerd.Observation{}) {
				t.Fatalf("observation not zero on error: %s", dump(obs))
			}
			return
		}
		checkInvariants(t, raw, obs)
	})
}

// checkInvariants asserts what every accepted observation must satisfy.
func checkInvariants(t *testing.T, raw []byte, obs ledgerd.Observation) {
	t.Helper()
	ev := obs.Event
	if !bytes.Equal(ev.Raw, raw) {
		t.Fatal("Event.Raw differs from the body")
	}
	if !isUUID(ev.ID) || ev.Type == "" || ev.Version < 0 || !ev.Source.Valid() {
		t.Fatalf("bad event: %s", dump(obs))
	}
	if obs.Account != nil && obs.Transaction != nil {
		t.Fatal("both Account and Transaction set")
	}
	// A handled type gives an observation, but an undocumented one may
	// not (without the ids or the time); no other type gives one.
	if hd, handled := handlers[ev.Type]; handled && !hd.undocumented && !obs.Handled() || !handled && obs.Handled() {
		t.Fatalf("type %q: Handled() = %v", ev.Type, obs.Handled())
	}
	if a := obs.Account; a != nil {
		if !isUUID(a.AccountID) || a.CustomerID != "" && !isUUID(a.CustomerID) {
			t.Fatalf("bad account ids: %s", dump(obs))
		}
		if a.Currency != "" && !a.Currency.Valid() {
			t.Fatalf("bad account currency: %s", dump(obs))
		}
	}
	tx := obs.Transaction
	if tx == nil {
		return
	}
	if !tx.Kind.Valid() || !tx.Status.Valid() {
		t.Fatalf("bad kind or status: %s", dump(obs))
	}
	if !isUUID(tx.TransactionID) || !isUUID(tx.AccountID) || tx.At.IsZero() {
		t.Fatalf("bad transaction ids or time: %s", dump(obs))
	}
	if tx.CounterpartAccountID != "" && !isUUID(tx.CounterpartAccountID) {
		t.Fatalf("bad counterpart id: %s", dump(obs))
	}
	for _, c := range []ledgerd.Currency{tx.Currency, tx.CounterpartCurrency} {
		if c != "" && !c.Valid() {
			t.Fatalf("bad currency %q", c)
		}
	}
	if tx.Amounts != nil {
		if err := tx.Amounts.Check(tx.Kind); err != nil {
			t.Fatalf("amounts fail Check(%s): %v", tx.Kind, err)
		}
	}
	if tx.CounterpartAmount != nil {
		if err := tx.CounterpartAmount.CheckRange(); err != nil {
			t.Fatalf("counterpart amount: %v", err)
		}
	}
	if tx.Rate != "" && !isDecimal(tx.Rate) {
		t.Fatalf("bad rate %q", tx.Rate)
	}
	if !ev.FuseTime.Equal(ts(t, "2023-06-19T12:44:47Z")) {
		t.Fatalf("FuseTime %v is not the header's", ev.FuseTime)
	}
}
