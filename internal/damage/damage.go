// Package damage overwrites bytes of a closed ledgerd database file, as a
// failing disk or a stray write would, for tests of what ledgerd does with
// a damaged file. The file must have been closed cleanly (its WAL
// checkpointed), so that every page is in the file itself.
package damage

import (
	"bytes"
	"database/sql"
	"fmt"
	"os"

	_ "modernc.org/sqlite" // the driver, to find an index's pages
)

// EventBody flips the case of one letter in the stored body of event seq,
// wherever the body's bytes occur in the file (a free page may still hold
// an old copy of the live one): the body no longer matches its hash, and
// SQLite itself notices nothing. The body must fit in its page.
func EventBody(path string, seq int64) error {
	var raw []byte
	if err := query(path, func(db *sql.DB) error {
		return db.QueryRow("SELECT raw FROM events WHERE seq = ?", seq).Scan(&raw)
	}); err != nil {
		return fmt.Errorf("damage event %d: %w", seq, err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("damage event %d: %w", seq, err)
	}
	k := bytes.IndexFunc(raw, func(r rune) bool { return r >= 'a' && r <= 'z' })
	found := false
	for off := 0; k >= 0; {
		i := bytes.Index(b[off:], raw)
		if i < 0 {
			break
		}
		found = true
		if err := overwrite(path, int64(off+i+k), []byte{raw[k] ^ 0x20}); err != nil {
			return err
		}
		off += i + len(raw)
	}
	if !found {
		return fmt.Errorf("damage event %d: its body (with a letter) is not in %s in one piece", seq, path)
	}
	return nil
}

// IndexPage overwrites the root page of the named index with a byte that
// is no b-tree page type: SQLite's quick_check reports it, and a query
// through the index fails with SQLITE_CORRUPT.
func IndexPage(path, index string) error {
	var pageSize, root int64
	if err := query(path, func(db *sql.DB) error {
		if err := db.QueryRow("PRAGMA page_size").Scan(&pageSize); err != nil {
			return err
		}
		return db.QueryRow("SELECT rootpage FROM sqlite_schema WHERE type = 'index' AND name = ?", index).Scan(&root)
	}); err != nil {
		return fmt.Errorf("damage index %s: %w", index, err)
	}
	return overwrite(path, (root-1)*pageSize, bytes.Repeat([]byte{0xa5}, int(pageSize)))
}

// query runs fn on the file opened read-only.
func query(path string, fn func(*sql.DB) error) error {
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		return err
	}
	err = fn(db)
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	return err
}

func overwrite(path string, off int64, b []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("damage %s: %w", path, err)
	}
	if _, err := f.WriteAt(b, off); err != nil {
		f.Close()
		return fmt.Errorf("damage %s: %w", path, err)
	}
	return f.Close()
}
