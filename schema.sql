-- ledgerd schema. Applied at start by ledger.Open, one version at a time:
-- each "-- version N" section runs in its own transaction and then sets
-- PRAGMA user_version = N. Never edit a released section; add a new one.
--
-- Conventions, for people reading this file with sqlite3:
--   * money is INTEGER minor units (fils, cents) with a 3-letter ISO 4217
--     currency next to it; never REAL;
--   * postings are signed: debit +, credit −; every entry sums to zero per
--     currency (v_unbalanced_entries must be empty);
--   * timestamps are TEXT, UTC, fixed width ('2023-12-04T16:40:29.683099191Z'),
--     so they sort and compare as text;
--   * seq columns are the ingest sequence (events.seq): the order in which
--     ledgerd learned things, as opposed to Fuse's effective times.

-- version 1: events, Fuse state, the double-entry book, sync checkpoints

CREATE TABLE events (
  -- Every observation ledgerd received, exactly as received: webhook bodies,
  -- backfilled transaction objects. Append-only (triggers refuse UPDATE and
  -- DELETE). hash = SHA-256(prev_hash || raw), prev_hash of the first row is
  -- 32 zero bytes; `ledgerd verify` walks the chain.
  seq         INTEGER PRIMARY KEY,            -- ingest sequence 1, 2, 3…
  event_id    TEXT NOT NULL UNIQUE,           -- Fuse event_id (dedupe key)
  type        TEXT NOT NULL,                  -- e.g. outbound_local_payment_created
  version     INTEGER NOT NULL DEFAULT 0,     -- envelope event_version
  source      TEXT NOT NULL CHECK (source IN ('webhook', 'backfill', 'sandbox')),
  fuse_time   TEXT,                           -- when Fuse says it happened
  received_at TEXT NOT NULL,                  -- when ledgerd stored it
  handled     INTEGER NOT NULL CHECK (handled IN (0, 1)), -- 0: type not handled, kept
  raw         BLOB NOT NULL,                  -- the body, byte for byte
  prev_hash   BLOB NOT NULL CHECK (length(prev_hash) = 32),
  hash        BLOB NOT NULL CHECK (length(hash) = 32)
) STRICT;

CREATE TRIGGER events_append_only_update BEFORE UPDATE ON events
BEGIN SELECT RAISE(ABORT, 'events are append-only'); END;
CREATE TRIGGER events_append_only_delete BEFORE DELETE ON events
BEGIN SELECT RAISE(ABORT, 'events are append-only'); END;

CREATE TABLE quarantine (
  -- Bodies that could not be accepted (malformed JSON, missing fields,
  -- amounts out of range), with the reason. Never dropped: an operator fixes
  -- the cause and runs `ledgerd quarantine replay ID`. Only state,
  -- replayed_seq and resolved_at ever change.
  id           INTEGER PRIMARY KEY,
  received_at  TEXT NOT NULL,
  source       TEXT NOT NULL CHECK (source IN ('webhook', 'backfill', 'sandbox')),
  remote_addr  TEXT NOT NULL DEFAULT '',
  reason       TEXT NOT NULL,                 -- machine reason: malformed_json, missing_field…
  detail       TEXT NOT NULL,                 -- human message
  raw          BLOB NOT NULL,
  state        TEXT NOT NULL DEFAULT 'held' CHECK (state IN ('held', 'replayed', 'discarded')),
  replayed_seq INTEGER REFERENCES events (seq),
  resolved_at  TEXT
) STRICT;

CREATE TRIGGER quarantine_keep_body BEFORE UPDATE ON quarantine
WHEN NEW.id IS NOT OLD.id OR NEW.received_at IS NOT OLD.received_at OR NEW.source IS NOT OLD.source
  OR NEW.remote_addr IS NOT OLD.remote_addr OR NEW.reason IS NOT OLD.reason
  OR NEW.detail IS NOT OLD.detail OR NEW.raw IS NOT OLD.raw
BEGIN SELECT RAISE(ABORT, 'quarantined bodies are kept as received'); END;
CREATE TRIGGER quarantine_no_delete BEFORE DELETE ON quarantine
BEGIN SELECT RAISE(ABORT, 'quarantined bodies are never deleted'); END;

CREATE TABLE fuse_accounts (
  -- The Fuse accounts ledgerd knows, from account_opened/updated, from any
  -- event that names an account, and from the API. Columns are NULL until
  -- something said them. fuse_current/fuse_available: the last balance Fuse
  -- reported (minor units of currency).
  account_id      TEXT PRIMARY KEY,
  name            TEXT,
  type            TEXT CHECK (type IS NULL OR type IN ('primary', 'payment', 'virtual')),
  customer_id     TEXT,
  external_id     TEXT,
  currency        TEXT CHECK (currency IS NULL OR length(currency) = 3),
  iban            TEXT,
  status          TEXT,
  opened_at       TEXT,
  fuse_current    INTEGER,
  fuse_available  INTEGER,
  fuse_balance_at TEXT,
  first_seq       INTEGER NOT NULL REFERENCES events (seq),
  last_seq        INTEGER NOT NULL REFERENCES events (seq)
) STRICT;

CREATE TABLE fuse_transactions (
  -- The latest known state of each Fuse transaction. status only moves
  -- forward (created → submitted → executed|settled, or → failed). Amounts
  -- are NULL until an observation carried them. A later observation that
  -- disagrees with what is kept goes to observation_conflicts instead.
  transaction_id         TEXT PRIMARY KEY,
  kind                   TEXT NOT NULL CHECK (kind IN ('local_payment_out', 'local_payment_in',
                           'internal_transfer_out', 'internal_transfer_in', 'exchange_out', 'exchange_in')),
  account_id             TEXT NOT NULL REFERENCES fuse_accounts (account_id),
  counterpart_account_id TEXT,
  currency               TEXT CHECK (currency IS NULL OR length(currency) = 3),
  instructed_amount      INTEGER CHECK (instructed_amount >= 0),
  fee_amount             INTEGER CHECK (fee_amount >= 0),
  amount_with_fee        INTEGER CHECK (amount_with_fee >= 0),
  counterpart_currency   TEXT CHECK (counterpart_currency IS NULL OR length(counterpart_currency) = 3),
  counterpart_amount     INTEGER CHECK (counterpart_amount >= 0),
  rate                   TEXT,                -- decimal string as Fuse sent it
  status                 TEXT NOT NULL CHECK (status IN ('created', 'submitted', 'executed', 'settled', 'failed')),
  status_at              TEXT,                -- Fuse time the status was reached
  reference              TEXT,
  external_reference     TEXT,
  external_id            TEXT,
  purpose                TEXT,
  failure_reason         TEXT,
  created_at             TEXT,                -- earliest Fuse time seen for it
  first_seq              INTEGER NOT NULL REFERENCES events (seq),
  last_seq               INTEGER NOT NULL REFERENCES events (seq),
  source                 TEXT NOT NULL CHECK (source IN ('webhook', 'backfill', 'sandbox')),
  CHECK ((instructed_amount IS NULL) = (fee_amount IS NULL)
     AND (fee_amount IS NULL) = (amount_with_fee IS NULL))
) STRICT;

CREATE INDEX fuse_transactions_account ON fuse_transactions (account_id);

CREATE TABLE observation_conflicts (
  -- Evidence: an observation that disagreed with what ledgerd already kept
  -- for a transaction or account (executed, then failed; another amount).
  -- The kept state does not flip; the reconciler turns these into breaks.
  id             INTEGER PRIMARY KEY,
  subject        TEXT NOT NULL,               -- transaction_id or account_id
  field          TEXT NOT NULL,               -- status, amounts, currency, kind, account_id
  kept           TEXT NOT NULL,
  observed       TEXT NOT NULL,
  event_seq      INTEGER NOT NULL REFERENCES events (seq),
  UNIQUE (subject, field, observed)
) STRICT;

CREATE TABLE ledger_accounts (
  -- The accounts of the double-entry book: bank:<fuse account id> for each
  -- Fuse account, world:payees / world:payers for the outside world,
  -- expense:fees, clearing:internal and clearing:fx:<ccy> for the two legs
  -- of transfers and exchanges, fx:conversion for currency conversion.
  name            TEXT PRIMARY KEY,
  type            TEXT NOT NULL CHECK (type IN ('bank', 'world', 'expense', 'clearing', 'fx')),
  fuse_account_id TEXT REFERENCES fuse_accounts (account_id),
  created_seq     INTEGER NOT NULL REFERENCES events (seq),
  CHECK ((type = 'bank') = (fuse_account_id IS NOT NULL))
) STRICT;

CREATE TABLE entries (
  -- One entry per Fuse transaction id, two-phase: 'pending' while Fuse has
  -- not settled it, then 'posted' or 'voided', each at most once (trigger).
  -- An entry whose transaction is already final when its amounts arrive is
  -- written final. Voided entries keep their postings but count in no
  -- balance.
  id             INTEGER PRIMARY KEY,
  transaction_id TEXT NOT NULL UNIQUE REFERENCES fuse_transactions (transaction_id),
  state          TEXT NOT NULL CHECK (state IN ('pending', 'posted', 'voided')),
  pending_at     TEXT NOT NULL,               -- Fuse time it took effect
  final_at       TEXT,                        -- Fuse time it was posted/voided
  created_seq    INTEGER NOT NULL REFERENCES events (seq),
  final_seq      INTEGER REFERENCES events (seq),
  CHECK ((state = 'pending') = (final_at IS NULL)),
  CHECK ((final_at IS NULL) = (final_seq IS NULL))
) STRICT;

CREATE TRIGGER entries_two_phase BEFORE UPDATE ON entries
WHEN OLD.state <> 'pending' OR NEW.state NOT IN ('posted', 'voided')
  OR NEW.id IS NOT OLD.id OR NEW.transaction_id IS NOT OLD.transaction_id
  OR NEW.pending_at IS NOT OLD.pending_at OR NEW.created_seq IS NOT OLD.created_seq
BEGIN SELECT RAISE(ABORT, 'an entry moves once, from pending to posted or voided'); END;
CREATE TRIGGER entries_no_delete BEFORE DELETE ON entries
BEGIN SELECT RAISE(ABORT, 'entries are never deleted'); END;

CREATE TABLE postings (
  -- The lines of each entry: signed minor units (debit +, credit −), one
  -- currency each, immutable. effective_at is the entry's Fuse time, seq the
  -- event that wrote it, so balances can be asked "as of" either.
  id             INTEGER PRIMARY KEY,
  entry_id       INTEGER NOT NULL REFERENCES entries (id),
  ledger_account TEXT NOT NULL REFERENCES ledger_accounts (name),
  currency       TEXT NOT NULL CHECK (length(currency) = 3),
  amount         INTEGER NOT NULL CHECK (amount <> 0),
  effective_at   TEXT NOT NULL,
  seq            INTEGER NOT NULL REFERENCES events (seq)
) STRICT;

CREATE INDEX postings_entry ON postings (entry_id);
CREATE INDEX postings_account ON postings (ledger_account, currency);

CREATE TRIGGER postings_immutable_update BEFORE UPDATE ON postings
BEGIN SELECT RAISE(ABORT, 'postings never change'); END;
CREATE TRIGGER postings_immutable_delete BEFORE DELETE ON postings
BEGIN SELECT RAISE(ABORT, 'postings never change'); END;

CREATE TABLE balances (
  -- Running balances per ledger account and currency, kept by ledger.Ingest
  -- with overflow-checked arithmetic in the same transaction as the
  -- postings (so an overflow is refused, never wrapped). Derived data:
  -- `ledgerd verify` recomputes it from postings. posted: sum of posted
  -- postings; pending_debits (>= 0) and pending_credits (<= 0): sums of
  -- pending postings by sign.
  ledger_account  TEXT NOT NULL REFERENCES ledger_accounts (name),
  currency        TEXT NOT NULL CHECK (length(currency) = 3),
  posted          INTEGER NOT NULL DEFAULT 0,
  pending_debits  INTEGER NOT NULL DEFAULT 0 CHECK (pending_debits >= 0),
  pending_credits INTEGER NOT NULL DEFAULT 0 CHECK (pending_credits <= 0),
  PRIMARY KEY (ledger_account, currency)
) STRICT, WITHOUT ROWID;

CREATE TABLE sync_checkpoints (
  -- Per Fuse account, how far the backfill has safely read: the last
  -- (updated_at, transaction_id) of the last committed page (both NULL
  -- until a first page commits), when a run last finished the account, and
  -- why the last run failed.
  account_id      TEXT PRIMARY KEY REFERENCES fuse_accounts (account_id),
  updated_at      TEXT,
  transaction_id  TEXT,
  last_success_at TEXT,
  last_error      TEXT,
  CHECK ((updated_at IS NULL) = (transaction_id IS NULL))
) STRICT;

CREATE VIEW v_balances AS
  -- Balances per ledger account and currency. available = posted plus
  -- pending outflows (money on its way out is not spendable; money on its
  -- way in is not yet there). fuse_current/fuse_available: what Fuse last
  -- reported for a bank account in that currency (NULL otherwise).
  SELECT b.ledger_account,
         a.fuse_account_id,
         b.currency,
         b.posted,
         b.pending_debits + b.pending_credits AS pending,
         b.posted + b.pending_credits AS available,
         CASE WHEN f.currency = b.currency THEN f.fuse_current END AS fuse_current,
         CASE WHEN f.currency = b.currency THEN f.fuse_available END AS fuse_available
    FROM balances b
    JOIN ledger_accounts a ON a.name = b.ledger_account
    LEFT JOIN fuse_accounts f ON f.account_id = a.fuse_account_id;

CREATE VIEW v_journal AS
  -- The journal, one row per posting, with its entry and Fuse transaction:
  -- SELECT * FROM v_journal WHERE transaction_id = '…';
  SELECT e.id AS entry_id,
         e.transaction_id,
         t.kind,
         e.state,
         e.pending_at,
         e.final_at,
         p.ledger_account,
         p.currency,
         p.amount,
         CASE WHEN p.amount > 0 THEN p.amount ELSE 0 END AS debit,
         CASE WHEN p.amount < 0 THEN -p.amount ELSE 0 END AS credit,
         t.reference,
         t.external_reference,
         t.external_id
    FROM postings p
    JOIN entries e ON e.id = p.entry_id
    JOIN fuse_transactions t ON t.transaction_id = e.transaction_id;

CREATE VIEW v_transactions AS
  -- Every Fuse transaction with its ledger entry state ('none' when no entry
  -- exists yet: amounts or currency still unknown).
  SELECT t.transaction_id, t.kind, t.account_id, t.counterpart_account_id, t.currency,
         t.instructed_amount, t.fee_amount, t.amount_with_fee,
         t.counterpart_currency, t.counterpart_amount, t.rate,
         t.status, t.status_at, t.created_at,
         COALESCE(e.state, 'none') AS entry_state,
         t.reference, t.external_reference, t.external_id, t.failure_reason, t.source
    FROM fuse_transactions t
    LEFT JOIN entries e ON e.transaction_id = t.transaction_id;

CREATE VIEW v_unbalanced_entries AS
  -- Entries whose postings do not sum to zero in some currency. Must be
  -- empty: ledger.Ingest refuses such an entry before it reaches SQL.
  SELECT entry_id, currency, SUM(amount) AS imbalance
    FROM postings
   GROUP BY entry_id, currency
  HAVING SUM(amount) <> 0;

-- version 2: reconciliation runs and breaks

CREATE TABLE recon_runs (
  -- One row per reconciliation run. verdict stays NULL while it runs;
  -- INCOMPLETE means Fuse could not be read completely (never green).
  id                   INTEGER PRIMARY KEY,
  started_at           TEXT NOT NULL,
  finished_at          TEXT,
  time_zone            TEXT NOT NULL,
  as_of                TEXT NOT NULL,
  verdict              TEXT CHECK (verdict IS NULL OR verdict IN
                         ('RECONCILED', 'RECONCILED_WITH_PENDING', 'BREAKS', 'INCOMPLETE')),
  accounts_checked     INTEGER NOT NULL DEFAULT 0,
  transactions_checked INTEGER NOT NULL DEFAULT 0,
  breaks_open          INTEGER NOT NULL DEFAULT 0,
  breaks_new           INTEGER NOT NULL DEFAULT 0,
  breaks_resolved      INTEGER NOT NULL DEFAULT 0,
  pending              INTEGER NOT NULL DEFAULT 0,
  detail               TEXT NOT NULL DEFAULT ''
) STRICT;

CREATE TABLE breaks (
  -- One row per (category, subject) across runs: opened by the first run
  -- that sees it, last_seen updated by every run that still sees it,
  -- resolved when the condition clears, acknowledged by a person with a note
  -- (`ledgerd breaks ack ID --note TEXT`). Amounts in minor units.
  id                  INTEGER PRIMARY KEY,
  category            TEXT NOT NULL CHECK (category IN ('balance_drift', 'missing_in_ledger',
                        'missing_at_fuse', 'amount_mismatch', 'currency_mismatch', 'status_mismatch',
                        'account_mismatch', 'unpaired_leg', 'stale_pending', 'duplicate', 'incomplete',
                        'status_conflict', 'unbalanced_entry', 'too_many_breaks')),
  subject             TEXT NOT NULL,          -- account, transaction or entry id
  severity            TEXT NOT NULL CHECK (severity IN ('info', 'warning', 'critical')),
  fuse_account_id     TEXT,
  fuse_transaction_id TEXT,
  currency            TEXT,
  ledger_amount       INTEGER,
  fuse_amount         INTEGER,
  difference          INTEGER,
  detail              TEXT NOT NULL DEFAULT '',
  state               TEXT NOT NULL CHECK (state IN ('open', 'resolved', 'acknowledged')),
  first_seen          TEXT NOT NULL,
  last_seen           TEXT NOT NULL,
  first_run           INTEGER NOT NULL REFERENCES recon_runs (id),
  last_run            INTEGER NOT NULL REFERENCES recon_runs (id),
  resolved_at         TEXT,
  ack_note            TEXT,
  ack_at              TEXT,
  UNIQUE (category, subject)
) STRICT;

CREATE VIEW v_open_breaks AS
  -- Breaks that need a person: open ones, oldest first, with their age in
  -- days. Acknowledged breaks are shown in `ledgerd breaks list`, not here.
  SELECT id, category, severity, subject, fuse_account_id, fuse_transaction_id, currency,
         ledger_amount, fuse_amount, difference, first_seen, last_seen,
         CAST(julianday('now') - julianday(first_seen) AS INTEGER) AS age_days, detail
    FROM breaks
   WHERE state = 'open'
   ORDER BY first_seen, id;

-- version 3: reconciliation per-run detail and the indexes the reconciler reads by

CREATE TABLE recon_run_accounts (
  -- What one run saw per Fuse account and currency, so that a report of an
  -- old run shows that run's figures, not today's. Amounts in minor units
  -- of currency, as of the run's as_of. drift = ledger_posted − fuse_balance
  -- (net); gross_drift = the sum of the absolute differences that make it up
  -- (transactions found on one side only or with other amounts or status,
  -- and what no transaction explains), so that two errors that cancel out
  -- still show.
  run_id          INTEGER NOT NULL REFERENCES recon_runs (id),
  fuse_account_id TEXT NOT NULL,
  name            TEXT,
  currency        TEXT NOT NULL CHECK (length(currency) = 3),
  ledger_posted   INTEGER NOT NULL,
  ledger_pending  INTEGER NOT NULL,
  fuse_balance    INTEGER,                    -- NULL: Fuse does not know the account
  drift           INTEGER NOT NULL,
  gross_drift     INTEGER NOT NULL,
  PRIMARY KEY (run_id, fuse_account_id, currency)
) STRICT, WITHOUT ROWID;

CREATE TABLE recon_run_breaks (
  -- Which breaks a run saw (a break row holds only its latest sighting).
  run_id   INTEGER NOT NULL REFERENCES recon_runs (id),
  break_id INTEGER NOT NULL REFERENCES breaks (id),
  PRIMARY KEY (run_id, break_id)
) STRICT, WITHOUT ROWID;

-- The reconciler merges each account's Fuse transactions with the ledger's
-- in transaction_id order. Rows are stored in ingest order, accounts
-- interleaved, so both indexes carry every column the merge reads: an
-- account's rows are then one sequential stretch of the first, and the
-- entry of each is found in the second without touching the tables (space
-- for time: about the size of the rows again).
CREATE INDEX fuse_transactions_account_id ON fuse_transactions (account_id, transaction_id,
  kind, counterpart_account_id, currency, instructed_amount, fee_amount, amount_with_fee,
  counterpart_currency, counterpart_amount, status, status_at, created_at);
CREATE INDEX entries_transaction_state ON entries (transaction_id, state, pending_at, final_at);
-- Duplicates: one external_id booked twice on the same account and kind.
CREATE INDEX fuse_transactions_external_id ON fuse_transactions (external_id, account_id, kind, status)
  WHERE external_id IS NOT NULL;
-- Balances as of a cut-off: the few entries that changed after it.
CREATE INDEX entries_pending_at ON entries (pending_at);
CREATE INDEX entries_final_at ON entries (final_at);

-- version 4: entries carry their Fuse account, so the reconciler reads an account's entries in one stretch
-- An entry belongs to the Fuse account of its transaction (which never
-- changes: fuse_transactions.account_id is kept as first observed). With
-- it on the entry, the reconciler reads one account's entries from one
-- index in transaction_id order, beside the same account's transactions
-- from fuse_transactions_account_id: two sequential scans merged, instead
-- of one random look-up per transaction. `ledgerd verify` checks that
-- every entry's account is its transaction's.
ALTER TABLE entries ADD COLUMN account_id TEXT REFERENCES fuse_accounts (account_id);
DROP TRIGGER entries_two_phase;
UPDATE entries SET account_id =
  (SELECT t.account_id FROM fuse_transactions t WHERE t.transaction_id = entries.transaction_id);
CREATE TRIGGER entries_two_phase BEFORE UPDATE ON entries
WHEN OLD.state <> 'pending' OR NEW.state NOT IN ('posted', 'voided')
  OR NEW.id IS NOT OLD.id OR NEW.transaction_id IS NOT OLD.transaction_id
  OR NEW.pending_at IS NOT OLD.pending_at OR NEW.created_seq IS NOT OLD.created_seq
  OR NEW.account_id IS NOT OLD.account_id
BEGIN SELECT RAISE(ABORT, 'an entry moves once, from pending to posted or voided'); END;
CREATE TRIGGER entries_account_required BEFORE INSERT ON entries
WHEN NEW.account_id IS NULL
BEGIN SELECT RAISE(ABORT, 'an entry names the Fuse account of its transaction'); END;
-- Replaces entries_transaction_state (look-ups by transaction_id use the
-- UNIQUE index) and fuse_transactions_account (a prefix of
-- fuse_transactions_account_id): one index fewer to write per transaction.
DROP INDEX entries_transaction_state;
DROP INDEX fuse_transactions_account;
-- The reconciler no longer looks entries up by final_at (it reads each
-- account's entries whole), and nothing else does: one index fewer to
-- write and to store (about 40 bytes per entry).
DROP INDEX entries_final_at;
CREATE INDEX entries_account ON entries (account_id, transaction_id, state, pending_at, final_at);
-- Transfer and exchange legs as the reconciler pairs them (unpaired_leg):
-- computed columns (VIRTUAL: nothing stored in the rows) naming each leg's
-- family, the currency and amount that pass through clearing, the key
-- that pairs it (external_id, else reference, for transfers;
-- external_reference, else external_id, for exchanges), the sending and
-- receiving accounts, and +1 for the sending leg, −1 for the receiving
-- one. NULL for other kinds. The partial index holds every leg in pairing
-- order, so the check is one walk of it, with no sort and no table reads.
ALTER TABLE fuse_transactions ADD COLUMN leg_family TEXT GENERATED ALWAYS AS (CASE
  WHEN kind IN ('internal_transfer_out', 'internal_transfer_in') THEN 'internal transfer'
  WHEN kind IN ('exchange_out', 'exchange_in') THEN 'exchange' END) VIRTUAL;
ALTER TABLE fuse_transactions ADD COLUMN leg_currency TEXT GENERATED ALWAYS AS (CASE kind
  WHEN 'internal_transfer_out' THEN currency WHEN 'internal_transfer_in' THEN currency
  WHEN 'exchange_out' THEN currency WHEN 'exchange_in' THEN counterpart_currency END) VIRTUAL;
ALTER TABLE fuse_transactions ADD COLUMN leg_key TEXT GENERATED ALWAYS AS (CASE
  WHEN kind IN ('internal_transfer_out', 'internal_transfer_in') THEN COALESCE(external_id, reference, '')
  WHEN kind IN ('exchange_out', 'exchange_in') THEN COALESCE(external_reference, external_id, '') END) VIRTUAL;
ALTER TABLE fuse_transactions ADD COLUMN leg_src TEXT GENERATED ALWAYS AS (CASE
  WHEN kind IN ('internal_transfer_out', 'exchange_out') THEN account_id
  WHEN kind IN ('internal_transfer_in', 'exchange_in') THEN counterpart_account_id END) VIRTUAL;
ALTER TABLE fuse_transactions ADD COLUMN leg_dst TEXT GENERATED ALWAYS AS (CASE
  WHEN kind IN ('internal_transfer_out', 'exchange_out') THEN counterpart_account_id
  WHEN kind IN ('internal_transfer_in', 'exchange_in') THEN account_id END) VIRTUAL;
ALTER TABLE fuse_transactions ADD COLUMN leg_amount INTEGER GENERATED ALWAYS AS (CASE kind
  WHEN 'internal_transfer_out' THEN instructed_amount WHEN 'internal_transfer_in' THEN instructed_amount
  WHEN 'exchange_out' THEN instructed_amount WHEN 'exchange_in' THEN counterpart_amount END) VIRTUAL;
ALTER TABLE fuse_transactions ADD COLUMN leg_sign INTEGER GENERATED ALWAYS AS (CASE
  WHEN kind IN ('internal_transfer_out', 'exchange_out') THEN 1
  WHEN kind IN ('internal_transfer_in', 'exchange_in') THEN -1 END) VIRTUAL;
CREATE INDEX fuse_transactions_legs ON fuse_transactions (leg_family, leg_currency, leg_key, leg_src, leg_dst,
  leg_amount, leg_sign, status, status_at, transaction_id, kind)
  WHERE kind IN ('internal_transfer_out', 'internal_transfer_in', 'exchange_out', 'exchange_in');
-- v_unbalanced_entries groups postings by entry and currency: with the
-- amount in the index too, that is one walk of it, with no table reads.
DROP INDEX postings_entry;
CREATE INDEX postings_entry ON postings (entry_id, currency, amount);

-- version 5: an external_id of "none" is no external_id
-- Fuse's webhook reference says of every payment's and transfer's
-- external_id: "If nothing was set this will be none". ledger.Ingest keeps
-- that word (in any case) as NULL from this version on; the rows written
-- before get the same. As a value, it made every such transaction of an
-- account one group for the duplicate check, and paired transfer legs by
-- it (leg_key) instead of by their reference. The raw events keep the
-- word as received.
UPDATE fuse_transactions SET external_id = NULL WHERE lower(external_id) = 'none';

-- version 6: bounded quarantine bodies, and a row the readiness probe writes
-- A quarantined body over the cap (ledger.MaxQuarantineBody) is kept
-- truncated, so that nobody can fill the disk through the quarantine:
-- raw then holds its first bytes, raw_length the length received and
-- raw_sha256 the SHA-256 of the whole body. Both NULL: raw is the whole
-- body, as in every row written before this version.
ALTER TABLE quarantine ADD COLUMN raw_length INTEGER CHECK (raw_length IS NULL OR raw_length >= 0);
ALTER TABLE quarantine ADD COLUMN raw_sha256 BLOB CHECK (raw_sha256 IS NULL OR length(raw_sha256) = 32);
DROP TRIGGER quarantine_keep_body;
CREATE TRIGGER quarantine_keep_body BEFORE UPDATE ON quarantine
WHEN NEW.id IS NOT OLD.id OR NEW.received_at IS NOT OLD.received_at OR NEW.source IS NOT OLD.source
  OR NEW.remote_addr IS NOT OLD.remote_addr OR NEW.reason IS NOT OLD.reason
  OR NEW.detail IS NOT OLD.detail OR NEW.raw IS NOT OLD.raw
  OR NEW.raw_length IS NOT OLD.raw_length OR NEW.raw_sha256 IS NOT OLD.raw_sha256
BEGIN SELECT RAISE(ABORT, 'quarantined bodies are kept as received'); END;

CREATE TABLE write_probe (
  -- One row that /readyz rewrites through the ledger's writer: a commit
  -- that really writes a page, so that "ready" means a webhook posted now
  -- would be stored (a full disk fails it; an empty transaction would not).
  id        INTEGER PRIMARY KEY CHECK (id = 1),
  probed_at TEXT NOT NULL
) STRICT;

-- version 7: fee debits, returned payments, booked transfers, new break categories
-- Fuse's published API has two more transaction types (fee_debit; a
-- local_return_payment in either direction), a state of its own for
-- internal transfers (Booked: pending, like submitted), and says how a
-- payment's fee is taken (fee_source). The reconciler gains two break
-- categories: closing_balance_drift (a day's closing balance at Fuse
-- against the ledger's) and unknown_transaction (a Fuse transaction of a
-- type or state ledgerd does not know: kept and reported, never booked).
--
-- New columns of fuse_transactions, NULL until an observation says them
-- (the first value kept, a different later one an observation conflict):
--   fee_source     what Fuse said of the payment's fee:
--                  'included_in_payment' (inside the payment's entry),
--                  'primary_account' (not in the payment's entry: Fuse
--                  takes it as a separate fee_debit); NULL when nobody
--                  said (webhooks do not), booked inside until a fee
--                  debit for the payment proves otherwise (ledger/fees.go);
--   returned_id    a returned payment's returned_id: the payment it returns;
--   fee_target_id  a fee_debit's fee_target.reference: the transaction the
--                  fee is for.
ALTER TABLE fuse_transactions ADD COLUMN fee_source TEXT
  CHECK (fee_source IS NULL OR fee_source IN ('included_in_payment', 'primary_account'));
ALTER TABLE fuse_transactions ADD COLUMN returned_id TEXT;
ALTER TABLE fuse_transactions ADD COLUMN fee_target_id TEXT;
-- Payments booked before this version have their fee inside their
-- entry, which a NULL fee_source means: nobody said otherwise.
-- The reconciler reads what an entry books on the bank account
-- (ledger.BankAmount) from this index, which must hold fee_source too.
DROP INDEX fuse_transactions_account_id;
CREATE INDEX fuse_transactions_account_id ON fuse_transactions (account_id, transaction_id,
  kind, counterpart_account_id, currency, instructed_amount, fee_amount, amount_with_fee,
  counterpart_currency, counterpart_amount, status, status_at, created_at, fee_source);
-- A payment booked with its fee inside looks here for a fee_debit that
-- names it (the fee must not be booked twice). Partial: fee debits only.
CREATE INDEX fuse_transactions_fee_target ON fuse_transactions (fee_target_id)
  WHERE fee_target_id IS NOT NULL;
-- Loosening the CHECKs on kind, status and category. SQLite cannot ALTER
-- a CHECK; of its two documented ways (lang_altertable.html, "Making
-- Other Kinds Of Table Schema Changes") this is the one for "removing
-- CHECK ... constraints": edit the CREATE text in sqlite_schema under
-- PRAGMA writable_schema. It rewrites no row, so it is sound exactly when
-- every row already satisfies the new text, which holds because each new
-- CHECK admits a superset of the old one's values; and it costs nothing
-- whatever the size of the file. The other way, rebuilding both tables,
-- would copy every transaction and rebuild every index on it, and cannot
-- be done here at all: it needs foreign_keys OFF, which a transaction
-- cannot switch (entries reference fuse_transactions, recon_run_breaks
-- references breaks; dropping the old table would break those references
-- inside the transaction that migrates).
-- Three things make the edit safe:
--   * modernc.org/sqlite leaves SQLITE_DBCONFIG_DEFENSIVE off (were it on,
--     the UPDATE below would fail, and with it this version: nothing half
--     done);
--   * writable_schema = RESET makes this connection read the schema
--     again; every DDL statement of this version (the ALTERs above,
--     v_transactions below) moves schema_version on, so every other
--     connection to the file, open before the upgrade or not, reads the
--     new CHECKs at its next statement (the documented procedure's
--     "increment the schema version" step, which a plain SQL section
--     cannot do with PRAGMA schema_version = N);
--   * the edit replaces fragments that occur once in the CREATE text, and
--     the check at the end of this section fails the version (it runs in
--     one transaction) unless every new CHECK is in place and no old one
--     is left; `ledgerd verify` runs integrity_check, which checks every
--     row against the CHECKs.
PRAGMA writable_schema = ON;
UPDATE sqlite_schema SET sql = replace(replace(sql,
    '''internal_transfer_in'', ''exchange_out'', ''exchange_in''))',
    '''internal_transfer_in'', ''exchange_out'', ''exchange_in'',
                           ''fee_debit'', ''local_return_payment_in'', ''local_return_payment_out''))'),
    'CHECK (status IN (''created'', ''submitted'', ''executed'', ''settled'', ''failed''))',
    'CHECK (status IN (''created'', ''submitted'', ''booked'', ''executed'', ''settled'', ''failed''))')
  WHERE type = 'table' AND name = 'fuse_transactions';
UPDATE sqlite_schema SET sql = replace(sql,
    '''status_conflict'', ''unbalanced_entry'', ''too_many_breaks''))',
    '''status_conflict'', ''unbalanced_entry'', ''too_many_breaks'',
                        ''closing_balance_drift'', ''unknown_transaction''))')
  WHERE type = 'table' AND name = 'breaks';
PRAGMA writable_schema = RESET;

DROP VIEW v_transactions;
CREATE VIEW v_transactions AS
  -- Every Fuse transaction with its ledger entry state ('none' when no entry
  -- exists yet: amounts or currency still unknown). fee_source says how
  -- a payment's fee is booked, returned_id which payment a return brings
  -- back, fee_target_id which transaction a fee debit is for.
  SELECT t.transaction_id, t.kind, t.account_id, t.counterpart_account_id, t.currency,
         t.instructed_amount, t.fee_amount, t.amount_with_fee,
         t.counterpart_currency, t.counterpart_amount, t.rate,
         t.status, t.status_at, t.created_at,
         COALESCE(e.state, 'none') AS entry_state,
         t.reference, t.external_reference, t.external_id, t.failure_reason, t.source,
         t.fee_source, t.returned_id, t.fee_target_id
    FROM fuse_transactions t
    LEFT JOIN entries e ON e.transaction_id = t.transaction_id;

-- The check: one row per table whose CREATE text holds every new value
-- and none of the old lists. Fewer than two, and the INSERT fails, and
-- with it this version.
CREATE TEMP TABLE v7_schema_check (
  -- Scratch: fails the upgrade unless both CHECKs were edited.
  edited INTEGER NOT NULL CHECK (edited = 2)
) STRICT;
INSERT INTO v7_schema_check
  SELECT count(*) FROM sqlite_schema
   WHERE type = 'table'
     AND ((name = 'fuse_transactions' AND instr(sql, '''fee_debit''') > 0
           AND instr(sql, '''local_return_payment_in''') > 0 AND instr(sql, '''local_return_payment_out''') > 0
           AND instr(sql, '''submitted'', ''booked''') > 0
           AND instr(sql, '''exchange_in''))') = 0 AND instr(sql, '''submitted'', ''executed''') = 0)
       OR (name = 'breaks' AND instr(sql, '''closing_balance_drift''') > 0
           AND instr(sql, '''unknown_transaction''') > 0 AND instr(sql, '''too_many_breaks''))') = 0));
DROP TABLE v7_schema_check;

-- version 8: backfill windows in creation time, without an update stamp
-- Fuse's published API has no updated_at and no updated_since: a
-- transaction listing is a from/to time window (which time it compares is
-- undocumented), in an undocumented order, continued by an opaque cursor.
-- The backfill no longer keeps a per-account position in the listing's
-- order (sync_checkpoints.updated_at and transaction_id are not written
-- any more: kept as history); it keeps one window per scope, below, and
-- re-reads every transaction the ledger does not hold final by a wider
-- window or one by one (GET /v1/transactions/{id}), whichever costs fewer
-- requests. sync_checkpoints keeps, per Fuse account, when a run last
-- finished it (last_success_at) and why the last one failed (last_error).
CREATE TABLE sync_windows (
  -- Where the backfill stands in one scope: 'org' (the organisation's
  -- listing, GET /v1/transactions: what a run over every account reads)
  -- or 'account:<id>' (one account's listing: `ledgerd backfill
  -- --account`). Times are Fuse's (created_at), as the listing filters.
  --   next_from   where the next listing starts, less the overlap; NULL:
  --               from the start. Every transaction created before it has
  --               been read at least once.
  --   run_from,   the window of the listing in progress (run_from NULL:
  --   run_to      from the start); run_to NULL: no listing in progress.
  --   run_latest  the latest created_at the listing in progress has shown
  --               so far (bounds next_from when the host's clock is ahead
  --               of Fuse's).
  --   cursor      pages.next after its last committed page; NULL: its
  --               first page is not committed yet. Each page's
  --               observations and this row commit together.
  --   pages       pages committed in the listing in progress.
  --   updated_at  when this row was last written (ledgerd's clock).
  scope      TEXT PRIMARY KEY CHECK (scope = 'org' OR scope LIKE 'account:_%'),
  next_from  TEXT,
  run_from   TEXT,
  run_to     TEXT,
  run_latest TEXT,
  cursor     TEXT,
  pages      INTEGER NOT NULL DEFAULT 0 CHECK (pages >= 0),
  updated_at TEXT NOT NULL,
  CHECK (run_to IS NOT NULL OR (run_from IS NULL AND run_latest IS NULL AND cursor IS NULL AND pages = 0))
) STRICT;
-- Files that a per-account backfill has read start from their old
-- positions: an account's checkpoint (the updated_at of the last item of
-- its last committed page) is a time before which every transaction of
-- the account was read once, since an object is first listed at its
-- creation; an account that has no position but finished a run without
-- error had nothing before that run (last_success_at). The organisation
-- starts at the earliest of its accounts' (earlier means more is read
-- again, never less), or from the start if an account the ledger knows
-- has neither. Transactions read before and still not final are re-read
-- by the first run.
INSERT INTO sync_windows (scope, next_from, updated_at)
  SELECT 'org',
         CASE WHEN count(*) = count(COALESCE(c.updated_at, c.last_success_at))
              THEN MIN(COALESCE(c.updated_at, c.last_success_at)) END,
         strftime('%Y-%m-%dT%H:%M:%f000000Z', 'now')
    FROM fuse_accounts a LEFT JOIN sync_checkpoints c ON c.account_id = a.account_id
  HAVING count(c.account_id) > 0;
INSERT INTO sync_windows (scope, next_from, updated_at)
  SELECT 'account:' || account_id, COALESCE(updated_at, last_success_at),
         strftime('%Y-%m-%dT%H:%M:%f000000Z', 'now')
    FROM sync_checkpoints
   WHERE COALESCE(updated_at, last_success_at) IS NOT NULL;
