package sandbox

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"net/http"

	"github.com/google/uuid"
)

// idemEntry is the idempotency store's record of one key: in flight until
// done, then the exact response to replay.
type idemEntry struct {
	hash   [32]byte
	done   bool
	status int
	body   []byte
}

// checkIdempotencyKey accepts a UUID in its canonical 36-character form.
func checkIdempotencyKey(key string) error {
	if key == "" {
		return apiErr(http.StatusBadRequest, "idempotency_key_missing", "Idempotency-Key header is required")
	}
	if _, err := uuid.Parse(key); err != nil || len(key) != 36 {
		return apiErr(http.StatusBadRequest, "idempotency_key_invalid", "Idempotency-Key must be a UUID")
	}
	return nil
}

// requestHash identifies a request's payload: method, path and the body in
// canonical JSON (keys sorted, no insignificant space, numbers verbatim),
// so the same object sent with other spacing or key order is the same
// payload. A body that is not JSON is hashed as is.
func requestHash(method, path string, body []byte) [32]byte {
	canon := body
	var v any
	d := json.NewDecoder(bytes.NewReader(body))
	d.UseNumber()
	if err := d.Decode(&v); err == nil && !d.More() {
		if b, err := json.Marshal(v); err == nil {
			canon = b
		}
	}
	h := sha256.New()
	h.Write([]byte(method + "\n" + path + "\n"))
	h.Write(canon)
	var sum [32]byte
	h.Sum(sum[:0])
	return sum
}

// beginIdempotent claims key for a request with hash. It answers a replay
// (the stored status and bytes), or an error: 409 while the first request
// with the key is still running, 422 when the key came with another
// payload. Otherwise the key is marked in flight and the caller must call
// endIdempotent.
func (s *Sandbox) beginIdempotent(key string, hash [32]byte) (replay bool, status int, body []byte, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.idem[key]
	switch {
	case !ok:
		s.idem[key] = &idemEntry{hash: hash}
		return false, 0, nil, nil
	case !e.done:
		s.stats.IdempotencyConflicts++
		return false, 0, nil, apiErr(http.StatusConflict, "idempotency_key_in_use",
			"a request with this Idempotency-Key is still being processed")
	case e.hash != hash:
		s.stats.IdempotencyMismatches++
		return false, 0, nil, apiErr(http.StatusUnprocessableEntity, "idempotency_key_reused",
			"this Idempotency-Key was used with a different request")
	default:
		s.stats.IdempotentReplays++
		return true, e.status, e.body, nil
	}
}

// endIdempotent stores the response for key; with ok false (the operation
// panicked) it forgets the key so that a retry runs.
func (s *Sandbox) endIdempotent(key string, status int, body []byte, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !ok {
		delete(s.idem, key)
		return
	}
	e := s.idem[key]
	e.done, e.status, e.body = true, status, body
}
