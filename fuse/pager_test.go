package fuse

import (
	"context"
	"errors"
	"fmt"
	"testing"
)

func ptr(s string) *string { return &s }

// pages serves the pages keyed by the cursor that asks for them.
func pages(m map[string]Page[int]) func(context.Context, string) (Page[int], error) {
	return func(_ context.Context, cursor string) (Page[int], error) {
		p, ok := m[cursor]
		if !ok {
			return Page[int]{}, fmt.Errorf("unknown cursor %q", cursor)
		}
		return p, nil
	}
}

func TestWalkFollowsCursorsThroughEmptyPages(t *testing.T) {
	fetch := pages(map[string]Page[int]{
		"":  {Data: []int{1, 2}, NextCursor: ptr("a")},
		"a": {Data: nil, NextCursor: ptr("b")},
		"b": {Data: []int{3}, NextCursor: nil},
	})
	var got []int
	var cursors []string
	for p, err := range walk(t.Context(), 100, "", fetch) {
		if err != nil {
			t.Fatal(err)
		}
		cursors = append(cursors, p.Cursor)
		got = append(got, p.Data...)
	}
	if fmt.Sprint(got) != "[1 2 3]" || fmt.Sprint(cursors) != "[ a b]" {
		t.Errorf("items %v cursors %q", got, cursors)
	}
}

func TestWalkStopsOnARepeatedCursor(t *testing.T) {
	fetch := pages(map[string]Page[int]{
		"":  {Data: []int{1}, NextCursor: ptr("a")},
		"a": {Data: []int{2}, NextCursor: ptr("b")},
		"b": {Data: []int{3}, NextCursor: ptr("a")},
	})
	var got []int
	var last error
	for it, err := range items(walk(t.Context(), 100, "", fetch)) {
		if err != nil {
			last = err
			continue
		}
		got = append(got, it)
	}
	if !errors.Is(last, ErrRepeatedCursor) || fmt.Sprint(got) != "[1 2 3]" {
		t.Errorf("items %v, err %v; want [1 2 3] then ErrRepeatedCursor", got, last)
	}
}

func TestWalkTreatsAnEmptyNextCursorAsARestart(t *testing.T) {
	fetch := pages(map[string]Page[int]{"": {Data: []int{1}, NextCursor: ptr("")}})
	var last error
	for _, err := range walk(t.Context(), 100, "", fetch) {
		last = err
	}
	if !errors.Is(last, ErrRepeatedCursor) {
		t.Errorf("err %v, want ErrRepeatedCursor", last)
	}
}

func TestWalkStopsAtThePageCap(t *testing.T) {
	n := 0
	fetch := func(context.Context, string) (Page[int], error) {
		n++
		return Page[int]{Data: []int{n}, NextCursor: ptr(fmt.Sprint(n))}, nil
	}
	var last error
	count := 0
	for _, err := range walk(t.Context(), 5, "", fetch) {
		if err != nil {
			last = err
			continue
		}
		count++
	}
	if !errors.Is(last, ErrTooManyPages) || count != 5 {
		t.Errorf("%d pages then %v, want 5 then ErrTooManyPages", count, last)
	}
}

func TestWalkStopsWhenTheCallerBreaks(t *testing.T) {
	calls := 0
	fetch := func(context.Context, string) (Page[int], error) {
		calls++
		return Page[int]{Data: []int{1, 2, 3}, NextCursor: ptr(fmt.Sprint(calls))}, nil
	}
	for range items(walk(t.Context(), 100, "", fetch)) {
		break
	}
	if calls != 1 {
		t.Errorf("%d fetches after break, want 1", calls)
	}
}
