package ledger

import (
	"cmp"
	"database/sql"
	"maps"
	"slices"
)

// writeCache is the writer's copy of committed state, so that the hot path
// reads less: the hash of the newest event, the Fuse accounts and their
// currencies, the ledger accounts that exist, and the running balances,
// which it also writes behind (the balances changed since the last flush
// are dirty). Every change made during a transaction is logged, so that a
// unit rolled back to its savepoint takes its changes back (mark,
// rollback); once the transaction commits the log is dropped (commit);
// after anything else, or when another connection has written the file,
// everything is dropped (reset). Owned by the writer's loop.
type writeCache struct {
	lastHash       []byte
	accounts       map[string]sql.NullString // Fuse account → its currency, if known
	ledgerAccounts map[string]bool
	balances       map[balanceKey]balanceRow
	dirty          map[balanceKey]bool // balances to write before commit
	undo           []func()            // how to take back each change, newest last
}

type balanceKey struct{ account, currency string }

// balanceRow is one row of the balances table.
type balanceRow struct{ posted, pendingDebits, pendingCredits int64 }

// cacheMark is a point in the transaction the cache can be rolled back to.
type cacheMark struct {
	undo     int
	lastHash []byte
}

func (c *writeCache) mark() cacheMark { return cacheMark{len(c.undo), c.lastHash} }

// rollback takes back the changes made since m, newest first (those
// still logged: a reset since m dropped the log with the caches).
func (c *writeCache) rollback(m cacheMark) {
	n := min(m.undo, len(c.undo))
	for i := len(c.undo) - 1; i >= n; i-- {
		c.undo[i]()
	}
	c.undo = c.undo[:n]
	c.lastHash = m.lastHash
}

// commit keeps every change: the transaction that made them committed.
func (c *writeCache) commit() {
	clear(c.undo) // let the closures go; the slice is reused
	c.undo = c.undo[:0]
}

// reset drops every cache and the log, and starts again from lastHash,
// the hash of the newest event in the file.
func (c *writeCache) reset(lastHash []byte) {
	c.lastHash = lastHash
	c.accounts = map[string]sql.NullString{}
	c.ledgerAccounts = map[string]bool{}
	c.balances = map[balanceKey]balanceRow{}
	c.dirty = map[balanceKey]bool{}
	c.undo = nil
}

// setAccount caches an account's currency.
func (c *writeCache) setAccount(id string, currency sql.NullString) {
	old, had := c.accounts[id]
	c.accounts[id] = currency
	c.undo = append(c.undo, func() {
		if had {
			c.accounts[id] = old
		} else {
			delete(c.accounts, id)
		}
	})
}

// addLedgerAccount notes that a ledger account exists.
func (c *writeCache) addLedgerAccount(name string) {
	c.ledgerAccounts[name] = true
	c.undo = append(c.undo, func() { delete(c.ledgerAccounts, name) })
}

// loadBalance caches a running balance as read from the file.
func (c *writeCache) loadBalance(key balanceKey, row balanceRow) {
	c.balances[key] = row
	c.undo = append(c.undo, func() { delete(c.balances, key) })
}

// setBalance changes a cached running balance, to be written before
// commit. The key stays dirty if the change is taken back: writing the
// old value again is harmless.
func (c *writeCache) setBalance(key balanceKey, row balanceRow) {
	old := c.balances[key]
	c.balances[key] = row
	c.dirty[key] = true
	c.undo = append(c.undo, func() { c.balances[key] = old })
}

// dirtyBalances returns the keys of the balances changed since the last
// flush, in a fixed order, and marks them clean.
func (c *writeCache) dirtyBalances() []balanceKey {
	keys := make([]balanceKey, 0, len(c.dirty))
	for k := range c.dirty {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b balanceKey) int {
		return cmp.Or(cmp.Compare(a.account, b.account), cmp.Compare(a.currency, b.currency))
	})
	clear(c.dirty)
	return keys
}

// dropBalances writes the dirty balances with flush, then forgets every
// balance; rolled back, the cache and the dirty set come back as they were.
func (c *writeCache) dropBalances(flush func() error) error {
	cache, dirty := c.balances, maps.Clone(c.dirty)
	c.undo = append(c.undo, func() { c.balances, c.dirty = cache, dirty })
	if err := flush(); err != nil {
		return err
	}
	c.balances = map[balanceKey]balanceRow{}
	return nil
}
