package ledger

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/ledgerd/ledgerd"
)

// BalanceReadDigest names an account read from Fuse with its balance (raw:
// the account object as read), for the id of the event that records it:
// 32 hex digits of SHA-256.
//
// The digest is that of raw alone, so the same balance read again is one
// event and a duplicate, except when the ledger last recorded a different
// balance: then it also covers when that balance was recorded. Without
// that, a balance that comes back to an earlier value (1000.00, 1500.00,
// then 1000.00 again: an account swept to zero every day) would be a
// duplicate of the first read, and fuse_current would keep 1500.00. The
// recorded time moves with every balance recorded, so no sequence of
// reads can repeat an earlier id.
func (l *Ledger) BalanceReadDigest(ctx context.Context, raw []byte, a ledgerd.AccountObservation) (string, error) {
	h := sha256.New()
	h.Write(raw)
	if b := a.Balance; b != nil {
		var cur, avail sql.NullInt64
		var at sql.NullString
		err := l.reader.QueryRowContext(ctx,
			`SELECT fuse_current, fuse_available, fuse_balance_at FROM fuse_accounts WHERE account_id = ?`,
			a.AccountID).Scan(&cur, &avail, &at)
		switch {
		case errors.Is(err, sql.ErrNoRows):
		case err != nil:
			return "", fmt.Errorf("%w: read the recorded balance of account %s: %w", ErrUnavailable, a.AccountID, err)
		case at.Valid && (cur.Int64 != int64(b.Current) || avail.Int64 != int64(b.Available)):
			h.Write([]byte("\x00after balance recorded at "))
			h.Write([]byte(at.String))
		}
	}
	return hex.EncodeToString(h.Sum(nil))[:32], nil
}
