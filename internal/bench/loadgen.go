// Package bench measures a running opennimble server from outside: a lean
// HTTP/1.1 load generator, process control, and the figures of the
// benchmark command.
package bench

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// The load generator replays one pre-built request over keep-alive
// connections and parses only the status line and Content-Length of the
// answers. It costs a few microseconds a request, so on a 2-core machine it
// takes little from the server it measures, and it costs the same whether
// the server is opennimble or the bare baseline, which keeps ratios fair.

// Result is what one load run measured.
type Result struct {
	Requests  int64
	Errors    int64
	Duration  time.Duration
	Latencies []time.Duration // sampled
}

// RPS is the rate of successful requests.
func (r Result) RPS() float64 { return float64(r.Requests-r.Errors) / r.Duration.Seconds() }

// Percentile returns the p-th percentile (0–100) of the latencies.
func (r Result) Percentile(p float64) time.Duration {
	if len(r.Latencies) == 0 {
		return 0
	}
	l := slices.Clone(r.Latencies)
	slices.Sort(l)
	i := int(float64(len(l)-1) * p / 100)
	return l[i]
}

type conn struct {
	c net.Conn
	r *bufio.Reader
}

func dial(addr string) (*conn, error) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	return &conn{c: c, r: bufio.NewReaderSize(c, 64<<10)}, nil
}

// roundTrip writes req and reads one response, returning its status.
func (c *conn) roundTrip(req []byte) (int, error) {
	status, _, err := c.exchange(req, false)
	return status, err
}

// do writes req and reads one response, returning its status and body.
func (c *conn) do(req []byte) (int, []byte, error) {
	return c.exchange(req, true)
}

func (c *conn) exchange(req []byte, keepBody bool) (int, []byte, error) {
	if _, err := c.c.Write(req); err != nil {
		return 0, nil, err
	}
	line, err := c.r.ReadSlice('\n')
	if err != nil {
		return 0, nil, err
	}
	if len(line) < 12 {
		return 0, nil, fmt.Errorf("short status line %q", line)
	}
	status, err := strconv.Atoi(string(line[9:12]))
	if err != nil {
		return 0, nil, err
	}
	length := -1
	for {
		h, err := c.r.ReadSlice('\n')
		if err != nil {
			return 0, nil, err
		}
		h = bytes.TrimRight(h, "\r\n")
		if len(h) == 0 {
			break
		}
		if k, v, ok := bytes.Cut(h, []byte(":")); ok && bytes.EqualFold(k, []byte("content-length")) {
			length, _ = strconv.Atoi(string(bytes.TrimSpace(v)))
		}
	}
	if length < 0 {
		return 0, nil, errors.New("response without Content-Length")
	}
	if !keepBody {
		_, err := c.r.Discard(length)
		return status, nil, err
	}
	body := make([]byte, length)
	_, err = io.ReadFull(c.r, body)
	return status, body, err
}

// ClosedLoop runs conns connections that each send the next request as soon
// as the previous answer arrived, for d: the server's maximum throughput.
func ClosedLoop(addr string, req []byte, conns int, d time.Duration) (Result, error) {
	var total, errs atomic.Int64
	var mu sync.Mutex
	var lat []time.Duration
	var firstErr error
	deadline := time.Now().Add(d)
	start := time.Now()
	var wg sync.WaitGroup
	for i := 0; i < conns; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := dial(addr)
			if err != nil {
				mu.Lock()
				firstErr = err
				mu.Unlock()
				return
			}
			defer c.c.Close()
			var local []time.Duration
			for n := 0; ; n++ {
				t0 := time.Now()
				if t0.After(deadline) {
					break
				}
				status, err := c.roundTrip(req)
				total.Add(1)
				if err != nil || status != 200 {
					errs.Add(1)
					if err != nil {
						mu.Lock()
						firstErr = err
						mu.Unlock()
						return
					}
				}
				if n%16 == 0 {
					local = append(local, time.Since(t0))
				}
			}
			mu.Lock()
			lat = append(lat, local...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	r := Result{Requests: total.Load(), Errors: errs.Load(), Duration: time.Since(start), Latencies: lat}
	if firstErr != nil && r.Requests == 0 {
		return r, firstErr
	}
	return r, nil
}

// OpenLoop sends rate requests per second in total over conns connections,
// each on a fixed schedule, for d. Latency is measured from the moment a
// request was due, not when it was sent, so a slow server cannot hide its
// queueing (no coordinated omission).
func OpenLoop(addr string, req []byte, conns int, rate float64, d time.Duration) (Result, error) {
	interval := time.Duration(float64(conns) / rate * float64(time.Second))
	var total, errs atomic.Int64
	var mu sync.Mutex
	var lat []time.Duration
	start := time.Now()
	end := start.Add(d)
	var wg sync.WaitGroup
	var firstErr error
	for i := 0; i < conns; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			c, err := dial(addr)
			if err != nil {
				mu.Lock()
				firstErr = err
				mu.Unlock()
				return
			}
			defer c.c.Close()
			due := start.Add(time.Duration(i) * interval / time.Duration(conns))
			var local []time.Duration
			for due.Before(end) {
				if wait := time.Until(due); wait > 0 {
					time.Sleep(wait)
				}
				status, err := c.roundTrip(req)
				total.Add(1)
				if err != nil || status != 200 {
					errs.Add(1)
					if err != nil {
						return
					}
				}
				local = append(local, time.Since(due))
				due = due.Add(interval)
			}
			mu.Lock()
			lat = append(lat, local...)
			mu.Unlock()
		}(i)
	}
	wg.Wait()
	r := Result{Requests: total.Load(), Errors: errs.Load(), Duration: time.Since(start), Latencies: lat}
	if firstErr != nil && r.Requests == 0 {
		return r, firstErr
	}
	return r, nil
}

// Once sends req once on a fresh connection and returns status and time.
func Once(addr string, req []byte) (int, time.Duration, error) {
	c, err := dial(addr)
	if err != nil {
		return 0, 0, err
	}
	defer c.c.Close()
	t0 := time.Now()
	s, err := c.roundTrip(req)
	return s, time.Since(t0), err
}

// Fetch sends req once and returns the whole response body too.
func Fetch(addr string, req []byte) (int, []byte, error) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return 0, nil, err
	}
	defer c.Close()
	if _, err := c.Write(req); err != nil {
		return 0, nil, err
	}
	r := bufio.NewReader(c)
	line, err := r.ReadString('\n')
	if err != nil {
		return 0, nil, err
	}
	status, _ := strconv.Atoi(line[9:12])
	length := 0
	for {
		h, err := r.ReadString('\n')
		if err != nil {
			return 0, nil, err
		}
		h = string(bytes.TrimRight([]byte(h), "\r\n"))
		if h == "" {
			break
		}
		if k, v, ok := bytes.Cut([]byte(h), []byte(":")); ok && bytes.EqualFold(k, []byte("content-length")) {
			length, _ = strconv.Atoi(string(bytes.TrimSpace(v)))
		}
	}
	body := make([]byte, length)
	_, err = io.ReadFull(r, body)
	return status, body, err
}
