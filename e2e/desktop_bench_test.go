package e2e

import (
	"bufio"
	"context"
	be "encoding/binary"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go/aws"
	"github.com/aws/aws-sdk-go/service/nimblestudio"

	opennimble "github.com/opennimble/opennimble"
	"github.com/opennimble/opennimble/app"
	"github.com/opennimble/opennimble/internal/fixture"
)

// BenchmarkDesktop measures the local driver's desktops as a user meets
// them, through the Go SDK against a real server on the real clock:
//
//	go test -run '^$' -bench Desktop -benchtime 1x ./e2e/
//
// It prints one "RESULT name value unit goal met" line per figure: the
// median time from StartStreamingSession to READY with a desktop (of a
// stopped session, three times), the memory of an idle desktop, and how
// many desktops the machine holds
// while every one of them still answers a screenshot (a full framebuffer
// update read through the driver's DialVNC), up to OPENNIMBLE_BENCH_DESKTOPS
// (12). It needs what the desktop tests need: root and scripts/test's
// programs.
//
// The idle desktop is one that has sent a whole screen once (as to a
// viewer) and whose memory has then settled; its processes are the
// bubblewrap outside the sandbox and every process in the sandbox's PID
// namespace (bubblewrap's init, session-start.sh, Xvnc, openbox, xterm and
// its shell). desktop_idle_rss sums their VmRSS: every page they map
// counted whole, shared libraries included, so the figure a single desktop
// costs on an otherwise empty host. desktop_idle_pss sums their Pss
// (smaps_rollup), which splits each shared page among the processes that
// map it, while it is the only desktop; desktop_idle_pss_among_N is the
// same once N desktops run, what one more desktop costs on a busy host.
func BenchmarkDesktop(b *testing.B) {
	for b.Loop() {
		benchDesktop(b)
	}
}

func benchDesktop(b *testing.B) {
	limit := 12
	if n, err := strconv.Atoi(os.Getenv("OPENNIMBLE_BENCH_DESKTOPS")); err == nil && n > 0 {
		limit = n
	}
	var drv opennimble.Driver
	cfg := app.Defaults()
	cfg.Listen, cfg.DataDir, cfg.Sync, cfg.Emulator = "127.0.0.1:0", b.TempDir(), "normal", true
	o := app.Options{Logger: testLogger(), WrapDriver: func(d opennimble.Driver) opennimble.Driver { drv = d; return d }}
	desktops()(&cfg, &o)
	a, err := app.Start(context.Background(), cfg, o)
	if err != nil {
		b.Fatal(err)
	}
	defer a.Close()
	vnc, ok := opennimble.DriverAs[opennimble.VNCDialer](drv)
	if !ok {
		b.Fatal("the local driver dials no VNC")
	}
	e := &env{App: a, dir: cfg.DataDir}
	c := e.client("test", "test")
	cx := context.Background()
	pr, err := fixture.Make(cx, c, "bench", fixture.WithPersistence(600))
	if err != nil {
		b.Fatal(err)
	}
	bs := &benchSessions{b: b, c: c, studio: pr.Studio}

	// StartStreamingSession -> READY, on a stopped session.
	first := bs.create(pr.LaunchProfile)
	if err := bs.await(first, "READY"); err != nil {
		b.Fatal(err)
	}
	var starts []time.Duration
	for range 3 {
		_, err := c.StopStreamingSession(&nimblestudio.StopStreamingSessionInput{StudioId: &pr.Studio, SessionId: &first})
		if err != nil {
			b.Fatal(err)
		}
		if err := bs.await(first, "STOPPED"); err != nil {
			b.Fatal(err)
		}
		t0 := time.Now()
		if _, err := c.StartStreamingSession(&nimblestudio.StartStreamingSessionInput{StudioId: &pr.Studio, SessionId: &first}); err != nil {
			b.Fatal(err)
		}
		if err := bs.await(first, "READY"); err != nil {
			b.Fatal(err)
		}
		starts = append(starts, time.Since(t0))
	}
	slices.Sort(starts)
	start := starts[len(starts)/2].Seconds()

	// An idle desktop's memory, once it has shown its screen and settled.
	if err := screenshot(vnc, pr.Studio, first); err != nil {
		b.Fatal(err)
	}
	rss, pss := idleMemory(b, first)

	// How many desktops answer a screenshot, each one of them.
	running := []string{first}
	held := 0
	for len(running) <= limit {
		if err := screenshots(vnc, pr.Studio, running); err != nil {
			b.Logf("with %d desktops: %v", len(running), err)
			break
		}
		held = len(running)
		if held == limit {
			break
		}
		id := bs.create(pr.LaunchProfile)
		if err := bs.await(id, "READY"); err != nil {
			b.Logf("desktop %d: %v", held+1, err)
			break
		}
		running = append(running, id)
	}

	// With every desktop up, the libraries they share count less to each.
	_, pssShared := sandboxMemory(b, first)

	mib := func(kb int64) float64 { return float64(kb) / 1024 }
	result := func(name string, v float64, unit, goal string, met bool) {
		fmt.Printf("RESULT %s %.3f %s %s %v\n", name, v, unit, goal, met)
	}
	result("desktop_start_to_ready", start, "s", "<=1.5", start <= 1.5)
	result("desktop_idle_rss", mib(rss), "MiB", "<=80", mib(rss) <= 80)
	result("desktop_idle_pss", mib(pss), "MiB", "<=80", mib(pss) <= 80)
	result(fmt.Sprintf("desktop_idle_pss_among_%d", len(running)), mib(pssShared), "MiB", "<=80", mib(pssShared) <= 80)
	result("desktops_answering", float64(held), "desktops", fmt.Sprintf(">=8(cap%d)", limit), held >= 8)
}

// benchSessions makes and watches sessions of one studio.
type benchSessions struct {
	b      *testing.B
	c      *nimblestudio.NimbleStudio
	studio string
}

func (s *benchSessions) create(launchProfile string) string {
	out, err := s.c.CreateStreamingSession(&nimblestudio.CreateStreamingSessionInput{StudioId: &s.studio, LaunchProfileId: &launchProfile})
	if err != nil {
		s.b.Fatal(err)
	}
	return *out.Session.SessionId
}

// await polls the session every 10ms until it is in state; a failed state,
// or five minutes, is an error.
func (s *benchSessions) await(id, state string) error {
	deadline := time.Now().Add(5 * time.Minute)
	for {
		out, err := s.c.GetStreamingSession(&nimblestudio.GetStreamingSessionInput{StudioId: &s.studio, SessionId: &id})
		if err != nil {
			return err
		}
		st := aws.StringValue(out.Session.State)
		switch {
		case st == state:
			return nil
		case strings.HasSuffix(st, "_FAILED") || time.Now().After(deadline):
			return fmt.Errorf("session %s: want %s, got %s", id, state, out.Session)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// idleMemory waits until the summed RSS of the session's sandbox stays
// within 1% over three samples half a second apart, and returns it and the
// summed PSS, in KiB.
func idleMemory(b *testing.B, id string) (rss, pss int64) {
	var last []int64
	for range 60 {
		rss, pss = sandboxMemory(b, id)
		last = append(last, rss)
		if n := len(last); n >= 3 {
			lo, hi := slices.Min(last[n-3:]), slices.Max(last[n-3:])
			if hi-lo <= hi/100 {
				return rss, pss
			}
		}
		time.Sleep(500 * time.Millisecond)
	}
	return rss, pss
}

// sandboxMemory sums VmRSS and Pss (smaps_rollup) over the processes of
// the session's sandbox: those of the PID namespace of its X server (found
// by its -desktop argument, the session's id) and the bubblewrap outside
// that started it.
func sandboxMemory(b *testing.B, id string) (rss, pss int64) {
	ns, outer := "", 0
	for _, pid := range allPIDs() {
		cmd, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if strings.Contains(string(cmd), "\x00-desktop\x00"+id+"\x00") {
			ns, _ = os.Readlink(fmt.Sprintf("/proc/%d/ns/pid", pid))
			break
		}
	}
	if ns == "" {
		b.Fatalf("no X server of session %s", id)
	}
	var pids []int
	for _, pid := range allPIDs() {
		if l, _ := os.Readlink(fmt.Sprintf("/proc/%d/ns/pid", pid)); l == ns {
			pids = append(pids, pid)
			if f := statusFields(pid); strings.HasSuffix(f["NSpid"], "\t1") {
				outer, _ = strconv.Atoi(f["PPid"])
			}
		}
	}
	if outer > 0 {
		pids = append(pids, outer)
	}
	var each []string
	for _, pid := range pids {
		f := statusFields(pid)
		rss += kib(f["VmRSS"])
		each = append(each, strings.TrimSpace(f["Name"])+" "+strings.TrimSpace(f["VmRSS"]))
		roll, _ := os.ReadFile(fmt.Sprintf("/proc/%d/smaps_rollup", pid))
		for _, line := range strings.Split(string(roll), "\n") {
			if v, ok := strings.CutPrefix(line, "Pss:"); ok {
				pss += kib(v)
			}
		}
	}
	b.Logf("session %s: RSS %d KiB, PSS %d KiB over %d processes (%s)", id, rss, pss, len(pids), strings.Join(each, ", "))
	return rss, pss
}

func allPIDs() []int {
	entries, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range entries {
		if pid, err := strconv.Atoi(e.Name()); err == nil {
			out = append(out, pid)
		}
	}
	return out
}

// statusFields are the "Name:\tvalue" lines of /proc/<pid>/status.
func statusFields(pid int) map[string]string {
	f, err := os.Open(filepath.Join("/proc", strconv.Itoa(pid), "status"))
	if err != nil {
		return nil
	}
	defer f.Close()
	out := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), ":"); ok {
			out[k] = strings.TrimRight(v, " ")
		}
	}
	return out
}

// kib reads "  1234 kB".
func kib(v string) int64 {
	n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
	return n
}

// screenshots reads a full framebuffer of each desktop, one after another.
func screenshots(vnc opennimble.VNCDialer, studio string, ids []string) error {
	for _, id := range ids {
		if err := screenshot(vnc, studio, id); err != nil {
			return fmt.Errorf("desktop of %s: %w", id, err)
		}
	}
	return nil
}

// screenshot speaks enough RFB 3.8 (security None, raw encoding) to read
// one full framebuffer update of the session's desktop within 30 seconds.
func screenshot(vnc opennimble.VNCDialer, studio, id string) error {
	cx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := vnc.DialVNC(cx, id, studio)
	if err != nil {
		return err
	}
	defer conn.Close()
	deadline, _ := cx.Deadline()
	if err := conn.SetDeadline(deadline); err != nil {
		return err
	}
	r := bufio.NewReader(conn)
	read := func(n int) ([]byte, error) {
		buf := make([]byte, n)
		_, err := io.ReadFull(r, buf)
		return buf, err
	}
	version, err := read(12)
	if err != nil || !strings.HasPrefix(string(version), "RFB 003.") {
		return fmt.Errorf("banner %q: %v", version, err)
	}
	if _, err := conn.Write([]byte("RFB 003.008\n")); err != nil {
		return err
	}
	n, err := read(1)
	if err != nil || n[0] == 0 {
		return fmt.Errorf("security types: %v", err)
	}
	types, err := read(int(n[0]))
	if err != nil || !slices.Contains(types, 1) {
		return fmt.Errorf("security types %v: %v", types, err)
	}
	// Security None, then a shared ClientInit.
	if _, err := conn.Write([]byte{1}); err != nil {
		return err
	}
	if res, err := read(4); err != nil || be.BigEndian.Uint32(res) != 0 {
		return fmt.Errorf("security result %v: %v", res, err)
	}
	if _, err := conn.Write([]byte{1}); err != nil {
		return err
	}
	init, err := read(24)
	if err != nil {
		return err
	}
	w, h, bpp := be.BigEndian.Uint16(init[0:]), be.BigEndian.Uint16(init[2:]), int(init[4])
	if _, err := read(int(be.BigEndian.Uint32(init[20:]))); err != nil {
		return err
	}
	req := []byte{3, 0, 0, 0, 0, 0, 0, 0, 0, 0}
	be.BigEndian.PutUint16(req[6:], w)
	be.BigEndian.PutUint16(req[8:], h)
	if _, err := conn.Write(req); err != nil {
		return err
	}
	// The update may come in several messages and rectangles; it is whole
	// once they cover the framebuffer's area.
	for covered := 0; covered < int(w)*int(h); {
		head, err := read(4)
		if err != nil {
			return err
		}
		if head[0] != 0 {
			return fmt.Errorf("server message %d before the framebuffer update", head[0])
		}
		for range be.BigEndian.Uint16(head[2:]) {
			rect, err := read(12)
			if err != nil {
				return err
			}
			rw, rh := int(be.BigEndian.Uint16(rect[4:])), int(be.BigEndian.Uint16(rect[6:]))
			if enc := int32(be.BigEndian.Uint32(rect[8:])); enc != 0 {
				return fmt.Errorf("rectangle in encoding %d, want raw", enc)
			}
			if _, err := r.Discard(rw * rh * bpp / 8); err != nil {
				return err
			}
			covered += rw * rh
		}
	}
	return nil
}
