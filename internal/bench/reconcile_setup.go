package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/ledgerd/ledgerd"
	"github.com/ledgerd/ledgerd/fuse/sandbox"
	"github.com/ledgerd/ledgerd/ledger"
	"github.com/ledgerd/ledgerd/ledger/journal"
)

// The reconcile benchmark's ledger file is booked through ledger.IngestAll,
// one observation per transaction leg, exactly as the backfill books them:
// a million of them take minutes, which would make every `make bench` slow.
// So the file (and the journal exported from it) is built once and kept in
// a cache directory under os.TempDir, named by a fingerprint of everything
// that decides its content: the schema version, reconcileDataVersion, and
// every observation booked (event id, raw body, and the observation itself).
// A later run with the same fingerprint copies the file instead of booking
// it again; any change to the sandbox's history, to how it is turned into
// observations, or to the schema changes the fingerprint and rebuilds it.
// Only received_at (the wall clock at booking) differs from a fresh build,
// and the reconciler never reads it. LEDGERD_BENCH_NO_CACHE=1 skips the
// cache (and does not fill it).

// reconcileDataVersion is bumped when the way the bench books its history
// changes in a way the fingerprint does not see.
const reconcileDataVersion = 1

// reconcileIngestBatch is how many observations share one IngestAll commit.
const reconcileIngestBatch = 10_000

// reconcileSetup is where the measured run's inputs are, and what making
// them cost.
type reconcileSetup struct {
	db, journal string
	cached      bool
	key         string
	// build and export are what booking the file and exporting the
	// journal took when they were built (now or by the run that filled
	// the cache); fingerprint and copy what this run spent instead.
	build, export, fingerprint, copy time.Duration
	// migrated is how long ledger.Open took to migrate a cached file of
	// schema version migratedFrom (0: not migrated).
	migrated     time.Duration
	migratedFrom int
}

// fromCache copies a cached entry into place; false if there is none (or
// it is damaged).
func (s *reconcileSetup) fromCache(db, journal, meta string) bool {
	b, err := os.ReadFile(meta)
	if err != nil {
		return false
	}
	var m cacheMeta
	if err := json.Unmarshal(b, &m); err != nil {
		return false
	}
	start := time.Now()
	if err := copyFile(db, s.db); err != nil {
		os.Remove(s.db)
		return false
	}
	if err := os.Link(journal, s.journal); err != nil {
		os.Remove(s.db)
		return false
	}
	s.cached, s.copy = true, time.Since(start)
	s.build = time.Duration(m.BuildSeconds * float64(time.Second))
	s.export = time.Duration(m.ExportSeconds * float64(time.Second))
	s.migrated = time.Duration(m.MigratedSeconds * float64(time.Second))
	s.migratedFrom = m.MigratedFrom
	return true
}

func (s reconcileSetup) about() string {
	how := fmt.Sprintf("booking it in the ledger %.1f s (IngestAll, %d per commit, writer page cache 1 GiB), export %.1f s.",
		s.build.Seconds(), reconcileIngestBatch, s.export.Seconds())
	if s.migratedFrom > 0 {
		how += fmt.Sprintf(" The file was booked at schema version %d and migrated to %d by ledger.Open (as ledgerd upgrades a file) in %.1f s.",
			s.migratedFrom, s.migratedFrom+1, s.migrated.Seconds())
	}
	if !s.cached {
		return how + " The file and its journal were then cached (see internal/bench/reconcile_setup.go)."
	}
	return fmt.Sprintf("the ledger file and its journal came from the bench's cache under os.TempDir (fingerprint %s of "+
		"the schema version and every observation booked: %.1f s; copy %.1f s); when built, %s",
		s.key[:12], s.fingerprint.Seconds(), s.copy.Seconds(), how)
}

// cacheMeta is kept beside a cached file.
type cacheMeta struct {
	BuildSeconds    float64 `json:"build_seconds"`
	ExportSeconds   float64 `json:"export_seconds"`
	MigratedFrom    int     `json:"migrated_from,omitempty"`
	MigratedSeconds float64 `json:"migrated_seconds,omitempty"`
}

// benchObservation is the observation the bench books for the i-th leg.
func benchObservation(i int, x sandbox.TruthTransaction) (ledgerd.Observation, error) {
	w := x.Wire()
	o, err := w.Observation()
	if err != nil {
		return ledgerd.Observation{}, err
	}
	raw, err := json.Marshal(w)
	if err != nil {
		return ledgerd.Observation{}, err
	}
	return ledgerd.Observation{Event: ledgerd.Event{ID: "bench-" + strconv.Itoa(i),
		Type: "backfill.transaction", Source: ledgerd.SourceBackfill, FuseTime: o.At, Raw: raw}, Transaction: &o}, nil
}

// fingerprint names the ledger file the observations of truth make.
func fingerprint(truth sandbox.Truth, nTx, nAcct, schema int) (string, error) {
	h := sha256.New()
	fmt.Fprintf(h, "schema %d data %d txs %d accounts %d\n", schema, reconcileDataVersion, nTx, nAcct)
	for i, x := range truth.Transactions {
		o, err := benchObservation(i, x)
		if err != nil {
			return "", err
		}
		obs, err := json.Marshal(o.Transaction)
		if err != nil {
			return "", err
		}
		fmt.Fprintf(h, "%s %d %d\n", o.Event.ID, len(o.Event.Raw), len(obs))
		h.Write(o.Event.Raw)
		h.Write(obs)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// reconcileFiles puts the ledger file and its exported journal in dir.
func reconcileFiles(ctx context.Context, sb *sandbox.Sandbox, dir string, nTx, nAcct int) (reconcileSetup, error) {
	s := reconcileSetup{db: filepath.Join(dir, "ledgerd.db"), journal: filepath.Join(dir, "export.journal")}
	truth := sb.Truth()
	useCache := os.Getenv("LEDGERD_BENCH_NO_CACHE") == ""
	cacheDir := filepath.Join(os.TempDir(), "ledgerd-bench-cache")
	var cachedDB, cachedJournal, cachedMeta string
	if useCache {
		start := time.Now()
		key, err := fingerprint(truth, nTx, nAcct, ledger.SchemaVersion())
		if err != nil {
			return s, err
		}
		s.key, s.fingerprint = key, time.Since(start)
		base := filepath.Join(cacheDir, "reconcile-"+key[:32])
		cachedDB, cachedJournal, cachedMeta = base+".db", base+".journal", base+".json"
		if s.fromCache(cachedDB, cachedJournal, cachedMeta) {
			return s, nil
		}
		// A file of the previous schema version is brought up to date
		// the way ledgerd upgrades a file (ledger.Open migrates it), which
		// is also a figure worth knowing; the result is cached as this
		// version's.
		prev, err := fingerprint(truth, nTx, nAcct, ledger.SchemaVersion()-1)
		if err != nil {
			return s, err
		}
		pb := filepath.Join(cacheDir, "reconcile-"+prev[:32])
		if s.fromCache(pb+".db", pb+".journal", pb+".json") {
			start := time.Now()
			l, err := ledger.Open(ctx, s.db, ledger.Options{})
			if err != nil {
				return s, fmt.Errorf("migrate the cached file: %w", err)
			}
			if err := l.Close(); err != nil {
				return s, err
			}
			s.migrated, s.migratedFrom = time.Since(start), ledger.SchemaVersion()-1
			s.cached = false
			if err := fillCache(cacheDir, s, cachedDB, cachedJournal, cachedMeta); err != nil {
				fmt.Fprintln(os.Stderr, "bench reconcile: could not cache the ledger file:", err)
			}
			return s, nil
		}
	}

	start := time.Now()
	if err := bookHistory(ctx, s.db, truth); err != nil {
		return s, err
	}
	s.build = time.Since(start)
	truth = sandbox.Truth{}

	start = time.Now()
	l, err := ledger.Open(ctx, s.db, ledger.Options{})
	if err != nil {
		return s, err
	}
	err = writeFile(s.journal, func(w io.Writer) error { return journal.Export(ctx, l, w, journal.Hledger, time.UTC) })
	if cerr := l.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return s, err
	}
	s.export = time.Since(start)

	if useCache {
		if err := fillCache(cacheDir, s, cachedDB, cachedJournal, cachedMeta); err != nil {
			// The cache only saves time: say so, and carry on.
			fmt.Fprintln(os.Stderr, "bench reconcile: could not cache the ledger file:", err)
		}
	}
	return s, nil
}

// bookHistory books every leg of truth in a new ledger file at path,
// through IngestAll, in creation order.
func bookHistory(ctx context.Context, path string, truth sandbox.Truth) (err error) {
	l, err := ledger.Open(ctx, path, ledger.Options{})
	if err != nil {
		return err
	}
	defer func() {
		if cerr := l.Close(); err == nil {
			err = cerr
		}
	}()
	// The writer's page cache is 2 MiB by default; the million-row
	// indexes of a booking this size then spill to the WAL mid-commit and
	// are read back all the time. A larger cache halves the booking time;
	// it is a per-connection setting and changes nothing in the file.
	if err := l.Update(ctx, func(tx *ledger.Tx) error {
		_, err := tx.Exec("PRAGMA cache_size = -1048576")
		return err
	}); err != nil {
		return err
	}
	// Observations are made while the previous batch commits.
	batches := make(chan []ledgerd.Observation, 1)
	made := make(chan error, 1)
	go func() {
		defer close(batches)
		batch := make([]ledgerd.Observation, 0, reconcileIngestBatch)
		for i, x := range truth.Transactions {
			o, err := benchObservation(i, x)
			if err != nil {
				made <- err
				return
			}
			batch = append(batch, o)
			if len(batch) == reconcileIngestBatch {
				select {
				case batches <- batch:
				case <-ctx.Done():
					made <- ctx.Err()
					return
				}
				batch = make([]ledgerd.Observation, 0, reconcileIngestBatch)
			}
		}
		if len(batch) > 0 {
			batches <- batch
		}
		made <- nil
	}()
	for batch := range batches {
		if _, err := l.IngestAll(ctx, batch, nil); err != nil {
			for range batches { // let the producer finish
			}
			return err
		}
	}
	return <-made
}

// fillCache copies the freshly built files into the cache, replacing any
// other cached reconcile file (one is enough; they are large).
func fillCache(cacheDir string, s reconcileSetup, db, journal, meta string) error {
	if err := os.MkdirAll(cacheDir, 0o700); err != nil {
		return err
	}
	old, _ := filepath.Glob(filepath.Join(cacheDir, "reconcile-*"))
	for _, f := range old {
		os.Remove(f)
	}
	if err := copyFile(s.db, db); err != nil {
		return err
	}
	if err := copyFile(s.journal, journal); err != nil {
		return err
	}
	b, err := json.Marshal(cacheMeta{BuildSeconds: s.build.Seconds(), ExportSeconds: s.export.Seconds(),
		MigratedFrom: s.migratedFrom, MigratedSeconds: s.migrated.Seconds()})
	if err != nil {
		return err
	}
	// The metadata is written last: its presence says the entry is whole.
	return writeFile(meta, func(w io.Writer) error { _, err := w.Write(b); return err })
}

// copyFile copies src to dst through a temporary name, so that dst is
// either absent or whole.
func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	tmp := dst + ".tmp"
	out, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		os.Remove(tmp)
		return err
	}
	if err := out.Close(); err != nil {
		os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, dst); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}
