package sim_test

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"

	opennimble "github.com/opennimble/opennimble"
	"github.com/opennimble/opennimble/driver/sim"
)

func openDir(t *testing.T, dir string) *sim.Driver {
	t.Helper()
	d, err := sim.New(sim.Options{Clock: newClock(), Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// lifecycle runs every kind of step on session n, leaving a mix of states
// behind: sessions running, stopped and terminated, volumes written,
// restored and deleted, backups kept and deleted.
func lifecycle(t *testing.T, d *sim.Driver, n int) {
	id, bak := fmt.Sprintf("ses-%d", n), fmt.Sprintf("bak-%d", n)
	steps := []func() error{
		func() error { return second(d.Provision(ctx, provision(id, "t1"))) },
		func() error { d.Write(id, "work "+id); return nil },
		func() error { return second(d.Stop(ctx, opennimble.StopParams{SessionID: id, Token: "t2"})) },
		func() error {
			return second(d.Snapshot(ctx, opennimble.SnapshotParams{SessionID: id, BackupID: bak, VolumeGeneration: 1}))
		},
		func() error {
			return second(d.Snapshot(ctx, opennimble.SnapshotParams{SessionID: id, BackupID: bak + "-old", VolumeGeneration: 1}))
		},
		func() error {
			return second(d.DeleteBackup(ctx, opennimble.DeleteBackupParams{BackupID: bak + "-old"}))
		},
		func() error {
			return second(d.Start(ctx, opennimble.StartParams{SessionID: id, Token: "t3", Volume: opennimble.Volume{Generation: 2}, ImageID: "img-2"}))
		},
		func() error {
			return second(d.Restore(ctx, opennimble.RestoreParams{SessionID: id, BackupID: bak, Token: "t4", Volume: opennimble.Volume{Generation: 3}}))
		},
		func() error { return second(d.Stop(ctx, opennimble.StopParams{SessionID: id, Token: "t5"})) },
		func() error {
			return second(d.DeleteVolume(ctx, opennimble.DeleteVolumeParams{SessionID: id, Token: "t6", VolumeGeneration: 3}))
		},
		func() error { return second(d.Terminate(ctx, opennimble.TerminateParams{SessionID: id, Token: "t7"})) },
	}
	// Session n stops after step n mod the steps: every state is left.
	for _, step := range steps[:1+n%len(steps)] {
		if err := step(); err != nil {
			t.Error(err)
		}
	}
}

// A restart after many steps, run at once by many callers while the log is
// compacted, restores exactly what the driver held: sessions, volumes,
// backups and removals.
func TestRestartRestoresExactly(t *testing.T) {
	defer sim.SetCompactLogAbove(4 << 10)()
	dir := t.TempDir()
	d := openDir(t, dir)
	const sessions = 200
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for n := w; n < sessions; n += 8 {
				lifecycle(t, d, n)
			}
		})
	}
	wg.Wait()
	want := d.Dump()
	if len(want.Sessions) != sessions || len(want.Backups) == 0 {
		t.Fatalf("%d sessions, %d backups", len(want.Sessions), len(want.Backups))
	}
	if got, err := sim.ReadState(dir); err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("ReadState = %v, %v; want %v", got, err, want)
	}
	if got := openDir(t, dir).Dump(); !reflect.DeepEqual(got, want) {
		t.Fatalf("after restart:\n%v\nwant\n%v", got, want)
	}
	// And again, from the log the restart compacted.
	if got := openDir(t, dir).Dump(); !reflect.DeepEqual(got, want) {
		t.Fatalf("after a second restart:\n%v\nwant\n%v", got, want)
	}
}

// A line torn by a kill mid-write is ignored (its step did not report
// done), and the log goes on after it.
func TestTornLastLineIgnored(t *testing.T) {
	dir := t.TempDir()
	d := openDir(t, dir)
	lifecycle(t, d, 4) // provisioned, written, stopped, backed up twice
	want := d.Dump()
	f, err := os.OpenFile(filepath.Join(dir, "state.log"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(`{"event":"backup","key":"bak-4-old","state":nu`)
	f.Close()
	d = openDir(t, dir)
	if got := d.Dump(); !reflect.DeepEqual(got, want) {
		t.Fatalf("after a torn line:\n%v\nwant\n%v", got, want)
	}
	if _, err := d.DeleteBackup(ctx, opennimble.DeleteBackupParams{BackupID: "bak-4-old"}); err != nil {
		t.Fatal(err)
	}
	if _, ok := openDir(t, dir).Backup("bak-4-old"); ok {
		t.Fatal("the step after the torn line was lost")
	}
}

// Compaction keeps the live state and shrinks the log: at load, and while
// the driver runs once the log passes the threshold.
func TestCompaction(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "state.log")
	size := func() int64 {
		fi, err := os.Stat(log)
		if err != nil {
			t.Fatal(err)
		}
		return fi.Size()
	}
	d := openDir(t, dir)
	lifecycle(t, d, 10)
	lifecycle(t, d, 3)
	for i := range 500 {
		d.Write("ses-3", fmt.Sprint("version ", i))
	}
	want, grown := d.Dump(), size()
	d = openDir(t, dir)
	if got := d.Dump(); !reflect.DeepEqual(got, want) {
		t.Fatalf("after compaction:\n%v\nwant\n%v", got, want)
	}
	live := size()
	if live*20 > grown {
		t.Fatalf("compacted to %d bytes from %d", live, grown)
	}

	defer sim.SetCompactLogAbove(4 << 10)()
	for i := range 2000 {
		d.Write("ses-3", fmt.Sprint("version ", i))
		if n := size(); n > 8<<10+live {
			t.Fatalf("log of %d bytes after %d writes", n, i)
		}
	}
	if v, _ := d.Volume("ses-3"); v.Data != "version 1999" {
		t.Fatalf("volume %+v", v)
	}
	want = d.Dump()
	if got := openDir(t, dir).Dump(); !reflect.DeepEqual(got, want) {
		t.Fatalf("after compactions:\n%v\nwant\n%v", got, want)
	}
}

// writeOldLayout writes what a driver kept before state.log: a file per
// session and per backup, and a write's leftover.
func writeOldLayout(t *testing.T, dir string) sim.State {
	t.Helper()
	files := map[string]string{
		"sessions/ses-1.json":         `{"instance":"stopped","volume":{"generation":2,"data":"work","source":"image:img-1"}}`,
		"sessions/ses-2.json":         `{"instance":"terminated"}`,
		"backups/bak-1.json":          `{"sessionId":"ses-1","generation":2,"data":"work"}`,
		"backups/bak-1.json.4242.tmp": `{"sessionId":"ses-1","gen`,
	}
	for name, body := range files {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return sim.State{
		Sessions: []sim.SessionState{
			{ID: "ses-1", Instance: sim.InstanceStopped, Volume: &sim.VolumeState{Generation: 2, Data: "work", Source: "image:img-1"}},
			{ID: "ses-2", Instance: sim.InstanceTerminated},
		},
		Backups: []sim.BackupState{{ID: "bak-1", SessionID: "ses-1", Generation: 2, Data: "work"}},
	}
}

// A folder of the older layout, a file per object, is read into the log and
// its files removed; with Options.Shared into the journal.
func TestMigratesOldLayout(t *testing.T) {
	for _, shared := range []bool{false, true} {
		t.Run(fmt.Sprint("shared=", shared), func(t *testing.T) {
			dir := t.TempDir()
			want := writeOldLayout(t, dir)
			o := sim.Options{Clock: newClock(), Dir: dir, Shared: shared}
			d, err := sim.New(o)
			if err != nil {
				t.Fatal(err)
			}
			if got := d.Dump(); !reflect.DeepEqual(got, want) {
				t.Fatalf("migrated:\n%v\nwant\n%v", got, want)
			}
			for _, sub := range []string{"sessions", "backups"} {
				if _, err := os.Stat(filepath.Join(dir, sub)); !os.IsNotExist(err) {
					t.Errorf("%s/ is still there: %v", sub, err)
				}
			}
			if _, err := d.Start(ctx, opennimble.StartParams{SessionID: "ses-1", Token: "t", Volume: opennimble.Volume{Generation: 2}}); err != nil {
				t.Fatal(err)
			}
			want.Sessions[0].Instance = sim.InstanceRunning
			d2, err := sim.New(o)
			if err != nil {
				t.Fatal(err)
			}
			if got := d2.Dump(); !reflect.DeepEqual(got, want) {
				t.Fatalf("after a restart:\n%v\nwant\n%v", got, want)
			}
			if got, err := sim.ReadState(dir); err != nil || !reflect.DeepEqual(got, want) {
				t.Fatalf("ReadState = %v, %v; want %v", got, err, want)
			}
			if names, _ := os.ReadDir(dir); !shared && len(names) != 1 {
				t.Errorf("folder holds %v, want state.log only", names)
			}
			if log, _ := os.ReadFile(filepath.Join(dir, "ops.log")); shared && !strings.Contains(string(log), `"key":"bak-1"`) {
				t.Errorf("journal without the backup:\n%s", log)
			}
		})
	}
}

// A step whose state could not be written is not done: it runs again, and
// what it did is kept once it can be.
func TestUnwrittenStepRunsAgain(t *testing.T) {
	dir := t.TempDir()
	d := openDir(t, dir)
	lifecycle(t, d, 1) // provisioned and written
	repair := sim.BreakLog(d)
	stop := opennimble.StopParams{SessionID: "ses-1", Token: "t"}
	if p, err := d.Stop(ctx, stop); err == nil || p.Done {
		t.Fatalf("stop with a broken log = %+v, %v; want an error", p, err)
	}
	if got := openDir(t, dir).Instance("ses-1"); got != sim.InstanceRunning {
		t.Fatalf("instance %q on disk, want it still running", got)
	}
	repair()
	if p, err := d.Stop(ctx, stop); err != nil || !p.Done {
		t.Fatalf("stop again = %+v, %v", p, err)
	}
	if got := openDir(t, dir).Instance("ses-1"); got != sim.InstanceStopped {
		t.Fatalf("instance %q after a restart, want stopped", got)
	}
}
