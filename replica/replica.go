// Package replica replicates the ledger file continuously with Litestream
// (github.com/benbjohnson/litestream, embedded as a library: it speaks
// modernc.org/sqlite, ledgerd's own pure-Go driver, so ledgerd stays one
// binary without cgo) to a directory or an S3-compatible bucket, and
// restores a file from such a replica.
//
// Litestream reads committed frames from the WAL into LTX files beside the
// database (a ".<name>-litestream" directory) and uploads them. It must see
// every frame before the WAL starts over, so while it replicates it owns
// the WAL checkpoints, as it asks of the programs it replicates: the
// ledger is opened with ledger.Options.ExternalCheckpoints (no automatic
// or background checkpoint, no TRUNCATE at close; commands do the same
// when a replica is configured). Between its syncs Litestream keeps a
// read transaction open, which keeps anyone else's PASSIVE checkpoint
// from letting the WAL start over.
//
// The Replicator drives Litestream's steps itself (its own monitors and
// thresholds are off), one after the other, every interval: WAL to local
// LTX files, then LTX files to the replica, then, when the WAL is long
// enough, a checkpoint with the ledger's writer paused (see
// checkpointPages). When a round that started at T has ended, everything
// committed before T is on the replica: T is the recovery point, which
// the status page and the ledgerd_replica_* metrics show.
package replica

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"path/filepath"
	"sync"
	"time"

	"github.com/benbjohnson/litestream"
	"github.com/benbjohnson/litestream/file"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ledgerd/ledgerd/config"
)

// Target is a replica: LEDGERD_REPLICA_URL and its credentials.
type Target struct {
	// URL is a directory path, file:///path, or s3://bucket/path with
	// Litestream's options in the query (endpoint, region,
	// forcePathStyle…).
	URL string
	// AccessKeyID and SecretAccessKey are S3 credentials; empty: the AWS
	// SDK's own chain.
	AccessKeyID     string
	SecretAccessKey config.Secret
}

// TargetOf is the replica cfg configures; its URL is "" when there is
// none.
func TargetOf(cfg *config.Config) Target {
	return Target{URL: cfg.ReplicaURL, AccessKeyID: cfg.ReplicaAccessKeyID, SecretAccessKey: cfg.ReplicaSecretAccessKey}
}

// String is the target fit for logs: no credentials.
func (t Target) String() string { return config.RedactReplicaURL(t.URL) }

// Options configure Start.
type Options struct {
	Target Target
	// Interval is how often a round starts (LEDGERD_REPLICA_INTERVAL).
	Interval time.Duration
	Logger   *slog.Logger
	// Registry receives the ledgerd_replica_* metrics; nil: none.
	Registry prometheus.Registerer
	// Now is the clock of the recovery point; default time.Now.
	Now func() time.Time
	// checkpointPages, set by tests, replaces checkpointPages: a
	// checkpoint once the WAL holds that many pages.
	checkpointPages int
}

// Checkpoints. Litestream would checkpoint in its own sync when the WAL
// is long enough, but in v0.5 a commit that comes between its checkpoint
// and its next write makes it find frames overwritten and take a full
// snapshot (under steady load, often). So its thresholds are set out of
// reach, and the Replicator has it checkpoint after a round, with the
// ledger's writer paused (Writer): at these thresholds, Litestream's own
// defaults. Its emergency TRUNCATE at about 500 MB of WAL stays, for a
// WAL that has grown anyway (it snapshots at the boundary by design).
const (
	checkpointPages = litestream.DefaultMinCheckpointPageN // about 4 MB of WAL
	checkpointEvery = litestream.DefaultCheckpointInterval // and at least this often while commits come in
)

// Writer is the ledger's writer, which a checkpoint pauses
// (*ledger.Ledger).
type Writer interface {
	Paused(fn func() error) error
}

// roundTimeout bounds one round: an upload that hangs (a half-open
// connection; the S3 client's own timeout is a day) must not stop
// replication for good. A snapshot of a large file to a slow bucket fits.
const roundTimeout = 15 * time.Minute

// closeTimeout bounds the final round at Close.
const closeTimeout = 15 * time.Second

// errorLogEvery is how often a replica that keeps failing is logged again.
const errorLogEvery = time.Minute

// Replicator replicates one database file. Its methods may be called on a
// nil *Replicator, which is replication switched off.
type Replicator struct {
	path    string
	opts    Options // with its defaults filled in by New
	db      *litestream.DB
	store   *litestream.Store
	writer  Writer
	cancel  context.CancelFunc
	done    chan struct{}
	metrics *metrics

	mu     sync.Mutex
	status Status
	// loggedErr is when a failure was last logged (errorLogEvery).
	loggedErr time.Time

	// Owned by run: when the last checkpoint was made, and Litestream's
	// position right after it.
	checkpointed     time.Time
	checkpointedTXID uint64
}

// Status is the replication's state. The zero Status is replication
// switched off.
type Status struct {
	// Target is where the file is replicated to, without credentials;
	// "" when replication is off.
	Target   string
	Interval time.Duration
	// Started is when the Replicator started; zero before Start.
	Started time.Time
	// ReplicatedAt is the recovery point: every commit before it is on
	// the replica. Zero until the first round has ended.
	ReplicatedAt time.Time
	// LocalTXID is Litestream's last transaction read from the WAL;
	// ReplicatedTXID the last one on the replica.
	LocalTXID, ReplicatedTXID uint64
	// LastError is why the last round failed, "" when it did not;
	// LastErrorAt when a round last failed.
	LastError   string
	LastErrorAt time.Time
}

// Lag is how old the recovery point is at now: what a crash at now would
// lose, at most. Before the first round ends it counts from Started; it
// is 0 before Start.
func (s Status) Lag(now time.Time) time.Duration {
	if s.Started.IsZero() {
		return 0
	}
	if s.ReplicatedAt.IsZero() {
		return now.Sub(s.Started)
	}
	return now.Sub(s.ReplicatedAt)
}

// New prepares the replication of the database at path, which the caller
// opens with ledger.Options.ExternalCheckpoints; Start starts it. New
// returns nil (replication off) when opts.Target.URL is "".
func New(path string, opts Options) *Replicator {
	if opts.Target.URL == "" {
		return nil
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Interval <= 0 {
		opts.Interval = time.Second
	}
	r := &Replicator{path: path, opts: opts, done: make(chan struct{})}
	r.status = Status{Target: opts.Target.String(), Interval: opts.Interval}
	return r
}

// Start starts Litestream on the file, which w (the ledger) has open and
// writes, and the rounds. The caller closes the Replicator after closing
// the ledger. On a nil Replicator it does nothing.
func (r *Replicator) Start(ctx context.Context, w Writer) error {
	if r == nil {
		return nil
	}
	r.writer = w
	client, err := newClient(r.opts.Target)
	if err != nil {
		return fmt.Errorf("replica %s: %w", r.opts.Target, err)
	}
	lslog := slog.New(litestreamHandler{r.opts.Logger.Handler()}).With("component", "litestream")
	db := litestream.NewDB(r.path)
	// The Replicator runs the rounds: Litestream's own monitors stay off.
	db.MonitorInterval = 0
	db.ShutdownSyncTimeout = closeTimeout
	// Checkpoints are the Replicator's (see checkpointPages).
	db.MinCheckpointPageN, db.CheckpointInterval = math.MaxInt32, 0
	rep := litestream.NewReplicaWithClient(db, client)
	rep.MonitorEnabled = false
	db.Replica = rep
	if fc, ok := client.(*file.ReplicaClient); ok {
		fc.Replica = rep // gives the replica's files the database's owner
	}
	// A copy: Litestream's default levels are package variables.
	var levels litestream.CompactionLevels
	for _, l := range litestream.DefaultCompactionLevels {
		c := *l
		levels = append(levels, &c)
	}
	store := litestream.NewStore([]*litestream.DB{db}, levels)
	store.Logger = lslog
	db.SetLogger(lslog.With("db", filepath.Base(r.path)))
	if err := store.Open(ctx); err != nil {
		return fmt.Errorf("replica %s: start Litestream: %w", r.opts.Target, err)
	}
	r.db, r.store = db, store
	r.mu.Lock()
	r.status.Started = r.opts.Now()
	r.mu.Unlock()
	r.checkpointed = r.status.Started
	if r.opts.Registry != nil {
		r.metrics = newMetrics(r.opts.Registry, r, config.ReplicaScheme(r.opts.Target.URL))
	}
	runCtx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	go r.run(runCtx)
	r.opts.Logger.Info("replicating", "replica", r.opts.Target.String(), "interval", r.opts.Interval)
	return nil
}

// run starts a round every interval (at once when a round took longer)
// until ctx ends.
func (r *Replicator) run(ctx context.Context) {
	defer close(r.done)
	tick := time.NewTicker(r.opts.Interval)
	defer tick.Stop()
	for {
		r.round(ctx)
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// round ships what was committed since the last one: Litestream reads the
// new WAL frames into an LTX file, then uploads the LTX files the replica
// lacks; then, when the WAL is long or old enough, it checkpoints.
func (r *Replicator) round(ctx context.Context) {
	start := r.opts.Now()
	rctx, cancel := context.WithTimeout(ctx, roundTimeout)
	defer cancel()
	err := r.db.Sync(rctx)
	read := r.opts.Now()
	if err != nil {
		err = fmt.Errorf("read the WAL: %w", err)
	} else if err = r.db.Replica.Sync(rctx); err != nil {
		err = fmt.Errorf("upload: %w", err)
	}
	if ctx.Err() != nil {
		return // Close: the final round is Litestream's own
	}
	end := r.opts.Now()
	r.opts.Logger.Debug("replication round", "read", read.Sub(start), "upload", end.Sub(read), "failed", err != nil)
	r.record(start, end, err)
	if err == nil {
		r.checkpoint(rctx, end)
	}
}

// checkpoint has Litestream checkpoint the WAL, with the ledger's writer
// paused, once the WAL holds checkpointPages pages, or checkpointEvery
// after the last checkpoint when something was committed since. A
// failure is logged: the WAL only grows until the next round's.
func (r *Replicator) checkpoint(ctx context.Context, now time.Time) {
	pages := checkpointPages
	if r.opts.checkpointPages > 0 {
		pages = r.opts.checkpointPages
	}
	pos, err := r.db.Pos()
	if err != nil || r.db.PageSize() == 0 {
		return
	}
	walBytes := r.db.SyncDiagnostic().LastSyncedWALOffset
	full := walBytes >= int64(pages)*int64(r.db.PageSize()+litestream.WALFrameHeaderSize)
	due := now.Sub(r.checkpointed) >= checkpointEvery && uint64(pos.TXID) > r.checkpointedTXID
	if !full && !due {
		return
	}
	start := r.opts.Now()
	err = r.writer.Paused(func() error { return r.db.Checkpoint(ctx, litestream.CheckpointModePassive) })
	if err != nil {
		r.opts.Logger.Warn("WAL checkpoint failed; the next round tries again", "err", err, "wal_bytes", walBytes)
		return
	}
	r.checkpointed = r.opts.Now()
	if pos, err := r.db.Pos(); err == nil {
		r.checkpointedTXID = uint64(pos.TXID)
	}
	r.opts.Logger.Debug("WAL checkpointed", "wal_bytes", walBytes, "paused", r.checkpointed.Sub(start))
}

// record notes a round's outcome in the status and the metrics.
func (r *Replicator) record(start, end time.Time, err error) {
	local, _ := r.db.Pos()
	replicated := r.db.Replica.Pos()
	r.mu.Lock()
	defer r.mu.Unlock()
	wasFailing := r.status.LastError != ""
	r.status.LocalTXID, r.status.ReplicatedTXID = uint64(local.TXID), uint64(replicated.TXID)
	if r.metrics != nil {
		r.metrics.rounds.Inc()
		r.metrics.duration.Observe(end.Sub(start).Seconds())
	}
	if err == nil {
		r.status.ReplicatedAt, r.status.LastError = start, ""
		if wasFailing {
			r.opts.Logger.Info("replica reachable again", "replica", r.status.Target)
		}
		return
	}
	if r.metrics != nil {
		r.metrics.errors.Inc()
	}
	r.status.LastError, r.status.LastErrorAt = err.Error(), end
	if !wasFailing || end.Sub(r.loggedErr) >= errorLogEvery {
		r.loggedErr = end
		r.opts.Logger.Error("replication failed: the replica falls behind until it works again; commits stay in the local WAL",
			"replica", r.status.Target, "err", err, "replicated_at", r.status.ReplicatedAt)
	}
}

// Status returns the replication's state; the zero Status when r is nil.
func (r *Replicator) Status() Status {
	if r == nil {
		return Status{}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.status
}

// Close stops the rounds and lets Litestream ship the last frames (those
// of the ledger's own Close) and release the file. Call it after the
// ledger is closed: Litestream closes file descriptors whose POSIX locks
// the ledger's connections would otherwise lose. On a nil Replicator, or
// one never started, it does nothing.
func (r *Replicator) Close() error {
	if r == nil || r.store == nil {
		return nil
	}
	r.cancel()
	<-r.done
	ctx, cancel := context.WithTimeout(context.Background(), closeTimeout+5*time.Second)
	defer cancel()
	start := r.opts.Now()
	err := r.store.Close(ctx)
	if err != nil && !errors.Is(err, context.Canceled) {
		err = fmt.Errorf("replica %s: final sync: %w", r.opts.Target, err)
	} else {
		err = nil
	}
	r.record(start, r.opts.Now(), err)
	st := r.Status()
	if err == nil {
		r.opts.Logger.Info("replica up to date", "replica", st.Target, "txid", st.ReplicatedTXID)
	}
	return err
}
