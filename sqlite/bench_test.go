package sqlite_test

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/opennimble/opennimble"
	"github.com/opennimble/opennimble/sqlite"
)

// benchRows is how many sessions BenchmarkListPage seeds (and as many
// backups); OPENNIMBLE_BENCH_ROWS overrides it, for example with 1000000.
func benchRows(b *testing.B) int {
	n := 100_000
	if v := os.Getenv("OPENNIMBLE_BENCH_ROWS"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil {
			b.Fatalf("OPENNIMBLE_BENCH_ROWS: %v", err)
		}
	}
	return n
}

const (
	benchStudios  = 100
	benchProfiles = 10 // per studio
	benchOwners   = 20 // per studio
	benchBatch    = 10_000
)

// seedBench stores n sessions spread over studios, profiles and owners, each
// with one backup, through Put in large transactions.
func seedBench(b *testing.B, s *sqlite.Store, n int) {
	ctx := b.Context()
	pad := strings.Repeat("x", 200)
	start := time.Now()
	for lo := 0; lo < n; lo += benchBatch {
		err := s.Update(ctx, func(tx opennimble.Tx) error {
			for i := lo; i < min(lo+benchBatch, n); i++ {
				studio := fmt.Sprintf("studio-%d", i%benchStudios)
				state := "READY"
				if i%10 == 0 {
					state = "DELETED"
				}
				sess := &opennimble.Record{
					Kind: opennimble.KindStreamingSession, ID: fmt.Sprintf("session-%d", i),
					StudioID: studio, ParentID: fmt.Sprintf("%s-profile-%d", studio, i/benchStudios%benchProfiles),
					OwnedBy: fmt.Sprintf("%s-user-%d", studio, i/benchStudios%benchOwners), State: state,
					Data: fmt.Appendf(nil, `{"sessionId":"session-%d","pad":%q}`, i, pad),
				}
				if err := tx.Put(ctx, sess); err != nil {
					return err
				}
				backup := &opennimble.Record{
					Kind: opennimble.KindStreamingBackup, ID: fmt.Sprintf("backup-%d", i),
					StudioID: studio, ParentID: sess.ID, OwnedBy: sess.OwnedBy, State: "READY",
					Data: fmt.Appendf(nil, `{"backupId":"backup-%d","pad":%q}`, i, pad),
				}
				if err := tx.Put(ctx, backup); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatalf("seed: %v", err)
		}
	}
	b.Logf("seeded %d sessions and %d backups in %v", n, n, time.Since(start).Round(time.Millisecond))
}

// BenchmarkListPage lists pages of 100 records, from random cursors, out of
// a large table. A page must cost about the same whatever the table size.
func BenchmarkListPage(b *testing.B) {
	n := benchRows(b)
	s, err := sqlite.Open(b.Context(), filepath.Join(b.TempDir(), "bench.db"), sqlite.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	seedBench(b, s, n)
	if err := s.Checkpoint(b.Context()); err != nil {
		b.Fatal(err)
	}
	maxSeq := int64(2 * n)
	rng := rand.New(rand.NewPCG(1, 2))
	studio := func() string { return fmt.Sprintf("studio-%d", rng.IntN(benchStudios)) }
	k := opennimble.KindStreamingSession
	cases := []struct {
		name  string
		query func() opennimble.ListQuery
	}{
		{"Kind", func() opennimble.ListQuery {
			return opennimble.ListQuery{Kind: k, After: rng.Int64N(maxSeq / 2)}
		}},
		{"Studio", func() opennimble.ListQuery {
			return opennimble.ListQuery{Kind: k, StudioID: studio(), ExcludeStates: []string{"DELETED"}, After: rng.Int64N(maxSeq / 2)}
		}},
		{"StudioDescending", func() opennimble.ListQuery {
			return opennimble.ListQuery{Kind: k, StudioID: studio(), ExcludeStates: []string{"DELETED"}, Descending: true}
		}},
		{"StudioOwner", func() opennimble.ListQuery {
			st := studio()
			return opennimble.ListQuery{Kind: k, StudioID: st, OwnedBy: st + "-user-3", States: []string{"READY"}}
		}},
		{"Parent", func() opennimble.ListQuery {
			st := studio()
			return opennimble.ListQuery{Kind: k, StudioID: st, ParentID: st + "-profile-7"}
		}},
		{"BackupsOfSession", func() opennimble.ListQuery {
			return opennimble.ListQuery{Kind: opennimble.KindStreamingBackup, ParentID: fmt.Sprintf("session-%d", rng.IntN(n))}
		}},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			got := 0
			for b.Loop() {
				q := c.query()
				q.Limit = 100
				err := s.View(b.Context(), func(tx opennimble.Tx) error {
					rs, err := tx.List(b.Context(), q)
					got += len(rs)
					return err
				})
				if err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(got)/float64(b.N), "records/op")
		})
	}
	b.Run("CountStudio", func(b *testing.B) {
		for b.Loop() {
			err := s.View(b.Context(), func(tx opennimble.Tx) error {
				_, err := tx.Count(b.Context(), opennimble.ListQuery{Kind: k, StudioID: studio()})
				return err
			})
			if err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkUpdate measures one acknowledged (synced) write.
func BenchmarkUpdate(b *testing.B) {
	for _, sync := range []string{"full", "normal"} {
		b.Run(sync, func(b *testing.B) {
			s, err := sqlite.Open(b.Context(), filepath.Join(b.TempDir(), "bench.db"), sqlite.Options{Sync: sync})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			i := 0
			for b.Loop() {
				i++
				err := s.Update(b.Context(), func(tx opennimble.Tx) error {
					return tx.Put(b.Context(), &opennimble.Record{
						Kind: opennimble.KindStreamingSession, ID: strconv.Itoa(i), StudioID: "studio",
						Data: []byte(`{"sessionId":"x"}`),
					})
				})
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
