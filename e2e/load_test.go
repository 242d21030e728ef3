package e2e

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// BenchmarkEdgeLoad is the load script of the HTTP edge: it runs the server
// binary on loopback and attacks it, for a bounded time, with
//
//  1. slow bodies: OPENNIMBLE_LOAD_CONNS connections (default 2,000) each
//     sending a nearly complete 4 MiB body, then one byte a second;
//  2. idle connections: OPENNIMBLE_LOAD_IDLE keep-alive connections
//     (default 6,000) left idle after one request each;
//
// while a client checks the health endpoint and lists studios every 250ms.
// It prints the server's resident memory before and at its peak, and how
// many of the other clients' requests were answered. OPENNIMBLE_LOAD_BIN
// runs another build of the server (to measure an older one). Figures
// only: the regression tests in edge_test.go hold the assertions.
//
//	go test -run '^$' -bench EdgeLoad -benchtime 1x ./e2e/
func BenchmarkEdgeLoad(b *testing.B) {
	bin := os.Getenv("OPENNIMBLE_LOAD_BIN")
	if bin == "" {
		bin = binary(b)
	}
	slow, idle := envInt("OPENNIMBLE_LOAD_CONNS", 2000), envInt("OPENNIMBLE_LOAD_IDLE", 6000)
	for range b.N {
		addr := freePort(b)
		cmd := exec.Command(bin, "serve", "--emulator", "--listen", addr, "--data-dir", b.TempDir(), "--log-level", "error")
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		stop := func() { _ = cmd.Process.Signal(syscall.SIGKILL); _ = cmd.Wait() }
		waitHealthy(b, addr)
		before := rssMB(cmd.Process.Pid)

		ok, tries, peak := underLoad(addr, cmd.Process.Pid, 20*time.Second, func(done <-chan struct{}) { slowBodies(addr, slow, done) })
		b.Logf("slow bodies, %d connections: RSS %.0f MB before, %.0f MB peak; others answered %d of %d", slow, before, peak, ok, tries)
		b.ReportMetric(peak, "slow-peak-MB")
		b.ReportMetric(float64(ok)/float64(max(tries, 1)), "slow-answered-ratio")

		var closed atomic.Int64
		ok, tries, peak = underLoad(addr, cmd.Process.Pid, 10*time.Second, func(done <-chan struct{}) { idleConns(addr, idle, &closed, done) })
		b.Logf("idle connections, %d opened: RSS %.0f MB peak, %d closed by the server; others answered %d of %d", idle, peak, closed.Load(), ok, tries)
		b.ReportMetric(peak, "idle-peak-MB")
		b.ReportMetric(float64(ok)/float64(max(tries, 1)), "idle-answered-ratio")
		b.ReportMetric(before, "rss-before-MB")
		stop()
	}
}

func envInt(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n > 0 {
		return n
	}
	return def
}

func waitHealthy(b *testing.B, addr string) {
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if resp, err := http.Get("http://" + addr + "/_nimble/health"); err == nil {
			resp.Body.Close()
			return
		}
	}
	b.Fatal("the server did not start")
}

// rssMB is a process's resident memory in MB.
func rssMB(pid int) float64 { return float64(kib(statusFields(pid)["VmRSS"])) / 1000 }

// underLoad runs attack for d while another client calls the server every
// 250ms (a health check and a signed ListStudios, each with a 5s timeout);
// it returns the calls answered with 200, the calls made and the peak RSS.
func underLoad(addr string, pid int, d time.Duration, attack func(done <-chan struct{})) (ok, tries int, peak float64) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() { attack(done) })
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	end := time.Now().Add(d)
	for time.Now().Before(end) {
		time.Sleep(250 * time.Millisecond)
		peak = max(peak, rssMB(pid))
		for _, path := range []string{"/_nimble/health", "/2020-08-01/studios"} {
			tries++
			req, _ := http.NewRequest("GET", "http://"+addr+path, nil)
			signEmulator(req)
			if resp, err := client.Do(req); err == nil {
				resp.Body.Close()
				if resp.StatusCode == 200 {
					ok++
				}
			}
		}
	}
	close(done)
	wg.Wait()
	return ok, tries, max(peak, rssMB(pid))
}

// signEmulator adds a well-formed signature, which emulator mode accepts.
func signEmulator(r *http.Request) {
	now := time.Now().UTC()
	r.Header.Set("X-Amz-Date", now.Format("20060102T150405Z"))
	r.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=test/"+now.Format("20060102")+
		"/us-west-2/nimble/aws4_request, SignedHeaders=host;x-amz-date, Signature="+strings.Repeat("0", 64))
}

var zeros = make([]byte, 4<<20)

// slowBodies sends n nearly complete 4 MiB bodies, then a byte a second
// each, until done.
func slowBodies(addr string, n int, done <-chan struct{}) {
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				return
			}
			defer c.Close()
			go func() { <-done; c.Close() }()
			now := time.Now().UTC()
			fmt.Fprintf(c, "POST /2020-08-01/studios HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n"+
				"X-Amz-Date: %s\r\nAuthorization: AWS4-HMAC-SHA256 Credential=slow%d/%s/us-west-2/nimble/aws4_request, SignedHeaders=host;x-amz-date, Signature=%s\r\n\r\n",
				addr, len(zeros), now.Format("20060102T150405Z"), i, now.Format("20060102"), strings.Repeat("0", 64))
			if _, err := c.Write(zeros[:len(zeros)-64]); err != nil {
				return
			}
			for range 63 {
				select {
				case <-done:
					return
				case <-time.After(time.Second):
				}
				if _, err := c.Write(zeros[:1]); err != nil {
					return
				}
			}
		})
	}
	wg.Wait()
}

// idleConns opens n keep-alive connections, makes one request on each and
// leaves them idle until done, counting those the server closes.
func idleConns(addr string, n int, closed *atomic.Int64, done <-chan struct{}) {
	var wg sync.WaitGroup
	sem := make(chan struct{}, 64)
	defer wg.Wait()
	for range n {
		select {
		case <-done:
			return
		case sem <- struct{}{}:
		}
		wg.Go(func() {
			c, err := net.Dial("tcp", addr)
			<-sem
			if err != nil {
				return
			}
			defer c.Close()
			go func() { <-done; c.Close() }()
			fmt.Fprintf(c, "GET /_nimble/health HTTP/1.1\r\nHost: %s\r\n\r\n", addr)
			br := bufio.NewReader(c)
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if _, err := br.ReadByte(); err == io.EOF {
				select {
				case <-done:
				default:
					closed.Add(1)
				}
			}
		})
	}
}
