package webhook

import (
	"net/http"
	"time"
)

// NewServer returns the webhook HTTP server: h at path, 404 elsewhere, with
// timeouts so that a slow or hostile client cannot hold a connection open,
// and a header size limit. Shut it down with Shutdown, which lets in-flight
// requests finish (and so their commits).
func NewServer(addr, path string, h http.Handler) *http.Server {
	mux := http.NewServeMux()
	mux.Handle(path, h)
	return &http.Server{
		Addr:              addr,
		Handler:           mux,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
	}
}
