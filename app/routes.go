package app

import (
	"encoding/json"
	"html/template"
	"net/http"
	"net/http/httputil"
	"strings"
	"time"

	opennimble "github.com/opennimble/opennimble"
	"github.com/opennimble/opennimble/api"
	"github.com/opennimble/opennimble/portal"
	"github.com/opennimble/opennimble/server"
)

// Version is the server's version, set at build time with -ldflags.
var Version = "dev"

func (a *App) routes(srv *server.Server) {
	started := time.Now()
	srv.Handle("/_nimble/health", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Ready once requests are served and the store answers a read, so
		// that a load balancer skips a replica whose database is gone.
		ready := a.Store.View(r.Context(), func(opennimble.Tx) error { return nil }) == nil
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		if !ready {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		_ = json.NewEncoder(w).Encode(map[string]any{
			"ready":         ready,
			"version":       Version,
			"uptime":        time.Since(started).Round(time.Millisecond).String(),
			"uptimeSeconds": time.Since(started).Seconds(),
			"store":         storeKind(a.Config),
			"driver":        a.Config.Driver,
			"emulator":      a.Config.Emulator,
			"controls":      a.Config.ControlsEnabled(),
		})
	}))
	srv.Handle("/_stream/", http.HandlerFunc(a.streamPage))
}

var streamTmpl = template.Must(template.New("stream").Parse(`<!doctype html>
<html><head><meta charset="utf-8"><title>opennimble stream {{.SessionID}}</title></head>
<body>
<h1>Streaming session {{.SessionID}}</h1>
<p>Studio: {{.StudioID}}</p>
<p>Owner: {{.OwnedBy}}</p>
<p>This stream link expires at {{.ExpiresAt}}.</p>
</body></html>
`))

// streamPage serves the URL of a session stream until the stream expires;
// afterwards it is refused. With a driver whose workstations serve their
// remote desktop (opennimble.Streamer, the kubernetes driver) the URL leads
// there through this server: /_stream/<token>/<path> is proxied, WebSocket
// upgrades included, to <desktop>/<path>, and the workstation is never
// exposed itself. With desktops that the server reaches over VNC (the local
// driver's), the URL serves noVNC and bridges it to the desktop
// (desktop_stream.go). Otherwise the page names the session and its owner.
func (a *App) streamPage(w http.ResponseWriter, r *http.Request) {
	token, rest, proxied := strings.Cut(strings.TrimPrefix(r.URL.Path, "/_stream/"), "/")
	info, err := a.Service.StreamPage(r.Context(), token)
	if err != nil {
		http.Error(w, "This stream link is unknown or has expired.", http.StatusForbidden)
		return
	}
	if a.desktops {
		if !proxied {
			http.Redirect(w, r, "/_stream/"+token+"/", http.StatusFound)
			return
		}
		a.desktopStream(w, r, token, rest, info)
		return
	}
	if streamer, ok := opennimble.DriverAs[opennimble.Streamer](a.driver); ok {
		if !proxied {
			// The desktop's relative links need the trailing slash.
			http.Redirect(w, r, "/_stream/"+token+"/", http.StatusFound)
			return
		}
		target, err := streamer.StreamTarget(r.Context(), info.SessionID, info.StudioID)
		if err != nil {
			a.logger.Warn("stream target", "session", info.SessionID, "err", err)
			http.Error(w, "The workstation of session "+info.SessionID+" is not running.", http.StatusBadGateway)
			return
		}
		if rest == "" && target.NoVNC {
			openNoVNC(w, r, token)
			return
		}
		proxy := &httputil.ReverseProxy{
			Rewrite: func(pr *httputil.ProxyRequest) {
				pr.SetURL(target.URL)
				pr.Out.URL.Path, pr.Out.URL.RawPath = "/"+rest, ""
				pr.SetXForwarded()
				pr.Out.Header.Set("X-Nimble-Session-Id", info.SessionID)
				// The browser's Referer is the stream URL, token and all:
				// the workstation (and its logs) never needs the token.
				pr.Out.Header.Del("Referer")
			},
			ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
				a.logger.Warn("stream proxy", "session", info.SessionID, "err", err)
				http.Error(w, "The workstation of session "+info.SessionID+" does not answer.", http.StatusBadGateway)
			},
		}
		proxy.ServeHTTP(w, r)
		return
	}
	if proxied && rest != "" {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_ = streamTmpl.Execute(w, map[string]string{
		"SessionID": info.SessionID,
		"StudioID":  info.StudioID,
		"OwnedBy":   info.OwnedBy,
		"ExpiresAt": info.ExpiresAt.UTC().Format(time.RFC3339),
	})
}

// mountPortal serves the studio portal at every studio's studioUrl
// (/portal/<studioName>), acting through the API's authorised handler.
func (a *App) mountPortal(srv *server.Server, authorised api.Handler, public string, o Options) {
	p := portal.New(portal.Options{
		API: authorised,
		Providers: []portal.Provider{&portal.KeyProvider{
			Credentials: a.Store, Emulator: a.Config.Emulator, EmulatorAdmins: a.Config.EmulatorAdmins}},
		PublicURL:   public,
		IdleTimeout: a.Config.PortalIdleTimeout,
		Clock:       o.AuthClock,
		Logger:      o.Logger,
	})
	srv.Handle("/portal/", p)
	srv.Handle(portal.StaticPrefix, p)
}
