package sandbox

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"
)

// Serve runs a Sandbox on addr until ctx ends, for `ledgerd sandbox
// --listen ADDR --webhook-url URL --seed N [--instant]`. A non-nil logger
// replaces opts.Logger. The API's base URL is http://ADDR/v1, its token URL
// http://ADDR/oauth/token (TokenPath). On return the
// listener is shut down (5 s grace) and the sandbox closed.
func Serve(ctx context.Context, addr string, opts Options, logger *slog.Logger) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("sandbox: listen %s: %w", addr, err)
	}
	return ServeListener(ctx, ln, opts, logger)
}

// ServeListener is Serve on an open listener (for a port chosen by the
// system: listen on ":0" and read ln.Addr()).
func ServeListener(ctx context.Context, ln net.Listener, opts Options, logger *slog.Logger) error {
	if logger != nil {
		opts.Logger = logger
	}
	sb := New(opts)
	defer sb.Close()
	srv := &http.Server{Handler: sb, ReadHeaderTimeout: 10 * time.Second}
	sb.log.Info("fuse sandbox listening", "base_url", "http://"+ln.Addr().String()+"/v1",
		"auth_url", "http://"+ln.Addr().String()+TokenPath,
		"webhook_url", opts.WebhookURL, "seed", opts.Seed, "instant", opts.Instant)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("sandbox: serve: %w", err)
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("sandbox: shutdown: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("sandbox: serve: %w", err)
	}
	return nil
}
