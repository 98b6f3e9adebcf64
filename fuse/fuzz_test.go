package fuse

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/ledgerd/ledgerd"
)

// Fuzz targets for everything the client decodes from Fuse: listing pages
// of transactions and accounts, single objects, and error bodies. Each
// feeds the bytes through the same path a response takes (Client.decode,
// with its fast path for transactions), checks that the result is what
// encoding/json alone makes of the bytes, and that whatever converts into
// a ledger observation satisfies the invariants the ledger relies on.
// `make fuzz` runs each for FUZZTIME; `go test` runs the seed corpus in
// testdata/fuzz/<name>/.

// referenceDecode is encoding/json alone, exactly one value and nothing
// after it: what Client.decode must agree with.
func referenceDecode(b []byte, out any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(out); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("data after the JSON value")
	}
	return nil
}

func decodeLikeTheClient(body []byte, out any) error {
	c := &Client{}
	return c.decode(request{method: http.MethodGet, route: routeListTransactions, out: out}, "fuzz",
		outcome{status: http.StatusOK, header: http.Header{"Content-Type": {"application/json"}}, body: body})
}

func FuzzTransactionPage(f *testing.F) {
	f.Add([]byte(`{"results":[],"pages":{"next":null,"size":100}}`))
	f.Add([]byte(`{"results":[],"pages":{"next":"c2"}}`))
	f.Add([]byte(`{"data":[],"next_cursor":null}`))
	f.Add([]byte(`{"results":[{"id":"t1","type":"local_payment","account_id":"a1","direction":"Outbound","state":"Executed",` +
		`"currency":"AED","instructed_amount":10000,"fee_amount":250,"amount_with_fee":10250,"fee_source":{"type":"included_in_payment"},` +
		`"remitter":{"name":"Ops","identifier":{"iban":"AE070331234567890123456"}},"beneficiary":{"name":"B","identifier":{"iban":"AE460260001015333617101"}},` +
		`"purpose":"OAT","external_reference":"r","created_at":"2026-03-31T17:59:50Z","executed_at":"2026-03-31T18:00:00.123456789Z"}],` +
		`"pages":{"next":"c2","size":2000},"extra":1}`))
	f.Add([]byte(`{"results":[{"id":"t2","type":"f_x_transfer","account_id":"a1","direction":"Inbound","state":"Settled","currency":"JPY",` +
		`"instructed_amount":151,"counterpart_account_id":"a2","counterpart_currency":"USD","counterpart_amount":100,` +
		`"rate":151.25,"external_reference":"fx","created_at":"2026-03-31T18:00:00Z"}],"pages":{"size":1}}`))
	f.Add([]byte(`{"results":[{"id":"t3","type":"fee_debit","account_id":"a1","currency":"AED","amount":500,` +
		`"timestamp":"2026-03-31T18:00:00Z","fee_target":{"type":"Transaction","reference":"t1"}}],"pages":{"next":null,"size":1}}`))
	for _, seed := range publishedSeeds(f) {
		f.Add(seed)
	}
	f.Add(compacted(f, readPublished(f, "transaction.json")))
	f.Fuzz(func(t *testing.T, body []byte) {
		var page Page[Transaction]
		err := decodeLikeTheClient(body, (*transactionPage)(&page))
		var ref Page[Transaction]
		refErr := referenceDecode(body, &ref)
		if (err == nil) != (refErr == nil) {
			t.Fatalf("client decode %v, encoding/json %v", err, refErr)
		}
		if err != nil {
			if !errors.Is(err, ErrBadResponse) {
				t.Fatalf("decode error does not wrap ErrBadResponse: %v", err)
			}
			return
		}
		if !reflect.DeepEqual(page, ref) {
			t.Fatalf("client decode differs from encoding/json:\n%+v\n%+v", page, ref)
		}
		for _, tx := range page.Data {
			checkTransaction(t, tx)
		}
		// The same bytes as one object (GET /transactions/{id}), when
		// they are one.
		var one Transaction
		if decodeLikeTheClient(body, (*transactionObject)(&one)) == nil {
			var refOne Transaction
			if referenceDecode(body, &refOne) != nil || !reflect.DeepEqual(one, refOne) {
				t.Fatalf("single transaction differs from encoding/json:\n%+v\n%+v", one, refOne)
			}
			checkTransaction(t, one)
		}
	})
}

// checkTransaction asserts what an accepted observation guarantees the
// ledger: a valid kind, status and currency, amounts in range, consistent
// and taken from the object's integers, identifiers, a time in UTC, the
// rate as the exact text received; that a refusal says why in the
// package's terms and names the transaction; that Raw is the object,
// compacted; and that conversion is deterministic.
func checkTransaction(t *testing.T, tx Transaction) {
	t.Helper()
	if !json.Valid(tx.Raw) {
		t.Fatalf("Raw is not JSON: %q", tx.Raw)
	}
	var c bytes.Buffer
	if err := json.Compact(&c, tx.Raw); err != nil || !bytes.Equal(c.Bytes(), tx.Raw) {
		t.Fatalf("Raw is not compacted: %q", tx.Raw)
	}
	o, err := tx.Observation()
	o2, err2 := tx.Observation()
	if (err == nil) != (err2 == nil) || !reflect.DeepEqual(o, o2) {
		t.Fatalf("Observation is not deterministic: %v / %v", err, err2)
	}
	if err != nil {
		if !reflect.DeepEqual(o, ledgerd.TransactionObservation{}) {
			t.Fatalf("observation not zero on error %v: %+v", err, o)
		}
		if !errors.Is(err, ErrUnknownTransaction) && !errors.Is(err, ErrIncompleteObject) {
			t.Fatalf("error %v is neither ErrUnknownTransaction nor ErrIncompleteObject", err)
		}
		if !strings.Contains(err.Error(), tx.ID) {
			t.Fatalf("error %q does not name transaction %q", err, tx.ID)
		}
		return
	}
	switch {
	case o.TransactionID != tx.ID || o.TransactionID == "" || o.AccountID == "":
		t.Fatalf("accepted without ids: %+v", o)
	case !o.Kind.Valid() || !o.Status.Valid() || !o.Currency.Valid():
		t.Fatalf("accepted kind %q status %q currency %q", o.Kind, o.Status, o.Currency)
	case o.Amounts == nil:
		t.Fatalf("accepted without amounts: %+v", o)
	case o.Amounts.Check(o.Kind) != nil:
		t.Fatalf("accepted inconsistent amounts %+v: %v", *o.Amounts, o.Amounts.Check(o.Kind))
	case o.At.IsZero() || o.At.Location() != time.UTC || o.CreatedAt.Location() != time.UTC:
		t.Fatalf("times not UTC: at %v created %v", o.At, o.CreatedAt)
	case o.CounterpartCurrency != "" && !o.CounterpartCurrency.Valid():
		t.Fatalf("accepted counterpart currency %q", o.CounterpartCurrency)
	case o.CounterpartAmount != nil && o.CounterpartAmount.CheckRange() != nil:
		t.Fatalf("accepted counterpart amount %d", *o.CounterpartAmount)
	case o.Rate != string(tx.Rate):
		t.Fatalf("rate %q from %q", o.Rate, tx.Rate)
	}
	// Money comes from the integers as they came.
	instructed := tx.InstructedAmount
	if tx.Type == TypeFeeDebit {
		instructed = tx.Amount
	}
	if instructed == nil || int64(o.Amounts.Instructed) != *instructed {
		t.Fatalf("instructed amount %d from %v", o.Amounts.Instructed, instructed)
	}
}

func FuzzAccount(f *testing.F) {
	f.Add(readPublished(f, "accounts.json"))
	f.Add([]byte(`{"results":[{"id":"a1","account_name":"Ops","account_owner":"Acme","account_type":"payment","customer_id":"c1",` +
		`"currency":"AED","status":"open","current_balance":10,"available_balance":5,` +
		`"addressable_details":[{"account_details":{"iban":"AE070331234567890123456"},"payment_schemes":["uae_fts"]}]}],"pages":{"next":null,"size":1}}`))
	f.Add([]byte(`{"id":"a2","currency":"JPY","current_balance":-3,"available_balance":-3,"default_details":null}`))
	asOf := time.Date(2026, 3, 1, 12, 0, 0, 0, time.FixedZone("GST", 4*3600))
	f.Fuzz(func(t *testing.T, body []byte) {
		check := func(a Account) {
			o, err := a.Observation(asOf)
			if err != nil {
				if !reflect.DeepEqual(o, ledgerd.AccountObservation{}) {
					t.Fatalf("observation not zero on error %v", err)
				}
				return
			}
			switch {
			case o.AccountID == "" || o.AccountID != a.ID || !o.Currency.Valid():
				t.Fatalf("accepted account %q currency %q", o.AccountID, o.Currency)
			case o.Balance == nil || !o.Balance.AsOf.Equal(asOf) || o.Balance.AsOf.Location() != time.UTC:
				t.Fatalf("balance %+v, want as of %v in UTC", o.Balance, asOf)
			case a.CurrentBalance == nil || a.AvailableBalance == nil:
				t.Fatalf("accepted without a balance: %+v", o.Balance)
			case int64(o.Balance.Current) != *a.CurrentBalance || int64(o.Balance.Available) != *a.AvailableBalance:
				t.Fatalf("balance changed on the way: %+v from %d, %d", o.Balance, *a.CurrentBalance, *a.AvailableBalance)
			}
		}
		var page Page[Account]
		err := decodeLikeTheClient(body, &page)
		var ref Page[Account]
		if refErr := referenceDecode(body, &ref); (err == nil) != (refErr == nil) {
			t.Fatalf("client decode %v, encoding/json %v", err, refErr)
		}
		if err == nil {
			if !reflect.DeepEqual(page, ref) {
				t.Fatalf("page differs from encoding/json")
			}
			for _, a := range page.Data {
				check(a)
			}
		} else if !errors.Is(err, ErrBadResponse) {
			t.Fatalf("decode error does not wrap ErrBadResponse: %v", err)
		}
		var one Account
		if decodeLikeTheClient(body, &one) == nil {
			check(one)
		}
	})
}

// FuzzErrorBody: whatever a non-2xx answer carries, the *APIError built
// from it is one printable, valid UTF-8 line of bounded length (it goes
// into logs and error messages).
func FuzzErrorBody(f *testing.F) {
	f.Add(503, []byte(`{"code":"unavailable","error":"try later","message":"try later"}`))
	f.Add(400, []byte(`{}`))
	f.Add(429, []byte(`<html><body>Too Many Requests</body></html>`))
	f.Add(500, []byte(strings.Repeat("é", 150)))
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		e := apiError(request{method: http.MethodGet, path: "/accounts"}, outcome{status: status, body: body})
		_ = e.Error() // must not panic
		if e.Status != status {
			t.Fatalf("status %d, want %d", e.Status, status)
		}
		if _, fromJSON := DecodeErrorBody(body); fromJSON {
			return // Fuse's own code and message, as sent
		}
		if !utf8.ValidString(e.Message) {
			t.Fatalf("message is not valid UTF-8: %q", e.Message)
		}
		if strings.ContainsAny(e.Message, "\n\r\x00") {
			t.Fatalf("message spans lines: %q", e.Message)
		}
		if len(e.Message) > 200+len("…") {
			t.Fatalf("message of %d bytes", len(e.Message))
		}
	})
}
