package ledger

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/ledgerd/ledgerd"
)

// The typed reads here are what a reconciliation reads of one account in
// a Snapshot, and of the accounts the ledger knows: its merge walks every
// transaction of the account with its entry, in transaction_id order.

// StoredTransaction is a Fuse transaction as the ledger holds it, with its
// entry: a fuse_transactions row and the entry that books it. A column
// the ledger does not know (yet) is NULL. Times are the stored text (UTC,
// fixed width, so that comparing the text compares the times: a
// reconciliation compares millions of them, and parsing them would cost
// more than the comparisons).
type StoredTransaction struct {
	ID, Kind, AccountID                      string
	CPAccountID, Currency, CPCurrency        sql.NullString
	Instructed, Fee, WithFee, CPAmount       sql.NullInt64
	Status                                   string
	StatusAt, CreatedAt                      sql.NullString
	FeeSource                                sql.NullString
	EntryState, EntryPendingAt, EntryFinalAt sql.NullString
}

// storedTxSQL reads one transaction with its entry (look-ups by id).
const storedTxSQL = `SELECT t.transaction_id, t.kind, t.account_id, t.counterpart_account_id, t.currency,
	t.instructed_amount, t.fee_amount, t.amount_with_fee, t.counterpart_currency, t.counterpart_amount,
	t.status, t.status_at, t.created_at, t.fee_source, e.state, e.pending_at, e.final_at
	FROM fuse_transactions t LEFT JOIN entries e ON e.transaction_id = t.transaction_id
	WHERE t.transaction_id = ?`

// Transaction reads one transaction with its entry; ok is false when the
// ledger has no transaction id.
func (s *Snapshot) Transaction(ctx context.Context, id string) (t StoredTransaction, ok bool, err error) {
	err = s.tx.QueryRowContext(ctx, storedTxSQL, id).Scan(&t.ID, &t.Kind, &t.AccountID, &t.CPAccountID, &t.Currency,
		&t.Instructed, &t.Fee, &t.WithFee, &t.CPCurrency, &t.CPAmount,
		&t.Status, &t.StatusAt, &t.CreatedAt, &t.FeeSource, &t.EntryState, &t.EntryPendingAt, &t.EntryFinalAt)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return StoredTransaction{}, false, nil
	case err != nil:
		return StoredTransaction{}, false, fmt.Errorf("read transaction %s: %w", id, err)
	}
	return t, true, nil
}

// BankBalances calls fn with each running balance of bank:<accountID>:
// its currency, posted amount and pending amount (pending debits and
// credits together).
func (s *Snapshot) BankBalances(ctx context.Context, accountID string, fn func(c ledgerd.Currency, posted, pending ledgerd.Amount)) error {
	rows, err := s.tx.QueryContext(ctx, `SELECT currency, posted, pending_debits + pending_credits
		FROM balances WHERE ledger_account = ?`, BankAccount(accountID))
	if err != nil {
		return fmt.Errorf("read balances of %s: %w", accountID, err)
	}
	defer rows.Close()
	for rows.Next() {
		var c string
		var posted, pending int64
		if err := rows.Scan(&c, &posted, &pending); err != nil {
			return fmt.Errorf("read balances of %s: %w", accountID, err)
		}
		fn(ledgerd.Currency(c), ledgerd.Amount(posted), ledgerd.Amount(pending))
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read balances of %s: %w", accountID, err)
	}
	return nil
}

// accountTxSQL and accountEntriesSQL read one account's transactions and
// its entries, each from an index that holds every column read, in
// transaction_id order: two sequential stretches of the file, merged by
// AccountCursor, instead of one random look-up of the entry per row.
const (
	accountTxSQL = `SELECT transaction_id, kind, counterpart_account_id, currency,
	instructed_amount, fee_amount, amount_with_fee, counterpart_currency, counterpart_amount,
	status, status_at, created_at, fee_source
	FROM fuse_transactions INDEXED BY fuse_transactions_account_id
	WHERE account_id = ? ORDER BY transaction_id`
	accountEntriesSQL = `SELECT transaction_id, state, pending_at, final_at
	FROM entries INDEXED BY entries_account WHERE account_id = ? ORDER BY transaction_id`
)

// AccountCursor walks one account's transactions with their entries in
// transaction_id order (Snapshot.AccountTransactions).
type AccountCursor struct {
	accountID    string
	txs, entries *sql.Rows
	// The next entry, read ahead; eok is false once entries are exhausted.
	eID, eState      string
	ePending, eFinal sql.NullString
	eok              bool
}

// AccountTransactions opens a cursor over the transactions the ledger
// holds on Fuse account accountID, each with its entry, in transaction_id
// order. Close it when done.
func (s *Snapshot) AccountTransactions(ctx context.Context, accountID string) (*AccountCursor, error) {
	txs, err := s.tx.QueryContext(ctx, accountTxSQL, accountID)
	if err != nil {
		return nil, fmt.Errorf("read transactions of %s: %w", accountID, err)
	}
	entries, err := s.tx.QueryContext(ctx, accountEntriesSQL, accountID)
	if err != nil {
		txs.Close()
		return nil, fmt.Errorf("read transactions of %s: %w", accountID, err)
	}
	c := &AccountCursor{accountID: accountID, txs: txs, entries: entries}
	if err := c.nextEntry(); err != nil {
		c.Close()
		return nil, fmt.Errorf("read transactions of %s: %w", accountID, err)
	}
	return c, nil
}

func (c *AccountCursor) nextEntry() error {
	if c.eok = c.entries.Next(); !c.eok {
		return c.entries.Err()
	}
	return c.entries.Scan(&c.eID, &c.eState, &c.ePending, &c.eFinal)
}

// Next fills t with the following transaction and its entry; ok is false
// at the end. An entry whose transaction is not on the account (the file
// was written by something else: ledgerd verify says so) is passed over.
func (c *AccountCursor) Next(t *StoredTransaction) (ok bool, err error) {
	*t = StoredTransaction{}
	if !c.txs.Next() {
		if err := c.txs.Err(); err != nil {
			return false, fmt.Errorf("read transactions of %s: %w", c.accountID, err)
		}
		return false, nil
	}
	if err := c.txs.Scan(&t.ID, &t.Kind, &t.CPAccountID, &t.Currency,
		&t.Instructed, &t.Fee, &t.WithFee, &t.CPCurrency, &t.CPAmount,
		&t.Status, &t.StatusAt, &t.CreatedAt, &t.FeeSource); err != nil {
		return false, fmt.Errorf("read transactions of %s: %w", c.accountID, err)
	}
	t.AccountID = c.accountID
	for c.eok && c.eID < t.ID {
		if err := c.nextEntry(); err != nil {
			return false, fmt.Errorf("read transactions of %s: %w", c.accountID, err)
		}
	}
	if c.eok && c.eID == t.ID {
		t.EntryState = sql.NullString{String: c.eState, Valid: true}
		t.EntryPendingAt, t.EntryFinalAt = c.ePending, c.eFinal
		if err := c.nextEntry(); err != nil {
			return false, fmt.Errorf("read transactions of %s: %w", c.accountID, err)
		}
	}
	return true, nil
}

// Close ends the cursor's reads.
func (c *AccountCursor) Close() {
	c.txs.Close()
	c.entries.Close()
}

// KnownAccount is a Fuse account as the ledger knows it; Name and
// Currency are "" until an observation tells them.
type KnownAccount struct {
	ID, Name, Currency string
}

// KnownAccounts returns the Fuse accounts the ledger knows, by id.
func (l *Ledger) KnownAccounts(ctx context.Context) ([]KnownAccount, error) {
	const what = "read ledger accounts"
	var out []KnownAccount
	err := eachRow(ctx, l.reader, what, `SELECT account_id, COALESCE(name, ''), COALESCE(currency, '')
		FROM fuse_accounts ORDER BY account_id`, nil, func(rows *sql.Rows) error {
		var a KnownAccount
		if err := rows.Scan(&a.ID, &a.Name, &a.Currency); err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		out = append(out, a)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// AccountsWithTransactions returns the id of every Fuse account the ledger
// holds a transaction on (a counterpart account is not one).
func (l *Ledger) AccountsWithTransactions(ctx context.Context) ([]string, error) {
	return readColumn[string](ctx, l.reader, "read ledger accounts", `SELECT DISTINCT account_id FROM fuse_transactions`)
}
