package app

import (
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"time"
)

// servePprof serves Go's profiler (net/http/pprof) on PprofListen, on a
// listener of its own and never on the API's: a CPU profile costs the
// server while it runs and the heap and goroutine pages show internals, so
// it is opt-in and belongs on an address only the operator reaches
// (nimblebench takes its profiles there). Off when PprofListen is empty.
func (a *App) servePprof(log *slog.Logger) error {
	if a.Config.PprofListen == "" {
		return nil
	}
	ln, err := net.Listen("tcp", a.Config.PprofListen)
	if err != nil {
		return err
	}
	a.pprofAddr = ln.Addr().String()
	a.pprofSrv = &http.Server{Handler: pprofMux(), ReadHeaderTimeout: 10 * time.Second}
	log.Info("profiler served", "url", "http://"+ln.Addr().String()+"/debug/pprof/")
	go func() { _ = a.pprofSrv.Serve(ln) }()
	return nil
}

// pprofMux routes /debug/pprof/ as net/http/pprof does on the default mux,
// without touching the default mux.
func pprofMux() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}

// PprofAddr is the profiler's bound address, "" when it is off.
func (a *App) PprofAddr() string {
	if a.pprofSrv == nil {
		return ""
	}
	return a.pprofAddr
}
