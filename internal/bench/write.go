package bench

import (
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

// CycleResult is what the cycle loop measured: the cycles completed (a Stop
// with its backup, then a Start, each awaited) and the Stop and Start
// requests answered 200 with the time they took, all connections together.
type CycleResult struct {
	Cycles  int64
	Writes  int64
	Busy    time.Duration // sum of the write requests' latencies
	Conns   int
	Elapsed time.Duration
}

// Rate is the cycles completed a second.
func (r CycleResult) Rate() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Cycles) / r.Elapsed.Seconds()
}

// RPS estimates the write rate the server sustains with Conns connections
// all sending writes, by Little's law: Conns / mean write latency. The
// latencies are measured while every session cycles (the lifecycle runs
// its steps and the clients poll between writes), so they include the
// write path's contention with the lifecycle on the store; the states
// between writes cannot be skipped, which is why the rate is not simply
// writes over wall time (that is the cycles' rate, twice).
func (r CycleResult) RPS() float64 {
	if r.Writes == 0 || r.Busy <= 0 {
		return 0
	}
	return float64(r.Conns) / (r.Busy.Seconds() / float64(r.Writes))
}

// SessionRequests are the pre-signed requests the cycle loop replays for
// one session, on the server Addr they were signed for.
type SessionRequests struct {
	Addr             string
	Stop, Start, Get []byte
}

// SignedSession signs the requests of one session for addr.
func SignedSession(addr, studio, session, akid, secret, region string) (SessionRequests, error) {
	base := "/2020-08-01/studios/" + studio + "/streaming-sessions/" + session
	r := SessionRequests{Addr: addr}
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

// CycleLoop cycles each session on a keep-alive connection of its own for
// d: StopStreamingSession, GetStreamingSession polled until STOPPED,
// StartStreamingSession, polled until READY. The requests are pre-signed
// bytes, so that the load generator costs a few microseconds a request and
// the rate measures the server. Only the Stop and Start requests are timed.
func CycleLoop(sessions []SessionRequests, d time.Duration) (CycleResult, error) {
	var mu sync.Mutex
	res := CycleResult{Conns: len(sessions)}
	var firstErr error
	deadline := time.Now().Add(d)
	start := time.Now()
	var wg sync.WaitGroup
	for _, s := range sessions {
		wg.Add(1)
		go func(s SessionRequests) {
			defer wg.Done()
			r, err := cycleSession(s, deadline)
			mu.Lock()
			defer mu.Unlock()
			res.Cycles += r.Cycles
			res.Writes += r.Writes
			res.Busy += r.Busy
			if err != nil && firstErr == nil {
				firstErr = err
			}
		}(s)
	}
	wg.Wait()
	res.Elapsed = time.Since(start)
	return res, firstErr
}

func cycleSession(s SessionRequests, deadline time.Time) (CycleResult, error) {
	var r CycleResult
	c, err := dial(s.Addr)
	if err != nil {
		return r, err
	}
	defer c.c.Close()
	for time.Now().Before(deadline) {
		for _, step := range []struct {
			req  []byte
			name string
			rest string
		}{{s.Stop, "StopStreamingSession", "STOPPED"}, {s.Start, "StartStreamingSession", "READY"}} {
			t0 := time.Now()
			status, body, err := c.do(step.req)
			if err != nil {
				return r, err
			}
			if status != 200 {
				return r, fmt.Errorf("%s: %d %.300s", step.name, status, body)
			}
			r.Busy += time.Since(t0)
			r.Writes++
			if err := c.waitState(s.Get, step.rest); err != nil {
				return r, err
			}
		}
		r.Cycles++
	}
	return r, nil
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
		time.Sleep(10 * time.Millisecond) // a client polling as fast as is reasonable
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
	fams, err := parseMetrics(r)
	if err != nil {
		return nil, err
	}
	return familyCounts(fams[name], label), nil
}

func parseMetrics(r io.Reader) (map[string]*dto.MetricFamily, error) {
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(r)
	if err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	return fams, nil
}

// familyCounts is Counts of one parsed family (nil: none).
func familyCounts(f *dto.MetricFamily, label string) map[string]float64 {
	counts := map[string]float64{}
	if f == nil {
		return counts
	}
	for _, m := range f.Metric {
		value := "" // the key of a metric counted without a label
		if label != "" {
			i := slices.IndexFunc(m.Label, func(l *dto.LabelPair) bool { return l.GetName() == label })
			if i < 0 {
				continue
			}
			value = m.Label[i].GetValue()
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
		case m.Summary != nil:
			v = float64(m.Summary.GetSampleCount())
		}
		counts[value] += v
	}
	return counts
}

const txMetric = "opennimble_store_transaction_duration_seconds"

// TxCounts returns the store transactions a server's /metrics text counts,
// by kind (view, update, claim, complete, retry, renew), outcomes summed.
func TxCounts(r io.Reader) (map[string]float64, error) {
	return Counts(r, txMetric, "kind")
}

// Scraped is what a cycles phase reads from /metrics.
type Scraped struct {
	Tx, Jobs, Requests map[string]float64 // by kind, by kind, by operation
	Retries            float64            // write transactions started over
	// GCs and Allocated are the Go runtime's garbage collections and
	// bytes allocated so far.
	GCs, Allocated float64
	// PerProc, in a sum of several servers' counts, holds each one's.
	PerProc []Scraped
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
	fams, err := parseMetrics(res.Body)
	if err != nil {
		return Scraped{}, err
	}
	return Scraped{
		Tx:        familyCounts(fams[txMetric], "kind"),
		Jobs:      familyCounts(fams["opennimble_lifecycle_jobs_total"], "kind"),
		Requests:  familyCounts(fams["opennimble_requests_total"], "operation"),
		Retries:   familyCounts(fams["opennimble_store_transaction_retries_total"], "")[""],
		GCs:       familyCounts(fams["go_gc_duration_seconds"], "")[""],
		Allocated: familyCounts(fams["go_memstats_alloc_bytes_total"], "")[""],
	}, nil
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
