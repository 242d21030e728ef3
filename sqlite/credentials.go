package sqlite

import (
	"context"

	"github.com/opennimble/opennimble"
)

// PutCredential stores c, replacing any credential with the same access key.
// A zero CreatedAt is set to now.
func (s *Store) PutCredential(ctx context.Context, c opennimble.Credential) error {
	return s.write(ctx, func(t *tx) error { return dialect.PutCredential(ctx, t.C, c) })
}

// PutFirstAdmin stores c if there is no administrator credential yet;
// SQLite's one writer makes the check and the insert atomic.
func (s *Store) PutFirstAdmin(ctx context.Context, c opennimble.Credential) (ok bool, err error) {
	err = s.write(ctx, func(t *tx) error {
		ok, err = dialect.PutFirstAdmin(ctx, t.C, c)
		return err
	})
	return ok, err
}

// GetCredential returns the credential with the given access key, or an
// error wrapping ErrNoRecord.
func (s *Store) GetCredential(ctx context.Context, accessKeyID string) (*opennimble.Credential, error) {
	return dialect.GetCredential(ctx, readConn{s}, accessKeyID)
}

// ListCredentials returns every credential, ordered by access key.
func (s *Store) ListCredentials(ctx context.Context) ([]opennimble.Credential, error) {
	return dialect.ListCredentials(ctx, readConn{s})
}

// DeleteCredential removes a credential, or returns an error wrapping
// ErrNoRecord if there is none with that access key.
func (s *Store) DeleteCredential(ctx context.Context, accessKeyID string) error {
	return s.write(ctx, func(t *tx) error { return dialect.DeleteCredential(ctx, t.C, accessKeyID) })
}
