package sqlite

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/opennimble/opennimble"
)

// durabilityEnv carries the database path to the child process.
const durabilityEnv = "OPENNIMBLE_SQLITE_DURABILITY_DB"

const durabilityWriters = 4

// TestDurability kills a writing process with SIGKILL in the middle of its
// work, several times, and checks after each kill that every Update the
// process saw acknowledged is in the database, whole.
func TestDurability(t *testing.T) {
	if testing.Short() {
		t.Skip("starts child processes")
	}
	path := filepath.Join(t.TempDir(), "durable.db")
	acked := map[string]string{} // record id → data
	counters := map[string]int{} // counter id → highest acknowledged value
	for round, killAfter := range []int{50, 200, 400} {
		runAndKill(t, path, round, killAfter, acked, counters)
		checkDurable(t, path, acked, counters)
	}
}

// runAndKill starts the child, reads its acknowledgements and kills it once
// it has acknowledged killAfter Updates.
func runAndKill(t *testing.T, path string, round, killAfter int, acked map[string]string, counters map[string]int) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestDurabilityChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), durabilityEnv+"="+path, "OPENNIMBLE_ROUND="+strconv.Itoa(round))
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	n := 0
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		// "ack <record id> <data> <counter id> <counter value>"
		f := strings.Fields(sc.Text())
		if len(f) != 5 || f[0] != "ack" {
			continue // test framework output
		}
		v, err := strconv.Atoi(f[4])
		if err != nil {
			t.Fatalf("bad line %q", sc.Text())
		}
		acked[f[1]] = f[2]
		counters[f[3]] = max(counters[f[3]], v)
		if n++; n == killAfter {
			cmd.Process.Signal(syscall.SIGKILL)
		}
		// Lines already in the pipe were acknowledged before the kill:
		// keep reading until EOF.
	}
	err = cmd.Wait()
	if n < killAfter {
		t.Fatalf("child acknowledged only %d updates (%v)", n, err)
	}
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("child ended with %v, want killed by SIGKILL", err)
	}
	t.Logf("round %d: killed after %d acknowledged updates", round, n)
}

func checkDurable(t *testing.T, path string, acked map[string]string, counters map[string]int) {
	t.Helper()
	ctx := context.Background()
	s, err := Open(ctx, path, Options{})
	if err != nil {
		t.Fatalf("reopen after kill: %v", err)
	}
	defer s.Close()
	var check string
	if err := s.reader.QueryRowContext(ctx, "PRAGMA integrity_check").Scan(&check); err != nil || check != "ok" {
		t.Fatalf("integrity_check = %q, %v", check, err)
	}
	err = s.View(ctx, func(tx opennimble.Tx) error {
		for id, data := range acked {
			r, err := tx.Get(ctx, opennimble.KindStreamingSession, id)
			if err != nil {
				t.Errorf("acknowledged record %s: %v", id, err)
				continue
			}
			if string(r.Data) != data {
				t.Errorf("record %s data %q, want %q", id, r.Data, data)
			}
		}
		for id, min := range counters {
			r, err := tx.Get(ctx, opennimble.KindStudio, id)
			if err != nil {
				t.Fatalf("counter %s: %v", id, err)
			}
			v, _ := strconv.Atoi(string(r.Data))
			if v < min {
				t.Errorf("counter %s = %d, acknowledged %d", id, v, min)
			}
			// Each increment inserted one record in the same transaction.
			n, err := tx.Count(ctx, opennimble.ListQuery{Kind: opennimble.KindStreamingSession, OwnedBy: id})
			if err != nil {
				return err
			}
			if n != v {
				t.Errorf("counter %s = %d but %d records: a transaction was torn", id, v, n)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestDurabilityChild is the writing process of TestDurability; it does
// nothing unless started by it. Each of its writers inserts a record and
// increments its counter in one Update, then prints what was acknowledged.
func TestDurabilityChild(t *testing.T) {
	path := os.Getenv(durabilityEnv)
	if path == "" {
		t.Skip("run by TestDurability")
	}
	ctx := context.Background()
	s, err := Open(ctx, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	round := os.Getenv("OPENNIMBLE_ROUND")
	var mu sync.Mutex
	var wg sync.WaitGroup
	deadline := time.Now().Add(time.Minute) // in case the parent is gone
	for w := range durabilityWriters {
		wg.Go(func() {
			counter := fmt.Sprintf("counter-%d", w)
			for i := 0; time.Now().Before(deadline); i++ {
				id := fmt.Sprintf("r%s-w%d-%d", round, w, i)
				data := fmt.Sprintf(`{"id":%q,"pad":%q}`, id, strings.Repeat("x", i%300))
				var value int
				err := s.Update(ctx, func(tx opennimble.Tx) error {
					c, err := tx.Get(ctx, opennimble.KindStudio, counter)
					if err != nil {
						c = &opennimble.Record{Kind: opennimble.KindStudio, ID: counter, Data: []byte("0")}
					}
					value, _ = strconv.Atoi(string(c.Data))
					value++
					c.Data = []byte(strconv.Itoa(value))
					if err := tx.Put(ctx, c); err != nil {
						return err
					}
					return tx.Put(ctx, &opennimble.Record{
						Kind: opennimble.KindStreamingSession, ID: id, OwnedBy: counter, Data: []byte(data),
					})
				})
				if err != nil {
					t.Errorf("Update: %v", err)
					return
				}
				mu.Lock()
				fmt.Fprintf(os.Stdout, "ack %s %s %s %d\n", id, data, counter, value)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
}
