// Package holdtx stands in front of the Fuse sandbox and shows one
// transaction as Fuse showed it earlier: still Submitted, without its
// executed_at, in every listing page and GET that holds it, until
// released. The sandbox moves a payment on within seconds of its creation
// (fuse/sandbox/lifecycle.go); a payment created a month ago that is still
// in flight and changes today, which the backfill's tests and benchmark
// need, exists only behind this. Every other object passes byte for byte.
package holdtx

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
)

// Handler is the sandbox (next) with one transaction held back.
type Handler struct {
	next http.Handler
	mu   sync.Mutex
	id   string // "" holds nothing
}

// New wraps next, holding nothing yet.
func New(next http.Handler) *Handler { return &Handler{next: next} }

// Hold shows transaction id Submitted from now on.
func (h *Handler) Hold(id string) {
	h.mu.Lock()
	h.id = id
	h.mu.Unlock()
}

// Release shows it as the sandbox has it again.
func (h *Handler) Release() { h.Hold("") }

// ServeHTTP passes every request to the sandbox and rewrites the held
// transaction in the answer of a transaction GET (a listing or one).
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.mu.Lock()
	id := h.id
	h.mu.Unlock()
	if id == "" || r.Method != http.MethodGet || !strings.Contains(r.URL.Path, "/transactions") {
		h.next.ServeHTTP(w, r)
		return
	}
	rec := httptest.NewRecorder()
	h.next.ServeHTTP(rec, r)
	body := rec.Body.Bytes()
	if rec.Code == http.StatusOK && bytes.Contains(body, []byte(id)) {
		body = rewrite(body, id)
	}
	for k, v := range rec.Header() {
		if k != "Content-Length" {
			w.Header()[k] = v
		}
	}
	w.WriteHeader(rec.Code)
	_, _ = w.Write(body)
}

// rewrite shows transaction id Submitted in a listing page or a single
// object; the other objects of a page keep their bytes (compacted).
func rewrite(body []byte, id string) []byte {
	var page struct {
		Results []json.RawMessage `json:"results"`
		Pages   json.RawMessage   `json:"pages"`
	}
	if json.Unmarshal(body, &page) != nil || page.Results == nil {
		return held(body)
	}
	for i, it := range page.Results {
		if bytes.Contains(it, []byte(id)) {
			page.Results[i] = held(it)
		}
	}
	b, err := json.Marshal(page)
	if err != nil {
		return body
	}
	return b
}

func held(obj []byte) []byte {
	var m map[string]json.RawMessage
	if json.Unmarshal(obj, &m) != nil {
		return obj
	}
	m["state"] = json.RawMessage(`"Submitted"`)
	delete(m, "executed_at")
	b, err := json.Marshal(m)
	if err != nil {
		return obj
	}
	return b
}
