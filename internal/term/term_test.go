package term

import (
	"bytes"
	"strings"
	"testing"
	"time"

	syncer "github.com/ledgerd/ledgerd/sync"
)

func TestProgressBarShowsAccountsTransactionsAndRate(t *testing.T) {
	var buf bytes.Buffer
	b := NewProgressBar(&buf)
	b.Update(syncer.Progress{AccountsTotal: 4, AccountsDone: 1, Transactions: 12_345, Elapsed: 2 * time.Second})
	b.Update(syncer.Progress{AccountsTotal: 4, AccountsDone: 4, AccountsFailed: 1, Transactions: 20_000, Elapsed: 4 * time.Second})
	b.Done()
	out := buf.String()
	for _, want := range []string{"[######------------------] 1/4 accounts  12,345 transactions  6,172/s",
		"[########################] 4/4 accounts (1 failed)  20,000 transactions  5,000/s", "\r"} {
		if !strings.Contains(out, want) {
			t.Errorf("progress %q lacks %q", out, want)
		}
	}
	if !strings.HasSuffix(out, "\n") {
		t.Error("the bar's line is not ended")
	}
	if got := Thousands(1234567); got != "1,234,567" {
		t.Errorf("Thousands = %q", got)
	}
}
