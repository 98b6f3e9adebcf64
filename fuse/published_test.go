package fuse

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/ledgerd/ledgerd"
)

// The client's decoders on bodies in Fuse's published shapes that the
// sandbox did not produce: testdata/published holds them, written by hand
// from ../shared/fuse-openapi.json (every transaction type and state,
// failure reasons as strings and objects, rates as JSON numbers, null
// and absent optional fields, identifiers of each kind), plus an unknown
// type and an unknown state. They are served on loopback and read through
// the client as a backfill or a reconciliation reads them.

// readPublished returns testdata/published/name.
func readPublished(tb testing.TB, name string) []byte {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "published", name))
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// publishedSeeds are small seeds for the fuzz targets: each transaction
// of testdata/published/transactions.json alone on a page, as it is
// there (indented) and compact. The whole page would make the fuzzer
// spend its time minimizing large inputs.
func publishedSeeds(tb testing.TB) [][]byte {
	var src struct {
		Results []json.RawMessage `json:"results"`
	}
	if err := json.Unmarshal(readPublished(tb, "transactions.json"), &src); err != nil {
		tb.Fatal(err)
	}
	var seeds [][]byte
	for _, obj := range src.Results {
		for _, o := range [][]byte{obj, compacted(tb, obj)} {
			seeds = append(seeds, fmt.Appendf(nil, `{"results":[%s],"pages":{"next":null,"size":1}}`, o))
		}
	}
	return seeds
}

func compacted(tb testing.TB, b []byte) []byte {
	tb.Helper()
	var c bytes.Buffer
	if err := json.Compact(&c, b); err != nil {
		tb.Fatal(err)
	}
	return c.Bytes()
}

// serveBodies answers GET path with its body, as Fuse would.
func serveBodies(t *testing.T, bodies map[string][]byte) *Client {
	t.Helper()
	api := func(w http.ResponseWriter, r *http.Request) {
		b, ok := bodies[r.URL.Path]
		if !ok {
			writeJSON(w, http.StatusNotFound, ErrorBody{Code: "not_found", Error: "not found", Message: "not found"})
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(b)
	}
	c, _ := newFakeClient(t, &fakeFuse{api: api}, nil)
	return c
}

func utc(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t.UTC()
}

const (
	pubAccount  = "5f0c2d7e-8a41-4b6e-9f3a-1c2d3e4f5a01"
	pubPeer     = "5f0c2d7e-8a41-4b6e-9f3a-1c2d3e4f5a02"
	pubDollars  = "5f0c2d7e-8a41-4b6e-9f3a-1c2d3e4f5a03"
	pubTxPrefix = "0b6f3a0e-5c1d-4f7a-9d1e-2a7c5e0b"
)

// publishedObservations is what the ledger must make of each transaction
// of testdata/published/transactions.json, by the last four digits of its
// id; nil for those it must refuse as unknown.
var publishedObservations = map[string]*ledgerd.TransactionObservation{
	"1001": {AccountID: pubAccount, Kind: ledgerd.KindLocalPaymentOut, Status: ledgerd.StatusExecuted, Currency: "AED",
		Amounts: &ledgerd.TxAmounts{Instructed: 10000, Fee: 250, WithFee: 10250}, Purpose: "goods_bought",
		ExternalReference: "INV-2031", ExternalID: "pay-2031", FeeSource: ledgerd.FeeSourceIncluded,
		At: utc("2026-03-30T12:30:00.123456789+04:00"), CreatedAt: utc("2026-03-30T08:15:00Z")},
	"1002": {AccountID: pubAccount, Kind: ledgerd.KindLocalPaymentOut, Status: ledgerd.StatusSubmitted, Currency: "AED",
		Amounts: &ledgerd.TxAmounts{Instructed: 20000, Fee: 500, WithFee: 20500}, Purpose: "professional",
		ExternalReference: "INV-2032", FeeSource: ledgerd.FeeSourcePrimary,
		At: utc("2026-03-31T07:00:01Z"), CreatedAt: utc("2026-03-31T07:00:00Z")},
	"1003": {AccountID: pubAccount, Kind: ledgerd.KindLocalPaymentIn, Status: ledgerd.StatusSettled, Currency: "AED",
		Amounts: &ledgerd.TxAmounts{Instructed: 150000, WithFee: 150000}, Purpose: "goods_sold", ExternalReference: "PO 7781",
		// An inbound payment has no settled_at: its time is its creation.
		At: utc("2026-03-29T08:00:00Z"), CreatedAt: utc("2026-03-29T08:00:00Z")},
	"1004": {AccountID: pubAccount, Kind: ledgerd.KindLocalPaymentOut, Status: ledgerd.StatusFailed, Currency: "AED",
		Amounts: &ledgerd.TxAmounts{Instructed: 7000, WithFee: 7000}, Purpose: "rental", ExternalReference: "INV-2033",
		FailureReason: "bank_error: Beneficiary account closed",
		At:            utc("2026-03-31T09:30:00Z"), CreatedAt: utc("2026-03-31T09:00:00Z")},
	"1005": {AccountID: pubAccount, Kind: ledgerd.KindLocalPaymentOut, Status: ledgerd.StatusFailed, Currency: "AED",
		Amounts: &ledgerd.TxAmounts{Instructed: 99999999, WithFee: 99999999}, Purpose: "professional",
		ExternalReference: "INV-2034", FailureReason: "insufficient_funds",
		At: utc("2026-03-31T09:05:00.5Z"), CreatedAt: utc("2026-03-31T09:05:00Z")},
	"1006": {AccountID: pubAccount, Kind: ledgerd.KindReturnIn, Status: ledgerd.StatusSettled, Currency: "AED",
		Amounts: &ledgerd.TxAmounts{Instructed: 10000, WithFee: 10000}, ExternalReference: "RETURN INV-2031",
		ReturnedID: pubTxPrefix + "1001", At: utc("2026-04-02T11:00:00Z"), CreatedAt: utc("2026-04-02T11:00:00Z")},
	"1007": {AccountID: pubAccount, Kind: ledgerd.KindInternalTransferOut, Status: ledgerd.StatusCreated, Currency: "AED",
		Amounts: &ledgerd.TxAmounts{Instructed: 5000, WithFee: 5000}, CounterpartAccountID: pubPeer, Reference: "rent april",
		At: utc("2026-03-31T10:00:00Z"), CreatedAt: utc("2026-03-31T10:00:00Z")},
	"1008": {AccountID: pubAccount, Kind: ledgerd.KindInternalTransferOut, Status: ledgerd.StatusBooked, Currency: "AED",
		Amounts: &ledgerd.TxAmounts{Instructed: 6000, WithFee: 6000}, CounterpartAccountID: pubPeer, Reference: "rent may",
		ExternalID: "tr-0508", At: utc("2026-03-31T10:05:00Z"), CreatedAt: utc("2026-03-31T10:05:00Z")},
	"1009": {AccountID: pubAccount, Kind: ledgerd.KindInternalTransferIn, Status: ledgerd.StatusSettled, Currency: "AED",
		Amounts: &ledgerd.TxAmounts{Instructed: 8000, WithFee: 8000}, CounterpartAccountID: pubPeer, Reference: "float",
		At: utc("2026-03-31T10:10:03Z"), CreatedAt: utc("2026-03-31T10:10:00Z")},
	"1010": {AccountID: pubAccount, Kind: ledgerd.KindInternalTransferOut, Status: ledgerd.StatusFailed, Currency: "AED",
		Amounts: &ledgerd.TxAmounts{Instructed: 9000, WithFee: 9000}, CounterpartAccountID: pubPeer, Reference: "sweep",
		FailureReason: "system_error: ledger unavailable",
		At:            utc("2026-03-31T10:20:01Z"), CreatedAt: utc("2026-03-31T10:20:00Z")},
	"1011": {AccountID: pubDollars, Kind: ledgerd.KindExchangeOut, Status: ledgerd.StatusExecuted, Currency: "USD",
		Amounts: &ledgerd.TxAmounts{Instructed: 10000, WithFee: 10000}, CounterpartAccountID: pubAccount,
		CounterpartCurrency: "AED", CounterpartAmount: amt(36725), Rate: "3.6725", ExternalReference: "fx usd aed",
		At: utc("2026-03-31T11:00:05Z"), CreatedAt: utc("2026-03-31T11:00:00Z")},
	"1012": {AccountID: pubDollars, Kind: ledgerd.KindExchangeIn, Status: ledgerd.StatusSettled, Currency: "USD",
		Amounts: &ledgerd.TxAmounts{Instructed: 2723, WithFee: 2723}, CounterpartAccountID: pubAccount,
		CounterpartCurrency: "AED", CounterpartAmount: amt(10000), Rate: "0.27229", ExternalReference: "fx aed usd",
		At: utc("2026-03-31T11:30:00Z"), CreatedAt: utc("2026-03-31T11:30:00Z")},
	"1013": {AccountID: pubDollars, Kind: ledgerd.KindExchangeOut, Status: ledgerd.StatusFailed, Currency: "USD",
		Amounts: &ledgerd.TxAmounts{Instructed: 500, WithFee: 500}, CounterpartAccountID: pubAccount,
		// The rate as received, exponent and all; a failure reason the
		// reference does not list, kept.
		CounterpartCurrency: "AED", CounterpartAmount: amt(1836), Rate: "3.6725e0", ExternalReference: "fx expired",
		FailureReason: "quote_error: quote expired",
		At:            utc("2026-03-31T11:41:00Z"), CreatedAt: utc("2026-03-31T11:40:00Z")},
	"1014": {AccountID: pubAccount, Kind: ledgerd.KindFeeDebit, Status: ledgerd.StatusSettled, Currency: "AED",
		Amounts: &ledgerd.TxAmounts{Instructed: 500, WithFee: 500}, FeeTargetID: pubTxPrefix + "1002",
		At: utc("2026-03-31T07:00:02Z"), CreatedAt: utc("2026-03-31T07:00:02Z")},
	"1015": nil, // type card_payment
	"1016": nil, // state Reversed
}

func amt(v int64) *ledgerd.Amount {
	a := ledgerd.Amount(v)
	return &a
}

// TestClientReadsEveryPublishedTransactionShape: a listing page in Fuse's
// published shapes, pretty-printed or compact, through an account's
// listing, the organisation's listing and GET /v1/transactions/{id},
// decodes to the same transactions, each with its bytes in Raw, and each
// maps to the ledger's kind, status, amounts and times; an unknown type
// or state is refused as ErrUnknownTransaction, never guessed into money.
func TestClientReadsEveryPublishedTransactionShape(t *testing.T) {
	page := readPublished(t, "transactions.json")
	one := readPublished(t, "transaction.json")
	c := serveBodies(t, map[string][]byte{
		"/v1/accounts/" + pubAccount + "/transactions": page,
		"/v1/transactions":                         compacted(t, page),
		"/v1/transactions/" + pubTxPrefix + "1011": one,
	})
	got, err := c.ListTransactions(t.Context(), pubAccount, ListTransactionsParams{})
	if err != nil {
		t.Fatal(err)
	}
	if got.Pages.Next == nil || *got.Pages.Next != "eyJwIjoxNn0" || got.Pages.Size != 16 || len(got.Data) != 16 {
		t.Fatalf("page of %d, pages %+v", len(got.Data), got.Pages)
	}
	org, err := c.ListOrgTransactions(t.Context(), ListTransactionsParams{})
	if err != nil {
		t.Fatal(err)
	}
	// The same but for failure_reason, which is kept as it came.
	if len(org.Data) != len(got.Data) || !reflect.DeepEqual(org.Pages, got.Pages) {
		t.Fatalf("the compact page has %d transactions and pages %+v", len(org.Data), org.Pages)
	}
	for i, x := range org.Data {
		y := got.Data[i]
		if len(y.FailureReason) > 0 {
			y.FailureReason = compacted(t, y.FailureReason)
		}
		if !reflect.DeepEqual(x, y) {
			t.Errorf("%s: the compact page decodes otherwise than the pretty one:\n%+v\n%+v", x.ID, x, y)
		}
	}
	var objects struct{ Results []json.RawMessage }
	if err := json.Unmarshal(page, &objects); err != nil {
		t.Fatal(err)
	}
	for i, tx := range got.Data {
		if want := compacted(t, objects.Results[i]); !bytes.Equal(tx.Raw, want) {
			t.Errorf("%s: Raw %s, want %s", tx.ID, tx.Raw, want)
		}
		suffix := tx.ID[len(pubTxPrefix):]
		want, listed := publishedObservations[suffix]
		if !listed {
			t.Errorf("unexpected transaction %s", tx.ID)
			continue
		}
		o, err := tx.Observation()
		if want == nil {
			if !errors.Is(err, ErrUnknownTransaction) {
				t.Errorf("%s (%s %s): %+v, %v; want ErrUnknownTransaction", tx.ID, tx.Type, tx.State, o, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tx.ID, err)
			continue
		}
		w := *want
		w.TransactionID = tx.ID
		if !reflect.DeepEqual(o, w) {
			t.Errorf("%s:\n got %+v\nwant %+v", tx.ID, o, w)
		}
	}
	// What the observation does not carry is still on the object.
	byID := map[string]Transaction{}
	for _, tx := range got.Data {
		byID[tx.ID[len(pubTxPrefix):]] = tx
	}
	if p := byID["1001"]; p.Batch == nil || p.Batch.BatchSequenceNo != 3 || p.Scheme == nil || *p.Scheme != "uae_fts" ||
		p.Beneficiary == nil || p.Beneficiary.Identifier.IBAN != "AE460260001015333617101" || p.AuthorisedAt == nil {
		t.Errorf("payment's batch, scheme, beneficiary or authorised_at lost: %+v", p)
	}
	if p := byID["1002"]; p.ExternalID != nil || p.Scheme != nil || p.Batch != nil || p.ExecutedAt != nil {
		t.Errorf("null fields decoded as values: %+v", p)
	}
	if p := byID["1003"]; p.FeeSource != nil || *p.FeeAmount != 0 {
		t.Errorf("null fee_source: %+v", p.FeeSource)
	}
	if r := byID["1006"]; r.Reason != "Account closed" || r.Remitter == nil || r.Remitter.Name != "Noor Catering LLC" {
		t.Errorf("return's reason or remitter lost: %+v", r)
	}
	if f := byID["1004"]; string(f.FailureReason) != `{"bank_error": "Beneficiary account closed"}` {
		t.Errorf("failure_reason kept as %s", f.FailureReason)
	}
	if f := byID["1014"]; f.FeeTarget == nil || f.FeeTarget.Type != "Transaction" || f.Direction != "" || f.State != "" {
		t.Errorf("fee debit %+v", f)
	}

	tx, err := c.GetTransaction(t.Context(), pubTxPrefix+"1011")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(tx.Raw, compacted(t, one)) || tx.Rate != "3.6725" {
		t.Errorf("GET /transactions/{id}: raw %s rate %q", tx.Raw, tx.Rate)
	}
	o, err := tx.Observation()
	if err != nil || o.Status != ledgerd.StatusSubmitted || o.Rate != "3.6725" || !o.At.Equal(utc("2026-03-31T11:00:01Z")) ||
		o.FailureReason != "" {
		t.Errorf("GET /transactions/{id}: %+v, %v", o, err)
	}
}

// TestClientReadsPublishedAccounts: accounts with null customer_id,
// external_id and default_details, and wire and scan identifiers, decode
// and convert; an account without current_balance (absent or null) is
// refused, never read as a zero balance.
func TestClientReadsPublishedAccounts(t *testing.T) {
	missing := []byte(`{"id":"5f0c2d7e-8a41-4b6e-9f3a-1c2d3e4f5a09","account_name":"No balance","account_owner":"Acme",` +
		`"account_type":"virtual","status":"open","currency":"AED","available_balance":100,"addressable_details":[]}`)
	null := []byte(`{"id":"5f0c2d7e-8a41-4b6e-9f3a-1c2d3e4f5a08","account_name":"Null balance","account_owner":"Acme",` +
		`"account_type":"virtual","status":"open","currency":"AED","current_balance":null,"available_balance":100,"addressable_details":[]}`)
	c := serveBodies(t, map[string][]byte{
		"/v1/accounts": readPublished(t, "accounts.json"),
		"/v1/accounts/5f0c2d7e-8a41-4b6e-9f3a-1c2d3e4f5a09": missing,
		"/v1/accounts/5f0c2d7e-8a41-4b6e-9f3a-1c2d3e4f5a08": null,
	})
	asOf := time.Date(2026, 4, 1, 12, 0, 0, 0, time.FixedZone("GST", 4*3600))
	page, err := c.ListAccounts(t.Context(), 0, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Data) != 3 || page.Pages.Next != nil || page.Pages.Size != 100 {
		t.Fatalf("page %+v", page)
	}
	want := []ledgerd.AccountObservation{
		{AccountID: pubAccount, Name: "Operating", Type: "primary", CustomerID: "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d",
			ExternalID: "acme-ops", Currency: "AED", IBAN: "AE070331234567890123456", Status: AccountOpen,
			Balance: &ledgerd.AccountBalance{Current: 1250000, Available: 1229500, AsOf: asOf.UTC()}},
		{AccountID: pubDollars, Name: "Dollars", Type: "virtual", Currency: "USD", Status: AccountFrozen,
			Balance: &ledgerd.AccountBalance{AsOf: asOf.UTC()}},
		{AccountID: "5f0c2d7e-8a41-4b6e-9f3a-1c2d3e4f5a04", Name: "Pounds", Type: "payment", Currency: "GBP",
			Status: AccountClosed, Balance: &ledgerd.AccountBalance{Current: 4200, Available: 4200, AsOf: asOf.UTC()}},
	}
	for i, a := range page.Data {
		o, err := a.Observation(asOf)
		if err != nil || !reflect.DeepEqual(o, want[i]) {
			t.Errorf("account %s:\n got %+v, %v\nwant %+v", a.ID, o, err, want[i])
		}
	}
	if a := page.Data[1]; a.DefaultDetails != nil || a.CustomerID != nil || a.ExternalID != nil ||
		a.AddressableDetails[0].AccountDetails.String() != "026073150 000123456789" {
		t.Errorf("wire account %+v", a)
	}
	if a := page.Data[2]; a.DefaultDetails == nil || a.DefaultDetails.String() != "040004 12345678" ||
		a.AddressableDetails[0].PaymentSchemes[0] != "faster_payments" {
		t.Errorf("scan account %+v", a)
	}
	for _, id := range []string{"5f0c2d7e-8a41-4b6e-9f3a-1c2d3e4f5a09", "5f0c2d7e-8a41-4b6e-9f3a-1c2d3e4f5a08"} {
		a, err := c.GetAccount(t.Context(), id)
		if err != nil {
			t.Fatal(err)
		}
		if a.CurrentBalance != nil {
			t.Errorf("%s: current_balance read as %d", id, *a.CurrentBalance)
		}
		if o, err := a.Observation(asOf); !errors.Is(err, ErrIncompleteObject) || o.Balance != nil {
			t.Errorf("%s: observation %+v, %v; want ErrIncompleteObject and no balance", id, o, err)
		}
	}
}
