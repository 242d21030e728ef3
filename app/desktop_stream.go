package app

import (
	"context"
	"errors"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/coder/websocket"

	opennimble "github.com/opennimble/opennimble"
	"github.com/opennimble/opennimble/service"
)

// The stream URL of a desktop session (the local driver's) serves noVNC's
// web client from Config.NoVNCDir and bridges noVNC's WebSocket,
// /_stream/<token>/websockify, to the VNC server of the session's desktop.
// The token is checked on every request, the upgrade included, and every
// second for as long as the WebSocket is open: once the stream expires or
// the session leaves READY the connection is closed.

// streamRecheck is how often an open stream's token is checked again.
const streamRecheck = time.Second

// desktopStream serves one request of a desktop's stream URL; rest is the
// path after /_stream/<token>/.
func (a *App) desktopStream(w http.ResponseWriter, r *http.Request, token, rest string, info *service.StreamPageInfo) {
	switch rest {
	case "":
		openNoVNC(w, r, token)
	case "websockify":
		a.bridgeVNC(w, r, token, info)
	default:
		w.Header().Set("Cache-Control", "no-store")
		r2 := r.Clone(r.Context())
		r2.URL.Path, r2.URL.RawPath = "/"+rest, ""
		http.FileServer(http.Dir(a.Config.NoVNCDir)).ServeHTTP(w, r2)
	}
}

// openNoVNC answers the stream URL's / of a noVNC desktop (the local
// driver's, or a Kubernetes workstation whose websockify serves noVNC): a
// redirect to noVNC's page, connecting at once to the stream's WebSocket.
// noVNC takes the WebSocket's path from the host's root.
func openNoVNC(w http.ResponseWriter, r *http.Request, token string) {
	http.Redirect(w, r, "vnc.html?autoconnect=true&reconnect=false&resize=scale&path=_stream/"+token+"/websockify", http.StatusFound)
}

// bridgeVNC upgrades the request to a WebSocket and copies bytes both ways
// between it and the desktop's VNC server until either side ends, the stream
// expires or the session stops.
func (a *App) bridgeVNC(w http.ResponseWriter, r *http.Request, token string, info *service.StreamPageInfo) {
	dialer, _ := opennimble.DriverAs[opennimble.VNCDialer](a.driver)
	vnc, err := dialer.DialVNC(r.Context(), info.SessionID, info.StudioID)
	if err != nil {
		a.logger.Warn("stream: desktop", "session", info.SessionID, "err", err)
		http.Error(w, "The desktop of session "+info.SessionID+" is not running.", http.StatusBadGateway)
		return
	}
	defer vnc.Close()
	// Accept checks that the page's origin is this server's (no other site
	// may open the desktop with the user's link).
	ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{Subprotocols: []string{"binary"}})
	if err != nil {
		return // Accept has answered
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	id := a.bridges.add(cancel)
	defer a.bridges.remove(id)
	conn := websocket.NetConn(ctx, ws, websocket.MessageBinary)
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(vnc, conn); done <- struct{}{} }()
	go func() { _, _ = io.Copy(conn, vnc); done <- struct{}{} }()
	reason := a.watchStream(ctx, token, done)
	// The close frame first: cancelling ctx would drop the connection
	// without telling noVNC why.
	_ = ws.Close(websocket.StatusPolicyViolation, reason)
	cancel()
	_ = vnc.Close()
}

// watchStream returns when the bridge ends (done), the server closes (ctx)
// or the token stops being valid, with the reason to close with.
func (a *App) watchStream(ctx context.Context, token string, done <-chan struct{}) string {
	tick := time.NewTicker(streamRecheck)
	defer tick.Stop()
	for {
		select {
		case <-done:
			return "the desktop closed the connection"
		case <-ctx.Done():
			return "the server is stopping"
		case <-tick.C:
			if _, err := a.Service.StreamPage(ctx, token); err != nil {
				var oe *opennimble.Error
				if errors.As(err, &oe) {
					return "the stream is no longer valid: " + oe.Message
				}
				if ctx.Err() != nil {
					return "the server is stopping"
				}
				// a store hiccup: look again at the next tick
			}
		}
	}
}

// bridges are the open WebSocket bridges, which Close ends.
type bridges struct {
	mu   sync.Mutex
	next int
	open map[int]context.CancelFunc
}

func newBridges() *bridges { return &bridges{open: map[int]context.CancelFunc{}} }

func (b *bridges) add(cancel context.CancelFunc) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.next++
	b.open[b.next] = cancel
	return b.next
}

func (b *bridges) remove(id int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.open, id)
}

func (b *bridges) closeAll() {
	if b == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, cancel := range b.open {
		cancel()
	}
}
