package ledger

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"path/filepath"
	"testing"

	"github.com/ledgerd/ledgerd"
)

// junk returns n bytes that are not JSON, different from one call to the
// next (seed), so that a hash or a prefix taken from the wrong body shows.
func junk(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*31) ^ seed
	}
	return b
}

// A body over MaxQuarantineBody keeps its first MaxQuarantineBody bytes,
// the length received and the SHA-256 of the whole; a body of exactly
// MaxQuarantineBody is kept whole, as every body was before.
func TestQuarantineKeepsAnOversizeBodyTruncatedWithItsLengthAndHash(t *testing.T) {
	l := openTest(t, Options{})
	ctx := context.Background()
	big := junk(1<<20, 7)
	bigID, err := l.Quarantine(ctx, Quarantined{Reason: "malformed_json", Detail: "junk", Raw: big})
	if err != nil {
		t.Fatal(err)
	}
	exact := junk(MaxQuarantineBody, 9)
	exactID, err := l.Quarantine(ctx, Quarantined{Reason: "malformed_json", Detail: "junk", Raw: exact})
	if err != nil {
		t.Fatal(err)
	}

	var kept int
	var length *int64
	var sum []byte
	if err := l.Reader().QueryRow(`SELECT length(raw), raw_length, raw_sha256 FROM quarantine WHERE id = ?`, bigID).
		Scan(&kept, &length, &sum); err != nil {
		t.Fatal(err)
	}
	whole := sha256.Sum256(big)
	if kept != MaxQuarantineBody || length == nil || *length != 1<<20 || !bytes.Equal(sum, whole[:]) {
		t.Errorf("row: %d bytes kept, raw_length %v, raw_sha256 %x; want %d, %d, %x", kept, length, sum, MaxQuarantineBody, 1<<20, whole)
	}
	q, err := l.QuarantineGet(ctx, bigID)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(q.Raw, big[:MaxQuarantineBody]) || q.Length != 1<<20 || q.Kept != MaxQuarantineBody || !q.Truncated ||
		q.SHA256 != hex.EncodeToString(whole[:]) {
		t.Errorf("QuarantineGet: %d bytes, length %d, kept %d, truncated %v, sha256 %s", len(q.Raw), q.Length, q.Kept, q.Truncated, q.SHA256)
	}

	q, err = l.QuarantineGet(ctx, exactID)
	if err != nil {
		t.Fatal(err)
	}
	exactSum := sha256.Sum256(exact)
	if !bytes.Equal(q.Raw, exact) || q.Length != MaxQuarantineBody || q.Kept != MaxQuarantineBody || q.Truncated ||
		q.SHA256 != hex.EncodeToString(exactSum[:]) {
		t.Errorf("body of exactly the cap: %d bytes, length %d, kept %d, truncated %v", len(q.Raw), q.Length, q.Kept, q.Truncated)
	}
	if err := l.Reader().QueryRow(`SELECT raw_length, raw_sha256 FROM quarantine WHERE id = ?`, exactID).Scan(&length, &sum); err != nil {
		t.Fatal(err)
	}
	if length != nil || sum != nil {
		t.Errorf("whole body: raw_length %v, raw_sha256 %x; want both NULL", length, sum)
	}
	mustVerify(t, l)
}

// quarantineBytes is the quarantine's size as the cap counts it, computed
// from scratch.
func quarantineBytes(t *testing.T, l *Ledger) int64 {
	t.Helper()
	var n int64
	if err := l.Reader().QueryRow(`SELECT coalesce(sum(length(raw) + octet_length(detail) + ?), 0) FROM quarantine`,
		quarantineRowOverhead).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// Past its cap the quarantine refuses a body with ErrQuarantineFull and
// keeps nothing of it, while a body that still fits is kept; the cap
// counts bodies as kept (a 1 MiB body counts 64 KiB), details, and a
// fixed cost per row, so that empty bodies fill it too.
func TestQuarantinePastItsCapRefusesTheBodyAndKeepsNothing(t *testing.T) {
	const limit = 3*MaxQuarantineBody + 1000
	l := openTest(t, Options{QuarantineMaxBytes: limit})
	ctx := context.Background()
	for i := range 3 {
		if _, err := l.Quarantine(ctx, Quarantined{Reason: "malformed_json", Detail: "d", Raw: junk(1<<20, byte(i))}); err != nil {
			t.Fatalf("body %d: %v", i, err)
		}
	}
	used := quarantineBytes(t, l)
	if want := int64(3 * (MaxQuarantineBody + 1 + quarantineRowOverhead)); used != want {
		t.Fatalf("quarantine holds %d bytes, want %d", used, want)
	}
	_, err := l.Quarantine(ctx, Quarantined{Reason: "malformed_json", Detail: "d", Raw: junk(1<<20, 3)})
	if !errors.Is(err, ErrQuarantineFull) {
		t.Fatalf("a fourth large body: %v, want ErrQuarantineFull", err)
	}
	// Empty bodies still cost a row each: they fill what is left, then are
	// refused too.
	kept := 0
	for {
		_, err := l.Quarantine(ctx, Quarantined{Reason: "empty_body", Raw: nil})
		if errors.Is(err, ErrQuarantineFull) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if kept++; kept > limit/quarantineRowOverhead {
			t.Fatal("empty bodies never fill the quarantine")
		}
	}
	if got := count(t, l.Reader(), "quarantine"); got != 3+kept {
		t.Errorf("%d rows, want %d", got, 3+kept)
	}
	if used := quarantineBytes(t, l); used > limit {
		t.Errorf("quarantine holds %d bytes, over its cap %d", used, limit)
	}
}

// The cap holds across processes: rows another process added since this
// one last looked are counted inside the write transaction.
func TestQuarantineCapCountsRowsWrittenByAnotherProcess(t *testing.T) {
	t.Parallel()
	const limit = 4 * (MaxQuarantineBody + quarantineRowOverhead)
	path := filepath.Join(t.TempDir(), "ledgerd.db")
	freshFile(t, path)
	ctx := context.Background()
	var ls [2]*Ledger
	for i := range ls {
		l, err := Open(ctx, path, Options{QuarantineMaxBytes: limit})
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		ls[i] = l
	}
	body := func(seed byte) Quarantined {
		return Quarantined{Reason: "malformed_json", Raw: junk(MaxQuarantineBody, seed)}
	}
	// The first process counts the quarantine (one row), then the other
	// fills it up.
	if _, err := ls[0].Quarantine(ctx, body(0)); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if _, err := ls[1].Quarantine(ctx, body(byte(1+i))); err != nil {
			t.Fatalf("second process, body %d: %v", i, err)
		}
	}
	if _, err := ls[0].Quarantine(ctx, body(9)); !errors.Is(err, ErrQuarantineFull) {
		t.Fatalf("first process after the second filled the quarantine: %v, want ErrQuarantineFull", err)
	}
	if got := count(t, ls[0].Reader(), "quarantine"); got != 4 {
		t.Errorf("%d rows, want 4", got)
	}
}

// A body kept truncated is not what was sent: it is never replayed.
func TestReplayOfATruncatedBodyIsRefused(t *testing.T) {
	l := openTest(t, Options{})
	ctx := context.Background()
	id, err := l.Quarantine(ctx, Quarantined{Reason: "malformed_json", Raw: junk(MaxQuarantineBody+1, 1)})
	if err != nil {
		t.Fatal(err)
	}
	s := &script{}
	_, err = l.ReplayQuarantined(ctx, id, s.account("018bfd91-ea86-a787-9d72-754cddfbc294", ledgerd.Currency("AED")))
	if !errors.Is(err, ErrTruncated) {
		t.Fatalf("replay: %v, want ErrTruncated", err)
	}
	q, err := l.QuarantineGet(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if q.State != "held" || count(t, l.Reader(), "events") != 0 {
		t.Errorf("after a refused replay: state %s, %d events", q.State, count(t, l.Reader(), "events"))
	}
}

// TestQuarantineUsageCountsWhatTheCapCounts: bodies, bytes as the cap
// counts them (each body as kept, its detail, 256 bytes a row) and the
// cap, known once the table has been counted (which a quarantined body
// does first), the same after a restart.
func TestQuarantineUsageCountsWhatTheCapCounts(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "ledgerd.db")
	l, err := Open(ctx, path, Options{QuarantineMaxBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	if u, ok := l.QuarantineUsage(); ok {
		t.Errorf("a usage before the quarantine was counted: %+v", u)
	}
	if err := l.CountQuarantine(ctx); err != nil {
		t.Fatal(err)
	}
	if u, ok := l.QuarantineUsage(); !ok || u != (QuarantineUsage{MaxBytes: 1 << 20}) {
		t.Errorf("empty quarantine: %+v, %v", u, ok)
	}
	for i, n := range []int{10, MaxQuarantineBody + 5} {
		if _, err := l.Quarantine(ctx, Quarantined{Reason: "malformed_json", Detail: "junk", Raw: junk(n, byte(i))}); err != nil {
			t.Fatal(err)
		}
	}
	want := QuarantineUsage{Bodies: 2, Bytes: int64(10 + MaxQuarantineBody + 2*(len("junk")+quarantineRowOverhead)), MaxBytes: 1 << 20}
	if u, ok := l.QuarantineUsage(); !ok || u != want {
		t.Errorf("two bodies: %+v, %v; want %+v", u, ok, want)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l, err = Open(ctx, path, Options{QuarantineMaxBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if err := l.CountQuarantine(ctx); err != nil {
		t.Fatal(err)
	}
	if u, ok := l.QuarantineUsage(); !ok || u != want {
		t.Errorf("after a restart: %+v, %v; want %+v", u, ok, want)
	}
}
