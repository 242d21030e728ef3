package app

import (
	"log/slog"
	"net"
	"net/http"
	"syscall"
	"time"

	"github.com/opennimble/opennimble/server"
)

// Limits of the HTTP edge that are not configurable.
const (
	// readHeaderTimeout bounds how long a request's headers may take.
	readHeaderTimeout = 10 * time.Second
	// maxHeaderBytes bounds a request's headers; real clients send under
	// 2 KB, and each connection reading headers may hold this much.
	maxHeaderBytes = 64 << 10
	// fdHeadroom is the descriptors kept for the store, the driver and logs
	// when the connection cap is derived from the descriptor limit.
	fdHeadroom = 256
)

// httpServer makes the HTTP server of h and the listener it serves: with
// time limits on headers, bodies (server.Options) and idle keep-alive
// connections, and a cap on open connections below the descriptor limit.
func httpServer(cfg Config, h http.Handler, ln net.Listener, log *slog.Logger) (*http.Server, net.Listener) {
	conns := server.NewConns(maxConnections(cfg.MaxConnections), log)
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: readHeaderTimeout,
		IdleTimeout:       cfg.IdleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ConnState:         conns.ConnState,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	return srv, conns.Listener(ln)
}

// maxConnections is the configured cap, or by default
// server.DefaultMaxConnections kept under the descriptor limit (which Go
// raises to the hard limit at start).
func maxConnections(configured int) int {
	if configured > 0 {
		return configured
	}
	n := server.DefaultMaxConnections
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err == nil && lim.Cur < uint64(n+2*fdHeadroom) {
		n = max(int(lim.Cur)-fdHeadroom, int(lim.Cur)/2)
	}
	return n
}
