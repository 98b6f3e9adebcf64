package ledger

import (
	"context"
	"errors"
	"testing"
)

func TestCheckpointCommitsWithItsPageOrNotAtAll(t *testing.T) {
	l := openTest(t, Options{})
	ctx := context.Background()
	obs := scenario()
	acct := "aaaaaaaa-0000-4000-8000-000000000001"
	page1 := obs[:4]
	if _, err := l.IngestAll(ctx, page1, func(tx *Tx) error {
		return tx.SaveCheckpoint(Checkpoint{AccountID: acct, UpdatedAt: at(1), TransactionID: "10000000-0000-4000-8000-000000000001"})
	}); err != nil {
		t.Fatal(err)
	}
	cp, ok, err := l.Checkpoint(ctx, acct)
	if err != nil || !ok || !cp.UpdatedAt.Equal(at(1)) || cp.TransactionID != "10000000-0000-4000-8000-000000000001" {
		t.Fatalf("checkpoint %+v ok=%v err=%v", cp, ok, err)
	}
	// A page whose checkpoint write fails leaves neither its observations
	// nor a moved checkpoint.
	events := count(t, l.Reader(), "events")
	boom := errors.New("api failed mid-page")
	_, err = l.IngestAll(ctx, obs[4:8], func(tx *Tx) error {
		if err := tx.SaveCheckpoint(Checkpoint{AccountID: acct, UpdatedAt: at(15), TransactionID: "x"}); err != nil {
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
	if cp2, _, _ := l.Checkpoint(ctx, acct); !cp2.UpdatedAt.Equal(at(1)) {
		t.Errorf("checkpoint moved to %v by a failed page", cp2.UpdatedAt)
	}
	// A checkpoint never moves backwards.
	if _, err := l.IngestAll(ctx, nil, func(tx *Tx) error {
		return tx.SaveCheckpoint(Checkpoint{AccountID: acct, UpdatedAt: at(0), TransactionID: "z"})
	}); err != nil {
		t.Fatal(err)
	}
	if cp3, _, _ := l.Checkpoint(ctx, acct); !cp3.UpdatedAt.Equal(at(1)) {
		t.Errorf("checkpoint moved back to %v", cp3.UpdatedAt)
	}
	if err := l.RecordSyncResult(ctx, acct, at(99), "fuse: 503"); err != nil {
		t.Fatal(err)
	}
	if cp4, _, _ := l.Checkpoint(ctx, acct); cp4.LastError != "fuse: 503" || !cp4.UpdatedAt.Equal(at(1)) {
		t.Errorf("after a failed run: %+v", cp4)
	}
	if _, ok, _ := l.Checkpoint(ctx, "never-seen"); ok {
		t.Error("checkpoint for an account never backfilled")
	}
}

func TestFailureBeforeAnyPageIsRecorded(t *testing.T) {
	l := openTest(t, Options{})
	ctx := context.Background()
	obs := scenario()
	ingestAll(t, l, obs[:1]) // the account exists, nothing was ever backfilled
	acct := "aaaaaaaa-0000-4000-8000-000000000001"
	if err := l.RecordSyncResult(ctx, acct, at(5), "fuse: 503 on the first page"); err != nil {
		t.Fatal(err)
	}
	cp, ok, err := l.Checkpoint(ctx, acct)
	if err != nil || ok || cp.LastError != "fuse: 503 on the first page" {
		t.Fatalf("checkpoint %+v ok=%v err=%v: want the error recorded with no position", cp, ok, err)
	}
	// The first committed page then sets the position and clears the error.
	if _, err := l.IngestAll(ctx, nil, func(tx *Tx) error {
		return tx.SaveCheckpoint(Checkpoint{AccountID: acct, UpdatedAt: at(1), TransactionID: "t"})
	}); err != nil {
		t.Fatal(err)
	}
	if cp, ok, _ := l.Checkpoint(ctx, acct); !ok || cp.LastError != "" || !cp.UpdatedAt.Equal(at(1)) {
		t.Errorf("after the first page: %+v ok=%v", cp, ok)
	}
	// An account with no transactions still gets its last success.
	if err := l.RecordSyncResult(ctx, "bbbbbbbb-0000-4000-8000-000000000002", at(6), ""); err != nil {
		t.Fatal(err)
	}
	ingestAll(t, l, obs[1:2])
	if err := l.RecordSyncResult(ctx, "bbbbbbbb-0000-4000-8000-000000000002", at(7), ""); err != nil {
		t.Fatal(err)
	}
	if cp, ok, _ := l.Checkpoint(ctx, "bbbbbbbb-0000-4000-8000-000000000002"); ok || !cp.LastSuccessAt.Equal(at(7)) {
		t.Errorf("empty account: %+v ok=%v, want last_success_at with no position", cp, ok)
	}
}
