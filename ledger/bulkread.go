package ledger

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// BulkReader reads the book for a long reader that walks much of it (a
// reconciliation): on one connection of the read pool held for it, with
// a larger page cache while held (HoldReader), or on the pool itself when
// the pool has none to spare (PoolReader), each read then taking
// whichever connection is free.
//
// A reconciliation's merges read each account's transactions and entries
// as two sequential stretches of two covering indexes
// (fuse_transactions_account_id, entries_account) and take turns on such
// connections; its ledger-only checks walk their indexes on another. A few
// MiB of cache are enough for sequential reads, so memory is bounded by
// the setting, not by history. The setting is restored when Close gives
// the connection back to the pool, which frees the pages beyond it.
type BulkReader struct {
	db      *sql.DB   // the pool
	conn    *sql.Conn // the held connection; nil: the pool
	restore int64     // the connection's cache_size before
}

// q is where the reader's reads run.
func (b *BulkReader) q() querier {
	if b.conn != nil {
		return b.conn
	}
	return b.db
}

// querier is what a read runs on: the pool, a held connection, or a read
// transaction.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// eachRow runs query on q and calls row for each result row; what names
// the read in errors.
func eachRow(ctx context.Context, q querier, what, query string, args []any, row func(*sql.Rows) error) error {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	defer rows.Close()
	for rows.Next() {
		if err := row(rows); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}

// readColumn returns the values of the one column query reads, in its
// order; what names the read in errors.
func readColumn[T any](ctx context.Context, q querier, what, query string) ([]T, error) {
	var out []T
	err := eachRow(ctx, q, what, query, nil, func(rows *sql.Rows) error {
		var v T
		if err := rows.Scan(&v); err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		out = append(out, v)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// ReadConns is how many connections the read pool opens at most (0: no
// limit): a long reader holds fewer, leaving some to everyone else.
func (l *Ledger) ReadConns() int { return l.reader.Stats().MaxOpenConnections }

// PoolReader reads on the read pool; its Close does nothing.
func (l *Ledger) PoolReader() *BulkReader { return &BulkReader{db: l.reader} }

// HoldReader takes one connection of the read pool and sets its page
// cache to cacheMiB MiB until Close.
func (l *Ledger) HoldReader(ctx context.Context, cacheMiB int) (*BulkReader, error) {
	conn, err := l.reader.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("read ledger: %w", err)
	}
	b := &BulkReader{db: l.reader, conn: conn}
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

// Close gives a held connection back to the pool with its cache as
// before.
func (b *BulkReader) Close() error {
	if b.conn == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := b.conn.ExecContext(ctx, fmt.Sprintf(`PRAGMA cache_size = %d`, b.restore))
	if cerr := b.conn.Close(); err == nil {
		err = cerr
	}
	return err
}

// Snapshot begins a read transaction on the reader: the reads made
// through it see one state of the book. Close ends it.
func (b *BulkReader) Snapshot(ctx context.Context) (*Snapshot, error) {
	var tx *sql.Tx
	var err error
	if b.conn != nil {
		tx, err = b.conn.BeginTx(ctx, nil)
	} else {
		tx, err = b.db.BeginTx(ctx, nil)
	}
	if err != nil {
		return nil, fmt.Errorf("read ledger: %w", err)
	}
	return &Snapshot{tx: tx}, nil
}

// Snapshot is a read transaction of the book (BulkReader.Snapshot).
type Snapshot struct{ tx *sql.Tx }

// Close ends the read transaction.
func (s *Snapshot) Close() error { return s.tx.Rollback() }
