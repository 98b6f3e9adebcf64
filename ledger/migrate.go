package ledger

import (
	"context"
	"database/sql"
	"fmt"
	"regexp"
	"strconv"
	"time"

	"github.com/ledgerd/ledgerd"
)

// migration is one "-- version N" section of schema.sql.
type migration struct {
	version int
	title   string
	sql     string
}

var versionLine = regexp.MustCompile(`(?m)^-- version (\d+): (.*)$`)

// parseMigrations splits schema.sql into its numbered sections, which must
// count 1, 2, 3… with no gap.
func parseMigrations(schema string) ([]migration, error) {
	locs := versionLine.FindAllStringSubmatchIndex(schema, -1)
	if len(locs) == 0 {
		return nil, fmt.Errorf("schema has no '-- version N:' section")
	}
	var ms []migration
	for i, loc := range locs {
		n, err := strconv.Atoi(schema[loc[2]:loc[3]])
		if err != nil || n != i+1 {
			return nil, fmt.Errorf("schema section %d is numbered %q, want %d", i+1, schema[loc[2]:loc[3]], i+1)
		}
		end := len(schema)
		if i+1 < len(locs) {
			end = locs[i+1][0]
		}
		ms = append(ms, migration{version: n, title: schema[loc[4]:loc[5]], sql: schema[loc[1]:end]})
	}
	return ms, nil
}

// SchemaVersion is the newest schema version this binary knows.
func SchemaVersion() int {
	ms, err := parseMigrations(ledgerd.SchemaSQL)
	if err != nil {
		return 0
	}
	return ms[len(ms)-1].version
}

// migrate brings the file to the newest version, one section per
// transaction, so that a crash mid-upgrade leaves the file at the last
// complete version. A file newer than the binary is refused.
func migrate(ctx context.Context, db *sql.DB, schema string) error {
	return migrateTo(ctx, db, schema, -1)
}

// migrateTo applies sections up to and including version target (-1: all).
// Tests use it to build files at an older version.
func migrateTo(ctx context.Context, db *sql.DB, schema string, target int) error {
	ms, err := parseMigrations(schema)
	if err != nil {
		return err
	}
	latest := ms[len(ms)-1].version
	if target < 0 {
		target = latest
	}
	var current int
	if err := db.QueryRowContext(ctx, "PRAGMA user_version").Scan(&current); err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	if current > latest {
		return newerSchema(current, latest)
	}
	for _, m := range ms {
		if m.version <= current || m.version > target {
			continue
		}
		if err := applyMigration(ctx, db, m); err != nil {
			return err
		}
	}
	return nil
}

// newerSchema is the error for a file at schema version current, which
// this binary, knowing up to latest, must not touch.
func newerSchema(current, latest int) error {
	return fmt.Errorf("file is at schema version %d, this ledgerd knows up to %d; upgrade ledgerd: %w",
		current, latest, ErrNewerSchema)
}

func applyMigration(ctx context.Context, db *sql.DB, m migration) error {
	// Another process (serve) may be writing: wait for the lock as long as
	// a unit without a deadline would.
	deadline := time.Now().Add(lockWait)
	tx, err := beginImmediate(db, func(error) bool { return ctx.Err() == nil && time.Now().Before(deadline) })
	if err != nil {
		return fmt.Errorf("schema version %d: begin: %w", m.version, err)
	}
	defer tx.Rollback() //nolint:errcheck // no-op after Commit
	// Read again under the write lock: another process opening the same
	// file (serve starting while `ledgerd migrate` runs) may have applied
	// this version since the caller looked.
	var current int
	if err := tx.QueryRowContext(ctx, "PRAGMA user_version").Scan(&current); err != nil {
		return fmt.Errorf("schema version %d: read schema version: %w", m.version, err)
	}
	if current >= m.version {
		return nil
	}
	if _, err := tx.ExecContext(ctx, m.sql); err != nil {
		return fmt.Errorf("schema version %d (%s): %w", m.version, m.title, err)
	}
	// PRAGMA takes no bound parameters; the version is an int we parsed.
	if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", m.version)); err != nil {
		return fmt.Errorf("schema version %d: set user_version: %w", m.version, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("schema version %d: commit: %w", m.version, err)
	}
	return nil
}
