package postgres_test

import (
	"fmt"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/opennimble/opennimble"
)

// BenchmarkUpdate measures one committed write (a Put), one at a time and
// from many goroutines at once.
func BenchmarkUpdate(b *testing.B) {
	s := open(b, cluster.Database(b))
	defer s.Close()
	var n atomic.Int64
	put := func() error {
		i := n.Add(1)
		return s.Update(b.Context(), func(tx opennimble.Tx) error {
			return tx.Put(b.Context(), &opennimble.Record{
				Kind: opennimble.KindStreamingSession, ID: strconv.FormatInt(i, 10), StudioID: "studio",
				Data: []byte(`{"sessionId":"x"}`),
			})
		})
	}
	b.Run("serial", func(b *testing.B) {
		for b.Loop() {
			if err := put(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.SetParallelism(8)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if err := put(); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

// BenchmarkView measures a read transaction of one Get, as a polling
// client's GetStreamingSession costs.
func BenchmarkView(b *testing.B) {
	s := open(b, cluster.Database(b))
	defer s.Close()
	ctx := b.Context()
	err := s.Update(ctx, func(tx opennimble.Tx) error {
		for i := range 1000 {
			r := &opennimble.Record{Kind: opennimble.KindStreamingSession, ID: fmt.Sprint("s-", i), StudioID: "studio", Data: []byte("{}")}
			if err := tx.Put(ctx, r); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	var n atomic.Int64
	get := func() error {
		id := fmt.Sprint("s-", n.Add(1)%1000)
		return s.View(ctx, func(tx opennimble.Tx) error {
			_, err := tx.Get(ctx, opennimble.KindStreamingSession, id)
			return err
		})
	}
	b.Run("serial", func(b *testing.B) {
		for b.Loop() {
			if err := get(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.SetParallelism(8)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if err := get(); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

// BenchmarkClaimComplete measures a lifecycle job's round: enqueue (in an
// Update), claim and complete.
func BenchmarkClaimComplete(b *testing.B) {
	s := open(b, cluster.Database(b))
	defer s.Close()
	ctx := b.Context()
	i := 0
	for b.Loop() {
		i++
		id := strconv.Itoa(i)
		err := s.Update(ctx, func(tx opennimble.Tx) error {
			return tx.EnqueueJob(ctx, opennimble.KindStreamingSession, id, time.Now())
		})
		if err != nil {
			b.Fatal(err)
		}
		jobs, err := s.ClaimJobs(ctx, "w", time.Now(), time.Minute, 1)
		if err != nil || len(jobs) != 1 {
			b.Fatal(jobs, err)
		}
		if err := s.CompleteJob(ctx, jobs[0]); err != nil {
			b.Fatal(err)
		}
	}
}
