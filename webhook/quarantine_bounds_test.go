package webhook_test

import (
	"bytes"
	"crypto/sha256"
	"net/http"
	"testing"

	"github.com/ledgerd/ledgerd/webhook"
)

// junkBody is n bytes that are not JSON.
func junkBody(n int, seed byte) []byte {
	b := bytes.Repeat([]byte("junk"), n/4+1)[:n]
	b[0] = seed
	return b
}

// The disk cannot be filled through the quarantine one large body at a
// time: a 1 MiB junk body from an allowed sender is refused (400) and kept
// truncated to 64 KiB, with the length received and the SHA-256 of the
// whole body.
func TestOversizeJunkBodyIsQuarantinedTruncatedToTheCap(t *testing.T) {
	ls := startListener(t, "", webhook.Options{})
	body := junkBody(webhook.MaxBody, 'x')
	if status, resp := post(t, ls.url, body); status != http.StatusBadRequest {
		t.Fatalf("status %d (%s), want 400", status, resp)
	}
	var kept int
	var length *int64
	var sum []byte
	if err := ls.l.Reader().QueryRow(`SELECT length(raw), raw_length, raw_sha256 FROM quarantine`).Scan(&kept, &length, &sum); err != nil {
		t.Fatal(err)
	}
	whole := sha256.Sum256(body)
	if kept != 64<<10 || length == nil || *length != int64(len(body)) || !bytes.Equal(sum, whole[:]) {
		t.Errorf("kept %d bytes, raw_length %v, raw_sha256 %x; want 65536, %d, %x", kept, length, sum, len(body), whole)
	}
}
