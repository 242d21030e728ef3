package sqlite_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/opennimble/opennimble"
	"github.com/opennimble/opennimble/sqlite"
)

func TestResetKeepsCredentialsAndMeta(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "db"), sqlite.Options{Sync: "normal"})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	now := time.Now()
	if err := st.PutCredential(ctx, opennimble.Credential{AccessKeyID: "AK", SecretAccessKey: "s", PrincipalID: "p", CreatedAt: now}); err != nil {
		t.Fatal(err)
	}
	put := func(id string) *opennimble.Record {
		r := &opennimble.Record{Kind: opennimble.KindStudio, ID: id, State: "READY"}
		err := st.Update(ctx, func(tx opennimble.Tx) error {
			if err := tx.Put(ctx, r); err != nil {
				return err
			}
			if err := tx.EnqueueJob(ctx, r.Kind, id, now); err != nil {
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
	put("stu-1")
	second := put("stu-2")
	if err := st.Reset(ctx); err != nil {
		t.Fatal(err)
	}
	err = st.View(ctx, func(tx opennimble.Tx) error {
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
	if _, ok, err := st.NextJobAt(ctx); err != nil || ok {
		t.Errorf("jobs after reset: %v, %v", ok, err)
	}
	if c, err := st.GetCredential(ctx, "AK"); err != nil || c.PrincipalID != "p" {
		t.Errorf("credential after reset: %+v, %v", c, err)
	}
	// The sequence starts again: the same inserts get the same seq.
	if again := put("stu-3"); again.Seq != second.Seq-1 {
		t.Errorf("seq after reset = %d, want %d", again.Seq, second.Seq-1)
	}
}
