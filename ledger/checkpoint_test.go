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
