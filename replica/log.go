package replica

import (
	"context"
	"log/slog"
)

// litestreamHandler passes Litestream's log records on in ledgerd's
// terms: its routine INFO lines (a compaction every 30 s, the monitors it
// starts) become DEBUG, its "error" key is ledgerd's "err", and its
// "level" (a compaction level) is "ltx_level", apart from the record's
// own level. Warnings and errors stay what they are.
type litestreamHandler struct{ next slog.Handler }

func demote(l slog.Level) slog.Level {
	if l == slog.LevelInfo {
		return slog.LevelDebug
	}
	return l
}

func renameErr(a slog.Attr) slog.Attr {
	switch a.Key {
	case "error":
		a.Key = "err"
	case slog.LevelKey:
		a.Key = "ltx_level"
	}
	return a
}

func (h litestreamHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.next.Enabled(ctx, demote(l))
}

func (h litestreamHandler) Handle(ctx context.Context, r slog.Record) error {
	out := slog.NewRecord(r.Time, demote(r.Level), r.Message, r.PC)
	r.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(renameErr(a))
		return true
	})
	return h.next.Handle(ctx, out)
}

func (h litestreamHandler) WithAttrs(as []slog.Attr) slog.Handler {
	renamed := make([]slog.Attr, len(as))
	for i, a := range as {
		renamed[i] = renameErr(a)
	}
	return litestreamHandler{h.next.WithAttrs(renamed)}
}

func (h litestreamHandler) WithGroup(name string) slog.Handler {
	return litestreamHandler{h.next.WithGroup(name)}
}
