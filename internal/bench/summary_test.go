package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSummaryPutsEveryFigureBesideItsAnchor(t *testing.T) {
	f := newFigures()
	o := options{figures: f}
	o.record(figWebhookGroupRPS, 2614)
	o.record(figWebhookNoopRPS, 28285)
	o.record(figWebhookFloorRPS, 14142)
	o.record(figStorageBookPerTx, 669)
	o.record(figStorageBytesPerTx, 3680)
	body, met, total := summarySection(f)
	lines := strings.Split(body, "\n")
	find := func(prefix string) string {
		for _, l := range lines {
			if strings.HasPrefix(l, "| "+prefix+" |") {
				return l
			}
		}
		t.Fatalf("no row %q in\n%s", prefix, body)
		return ""
	}
	if row := find("webhook ingest, group commit"); !strings.Contains(row, "| 2,614 req/s | durable floor: body and event_id only | 14,142 req/s | 0.18× | ≥ 0.50× | **no** |") {
		t.Errorf("webhook row: %s", row)
	}
	if row := find("the book alone per transaction (entries, postings, balances, indexes)"); !strings.Contains(row, "| 743 B | 0.90× | ≤ 1× | yes |") {
		t.Errorf("book row: %s", row)
	}
	if row := find("file size per transaction (webhooks + backfill)"); !strings.Contains(row, "| — | `") {
		t.Errorf("informational row: %s", row)
	}
	if row := find("backfill"); !strings.Contains(row, "| — |") || !strings.Contains(row, "not run") {
		t.Errorf("a figure not recorded must show as not run: %s", row)
	}
	if met != 1 || total != 2 {
		t.Errorf("met %d of %d, want 1 of 2", met, total)
	}
}

func TestSummarySectionGoesFirstAndIsRewrittenInPlace(t *testing.T) {
	path := filepath.Join(t.TempDir(), "BENCHMARKS.md")
	if err := writeSection(path, "webhook", "## Webhook\n"); err != nil {
		t.Fatal(err)
	}
	if err := writeSectionFirst(path, "summary", "## Summary v1\n"); err != nil {
		t.Fatal(err)
	}
	if err := writeSection(path, "backfill", "## Backfill\n"); err != nil {
		t.Fatal(err)
	}
	if err := writeSectionFirst(path, "summary", "## Summary v2\n"); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	if !strings.HasPrefix(s, fileHeader) || strings.Count(s, "bench:summary:start") != 1 || strings.Contains(s, "v1") {
		t.Fatalf("file:\n%s", s)
	}
	if i, j, k := strings.Index(s, "Summary v2"), strings.Index(s, "## Webhook"), strings.Index(s, "## Backfill"); !(i < j && j < k) {
		t.Errorf("order summary %d, webhook %d, backfill %d:\n%s", i, j, k, s)
	}
}
