package sqlite

import (
	"database/sql"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opennimble/opennimble"
	"github.com/opennimble/opennimble/sqlstore"
)

func openInternal(t *testing.T, opts Options) *Store {
	t.Helper()
	s, err := Open(t.Context(), filepath.Join(t.TempDir(), "db"), opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func pragma(t *testing.T, db *sql.DB, name string) string {
	t.Helper()
	var v string
	if err := db.QueryRowContext(t.Context(), "PRAGMA "+name).Scan(&v); err != nil {
		t.Fatalf("PRAGMA %s: %v", name, err)
	}
	return v
}

// TestPragmas checks the settings every connection must carry, on more
// connections than one so that a setting applied to the first only shows.
func TestPragmas(t *testing.T) {
	// The writer never flushes in COMMIT (synchronous=NORMAL); with "full"
	// the store flushes the WAL after it (walsync.go).
	for _, tc := range []struct {
		sync, want string
		flushes    bool
	}{{"", "1", true}, {"full", "1", true}, {"normal", "1", false}} {
		s := openInternal(t, Options{Sync: tc.sync, Readers: 3})
		if got := s.syncer != nil; got != tc.flushes {
			t.Errorf("sync %q: flushes the WAL after commits: %v, want %v", tc.sync, got, tc.flushes)
		}
		for name, db := range map[string]*sql.DB{"writer": s.writer, "reader": s.reader} {
			conns := make([]*sql.Conn, 0, 3)
			for range cap(conns) {
				if name == "writer" && len(conns) == 1 {
					break
				}
				c, err := db.Conn(t.Context())
				if err != nil {
					t.Fatal(err)
				}
				conns = append(conns, c)
			}
			for _, c := range conns {
				check := func(p, want string) {
					var v string
					if err := c.QueryRowContext(t.Context(), "PRAGMA "+p).Scan(&v); err != nil {
						t.Fatalf("PRAGMA %s: %v", p, err)
					}
					if !strings.EqualFold(v, want) {
						t.Errorf("sync %q %s: %s = %s, want %s", tc.sync, name, p, v, want)
					}
				}
				check("journal_mode", "wal")
				check("foreign_keys", "1")
				check("busy_timeout", "5000")
				if name == "writer" {
					check("synchronous", tc.want)
					check("query_only", "0")
					check("temp_store", "2")
				} else {
					check("query_only", "1")
				}
				c.Close()
			}
		}
	}
}

// TestWriterTakesLockAtBegin checks that write transactions are BEGIN
// IMMEDIATE: a second connection cannot start writing while one is open.
func TestWriterTakesLockAtBegin(t *testing.T) {
	s := openInternal(t, Options{BusyTimeout: time.Millisecond})
	other, err := sql.Open("sqlite", dsn(s.path, time.Millisecond, true))
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	err = s.Update(t.Context(), func(opennimble.Tx) error {
		// The writer holds the lock although fn has not written anything.
		_, err := other.ExecContext(t.Context(), `INSERT INTO meta (key, value) VALUES ('x', 'y')`)
		if !isBusy(err) {
			t.Errorf("write from another connection during Update: %v, want SQLITE_BUSY", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestUpdateRetriesBusy checks that Update starts over when another process
// holds the lock past the busy timeout, and gives up after busyRetries.
func TestUpdateRetriesBusy(t *testing.T) {
	s := openInternal(t, Options{BusyTimeout: time.Millisecond})
	other, err := sql.Open("sqlite", dsn(s.path, time.Millisecond, true))
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	lock, err := other.BeginTx(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	put := func(tx opennimble.Tx) error { return tx.PutMeta(t.Context(), "k", []byte("v")) }

	busy := 0
	s.onBusy = func() { busy++ }
	if err := s.Update(t.Context(), put); !isBusy(err) || busy != busyRetries-1 {
		t.Fatalf("Update under a lock that stays: %v after %d retries, want SQLITE_BUSY after %d", err, busy, busyRetries-1)
	}

	busy = 0
	s.onBusy = func() {
		if busy++; busy == 2 {
			lock.Rollback()
		}
	}
	if err := s.Update(t.Context(), put); err != nil || busy != 2 {
		t.Fatalf("Update under a lock released after 2 retries: %v after %d retries", err, busy)
	}
}

// TestListPlans checks that every list statement is an index range scan in
// seq order, with no sort and no full scan, and that counting reads only the
// index range too.
func TestListPlans(t *testing.T) {
	s := openInternal(t, Options{})
	for i, ix := range sqlstore.ListIndexes {
		for desc, q := range []string{dialect.ListSQL(i, false), dialect.ListSQL(i, true)} {
			p := plan(t, s, q, "k", "s", "p", "o", `["READY"]`, `["DELETED"]`, 42, 100)
			op := map[int]string{0: "seq>?", 1: "seq<?"}[desc]
			if !strings.HasPrefix(p, "SEARCH resources USING INDEX "+ix.Name+" (kind=? AND") ||
				!strings.Contains(p, op) || strings.Contains(p, "TEMP B-TREE") {
				t.Errorf("%s: plan %q", ix.Name, p)
			}
		}
		p := plan(t, s, dialect.CountSQL(i), "k", "s", "p", "o", nil, nil)
		if !strings.HasPrefix(p, "SEARCH resources USING INDEX "+ix.Name+" (kind=?") {
			t.Errorf("count on %s: plan %q", ix.Name, p)
		}
	}
}

// plan returns the query plan of the top-level loop of q.
func plan(t *testing.T, s *Store, q string, args ...any) string {
	t.Helper()
	rows, err := s.reader.QueryContext(t.Context(), "EXPLAIN QUERY PLAN "+q, args...)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	defer rows.Close()
	var lines []string
	for rows.Next() {
		var id, parent, notused int
		var detail string
		if err := rows.Scan(&id, &parent, &notused, &detail); err != nil {
			t.Fatal(err)
		}
		if parent == 0 {
			lines = append(lines, detail)
		}
	}
	return strings.Join(lines, "; ")
}

// TestJobPlans checks that claiming and NextJobAt read jobs_by_run_at.
func TestJobPlans(t *testing.T) {
	s := openInternal(t, Options{})
	if p := plan(t, s, sqlDueJobs, 5, 10); !strings.Contains(p, "USING INDEX jobs_by_run_at (run_at<?)") {
		t.Errorf("claim: plan %q", p)
	}
	if p := plan(t, s, dialect.NextJobAtSQL()); !strings.Contains(p, "jobs_by_run_at") {
		t.Errorf("NextJobAt: plan %q", p)
	}
}
