package reconcile

import (
	"database/sql"
	"testing"
)

// A final status seen again with an earlier time (the webhook after the
// backfill that booked the entry) moves status_at back, not final_at: at
// a cut-off between the two, the ledger's state follows its entry, which
// is what its totals count, instead of saying succeeded with nothing
// posted (a false status_mismatch).
func TestTheLedgerStateAtACutOffFollowsTheEntry(t *testing.T) {
	ts := func(s string) sql.NullString {
		return sql.NullString{String: "2026-01-01T" + s + ":00.000000000Z", Valid: true}
	}
	booked := ledgerTx{Kind: "local_payment_out", Status: "executed", CreatedAt: ts("10:00"), StatusAt: ts("10:05"),
		EntryState: sql.NullString{String: "posted", Valid: true}, EntryPendingAt: ts("10:00"), EntryFinalAt: ts("12:00"),
		Instructed: sql.NullInt64{Int64: 1000, Valid: true}, WithFee: sql.NullInt64{Int64: 1000, Valid: true}}
	noEntry := booked
	noEntry.EntryState, noEntry.EntryPendingAt, noEntry.EntryFinalAt = sql.NullString{}, sql.NullString{}, sql.NullString{}
	for _, tt := range []struct {
		name  string
		l     ledgerTx
		asOf  string
		state lifeState
	}{
		{"booked, before its final_at", booked, "11:00", inFlight},
		{"booked, after its final_at", booked, "12:30", succeeded},
		{"no entry yet", noEntry, "11:00", succeeded},
		{"before creation", booked, "09:00", absent},
	} {
		asOf := ts(tt.asOf).String
		if got := tt.l.stateAt(asOf); got != tt.state {
			t.Errorf("%s: state %v, want %v", tt.name, got, tt.state)
		}
		if tt.l.EntryState.Valid {
			tot, err := tt.l.totals(asOf)
			if err != nil {
				t.Fatal(err)
			}
			if posted := tot.effect != 0; posted != (tt.state == succeeded) {
				t.Errorf("%s: state %v but effect %d at the cut-off", tt.name, tt.state, tot.effect)
			}
		}
	}
}
