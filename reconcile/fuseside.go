package reconcile

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/ledgerd/ledgerd"
	"github.com/ledgerd/ledgerd/fuse"
	"github.com/ledgerd/ledgerd/ledger"
)

// fuseTx is the part of a Fuse transaction object a run compares, kept
// small because one account's worth is held (or spooled) at a time. Kind
// and Status are the ledger's (from type, direction and state); StateAt
// is when it reached its state (Transaction.StateAt): Fuse keeps no
// update time.
type fuseTx struct {
	ID, AccountID, Kind, Status string
	FeeSource                   string // a payment's fee_source, "" if none
	Currency, CPCurrency        string
	CPAccountID                 string
	Instructed, Fee, WithFee    int64
	CPAmount                    int64
	HasCPAmount                 bool
	CreatedAt, StateAt          time.Time
}

// fromFuse converts a transaction as Fuse lists it. One the ledger could
// not take either (an unknown type or state, a missing amount) is an
// error: its money cannot be judged.
func fromFuse(t *fuse.Transaction) (fuseTx, error) {
	o, err := t.Observation()
	if err != nil {
		return fuseTx{}, err
	}
	f := fuseTx{
		ID: o.TransactionID, AccountID: o.AccountID, Kind: string(o.Kind), Status: string(o.Status),
		Currency: string(o.Currency), CPCurrency: string(o.CounterpartCurrency), CPAccountID: o.CounterpartAccountID,
		Instructed: int64(o.Amounts.Instructed), Fee: int64(o.Amounts.Fee), WithFee: int64(o.Amounts.WithFee),
		CreatedAt: o.CreatedAt, StateAt: o.At, FeeSource: o.FeeSource,
	}
	if o.CounterpartAmount != nil {
		f.CPAmount, f.HasCPAmount = int64(*o.CounterpartAmount), true
	}
	if f.CreatedAt.IsZero() || f.CreatedAt.After(f.StateAt) {
		f.CreatedAt = f.StateAt
	}
	return f, nil
}

// fuseSet is one account's Fuse transactions in transaction_id order, each
// id once (the latest version when a listing returned it twice, as a
// transaction updated while the listing ran reappears later in it).
type fuseSet interface {
	// next returns the following transaction, which is the set's until
	// the next call (the merge copies none); ok is false at the end.
	next() (t *fuseTx, ok bool, err error)
	close() error
}

// memSet is a fuseSet sorted in memory. The order is a permutation of
// indexes (a transaction is some 200 bytes: moving those while sorting
// costs more than the comparisons).
type memSet struct {
	txs   []fuseTx
	order []int32
	i     int
}

func newMemSet(txs []fuseTx) *memSet {
	order := make([]int32, len(txs))
	for i := range order {
		order[i] = int32(i)
	}
	slices.SortFunc(order, func(a, b int32) int {
		x, y := &txs[a], &txs[b]
		if c := cmp.Compare(x.ID, y.ID); c != 0 {
			return c
		}
		return y.StateAt.Compare(x.StateAt) // latest first
	})
	order = slices.CompactFunc(order, func(a, b int32) bool { return txs[a].ID == txs[b].ID })
	return &memSet{txs: txs, order: order}
}

func (m *memSet) next() (*fuseTx, bool, error) {
	if m.i >= len(m.order) {
		return nil, false, nil
	}
	m.i++
	return &m.txs[m.order[m.i-1]], true, nil
}

func (m *memSet) close() error { return nil }

// emptySet is the Fuse side of an account Fuse does not list.
type emptySet struct{}

func (emptySet) next() (*fuseTx, bool, error) { return nil, false, nil }
func (emptySet) close() error                 { return nil }

// readTransactions pages through an account's transactions (all of them:
// the run compares the whole history up to its cut-off). Up to
// SpillThreshold are sorted in memory; an account with more is spooled to
// a scratch SQLite file and sorted there by an index, so that a run's
// memory is bounded by the threshold and the worker count, not by history.
//
// A transaction of a type or state the reference does not name is not in
// the set: it is handed to unknown, which records it as a break.
func (r *Reconciler) readTransactions(ctx context.Context, accountID string, unknown func(fuse.Transaction, error) error) (fuseSet, int, error) {
	var buf []fuseTx
	var sp *spill
	n := 0
	fail := func(err error) (fuseSet, int, error) {
		if sp != nil {
			_ = sp.close()
		}
		return nil, n, err
	}
	for page, err := range r.opts.Fuse.TransactionPages(ctx, accountID, fuse.ListTransactionsParams{Limit: r.opts.PageLimit, SkipRaw: true}) {
		if err != nil {
			return fail(err)
		}
		for i := range page.Data {
			t := &page.Data[i] // a transaction is some 400 bytes: not copied
			f, err := fromFuse(t)
			if errors.Is(err, fuse.ErrUnknownTransaction) {
				if err := unknown(*t, err); err != nil {
					return fail(err)
				}
				continue
			}
			if err != nil {
				return fail(err)
			}
			buf = append(buf, f)
			n++
		}
		if len(buf) >= r.opts.SpillThreshold {
			if sp == nil {
				if sp, err = newSpill(ctx, r.opts.ScratchDir); err != nil {
					return fail(err)
				}
			}
			if err := sp.add(ctx, buf); err != nil {
				return fail(err)
			}
			buf = buf[:0]
		}
	}
	if sp == nil {
		return newMemSet(buf), n, nil
	}
	if err := sp.add(ctx, buf); err != nil {
		return fail(err)
	}
	if err := sp.sorted(ctx); err != nil {
		return fail(err)
	}
	return sp, n, nil
}

// spill is a scratch SQLite file holding one account's Fuse transactions.
// It is private to the run (journal off, no fsync: it is thrown away) and
// removed by close.
type spill struct {
	dir  string
	db   *sql.DB
	rows *sql.Rows
	last string
	cur  fuseTx // what next returned last
}

func newSpill(ctx context.Context, parent string) (*spill, error) {
	dir, err := os.MkdirTemp(parent, "ledgerd-reconcile-")
	if err != nil {
		return nil, fmt.Errorf("scratch directory: %w", err)
	}
	path := filepath.Join(dir, "fuse.db")
	db, err := sql.Open("sqlite", "file:"+ledger.URIPath(path)+"?_pragma=journal_mode(OFF)&_pragma=synchronous(OFF)&_pragma=cache_size(-16000)")
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("scratch file: %w", err)
	}
	db.SetMaxOpenConns(1)
	sp := &spill{dir: dir, db: db}
	if _, err := db.ExecContext(ctx, `CREATE TABLE t (
		id TEXT NOT NULL, account_id TEXT, kind TEXT, status TEXT, currency TEXT, cp_currency TEXT,
		cp_account_id TEXT, instructed INTEGER, fee INTEGER, with_fee INTEGER, cp_amount INTEGER,
		created_ns INTEGER, updated_ns INTEGER, fee_source TEXT)`); err != nil {
		sp.close()
		return nil, fmt.Errorf("scratch file: %w", err)
	}
	return sp, nil
}

func (sp *spill) add(ctx context.Context, txs []fuseTx) error {
	tx, err := sp.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("spool fuse transactions: %w", err)
	}
	defer tx.Rollback()
	st, err := tx.PrepareContext(ctx, `INSERT INTO t VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
	if err != nil {
		return fmt.Errorf("spool fuse transactions: %w", err)
	}
	defer st.Close()
	for _, f := range txs {
		var cp any
		if f.HasCPAmount {
			cp = f.CPAmount
		}
		if _, err := st.ExecContext(ctx, f.ID, f.AccountID, f.Kind, f.Status, f.Currency, f.CPCurrency,
			f.CPAccountID, f.Instructed, f.Fee, f.WithFee, cp, f.CreatedAt.UnixNano(), f.StateAt.UnixNano(), f.FeeSource); err != nil {
			return fmt.Errorf("spool fuse transactions: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("spool fuse transactions: %w", err)
	}
	return nil
}

// sorted indexes the spool and opens the ordered cursor; the latest
// version of an id comes first and next skips the others.
func (sp *spill) sorted(ctx context.Context) error {
	if _, err := sp.db.ExecContext(ctx, `CREATE INDEX t_order ON t (id, updated_ns DESC)`); err != nil {
		return fmt.Errorf("sort spooled transactions: %w", err)
	}
	rows, err := sp.db.QueryContext(ctx, `SELECT id, account_id, kind, status, currency, cp_currency, cp_account_id,
		instructed, fee, with_fee, cp_amount, created_ns, updated_ns, fee_source FROM t ORDER BY id, updated_ns DESC`)
	if err != nil {
		return fmt.Errorf("sort spooled transactions: %w", err)
	}
	sp.rows = rows
	return nil
}

func (sp *spill) next() (*fuseTx, bool, error) {
	for sp.rows.Next() {
		var f fuseTx
		var cp sql.NullInt64
		var created, updated int64
		if err := sp.rows.Scan(&f.ID, &f.AccountID, &f.Kind, &f.Status, &f.Currency, &f.CPCurrency, &f.CPAccountID,
			&f.Instructed, &f.Fee, &f.WithFee, &cp, &created, &updated, &f.FeeSource); err != nil {
			return nil, false, fmt.Errorf("read spooled transactions: %w", err)
		}
		if f.ID == sp.last {
			continue
		}
		sp.last = f.ID
		f.CPAmount, f.HasCPAmount = cp.Int64, cp.Valid
		f.CreatedAt, f.StateAt = time.Unix(0, created).UTC(), time.Unix(0, updated).UTC()
		sp.cur = f
		return &sp.cur, true, nil
	}
	if err := sp.rows.Err(); err != nil {
		return nil, false, fmt.Errorf("read spooled transactions: %w", err)
	}
	return nil, false, nil
}

func (sp *spill) close() error {
	if sp.rows != nil {
		sp.rows.Close()
	}
	err := sp.db.Close()
	if rerr := os.RemoveAll(sp.dir); err == nil {
		err = rerr
	}
	return err
}

// Fuse-side effects, as Fuse keeps its balances (fuse-api.md): an
// outbound leg takes amount_with_fee from current when it executes or
// settles; an inbound leg adds instructed − fee when it settles.

// lifeState is a transaction's state at the cut-off.
type lifeState int

const (
	absent    lifeState = iota // not yet created at the cut-off
	inFlight                   // created, submitted or booked
	succeeded                  // executed or settled
	failedSt                   // failed
)

func (s lifeState) String() string {
	switch s {
	case inFlight:
		return "in flight"
	case succeeded:
		return "succeeded"
	case failedSt:
		return "failed"
	}
	return "absent"
}

func terminalState(status string) lifeState {
	switch ledgerd.Status(status) {
	case ledgerd.StatusExecuted, ledgerd.StatusSettled:
		return succeeded
	case ledgerd.StatusFailed:
		return failedSt
	}
	return inFlight
}

// stateAt is the transaction's state at asOf. Fuse keeps only the latest
// state, but a terminal status is the last change a transaction makes, so
// a transaction updated after the cut-off was still in flight at it.
func (f *fuseTx) stateAt(asOf time.Time) lifeState {
	if f.CreatedAt.After(asOf) {
		return absent
	}
	if f.StateAt.After(asOf) {
		return inFlight
	}
	return terminalState(f.Status)
}

// effect is what the transaction does to its account's current balance
// once it has succeeded, in minor units of f.Currency: what the ledger
// books on the bank account for the same kind and fee_source
// (ledger.BankAmount), so the two sides cannot count a fee differently.
func (f *fuseTx) effect() (ledgerd.Amount, error) {
	return ledger.BankAmount(ledgerd.Kind(f.Kind), f.FeeSource, ledgerd.TxAmounts{
		Instructed: ledgerd.Amount(f.Instructed), Fee: ledgerd.Amount(f.Fee), WithFee: ledgerd.Amount(f.WithFee)})
}

// effectAt is effect if the transaction had succeeded at asOf, else 0.
func (f *fuseTx) effectAt(asOf time.Time) (ledgerd.Amount, error) {
	if f.stateAt(asOf) != succeeded {
		return 0, nil
	}
	return f.effect()
}
