package syncer

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/ledgerd/ledgerd"
	"github.com/ledgerd/ledgerd/fuse"
	"github.com/ledgerd/ledgerd/ledger"
)

// Event types of backfilled objects, as stored in events.type.
const (
	TypeTransaction = "backfill.transaction"
	TypeAccount     = "backfill.account"
)

// eventID names a backfilled object by its content: the same object read
// again (the overlap window, a resumed run) is the same event and a
// duplicate, while an object that changed (a new state, a new balance) is a new event. The prefix keeps the ids apart from
// Fuse's UUIDs.
func eventID(raw []byte) string {
	sum := sha256.Sum256(raw)
	return "backfill:" + hex.EncodeToString(sum[:])[:32]
}

// transactionObservation turns one listed transaction into what the ledger
// ingests. Raw is the object as Fuse sent it, compacted, so that its id
// depends on the content and not on how Fuse spaced its JSON. An object
// of a type or state the reference does not name is kept as an unhandled
// event (unknown true): stored whole and reported, never booked.
func transactionObservation(t fuse.Transaction, receivedAt time.Time) (obs ledgerd.Observation, unknown bool, err error) {
	o, err := t.Observation()
	unknown = errors.Is(err, fuse.ErrUnknownTransaction)
	if err != nil && !unknown {
		return ledgerd.Observation{}, false, fmt.Errorf("%w: %w", ErrInvalidObject, err)
	}
	raw := t.Raw
	if raw == nil {
		if raw, err = json.Marshal(t); err != nil {
			return ledgerd.Observation{}, false, fmt.Errorf("%w: encode transaction %s: %w", ErrInvalidObject, t.ID, err)
		}
	}
	obs = ledgerd.Observation{
		Event: ledgerd.Event{
			ID: eventID(raw), Type: TypeTransaction, Source: ledgerd.SourceBackfill,
			FuseTime: t.StateAt(), ReceivedAt: receivedAt, Raw: raw,
		},
	}
	if !unknown {
		obs.Transaction = &o
	}
	return obs, unknown, nil
}

// accountObservation turns one account read from Fuse, with the balance it
// reported at asOf, into what the ledger ingests. Fuse gives accounts no
// updated_at; FuseTime is when the balance was read. Its id is the same
// balance read again is the same event, but a balance that comes back to
// an earlier value is a new one (ledger.BalanceReadDigest).
func accountObservation(ctx context.Context, l *ledger.Ledger, a fuse.Account, asOf time.Time) (ledgerd.Observation, error) {
	o, err := a.Observation(asOf)
	if err != nil {
		return ledgerd.Observation{}, fmt.Errorf("%w: %w", ErrInvalidObject, err)
	}
	raw, err := json.Marshal(a)
	if err != nil {
		return ledgerd.Observation{}, fmt.Errorf("%w: encode account %s: %w", ErrInvalidObject, a.ID, err)
	}
	digest, err := l.BalanceReadDigest(ctx, raw, o)
	if err != nil {
		return ledgerd.Observation{}, err
	}
	return ledgerd.Observation{
		Event: ledgerd.Event{
			ID: "backfill:" + digest, Type: TypeAccount, Source: ledgerd.SourceBackfill,
			FuseTime: asOf.UTC(), ReceivedAt: asOf, Raw: raw,
		},
		Account: &o,
	}, nil
}
