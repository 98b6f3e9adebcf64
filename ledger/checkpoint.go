package ledger

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Checkpoint is how far the backfill has safely read one Fuse account's
// transactions: the (updated_at, transaction_id) of the last item of the
// last committed page, in the listing's own order.
type Checkpoint struct {
	AccountID     string
	UpdatedAt     time.Time
	TransactionID string
	LastSuccessAt time.Time // when a run last finished this account
	LastError     string    // why the last run of this account failed, "" if it did not
}

// SaveCheckpoint advances the account's checkpoint inside the transaction
// of IngestAll, so that a page's observations and the checkpoint commit
// together or not at all. It never moves a checkpoint backwards. The
// account must already exist (any observation of it creates it).
func (tx *Tx) SaveCheckpoint(cp Checkpoint) error {
	t := tx.t
	if cp.AccountID == "" || cp.UpdatedAt.IsZero() {
		return fmt.Errorf("save checkpoint: account and updated_at are required")
	}
	upd := formatTime(cp.UpdatedAt)
	_, err := t.exec(`INSERT INTO sync_checkpoints (account_id, updated_at, transaction_id, last_success_at, last_error)
		VALUES (?, ?, ?, ?, NULL)
		ON CONFLICT (account_id) DO UPDATE SET
		  updated_at = excluded.updated_at, transaction_id = excluded.transaction_id,
		  last_success_at = COALESCE(excluded.last_success_at, last_success_at), last_error = NULL
		WHERE updated_at IS NULL OR (excluded.updated_at, excluded.transaction_id) >= (updated_at, transaction_id)`,
		cp.AccountID, upd, cp.TransactionID, formatTime(cp.LastSuccessAt))
	if err != nil {
		return fmt.Errorf("save checkpoint of %s: %w", cp.AccountID, err)
	}
	return nil
}

// Checkpoint returns the account's checkpoint; ok is false when no page of
// the account has ever been committed (LastError and LastSuccessAt may still
// be set).
func (l *Ledger) Checkpoint(ctx context.Context, accountID string) (cp Checkpoint, ok bool, err error) {
	var upd, txID, success, lastErr sql.NullString
	err = l.reader.QueryRowContext(ctx, `SELECT updated_at, transaction_id, last_success_at, last_error
		FROM sync_checkpoints WHERE account_id = ?`, accountID).Scan(&upd, &txID, &success, &lastErr)
	if errors.Is(err, sql.ErrNoRows) {
		return Checkpoint{AccountID: accountID}, false, nil
	}
	if err != nil {
		return cp, false, fmt.Errorf("read checkpoint of %s: %w", accountID, err)
	}
	cp.AccountID, cp.TransactionID, cp.LastError = accountID, txID.String, lastErr.String
	if cp.UpdatedAt, err = parseTime(upd); err != nil {
		return cp, false, err
	}
	if cp.LastSuccessAt, err = parseTime(success); err != nil {
		return cp, false, err
	}
	return cp, upd.Valid, nil
}

// RecordSyncResult notes the end of an account's backfill run: success
// (errText "") stamps last_success_at and clears last_error; a failure
// records why and leaves the checkpoint's position where it was. An
// account the ledger has never seen gets no row.
func (l *Ledger) RecordSyncResult(ctx context.Context, accountID string, at time.Time, errText string) error {
	return l.w.do(ctx, func(t *wtx) error {
		var err error
		if errText == "" {
			_, err = t.exec(`INSERT INTO sync_checkpoints (account_id, last_success_at)
				SELECT ?, ? WHERE EXISTS (SELECT 1 FROM fuse_accounts WHERE account_id = ?)
				ON CONFLICT (account_id) DO UPDATE SET last_success_at = excluded.last_success_at, last_error = NULL`,
				accountID, formatTime(at), accountID)
		} else {
			_, err = t.exec(`INSERT INTO sync_checkpoints (account_id, last_error)
				SELECT ?, ? WHERE EXISTS (SELECT 1 FROM fuse_accounts WHERE account_id = ?)
				ON CONFLICT (account_id) DO UPDATE SET last_error = excluded.last_error`,
				accountID, errText, accountID)
		}
		if err != nil {
			return fmt.Errorf("record sync result of %s: %w", accountID, err)
		}
		return nil
	})
}
