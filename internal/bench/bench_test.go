package bench

import (
	"bufio"
	"bytes"
	"net"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestParseCPUList(t *testing.T) {
	for in, want := range map[string][]int{"0": {0}, "0,1": {0, 1}, "0-3,6\n": {0, 1, 2, 3, 6}, "2-2": {2}} {
		got, err := ParseCPUList(in)
		if err != nil || !slices.Equal(got, want) {
			t.Errorf("%q: %v %v, want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "a", "3-1", "0-"} {
		if got, err := ParseCPUList(bad); err == nil {
			t.Errorf("%q: %v, want an error", bad, got)
		}
	}
}

// TestPinnedCommand: the server runs under taskset on the server's core;
// unpinned, the command is left alone. taskset must be installed (the
// pinned mode needs it), and it runs the program it is given.
func TestPinnedCommand(t *testing.T) {
	if bin, args := (*Pinning)(nil).Command("/bin/x", []string{"serve"}); bin != "/bin/x" || !slices.Equal(args, []string{"serve"}) {
		t.Fatalf("unpinned: %s %v", bin, args)
	}
	bin, args := (&Pinning{Server: 0, Client: 1}).Command("true", []string{"--listen", "x"})
	if bin != "taskset" || !slices.Equal(args, []string{"-c", "0", "true", "--listen", "x"}) {
		t.Fatalf("pinned: %s %v", bin, args)
	}
	if out, err := exec.Command(bin, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %v: %v %s", bin, args, err, out)
	}
	list, err := affinity()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ParseCPUList(list); err != nil {
		t.Fatal(err)
	}
}

func TestTxCounts(t *testing.T) {
	text := `# HELP opennimble_store_transaction_duration_seconds x
# TYPE opennimble_store_transaction_duration_seconds histogram
opennimble_store_transaction_duration_seconds_bucket{kind="update",outcome="ok",le="0.001"} 3
opennimble_store_transaction_duration_seconds_count{kind="update",outcome="ok"} 10
opennimble_store_transaction_duration_seconds_count{kind="update",outcome="error"} 2
opennimble_store_transaction_duration_seconds_count{kind="claim",outcome="ok"} 7
opennimble_store_transaction_duration_seconds_count{kind="view",outcome="ok"} 100
opennimble_store_transaction_duration_seconds_sum{kind="view",outcome="ok"} 1.5
`
	got, err := TxCounts(strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	if got["update"] != 12 || got["claim"] != 7 || got["view"] != 100 || len(got) != 3 {
		t.Fatalf("%v", got)
	}
	if w := Writes(got); w != 19 {
		t.Fatalf("writes %v, want 19", w)
	}
	jobs, err := Counts(strings.NewReader(`# TYPE opennimble_lifecycle_jobs_total counter
opennimble_lifecycle_jobs_total{kind="streaming-session",outcome="completed"} 4
opennimble_lifecycle_jobs_total{kind="streaming-session",outcome="retried"} 1
opennimble_lifecycle_jobs_total{kind="streaming-session-backup",outcome="completed"} 2
# TYPE opennimble_lifecycle_jobs_running gauge
opennimble_lifecycle_jobs_running 3
`), "opennimble_lifecycle_jobs_total", "kind")
	if err != nil || len(jobs) != 2 || jobs["streaming-session"] != 5 || jobs["streaming-session-backup"] != 2 {
		t.Fatalf("jobs %v %v", jobs, err)
	}
	d := Delta(map[string]float64{"update": 2}, got)
	if d["update"] != 10 || d["claim"] != 7 {
		t.Fatalf("delta %v", d)
	}
}

func TestCycleResultRates(t *testing.T) {
	// 4 connections, 100 writes of 2 ms each: 2,000 writes a second.
	r := CycleResult{Cycles: 50, Writes: 100, Busy: 200 * time.Millisecond, Conns: 4, Elapsed: 2 * time.Second}
	if got := r.RPS(); got < 1999 || got > 2001 {
		t.Fatalf("%v", got)
	}
	if got := r.Rate(); got != 25 {
		t.Fatalf("cycles/s %v", got)
	}
	if (CycleResult{Conns: 4}).RPS() != 0 || (CycleResult{Cycles: 3}).Rate() != 0 {
		t.Fatal("nothing measured, a rate")
	}
}

// TestSignedRequest: a signed POST carries its JSON body with its length
// and the SigV4 headers, and replays as is on a keep-alive connection.
func TestSignedRequest(t *testing.T) {
	req, err := SignedRequest("POST", "127.0.0.1:1", "/2020-08-01/studios/s/streaming-sessions/x/stop", []byte("{}"), "AKID", "secret", "us-west-2")
	if err != nil {
		t.Fatal(err)
	}
	r, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(req)))
	if err != nil {
		t.Fatal(err)
	}
	if r.Method != "POST" || r.ContentLength != 2 || r.Header.Get("Content-Type") != "application/json" ||
		!strings.HasPrefix(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256 Credential=AKID/") || r.Header.Get("X-Amz-Date") == "" {
		t.Fatalf("%s %d %v", r.Method, r.ContentLength, r.Header)
	}
}

// TestCycleLoop drives a fake server whose session rests in the state the
// last write asked for after one poll: every write is counted and timed,
// every Stop-then-Start counted as a cycle.
func TestCycleLoop(t *testing.T) {
	state, polls := "READY", 0
	mux := http.NewServeMux()
	mux.HandleFunc("POST /s/stop", func(w http.ResponseWriter, r *http.Request) { state, polls = "STOPPED", 0; w.Write([]byte("{}")) })
	mux.HandleFunc("POST /s/start", func(w http.ResponseWriter, r *http.Request) { state, polls = "READY", 0; w.Write([]byte("{}")) })
	mux.HandleFunc("GET /s", func(w http.ResponseWriter, r *http.Request) {
		polls++
		shown := state
		if polls == 1 {
			shown = "STOP_IN_PROGRESS"
		}
		body := `{"session":{"state":"` + shown + `"}}`
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.Write([]byte(body))
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: mux}
	go srv.Serve(ln)
	defer srv.Close()
	addr := ln.Addr().String()
	raw := func(method, path string) []byte {
		return []byte(method + " " + path + " HTTP/1.1\r\nHost: " + addr + "\r\nContent-Length: 0\r\n\r\n")
	}
	res, err := CycleLoop([]SessionRequests{{Addr: addr, Stop: raw("POST", "/s/stop"), Start: raw("POST", "/s/start"), Get: raw("GET", "/s")}}, 200*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if res.Writes < 2 || res.Writes%2 != 0 || res.Cycles != res.Writes/2 || res.Busy <= 0 || res.Conns != 1 || res.RPS() <= 0 || res.Rate() <= 0 {
		t.Fatalf("%+v", res)
	}
}

// TestProcCPU reads this process's own processor time, which a busy loop
// makes grow.
func TestProcCPU(t *testing.T) {
	before, err := procCPU(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	for {
		after, err := procCPU(os.Getpid())
		if err != nil {
			t.Fatal(err)
		}
		if after > before {
			return
		}
	}
}
