package reconcile

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// bulkReader is one connection of the ledger's read pool, held for a run,
// with a larger page cache while the run holds it.
//
// The merges read each account's transactions and entries as two
// sequential stretches of two covering indexes (fuse_transactions_account_id,
// entries_account) and take turns on one such connection; the ledger-only
// checks walk their indexes on the other. A few MiB of cache are enough for
// sequential reads, so memory is bounded by the setting, not by history.
// The setting is restored when the run gives the connection back to the
// pool, which frees the pages beyond it.
type bulkReader struct {
	conn    *sql.Conn
	restore int64 // the connection's cache_size before
}

func openBulkReader(ctx context.Context, db *sql.DB, cacheMiB int) (*bulkReader, error) {
	conn, err := db.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("read ledger: %w", err)
	}
	b := &bulkReader{conn: conn}
	if err := conn.QueryRowContext(ctx, `PRAGMA cache_size`).Scan(&b.restore); err != nil {
		conn.Close()
		return nil, fmt.Errorf("read ledger: page cache: %w", err)
	}
	// Negative: KiB rather than pages. PRAGMA takes no bound parameters;
	// the size is an int.
	if _, err := conn.ExecContext(ctx, fmt.Sprintf(`PRAGMA cache_size = %d`, -cacheMiB*1024)); err != nil {
		conn.Close()
		return nil, fmt.Errorf("read ledger: page cache: %w", err)
	}
	return b, nil
}

// close gives the connection back to the pool with its cache as before.
func (b *bulkReader) close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := b.conn.ExecContext(ctx, fmt.Sprintf(`PRAGMA cache_size = %d`, b.restore))
	if cerr := b.conn.Close(); err == nil {
		err = cerr
	}
	return err
}
