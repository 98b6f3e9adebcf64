package ledger

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/ledgerd/ledgerd"
)

// TestSyncWindowCommitsWithItsPageOrNotAtAll: a page's observations and
// its window's advance commit together; a window another run moved is not
// written over.
func TestSyncWindowCommitsWithItsPageOrNotAtAll(t *testing.T) {
	t.Parallel()
	l := openTest(t, Options{})
	ctx := context.Background()
	obs := scenario()
	w0, err := l.SyncWindow(ctx, ScopeOrg)
	if err != nil || w0.Listing != nil || !w0.NextFrom.IsZero() || !w0.UpdatedAt.IsZero() {
		t.Fatalf("window never written: %+v (%v), want a zero one", w0, err)
	}
	// The first page of a listing from the start to at(60).
	w1 := SyncWindow{Scope: ScopeOrg, UpdatedAt: at(61),
		Listing: &WindowListing{To: at(60), Latest: at(2), Cursor: "c1", Pages: 1}}
	if _, err := l.IngestAll(ctx, obs[:4], func(tx *Tx) error { return tx.SaveSyncWindow(w0, w1) }); err != nil {
		t.Fatal(err)
	}
	got, err := l.SyncWindow(ctx, ScopeOrg)
	if err != nil || got.Listing == nil || *got.Listing != *w1.Listing || !got.UpdatedAt.Equal(at(61)) {
		t.Fatalf("window %+v (%v), want %+v", got, err, w1)
	}
	// A page whose window write fails leaves neither its observations nor
	// a moved window.
	events := count(t, l.Reader(), "events")
	boom := errors.New("api failed mid-page")
	w2 := w1
	w2.Listing = &WindowListing{To: at(60), Latest: at(15), Cursor: "c2", Pages: 2}
	_, err = l.IngestAll(ctx, obs[4:8], func(tx *Tx) error {
		if err := tx.SaveSyncWindow(w1, w2); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v", err)
	}
	if n := count(t, l.Reader(), "events"); n != events {
		t.Errorf("events %d, want %d: a failed page left observations", n, events)
	}
	if got, _ := l.SyncWindow(ctx, ScopeOrg); got.Listing.Cursor != "c1" {
		t.Errorf("cursor moved to %q by a failed page", got.Listing.Cursor)
	}
	// A run that read the window before another moved it writes nothing.
	if _, err := l.IngestAll(ctx, obs[4:8], func(tx *Tx) error { return tx.SaveSyncWindow(w1, w2) }); err != nil {
		t.Fatal(err)
	}
	if _, err := l.IngestAll(ctx, obs[8:9], func(tx *Tx) error { return tx.SaveSyncWindow(w1, w2) }); !errors.Is(err, ErrWindowMoved) {
		t.Fatalf("stale compare-and-set: %v, want ErrWindowMoved", err)
	}
	if _, err := l.IngestAll(ctx, nil, func(tx *Tx) error { return tx.SaveSyncWindow(w0, w1) }); !errors.Is(err, ErrWindowMoved) {
		t.Fatalf("a second first write: %v, want ErrWindowMoved", err)
	}
	// The last page ends the listing.
	w3 := SyncWindow{Scope: ScopeOrg, NextFrom: at(15), UpdatedAt: at(62)}
	if _, err := l.IngestAll(ctx, nil, func(tx *Tx) error { return tx.SaveSyncWindow(w2, w3) }); err != nil {
		t.Fatal(err)
	}
	if got, _ := l.SyncWindow(ctx, ScopeOrg); got.Listing != nil || !got.NextFrom.Equal(at(15)) {
		t.Errorf("after the last page: %+v, want next_from %s and no listing", got, at(15))
	}
	// Scopes are apart.
	if got, _ := l.SyncWindow(ctx, AccountScope("aaaaaaaa-0000-4000-8000-000000000001")); !got.UpdatedAt.IsZero() {
		t.Errorf("account scope shares the organisation's window: %+v", got)
	}
}

// TestSyncResultsAreRecordedPerAccount: a run's outcome is recorded for
// each account it covered, in one transaction, and only for accounts the
// ledger knows.
func TestSyncResultsAreRecordedPerAccount(t *testing.T) {
	l := openTest(t, Options{})
	ctx := context.Background()
	obs := scenario()
	ingestAll(t, l, obs[:1]) // account A exists
	const A, B = "aaaaaaaa-0000-4000-8000-000000000001", "bbbbbbbb-0000-4000-8000-000000000002"
	if err := l.RecordSyncResult(ctx, []string{A, B}, at(5), "fuse: 503 on the first page"); err != nil {
		t.Fatal(err)
	}
	cp, ok, err := l.Checkpoint(ctx, A)
	if err != nil || !ok || cp.LastError != "fuse: 503 on the first page" || !cp.LastSuccessAt.IsZero() {
		t.Fatalf("checkpoint %+v ok=%v err=%v: want the error recorded", cp, ok, err)
	}
	if _, ok, _ := l.Checkpoint(ctx, B); ok {
		t.Error("a result recorded for an account the ledger has never seen")
	}
	ingestAll(t, l, obs[1:3])
	if err := l.RecordSyncResult(ctx, []string{A, B}, at(7), ""); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{A, B} {
		if cp, ok, _ := l.Checkpoint(ctx, id); !ok || cp.LastError != "" || !cp.LastSuccessAt.Equal(at(7)) {
			t.Errorf("account %s after a good run: %+v ok=%v", id, cp, ok)
		}
	}
}

// TestOpenTransactionsAndCreatedSince: what the backfill's planning reads
// of the ledger: the transactions not final (newest first), which of some
// still are, and how many were created since each of a few times.
func TestOpenTransactionsAndCreatedSince(t *testing.T) {
	l := openTest(t, Options{})
	ctx := context.Background()
	ingestAll(t, l, scenario())
	// The scenario leaves one payment created at 50 and not final.
	open, err := l.OpenTransactions(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, o := range open {
		ids = append(ids, o.TransactionID)
	}
	if want := []string{"20000000-0000-4000-8000-000000000003"}; !slices.Equal(ids, want) || !open[0].CreatedAt.Equal(at(50)) {
		t.Fatalf("open transactions %+v, want %v created at %s", open, want, at(50))
	}
	if o, _ := l.OpenTransactions(ctx, "aaaaaaaa-0000-4000-8000-000000000001"); len(o) != 0 {
		t.Errorf("account A has open transactions %+v, want none", o)
	}
	// A status with no amounts yet is not final in the ledger either.
	s := script{n: 1000}
	ingestAll(t, l, []ledgerd.Observation{s.tx(ledgerd.TransactionObservation{
		TransactionID: "50000000-0000-4000-8000-000000000001", AccountID: "aaaaaaaa-0000-4000-8000-000000000001",
		Kind: ledgerd.KindLocalPaymentOut, Status: ledgerd.StatusExecuted, At: at(70)})})
	open, _ = l.OpenTransactions(ctx, "")
	if len(open) != 2 || open[0].TransactionID != "50000000-0000-4000-8000-000000000001" {
		t.Errorf("open transactions %+v, want the one without amounts first (newest)", open)
	}

	still, err := l.StillOpen(ctx, []string{"50000000-0000-4000-8000-000000000001", "20000000-0000-4000-8000-000000000001",
		"20000000-0000-4000-8000-000000000003", "never-seen"})
	if err != nil || len(still) != 2 || !still["50000000-0000-4000-8000-000000000001"] || !still["20000000-0000-4000-8000-000000000003"] {
		t.Errorf("still open %v (%v), want the two open ones only", still, err)
	}

	cuts := []time.Time{at(45), at(30), at(2), at(1), at(0)}
	got, err := l.CreatedSince(ctx, "", cuts)
	if err != nil {
		t.Fatal(err)
	}
	var want []int
	for _, c := range cuts {
		want = append(want, count(t, l.Reader(), "fuse_transactions WHERE created_at >= '"+formatTime(c).String+"'"))
	}
	if !slices.Equal(got, want) || want[0] == 0 || want[4] <= want[0] {
		t.Errorf("created since %v: %v, want %v", cuts, got, want)
	}
	if _, err := l.CreatedSince(ctx, "", []time.Time{at(1), at(2)}); err == nil {
		t.Error("cuts oldest first accepted")
	}
}
