package app

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	opennimble "github.com/opennimble/opennimble"
	"github.com/opennimble/opennimble/metrics"
	"github.com/opennimble/opennimble/server"
)

// newMetrics returns the server's metrics with the build it runs.
func newMetrics() *metrics.Metrics {
	b := BuildInfo()
	return metrics.New(metrics.Build{Version: b.Version, Revision: b.Revision, GoVersion: b.GoVersion})
}

// serveMetrics registers the gauges read at scrape time and serves
// /metrics: on the API's listener, or on its own when MetricsListen is set
// (so that it can stay on a network only Prometheus reaches). Either way it
// is unauthenticated, like the health checks: it shows counts, durations
// and states, never ids, names or credentials. It also serves the liveness
// check.
func (a *App) serveMetrics(srv *server.Server, log *slog.Logger) error {
	a.metrics.Register(metrics.NewGauges("sessions", "Streaming sessions by state, in the whole store (all replicas).", "state", sessionsByState(a.Store)))
	a.metrics.Register(metrics.NewGauges("lifecycle_jobs_queued", "Lifecycle jobs waiting or running, in the whole store (all replicas).", "", func(ctx context.Context) (map[string]float64, error) {
		n, err := a.Store.(opennimble.JobCounter).CountJobs(ctx)
		return map[string]float64{"": float64(n)}, err
	}))
	srv.Handle("/_nimble/live", http.HandlerFunc(live))
	if a.Config.MetricsListen == "" {
		srv.Handle("/metrics", a.metrics.Handler())
		return nil
	}
	ln, err := net.Listen("tcp", a.Config.MetricsListen)
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", a.metrics.Handler())
	mux.HandleFunc("/_nimble/live", live)
	a.metricsSrv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	log.Info("metrics served", "url", "http://"+ln.Addr().String()+"/metrics")
	go func() { _ = a.metricsSrv.Serve(ln) }()
	return nil
}

// live is the liveness check: it answers as long as the process serves
// HTTP, whatever the store does, so that a database outage makes replicas
// unready (/_nimble/health) without getting them restarted.
func live(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write([]byte(`{"alive":true}` + "\n"))
}

// stepMetrics labels the service's step durations with the driver's name.
type stepMetrics struct {
	m      *metrics.Metrics
	driver string
}

func (s stepMetrics) ObserveStep(step string, d time.Duration, failed bool) {
	s.m.ObserveStep(step, s.driver, d, failed)
}

// publicBase is the base of the URLs the server hands out (stream and
// studio URLs): --public-url when set; otherwise http://<listen address>,
// unless that address is unspecified (0.0.0.0, ::), which no client can
// reach: then "" and every URL is built from the Host the request came to.
func publicBase(cfg Config, addr string, log *slog.Logger) string {
	host, _, _ := net.SplitHostPort(addr)
	ip := net.ParseIP(host)
	wildcard := ip != nil && ip.IsUnspecified()
	loopback := host == "localhost" || (ip != nil && ip.IsLoopback())
	if !loopback && cfg.Emulator {
		log.Warn("emulator mode listens beyond this machine: any well-formed signature is accepted, so anyone who reaches " + addr + " can do anything, controls included")
	}
	switch {
	case cfg.PublicURL != "":
		return cfg.PublicURL
	case wildcard:
		log.Info("no --public-url: stream and studio URLs are built from the Host each request came to")
		return ""
	}
	return "http://" + addr
}

// withBaseURL puts the base URL a request reached the server at into its
// context (see publicBase): http, or https when the connection is TLS, and
// the Host header when it is a plain host[:port].
func withBaseURL(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if validHost(r.Host) {
			scheme := "http"
			if r.TLS != nil {
				scheme = "https"
			}
			r = r.WithContext(opennimble.WithBaseURL(r.Context(), scheme+"://"+r.Host))
		}
		h.ServeHTTP(w, r)
	})
}

func validHost(h string) bool {
	return h != "" && len(h) <= 255 && strings.Trim(strings.ToLower(h), "abcdefghijklmnopqrstuvwxyz0123456789.-:[]") == ""
}
