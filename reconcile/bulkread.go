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
// The merge looks up each ledger row's entry in entries_transaction_state
// by transaction_id, and an account's transactions are spread over the
// whole index: whichever connection does it, nearly every lookup reads a
// page from the file. Merges on four pool connections at once (each with
// SQLite's 2 MiB cache, each evicting what the others will need next)
// cost a third more CPU, in profiles of a million transactions, than the
// same merges taking turns on one connection with a few MiB more; a cache
// large enough to hold the index (about 126 MiB per million transactions)
// costs more CPU again in modernc's page cache and twice its size in
// resident memory, so the default stays small. Its memory is bounded by
// the setting, not by history. The setting is restored when the run gives
// the connection back to the pool, which frees the pages beyond it.
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
