package replica

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"
)

// TestLitestreamLogsAtLedgerdsLevelsAndKeys: Litestream's routine INFO
// lines come out at DEBUG (hidden at ledgerd's default level), its
// warnings as they are, its "error" key as "err" and its "level" as
// "ltx_level", also in attributes added with With.
func TestLitestreamLogsAtLedgerdsLevelsAndKeys(t *testing.T) {
	var buf bytes.Buffer
	base := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	log := slog.New(litestreamHandler{base.Handler()}).With("error", "from With")
	log.Info("compaction complete", "level", 1)
	log.Warn("sync error", "error", errors.New("disk full"))
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("%d lines:\n%s", len(lines), buf.String())
	}
	for i, want := range []string{`"level":"DEBUG","msg":"compaction complete","err":"from With","ltx_level":1`,
		`"level":"WARN","msg":"sync error","err":"from With","err":"disk full"`} {
		if !strings.Contains(lines[i], want) {
			t.Errorf("line %d: %s, want %s", i, lines[i], want)
		}
	}
	quiet := slog.New(litestreamHandler{slog.NewJSONHandler(&buf, nil)})
	buf.Reset()
	quiet.Info("starting compaction monitor")
	if buf.Len() != 0 {
		t.Errorf("a Litestream INFO line shows at ledgerd's default level: %s", buf.String())
	}
}
