package server

import (
	"container/list"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"
)

// DefaultMaxConnections caps open connections when the configuration does
// not: each costs a file descriptor and some 20 KB of memory.
const DefaultMaxConnections = 4096

// Conns caps the connections a server keeps open. Past the cap less a
// reserve, it closes idle keep-alive connections (and connections that have
// not yet sent a request), oldest first, so that new clients are still
// served; at the cap with none to close, it refuses new connections with a
// ThrottlingException. It also answers, in the AWS error shape, the
// malformed requests that net/http refuses before any handler runs.
//
// Wrap the listener with Listener and set the http.Server's ConnState to
// ConnState.
type Conns struct {
	max, reserve int
	log          *slog.Logger

	mu       sync.Mutex
	open     int
	refusing bool      // since the last admission: a flood of refusals is logged once
	idle     list.List // *conn idle after a request, oldest first
	fresh    list.List // *conn that has not yet sent a request, oldest first
}

// NewConns caps open connections at max (DefaultMaxConnections if 0),
// keeping a tenth of them for new clients.
func NewConns(max int, log *slog.Logger) *Conns {
	if max <= 0 {
		max = DefaultMaxConnections
	}
	if log == nil {
		log = slog.Default()
	}
	return &Conns{max: max, reserve: max / 10, log: log}
}

// Open returns the number of connections counted as open.
func (cs *Conns) Open() int {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	return cs.open
}

// Listener wraps ln so that its connections are counted.
func (cs *Conns) Listener(ln net.Listener) net.Listener { return &listener{Listener: ln, cs: cs} }

type listener struct {
	net.Listener
	cs *Conns
}

func (l *listener) Accept() (net.Conn, error) {
	for {
		nc, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if c := l.cs.admit(nc); c != nil {
			return c, nil
		}
	}
}

// conn is a counted connection.
type conn struct {
	net.Conn
	cs       *Conns
	once     sync.Once
	elem     *list.Element // in idle or fresh, or nil
	in       *list.List
	released bool
}

// admit counts nc, closing idle connections when the reserve is reached;
// it refuses nc (and returns nil) when the cap is reached and none is idle.
func (cs *Conns) admit(nc net.Conn) *conn {
	cs.mu.Lock()
	var victims []*conn
	for cs.open+1 > cs.max-cs.reserve {
		v := cs.oldestEvictable()
		if v == nil {
			break
		}
		cs.releaseLocked(v)
		victims = append(victims, v)
	}
	admitted := cs.open < cs.max
	var c *conn
	if admitted {
		cs.open++
		c = &conn{Conn: nc, cs: cs}
	}
	firstRefusal := !admitted && !cs.refusing
	cs.refusing = !admitted
	cs.mu.Unlock()
	for _, v := range victims {
		_ = v.Conn.Close() // its server goroutine sees the error and ends
	}
	if firstRefusal {
		cs.log.Warn("refusing connections: the connection cap is reached and none is idle", "max_connections", cs.max)
	}
	if !admitted {
		refuse(nc)
	}
	return c
}

func (cs *Conns) oldestEvictable() *conn {
	for _, l := range []*list.List{&cs.idle, &cs.fresh} {
		if e := l.Front(); e != nil {
			return e.Value.(*conn)
		}
	}
	return nil
}

// releaseLocked stops counting c.
func (cs *Conns) releaseLocked(c *conn) {
	if c.released {
		return
	}
	c.released = true
	cs.open--
	cs.unlistLocked(c)
}

func (cs *Conns) unlistLocked(c *conn) {
	if c.elem != nil {
		c.in.Remove(c.elem)
		c.elem, c.in = nil, nil
	}
}

// ConnState tracks which connections may be closed to make room.
func (cs *Conns) ConnState(nc net.Conn, state http.ConnState) {
	c, ok := nc.(*conn)
	if !ok {
		return
	}
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if c.released {
		return
	}
	cs.unlistLocked(c)
	switch state {
	case http.StateNew:
		c.in, c.elem = &cs.fresh, cs.fresh.PushBack(c)
	case http.StateIdle:
		c.in, c.elem = &cs.idle, cs.idle.PushBack(c)
	}
}

func (c *conn) Close() error {
	c.once.Do(func() {
		c.cs.mu.Lock()
		c.cs.releaseLocked(c)
		c.cs.mu.Unlock()
	})
	return c.Conn.Close()
}

// CloseWrite lets net/http half-close after refusing an oversized header.
func (c *conn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

func (c *conn) Write(p []byte) (int, error) {
	if b, ok := awsProtocolError(p); ok {
		if _, err := c.Conn.Write(b); err != nil {
			return 0, err
		}
		return len(p), nil
	}
	return c.Conn.Write(p)
}

// refuse answers a connection over the cap and closes it. The write cannot
// block the accept loop for long: the answer fits in the socket's buffer,
// and a deadline bounds it anyway.
func refuse(nc net.Conn) {
	_ = nc.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
	_, _ = nc.Write(rawError(http.StatusTooManyRequests, "ThrottlingException",
		"The server has too many open connections; retry after a short wait"))
	_ = nc.Close()
}
