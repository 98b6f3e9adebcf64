package replica

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/benbjohnson/litestream"
)

// ErrNoBackup reports a replica that holds nothing to restore (at or
// before the time asked for).
var ErrNoBackup = errors.New("the replica holds no backup")

// Restored says what Restore wrote.
type Restored struct {
	// TXID is Litestream's last transaction in the file.
	TXID uint64
	// ReplicatedAt is when that transaction was written to the replica's
	// LTX file: nothing committed after it is in the file.
	ReplicatedAt time.Time
	// Files is how many LTX files were applied.
	Files int
}

// Restore writes the database held by the replica t, as it was at asOf
// (zero: its latest state), to the new file to, with mode 0600. It never
// overwrites: an existing to (or its -wal or -shm) is an error. The file
// is built in a private directory beside to and linked into place, so
// that no one else can read it half-written and no half-written file is
// ever at to.
func Restore(ctx context.Context, t Target, to string, asOf time.Time, log *slog.Logger) (Restored, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	for _, p := range []string{to, to + "-wal", to + "-shm"} {
		if _, err := os.Lstat(p); err == nil {
			return Restored{}, fmt.Errorf("restore to %s: %s exists; restore never overwrites a file: choose a new path", to, p)
		} else if !errors.Is(err, os.ErrNotExist) {
			return Restored{}, fmt.Errorf("restore to %s: %w", to, err)
		}
	}
	client, err := newClient(t)
	if err != nil {
		return Restored{}, fmt.Errorf("replica %s: %w", t, err)
	}
	if err := client.Init(ctx); err != nil {
		return Restored{}, fmt.Errorf("replica %s: %w", t, err)
	}
	lslog := slog.New(litestreamHandler{log.Handler()}).With("component", "litestream")
	plan, err := litestream.CalcRestorePlan(ctx, client, 0, asOf, lslog)
	switch {
	case errors.Is(err, litestream.ErrTxNotAvailable), err == nil && len(plan) == 0:
		return Restored{}, fmt.Errorf("replica %s: %w", t, ErrNoBackup)
	case err != nil:
		return Restored{}, fmt.Errorf("replica %s: plan the restore: %w", t, err)
	}
	last := plan[len(plan)-1]
	res := Restored{TXID: uint64(last.MaxTXID), ReplicatedAt: last.CreatedAt, Files: len(plan)}

	dir, err := os.MkdirTemp(filepath.Dir(to), ".ledgerd-restore-")
	if err != nil {
		return Restored{}, fmt.Errorf("restore to %s: %w", to, err)
	}
	defer os.RemoveAll(dir)
	tmp := filepath.Join(dir, filepath.Base(to))
	opt := litestream.NewRestoreOptions()
	opt.OutputPath, opt.TXID = tmp, last.MaxTXID
	if err := litestream.NewReplicaWithClient(nil, client).Restore(ctx, opt); err != nil {
		return Restored{}, fmt.Errorf("restore from %s: %w", t, err)
	}
	if err := os.Chmod(tmp, 0o600); err != nil {
		return Restored{}, fmt.Errorf("restore to %s: %w", to, err)
	}
	// A link, not a rename: it fails if to appeared meanwhile.
	if err := os.Link(tmp, to); err != nil {
		return Restored{}, fmt.Errorf("restore to %s: %w", to, err)
	}
	if err := syncDir(filepath.Dir(to)); err != nil {
		return Restored{}, fmt.Errorf("restore to %s: %w", to, err)
	}
	return res, nil
}

// syncDir makes a new directory entry durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
