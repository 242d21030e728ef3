package sigv4

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/opennimble/opennimble"
)

type countingSource struct {
	calls int
	creds map[string]opennimble.Credential
}

func (s *countingSource) GetCredential(ctx context.Context, id string) (*opennimble.Credential, error) {
	s.calls++
	c, ok := s.creds[id]
	if !ok {
		return nil, opennimble.ErrNoRecord
	}
	return &c, nil
}

func TestCachedCredentials(t *testing.T) {
	src := &countingSource{creds: map[string]opennimble.Credential{"AK": {AccessKeyID: "AK", SecretAccessKey: "s", PrincipalID: "p"}}}
	now := time.Unix(1000, 0)
	c := &CachedCredentials{Source: src, TTL: time.Second, Now: func() time.Time { return now }}
	for i := 0; i < 3; i++ {
		got, err := c.GetCredential(context.Background(), "AK")
		if err != nil || got.PrincipalID != "p" {
			t.Fatal(got, err)
		}
	}
	if src.calls != 1 {
		t.Fatalf("%d lookups, want 1", src.calls)
	}
	delete(src.creds, "AK") // deleted by another process
	now = now.Add(2 * time.Second)
	if _, err := c.GetCredential(context.Background(), "AK"); !errors.Is(err, opennimble.ErrNoRecord) {
		t.Fatalf("deleted credential still accepted after the TTL: %v", err)
	}
	// Unknown keys are not cached: a new credential works at once.
	src.creds["NEW"] = opennimble.Credential{AccessKeyID: "NEW"}
	if _, err := c.GetCredential(context.Background(), "NEW"); err != nil {
		t.Fatal(err)
	}
}
