package storetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/opennimble/opennimble"
)

// Resetter is a store the emulator's reset control can empty.
type Resetter interface {
	opennimble.Store
	Reset(ctx context.Context) error
}

// RunReset checks Reset on s, a new, empty store: resources, jobs and
// idempotency records go; credentials and meta values stay; records are
// numbered from the start again, so that the same requests after a reset
// get the same pages.
func RunReset(t *testing.T, s Resetter) {
	ctx := t.Context()
	if err := s.PutCredential(ctx, opennimble.Credential{AccessKeyID: "AK", SecretAccessKey: "s", PrincipalID: "p"}); err != nil {
		t.Fatal(err)
	}
	put := func(id string) *opennimble.Record {
		r := &opennimble.Record{Kind: opennimble.KindStudio, ID: id, State: "READY"}
		err := s.Update(ctx, func(tx opennimble.Tx) error {
			if err := tx.Put(ctx, r); err != nil {
				return err
			}
			if err := tx.EnqueueJob(ctx, r.Kind, id, time.Now()); err != nil {
				return err
			}
			if err := tx.PutIdempotency(ctx, &opennimble.IdempotencyRecord{Key: id, RequestHash: "h"}); err != nil {
				return err
			}
			return tx.PutMeta(ctx, "k", []byte("v"))
		})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	first := put("stu-1")
	put("stu-2")
	if err := s.Reset(ctx); err != nil {
		t.Fatal(err)
	}
	err := s.View(ctx, func(tx opennimble.Tx) error {
		if n, err := tx.Count(ctx, opennimble.ListQuery{Kind: opennimble.KindStudio}); err != nil || n != 0 {
			t.Errorf("studios after reset: %d, %v", n, err)
		}
		if _, err := tx.GetIdempotency(ctx, "stu-1"); !errors.Is(err, opennimble.ErrNoRecord) {
			t.Errorf("idempotency record after reset: %v", err)
		}
		if v, err := tx.GetMeta(ctx, "k"); err != nil || string(v) != "v" {
			t.Errorf("meta after reset: %q, %v", v, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok, err := s.NextJobAt(ctx); err != nil || ok {
		t.Errorf("jobs after reset: %v, %v", ok, err)
	}
	if c, err := s.GetCredential(ctx, "AK"); err != nil || c.PrincipalID != "p" {
		t.Errorf("credential after reset: %+v, %v", c, err)
	}
	if again := put("stu-3"); again.Seq != first.Seq {
		t.Errorf("first record after reset has Seq %d, want %d", again.Seq, first.Seq)
	}
}
