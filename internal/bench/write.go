package bench

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// WriteResult is what the write loop measured: the Stop and Start requests
// answered 200 and the time they took, all connections together.
type WriteResult struct {
	Writes  int64
	Busy    time.Duration // sum of the write requests' latencies
	Conns   int
	Elapsed time.Duration
}

// RPS estimates the write rate the server sustains with Conns connections
// all sending writes, by Little's law: Conns / mean write latency. The
// latencies are measured while every session cycles (the lifecycle runs
// its steps and the clients poll between writes), so they include the
// write path's contention with the lifecycle on the store; the states
// between writes cannot be skipped, which is why the rate is not simply
// writes over wall time (that is the cycles' rate, twice).
func (r WriteResult) RPS() float64 {
	if r.Writes == 0 || r.Busy <= 0 {
		return 0
	}
	return float64(r.Conns) / (r.Busy.Seconds() / float64(r.Writes))
}

// SessionRequests are the pre-signed requests the write loop replays for
// one session.
type SessionRequests struct {
	Stop, Start, Get []byte
}

// SignedSession signs the requests of one session for addr.
func SignedSession(addr, studio, session, akid, secret, region string) (SessionRequests, error) {
	base := "/2020-08-01/studios/" + studio + "/streaming-sessions/" + session
	var r SessionRequests
	var err error
	if r.Stop, err = SignedRequest("POST", addr, base+"/stop", []byte("{}"), akid, secret, region); err != nil {
		return r, err
	}
	if r.Start, err = SignedRequest("POST", addr, base+"/start", []byte("{}"), akid, secret, region); err != nil {
		return r, err
	}
	r.Get, err = Signed(addr, base, akid, secret, region)
	return r, err
}

// WriteLoop cycles each session on a keep-alive connection of its own,
// StopStreamingSession then StartStreamingSession, polling
// GetStreamingSession in between until the session rests (STOPPED, READY),
// for d. Only the Stop and Start requests are timed.
func WriteLoop(addr string, sessions []SessionRequests, d time.Duration) (WriteResult, error) {
	var mu sync.Mutex
	res := WriteResult{Conns: len(sessions)}
	var firstErr error
	deadline := time.Now().Add(d)
	start := time.Now()
	var wg sync.WaitGroup
	for _, s := range sessions {
		wg.Add(1)
		go func(s SessionRequests) {
			defer wg.Done()
			n, busy, err := writeSession(addr, s, deadline)
			mu.Lock()
			defer mu.Unlock()
			res.Writes += n
			res.Busy += busy
			if err != nil && firstErr == nil {
				firstErr = err
			}
		}(s)
	}
	wg.Wait()
	res.Elapsed = time.Since(start)
	return res, firstErr
}

func writeSession(addr string, s SessionRequests, deadline time.Time) (int64, time.Duration, error) {
	c, err := dial(addr)
	if err != nil {
		return 0, 0, err
	}
	defer c.c.Close()
	var n int64
	var busy time.Duration
	for time.Now().Before(deadline) {
		for _, step := range []struct {
			req  []byte
			name string
			rest string
		}{{s.Stop, "StopStreamingSession", "STOPPED"}, {s.Start, "StartStreamingSession", "READY"}} {
			t0 := time.Now()
			status, body, err := c.do(step.req)
			if err != nil {
				return n, busy, err
			}
			if status != 200 {
				return n, busy, fmt.Errorf("%s: %d %.300s", step.name, status, body)
			}
			busy += time.Since(t0)
			n++
			if err := c.waitState(s.Get, step.rest); err != nil {
				return n, busy, err
			}
		}
	}
	return n, busy, nil
}

// waitState polls get until the session is in state want.
func (c *conn) waitState(get []byte, want string) error {
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		status, body, err := c.do(get)
		if err != nil {
			return err
		}
		if status != 200 {
			return fmt.Errorf("GetStreamingSession: %d %.300s", status, body)
		}
		state, err := sessionState(body)
		if err != nil {
			return err
		}
		switch {
		case state == want:
			return nil
		case strings.HasSuffix(state, "_FAILED"):
			return fmt.Errorf("session %s, waiting for %s", state, want)
		}
		time.Sleep(10 * time.Millisecond) // as the SDK-driven cycles poll
	}
	return fmt.Errorf("session did not reach %s", want)
}

func sessionState(body []byte) (string, error) {
	var out struct {
		Session struct {
			State string `json:"state"`
		} `json:"session"`
	}
	if err := json.Unmarshal(body, &out); err != nil {
		return "", fmt.Errorf("GetStreamingSession answer: %w", err)
	}
	return out.Session.State, nil
}

// Counts sums the samples of the metric family name (counters, gauges,
// untyped values, histogram counts) in a server's /metrics text by the
// value of one of its labels, the other labels summed over.
func Counts(r io.Reader, name, label string) (map[string]float64, error) {
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(r)
	if err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	counts := map[string]float64{}
	f := fams[name]
	if f == nil {
		return counts, nil
	}
	for _, m := range f.Metric {
		i := slices.IndexFunc(m.Label, func(l *dto.LabelPair) bool { return l.GetName() == label })
		if i < 0 {
			continue
		}
		var v float64
		switch {
		case m.Counter != nil:
			v = m.Counter.GetValue()
		case m.Gauge != nil:
			v = m.Gauge.GetValue()
		case m.Untyped != nil:
			v = m.Untyped.GetValue()
		case m.Histogram != nil:
			v = float64(m.Histogram.GetSampleCount())
		}
		counts[m.Label[i].GetValue()] += v
	}
	return counts, nil
}

// TxCounts returns the store transactions a server's /metrics text counts,
// by kind (view, update, claim, complete, retry, renew), outcomes summed.
func TxCounts(r io.Reader) (map[string]float64, error) {
	return Counts(r, "opennimble_store_transaction_duration_seconds", "kind")
}

// Scraped is what a cycles phase reads from /metrics.
type Scraped struct {
	Tx, Jobs, Requests map[string]float64 // by kind, by kind, by operation
}

// Scrape reads the transaction, job and request counts of the server at
// addr.
func Scrape(addr string) (Scraped, error) {
	res, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		return Scraped{}, err
	}
	defer res.Body.Close()
	if res.StatusCode != 200 {
		return Scraped{}, fmt.Errorf("GET /metrics: %s", res.Status)
	}
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return Scraped{}, err
	}
	var sc Scraped
	if sc.Tx, err = TxCounts(bytes.NewReader(b)); err != nil {
		return sc, err
	}
	if sc.Jobs, err = Counts(bytes.NewReader(b), "opennimble_lifecycle_jobs_total", "kind"); err != nil {
		return sc, err
	}
	sc.Requests, err = Counts(bytes.NewReader(b), "opennimble_requests_total", "operation")
	return sc, err
}

// Writes sums the write transactions of counts (every kind but view).
func Writes(counts map[string]float64) float64 {
	n := 0.0
	for k, v := range counts {
		if k != "view" {
			n += v
		}
	}
	return n
}

// Delta returns after minus before, kind by kind.
func Delta(before, after map[string]float64) map[string]float64 {
	d := map[string]float64{}
	for k, v := range after {
		d[k] = v - before[k]
	}
	return d
}
