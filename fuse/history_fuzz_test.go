package fuse

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"
)

// FuzzAccountHistory feeds bytes through the client's decoding of
// GET /accounts/{id}/history: a body is either an error wrapping
// ErrBadResponse or a history whose every day has a real date, listed
// once, that encodes and decodes back to itself.
func FuzzAccountHistory(f *testing.F) {
	f.Add([]byte(`{"id":"6f1c3f0e-2b7a-4c1e-9a51-0c6f3b1d2e4a","history":[{"date":"2026-03-30","closing_balance":100}]}`))
	f.Add([]byte(`{"id":"a","history":[]}`))
	f.Add([]byte(`{"id":"a","history":[{"date":"2026-03-30","closing_balance":null}]}`))
	f.Add([]byte(`{"id":"a","history":[{"date":"2026-02-30","closing_balance":1}]}`))
	f.Add([]byte(`{"id":"a"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		var h AccountHistory
		err := decodeLikeTheClient(body, &h)
		if err != nil {
			if !errors.Is(err, ErrBadResponse) {
				t.Fatalf("decode error does not wrap ErrBadResponse: %v", err)
			}
			return
		}
		seen := map[Date]bool{}
		for _, d := range h.History {
			if p, err := ParseDate(d.Date.String()); err != nil || p != d.Date || seen[d.Date] {
				t.Fatalf("day %+v: parses back as %v (%v), listed before: %v", d, p, err, seen[d.Date])
			}
			seen[d.Date] = true
		}
		b, err := json.Marshal(h)
		if err != nil {
			t.Fatalf("encode %+v: %v", h, err)
		}
		var back AccountHistory
		if err := json.Unmarshal(b, &back); err != nil || !reflect.DeepEqual(back, h) {
			t.Fatalf("%s decodes to %+v (%v), want %+v", b, back, err, h)
		}
	})
}
