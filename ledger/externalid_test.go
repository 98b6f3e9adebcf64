package ledger

import (
	"context"
	"testing"

	"github.com/ledgerd/ledgerd"
)

// Fuse's "none" (no external_id set) is kept as NULL, in any case, on
// both write paths (one observation alone, several in a group commit);
// a real external_id is kept as sent.
func TestExternalIDNoneIsNoExternalID(t *testing.T) {
	for _, bulk := range []bool{false, true} {
		l := openTest(t, Options{noBulk: !bulk})
		var s script
		const acct = "aaaaaaaa-0000-4000-8000-000000000001"
		obs := []ledgerd.Observation{s.account(acct, "AED")}
		for i, ext := range []string{"none", "None", "NONE", "INV-7", "none-of-these"} {
			obs = append(obs, s.tx(ledgerd.TransactionObservation{
				TransactionID: "10000000-0000-4000-8000-00000000000" + string(rune('1'+i)), AccountID: acct,
				Kind: ledgerd.KindLocalPaymentOut, Status: ledgerd.StatusCreated, At: at(i), Currency: "AED",
				Amounts: amounts(1000, 10), ExternalID: ext,
			}))
		}
		if bulk {
			if _, err := l.IngestAll(context.Background(), obs, nil); err != nil {
				t.Fatal(err)
			}
		} else {
			for _, o := range obs {
				if _, err := l.Ingest(context.Background(), o); err != nil {
					t.Fatal(err)
				}
			}
		}
		got := map[string]string{}
		rows, err := l.Reader().Query(`SELECT transaction_id, COALESCE(external_id, 'NULL') FROM fuse_transactions ORDER BY transaction_id`)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var id, ext string
			if err := rows.Scan(&id, &ext); err != nil {
				t.Fatal(err)
			}
			got[id[len(id)-1:]] = ext
		}
		rows.Close()
		want := map[string]string{"1": "NULL", "2": "NULL", "3": "NULL", "4": "INV-7", "5": "none-of-these"}
		for k, w := range want {
			if got[k] != w {
				t.Errorf("bulk=%v: transaction %s external_id %q, want %q", bulk, k, got[k], w)
			}
		}
	}
}

// A version-4 file that kept "none" gets NULL on upgrade.
func TestVersion4NoneExternalIDsBecomeNullOnUpgrade(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := fileAtVersion(t, 4, append(eventAndAccount(),
		`INSERT INTO fuse_transactions (transaction_id, kind, account_id, currency, status, external_id, first_seq, last_seq, source)
		 VALUES ('tx-1', 'local_payment_out', 'acct-1', 'AED', 'created', 'none', 1, 1, 'webhook'),
		        ('tx-2', 'local_payment_out', 'acct-1', 'AED', 'created', 'None', 1, 1, 'webhook'),
		        ('tx-3', 'local_payment_out', 'acct-1', 'AED', 'created', 'INV-7', 1, 1, 'webhook')`)...)
	l, err := Open(ctx, path, Options{})
	if err != nil {
		t.Fatalf("Open of a version-4 file: %v", err)
	}
	defer l.Close()
	var nulls int
	var kept string
	if err := l.Reader().QueryRow(`SELECT count(*) FILTER (WHERE external_id IS NULL), max(external_id) FROM fuse_transactions`).
		Scan(&nulls, &kept); err != nil {
		t.Fatal(err)
	}
	if nulls != 2 || kept != "INV-7" {
		t.Errorf("after upgrade: %d NULL external_ids and %q kept, want 2 and INV-7", nulls, kept)
	}
}
