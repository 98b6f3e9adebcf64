package ledger

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"errors"
	"fmt"

	"github.com/ledgerd/ledgerd"
)

// Result says what Ingest did with one observation.
type Result struct {
	// Seq is the events.seq of the stored event; for a duplicate, the seq
	// of the event stored first.
	Seq int64
	// Duplicate is true when the event_id was already stored: nothing
	// changed.
	Duplicate bool
	// OtherBody is true, with Duplicate, when the event stored under the
	// event_id has another body: the id was reused, and nothing of this
	// body was applied. The caller keeps the body as evidence (the webhook
	// listener quarantines it). Never true for the backfill's events,
	// whose ids are digests of their bodies.
	OtherBody bool
}

// Ingest records one observation and applies it to the Fuse state and the
// book, in one transaction that has committed durably when Ingest returns
// nil. A repeated event_id changes nothing and reports Duplicate (and
// OtherBody if the stored body differs). An
// observation refused for its content returns an error wrapping
// ErrRejected and leaves nothing behind; a storage failure wraps
// ErrUnavailable.
func (l *Ledger) Ingest(ctx context.Context, obs ledgerd.Observation) (Result, error) {
	iu := &ingestUnit{obs: []ledgerd.Observation{obs}}
	err := l.w.doIngest(ctx, iu)
	var res Result
	if len(iu.res) > 0 {
		res = iu.res[0]
	}
	return res, err
}

// IngestAll applies observations in order, all or nothing, in one
// transaction. fn, when not nil, runs last in the same transaction (the
// backfill advances its checkpoint there).
func (l *Ledger) IngestAll(ctx context.Context, obs []ledgerd.Observation, fn func(*Tx) error) ([]Result, error) {
	iu := &ingestUnit{obs: obs, all: true, after: fn}
	if err := l.w.doIngest(ctx, iu); err != nil {
		return nil, err
	}
	return iu.res, nil
}

// Tx is the write transaction handed to IngestAll's fn, for the few writes
// that must commit with observations (sync checkpoints).
type Tx struct{ t *wtx }

func rejectf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrRejected, fmt.Sprintf(format, args...))
}

func (t *wtx) ingest(obs ledgerd.Observation) (Result, error) {
	ev := obs.Event
	switch {
	case ev.ID == "":
		return Result{}, rejectf("event has no event_id")
	case ev.Type == "":
		return Result{}, rejectf("event %s has no type", ev.ID)
	case !ev.Source.Valid():
		return Result{}, rejectf("event %s: unknown source %q", ev.ID, ev.Source)
	case len(ev.Raw) == 0:
		return Result{}, rejectf("event %s has no body", ev.ID)
	}
	seq, fresh, err := t.appendEvent(ev, obs.Handled())
	if err != nil {
		return Result{}, err
	}
	if !fresh {
		// Stored before: a repeat changes nothing. Its body is compared
		// here only, on this rare path, in SQL (the stored hash chains the
		// previous event in, so hashes cannot be compared).
		var same bool
		if err := t.queryRow("SELECT seq, raw = ? FROM events WHERE event_id = ?", ev.Raw, ev.ID).Scan(&seq, &same); err != nil {
			return Result{}, fmt.Errorf("look up event %s: %w", ev.ID, err)
		}
		return Result{Seq: seq, Duplicate: true, OtherBody: !same}, nil
	}
	if obs.Account != nil {
		if err := t.applyAccount(seq, *obs.Account, true); err != nil {
			return Result{}, err
		}
	}
	if obs.Transaction != nil {
		if err := t.applyTransaction(seq, ev.Source, *obs.Transaction); err != nil {
			return Result{}, err
		}
	}
	return Result{Seq: seq}, nil
}

// The INSERT of an event: the columns, and the values of one row
// (eventArgs), shared by the one-row statement and bulk.go's.
const (
	eventInsertHead = `INSERT INTO events
		(event_id, type, version, source, fuse_time, received_at, handled, raw, prev_hash, hash)
		VALUES `
	eventInsertRow = `(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
	// insertEventSQL inserts one event, or nothing if its event_id is known.
	insertEventSQL = eventInsertHead + eventInsertRow + `
		ON CONFLICT (event_id) DO NOTHING`
)

// chain is the event's hash: SHA-256(prev_hash || raw).
func chain(prev, raw []byte) []byte {
	h := sha256.New()
	h.Write(prev)
	h.Write(raw)
	return h.Sum(nil)
}

// eventArgs appends to args the values of eventInsertRow.
func (t *wtx) eventArgs(args []any, ev ledgerd.Event, handled bool, prev, sum []byte) []any {
	received := ev.ReceivedAt
	if received.IsZero() {
		received = t.now
	}
	return append(args, ev.ID, ev.Type, ev.Version, string(ev.Source), formatTime(ev.FuseTime), formatTime(received),
		handled, ev.Raw, prev, sum)
}

// appendEvent stores the event and extends the hash chain:
// hash = SHA-256(prev_hash || raw). An event_id stored before is left as it
// is (fresh false, nothing written, the chain unchanged): the insert is the
// dedupe, with no look-up before it.
func (t *wtx) appendEvent(ev ledgerd.Event, handled bool) (seq int64, fresh bool, err error) {
	sum := chain(t.w.cache.lastHash, ev.Raw)
	res, err := t.exec(insertEventSQL, t.eventArgs(nil, ev, handled, t.w.cache.lastHash, sum)...)
	if err != nil {
		return 0, false, fmt.Errorf("store event %s: %w", ev.ID, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, false, fmt.Errorf("store event %s: %w", ev.ID, err)
	}
	if n == 0 {
		return 0, false, nil
	}
	seq, err = res.LastInsertId()
	if err != nil {
		return 0, false, fmt.Errorf("store event %s: %w", ev.ID, err)
	}
	t.w.cache.lastHash = sum
	return seq, true, nil
}

// applyAccount records what an observation says of an account. Unknown
// fields are filled in; a currency that contradicts the known one is kept
// as evidence (when evidence is true) and does not overwrite it.
func (t *wtx) applyAccount(seq int64, a ledgerd.AccountObservation, evidence bool) error {
	if a.AccountID == "" {
		return rejectf("account observation without account_id")
	}
	if a.Currency != "" && !a.Currency.Valid() {
		return rejectf("account %s: unknown currency %q", a.AccountID, a.Currency)
	}
	switch a.Type {
	case "", "primary", "payment", "virtual":
	default:
		return rejectf("account %s: unknown account_type %q", a.AccountID, a.Type)
	}
	known, found, err := t.accountCurrency(a.AccountID)
	if err != nil {
		return err
	}
	newCurrency := a.Currency != "" && (!found || !known.Valid)
	if found && !evidence && !newCurrency {
		return nil // a transaction naming a known account: nothing new to record
	}
	if found && known.Valid && a.Currency != "" && string(a.Currency) != known.String {
		if evidence {
			if err := t.conflict(seq, a.AccountID, "currency", known.String, string(a.Currency)); err != nil {
				return err
			}
		}
		a.Currency = ""
	}
	if !found {
		_, err = t.exec(`INSERT INTO fuse_accounts
			(account_id, name, type, customer_id, external_id, currency, iban, status, opened_at, first_seq, last_seq)
			VALUES (?, NULLIF(?, ''), NULLIF(?, ''), NULLIF(?, ''), NULLIF(?, ''), NULLIF(?, ''),
			        NULLIF(?, ''), NULLIF(?, ''), ?, ?, ?)`,
			a.AccountID, text(a.Name), text(a.Type), text(a.CustomerID), text(a.ExternalID), text(string(a.Currency)),
			text(a.IBAN), text(a.Status), formatTime(a.OpenedAt), seq, seq)
	} else {
		_, err = t.exec(`UPDATE fuse_accounts SET
			name = COALESCE(NULLIF(?, ''), name),
			type = COALESCE(NULLIF(?, ''), type),
			customer_id = COALESCE(NULLIF(?, ''), customer_id),
			external_id = COALESCE(NULLIF(?, ''), external_id),
			currency = COALESCE(currency, NULLIF(?, '')),
			iban = COALESCE(NULLIF(?, ''), iban),
			status = COALESCE(NULLIF(?, ''), status),
			opened_at = COALESCE(opened_at, ?),
			last_seq = ?
			WHERE account_id = ?`,
			text(a.Name), text(a.Type), text(a.CustomerID), text(a.ExternalID), text(string(a.Currency)),
			text(a.IBAN), text(a.Status), formatTime(a.OpenedAt), seq, a.AccountID)
	}
	if err != nil {
		return fmt.Errorf("record account %s: %w", a.AccountID, err)
	}
	if newCurrency {
		known = sql.NullString{String: string(a.Currency), Valid: true}
	}
	t.w.cache.setAccount(a.AccountID, known)
	if b := a.Balance; b != nil {
		if _, err := t.exec(`UPDATE fuse_accounts
			SET fuse_current = ?, fuse_available = ?, fuse_balance_at = ?
			WHERE account_id = ? AND (fuse_balance_at IS NULL OR fuse_balance_at <= ?)`,
			int64(b.Current), int64(b.Available), formatTime(b.AsOf), a.AccountID, formatTime(b.AsOf)); err != nil {
			return fmt.Errorf("record balance of account %s: %w", a.AccountID, err)
		}
	}
	bank := BankAccount(a.AccountID)
	if err := t.ensureLedgerAccount(bank, a.AccountID, seq); err != nil {
		return err
	}
	if newCurrency {
		// Show the account in balances from the moment its currency is
		// known, and book what was waiting for that currency.
		if _, err := t.exec(`INSERT OR IGNORE INTO balances (ledger_account, currency) VALUES (?, ?)`,
			bank, string(a.Currency)); err != nil {
			return fmt.Errorf("open balance of %s: %w", bank, err)
		}
		return t.syncAccountEntries(seq, a.AccountID)
	}
	return nil
}

// accountCurrency returns what is known of an account's currency, through
// the writer's cache; found is false for an account never recorded.
func (t *wtx) accountCurrency(id string) (currency sql.NullString, found bool, err error) {
	if c, ok := t.w.cache.accounts[id]; ok {
		return c, true, nil
	}
	err = t.queryRow("SELECT currency FROM fuse_accounts WHERE account_id = ?", id).Scan(&currency)
	if errors.Is(err, sql.ErrNoRows) {
		return currency, false, nil
	}
	if err != nil {
		return currency, false, fmt.Errorf("look up account %s: %w", id, err)
	}
	t.w.cache.setAccount(id, currency)
	return currency, true, nil
}

// syncAccountEntries retries booking every transaction of an account that
// has no entry yet (it may have been waiting for the account's currency).
func (t *wtx) syncAccountEntries(seq int64, accountID string) error {
	rows, err := t.query(`SELECT t.transaction_id FROM fuse_transactions t
		LEFT JOIN entries e ON e.transaction_id = t.transaction_id
		WHERE t.account_id = ? AND e.id IS NULL AND t.instructed_amount IS NOT NULL
		ORDER BY t.transaction_id`, accountID)
	if err != nil {
		return fmt.Errorf("find waiting transactions of %s: %w", accountID, err)
	}
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return err
		}
		ids = append(ids, id)
	}
	if err := rows.Close(); err != nil {
		return err
	}
	if err := rows.Err(); err != nil {
		return err
	}
	for _, id := range ids {
		if err := t.syncEntry(seq, id); err != nil {
			return err
		}
	}
	return nil
}

func (t *wtx) ensureLedgerAccount(name, fuseAccountID string, seq int64) error {
	if t.w.cache.ledgerAccounts[name] {
		return nil
	}
	var fuseID any
	if fuseAccountID != "" {
		fuseID = fuseAccountID
	}
	if _, err := t.exec(`INSERT OR IGNORE INTO ledger_accounts (name, type, fuse_account_id, created_seq)
		VALUES (?, ?, ?, ?)`, name, accountType(name), fuseID, seq); err != nil {
		return fmt.Errorf("open ledger account %s: %w", name, err)
	}
	t.w.cache.addLedgerAccount(name)
	return nil
}

// conflict keeps an observation that disagrees with the kept state.
func (t *wtx) conflict(seq int64, subject, field, kept, observed string) error {
	if _, err := t.exec(`INSERT OR IGNORE INTO observation_conflicts (subject, field, kept, observed, event_seq)
		VALUES (?, ?, ?, ?, ?)`, subject, field, kept, observed, seq); err != nil {
		return fmt.Errorf("record conflict on %s.%s: %w", subject, field, err)
	}
	return nil
}

// Update runs fn in the writer's transaction, serialized with every ingest,
// committed durably when Update returns nil. It is for the tables ledger
// does not own but that must not contend with it for the one write lock:
// reconciliation runs and breaks. The ledger tables stay Ingest's alone.
// fn may run twice (when another write in its group commit fails, the
// group is retried without it), so it must derive everything it returns
// from the transaction.
func (l *Ledger) Update(ctx context.Context, fn func(*Tx) error) error {
	return l.w.do(ctx, func(t *wtx) error { return fn(&Tx{t: t}) })
}

// Exec runs a write statement in the transaction (see Update). Like
// QueryRow and Query, it is interrupted if the group commit overruns its
// deadline.
func (tx *Tx) Exec(query string, args ...any) (sql.Result, error) {
	return tx.t.execCtx(tx.t.ctx, query, args...)
}

// QueryRow runs a query in the transaction, seeing its own writes.
func (tx *Tx) QueryRow(query string, args ...any) *sql.Row {
	return tx.t.queryRowCtx(tx.t.ctx, query, args...)
}

// Query runs a query in the transaction, seeing its own writes.
func (tx *Tx) Query(query string, args ...any) (*sql.Rows, error) {
	return tx.t.queryCtx(tx.t.ctx, query, args...)
}
