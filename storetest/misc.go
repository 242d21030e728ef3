package storetest

import (
	"bytes"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/opennimble/opennimble"
)

var idempotencyTests = []test{{"PutGet", testIdempotency}, {"Expiry", testIdempotencyExpiry}}

var metaTests = []test{{"PutGet", testMeta}}

var credentialTests = []test{{"CRUD", testCredentials}, {"FirstAdminOnce", testFirstAdmin}}

func testIdempotency(t *testing.T, s opennimble.Store) {
	ctx := t.Context()
	view(t, s, func(tx opennimble.Tx) error {
		_, err := tx.GetIdempotency(ctx, "user-1/CreateStudio/token")
		wantErr(t, "GetIdempotency of a missing key", err, opennimble.ErrNoRecord)
		return nil
	})
	first := &opennimble.IdempotencyRecord{
		Key: "user-1/CreateStudio/token", RequestHash: "abc", Response: []byte(`{"studio":{}}`), CreatedAt: at(0),
	}
	update(t, s, func(tx opennimble.Tx) error { return tx.PutIdempotency(ctx, first) })

	dup := &opennimble.IdempotencyRecord{Key: first.Key, RequestHash: "other", Response: []byte("x")}
	err := s.Update(ctx, func(tx opennimble.Tx) error { return tx.PutIdempotency(ctx, dup) })
	wantErr(t, "PutIdempotency of an existing key", err, opennimble.ErrVersionConflict)

	noTime := &opennimble.IdempotencyRecord{Key: "user-2/CreateStudio/token", RequestHash: "def"}
	before := time.Now().Add(-time.Second)
	update(t, s, func(tx opennimble.Tx) error { return tx.PutIdempotency(ctx, noTime) })
	if noTime.CreatedAt.Before(before) || noTime.CreatedAt.After(time.Now().Add(time.Second)) {
		t.Errorf("PutIdempotency with zero CreatedAt set it to %v, want about now", noTime.CreatedAt)
	}

	view(t, s, func(tx opennimble.Tx) error {
		for _, want := range []*opennimble.IdempotencyRecord{first, noTime} {
			got, err := tx.GetIdempotency(ctx, want.Key)
			if err != nil {
				t.Fatalf("GetIdempotency(%s): %v", want.Key, err)
			}
			if got.Key != want.Key || got.RequestHash != want.RequestHash || !bytes.Equal(got.Response, want.Response) {
				t.Errorf("GetIdempotency(%s) = %+v, want %+v", want.Key, got, want)
			}
			sameTime(t, want.Key+" CreatedAt", got.CreatedAt, want.CreatedAt)
		}
		return nil
	})
}

func testMeta(t *testing.T, s opennimble.Store) {
	ctx := t.Context()
	getMeta := func(key string) ([]byte, error) {
		var v []byte
		err := s.View(ctx, func(tx opennimble.Tx) error {
			var err error
			v, err = tx.GetMeta(ctx, key)
			return err
		})
		return v, err
	}
	_, err := getMeta("bootstrap")
	wantErr(t, "GetMeta of a missing key", err, opennimble.ErrNoRecord)
	for _, v := range [][]byte{[]byte("one"), {0, 1, 2}, {}} {
		update(t, s, func(tx opennimble.Tx) error { return tx.PutMeta(ctx, "bootstrap", v) })
		got, err := getMeta("bootstrap")
		if err != nil || !bytes.Equal(got, v) {
			t.Errorf("GetMeta after PutMeta(%q) = %q, %v", v, got, err)
		}
	}
	update(t, s, func(tx opennimble.Tx) error { return tx.PutMeta(ctx, "other", []byte("x")) })
	if got, err := getMeta("bootstrap"); err != nil || len(got) != 0 {
		t.Errorf("PutMeta of another key changed bootstrap to %q, %v", got, err)
	}
}

func testCredentials(t *testing.T, s opennimble.Store) {
	ctx := t.Context()
	_, err := s.GetCredential(ctx, "AKIDMISSING")
	wantErr(t, "GetCredential of a missing key", err, opennimble.ErrNoRecord)
	if cs, err := s.ListCredentials(ctx); err != nil || len(cs) != 0 {
		t.Errorf("ListCredentials on an empty store = %v, %v", cs, err)
	}

	admin := opennimble.Credential{AccessKeyID: "AKIDB", SecretAccessKey: "secret-b", PrincipalID: "admin", Admin: true, CreatedAt: at(0)}
	user := opennimble.Credential{AccessKeyID: "AKIDA", SecretAccessKey: "secret-a", PrincipalID: "user-1", CreatedAt: at(time.Second)}
	for _, c := range []opennimble.Credential{admin, user} {
		if err := s.PutCredential(ctx, c); err != nil {
			t.Fatalf("PutCredential(%s): %v", c.AccessKeyID, err)
		}
	}
	wantCred := func(want opennimble.Credential) {
		t.Helper()
		got, err := s.GetCredential(ctx, want.AccessKeyID)
		if err != nil {
			t.Fatalf("GetCredential(%s): %v", want.AccessKeyID, err)
		}
		sameCredential(t, *got, want)
	}
	wantCred(admin)
	wantCred(user)
	cs, err := s.ListCredentials(ctx)
	if err != nil || len(cs) != 2 {
		t.Fatalf("ListCredentials = %v, %v", cs, err)
	}
	sameCredential(t, cs[0], user) // ordered by access key
	sameCredential(t, cs[1], admin)

	// Putting an existing key replaces it (secret rotation).
	user.SecretAccessKey, user.Admin = "secret-a2", true
	if err := s.PutCredential(ctx, user); err != nil {
		t.Fatalf("PutCredential: %v", err)
	}
	wantCred(user)

	if err := s.DeleteCredential(ctx, user.AccessKeyID); err != nil {
		t.Fatalf("DeleteCredential: %v", err)
	}
	_, err = s.GetCredential(ctx, user.AccessKeyID)
	wantErr(t, "GetCredential after delete", err, opennimble.ErrNoRecord)
	err = s.DeleteCredential(ctx, user.AccessKeyID)
	wantErr(t, "DeleteCredential of a missing key", err, opennimble.ErrNoRecord)
	cs, err = s.ListCredentials(ctx)
	if err != nil || !slices.EqualFunc(cs, []opennimble.Credential{admin}, func(a, b opennimble.Credential) bool {
		return a.AccessKeyID == b.AccessKeyID
	}) {
		t.Errorf("ListCredentials after delete = %v, %v", cs, err)
	}

	// A zero CreatedAt is set to now.
	fresh := opennimble.Credential{AccessKeyID: "AKIDC", SecretAccessKey: "s", PrincipalID: "p"}
	before := time.Now().Add(-time.Second)
	if err := s.PutCredential(ctx, fresh); err != nil {
		t.Fatalf("PutCredential: %v", err)
	}
	got, err := s.GetCredential(ctx, fresh.AccessKeyID)
	if err != nil || got.CreatedAt.Before(before) || got.CreatedAt.After(time.Now().Add(time.Second)) {
		t.Errorf("credential with zero CreatedAt read back as %+v, %v", got, err)
	}
}

func sameCredential(t *testing.T, got, want opennimble.Credential) {
	t.Helper()
	if got.AccessKeyID != want.AccessKeyID || got.SecretAccessKey != want.SecretAccessKey ||
		got.PrincipalID != want.PrincipalID || got.Admin != want.Admin || !got.CreatedAt.Equal(want.CreatedAt) {
		t.Errorf("credential = %+v, want %+v", got, want)
	}
}

// testFirstAdmin: credentials of plain users do not count as an
// administrator; of many concurrent PutFirstAdmin calls on a store without
// an administrator exactly one stores its credential, and none does
// afterwards.
func testFirstAdmin(t *testing.T, s opennimble.Store) {
	ctx := t.Context()
	user := opennimble.Credential{AccessKeyID: "AKIDUSER", SecretAccessKey: "s", PrincipalID: "alice", CreatedAt: at(0)}
	if err := s.PutCredential(ctx, user); err != nil {
		t.Fatal(err)
	}
	const n = 8
	var wg sync.WaitGroup
	created := make(chan string, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := opennimble.Credential{AccessKeyID: fmt.Sprintf("AKIDFIRST%d", i), SecretAccessKey: "s", PrincipalID: "admin", Admin: true, CreatedAt: at(0)}
			ok, err := s.PutFirstAdmin(ctx, c)
			if err != nil {
				t.Error(err)
			}
			if ok {
				created <- c.AccessKeyID
			}
		}()
	}
	wg.Wait()
	close(created)
	var ids []string
	for id := range created {
		ids = append(ids, id)
	}
	cs, err := s.ListCredentials(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var admins []string
	for _, c := range cs {
		if c.Admin {
			admins = append(admins, c.AccessKeyID)
		}
	}
	if len(ids) != 1 || len(cs) != 2 || len(admins) != 1 || admins[0] != ids[0] {
		t.Fatalf("concurrent first administrators beside a user: created %v, stored %v", ids, cs)
	}
	if ok, err := s.PutFirstAdmin(ctx, opennimble.Credential{AccessKeyID: "AKIDLATE", SecretAccessKey: "s", PrincipalID: "x", Admin: true}); ok || err != nil {
		t.Fatalf("a first administrator after one exists: %v, %v", ok, err)
	}
}

// testIdempotencyExpiry: a record holds its key until it expires, is then
// replaced by a record of the same key, and expired records are purged by
// later writes while records that have not expired stay.
func testIdempotencyExpiry(t *testing.T, s opennimble.Store) {
	ctx := t.Context()
	put := func(key, hash string, created, expires time.Duration) error {
		return s.Update(ctx, func(tx opennimble.Tx) error {
			return tx.PutIdempotency(ctx, &opennimble.IdempotencyRecord{Key: key, RequestHash: hash, Response: []byte(hash),
				CreatedAt: at(created), ExpiresAt: at(expires)})
		})
	}
	get := func(key string) (*opennimble.IdempotencyRecord, error) {
		var r *opennimble.IdempotencyRecord
		err := s.View(ctx, func(tx opennimble.Tx) (err error) {
			r, err = tx.GetIdempotency(ctx, key)
			return err
		})
		return r, err
	}
	if err := put("k", "first", 0, time.Hour); err != nil {
		t.Fatal(err)
	}
	wantErr(t, "PutIdempotency before the record expires", put("k", "second", time.Hour-time.Microsecond, 2*time.Hour), opennimble.ErrVersionConflict)
	r, err := get("k")
	if err != nil || r.RequestHash != "first" {
		t.Fatalf("GetIdempotency = %+v, %v; want the first record", r, err)
	}
	sameTime(t, "ExpiresAt", r.ExpiresAt, at(time.Hour))
	if err := put("k", "second", time.Hour, 3*time.Hour); err != nil {
		t.Fatalf("PutIdempotency once the record expired: %v", err)
	}
	if r, err := get("k"); err != nil || r.RequestHash != "second" || string(r.Response) != "second" {
		t.Fatalf("GetIdempotency after the replacement = %+v, %v", r, err)
	}
	// 100 records expire at 2h; 300 written at 4h (expiring at 5h) purge
	// them, and "k" (expiring at 3h), while nothing unexpired goes.
	for i := range 100 {
		if err := put(fmt.Sprint("old-", i), "h", 90*time.Minute, 2*time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 300 {
		if err := put(fmt.Sprint("new-", i), "h", 4*time.Hour, 5*time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	left := 0
	for i := range 100 {
		if _, err := get(fmt.Sprint("old-", i)); err == nil {
			left++
		}
	}
	if _, err := get("k"); err == nil {
		left++
	}
	if left != 0 {
		t.Errorf("%d expired records were not purged by 300 writes", left)
	}
	for i := range 300 {
		if _, err := get(fmt.Sprint("new-", i)); err != nil {
			t.Fatalf("a record that has not expired is gone: %v", err)
		}
	}
}
