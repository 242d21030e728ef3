package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/opennimble/opennimble"
)

// PutCredential stores c, replacing any credential with the same access key.
// A zero CreatedAt is set to now.
func (s *Store) PutCredential(ctx context.Context, c opennimble.Credential) error {
	return dialect.PutCredential(ctx, poolConn{s.pool}, c)
}

// firstCredentialLock is the advisory lock key that serialises
// PutFirstAdmin across replicas: "opfc" in ASCII.
const firstCredentialLock = 0x6f706663

// PutFirstAdmin stores c if there is no administrator credential yet. Under
// READ COMMITTED two replicas could both see none, so the check and the
// insert run under a transaction-scoped advisory lock.
func (s *Store) PutFirstAdmin(ctx context.Context, c opennimble.Credential) (ok bool, err error) {
	err = pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.ReadCommitted}, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(firstCredentialLock)); err != nil {
			return fmt.Errorf("postgres: put first administrator %s: %w", c.AccessKeyID, err)
		}
		ok, err = dialect.PutFirstAdmin(ctx, poolConn{tx}, c)
		return err
	})
	return ok, err
}

// GetCredential returns the credential with the given access key, or an
// error wrapping ErrNoRecord.
func (s *Store) GetCredential(ctx context.Context, accessKeyID string) (*opennimble.Credential, error) {
	return dialect.GetCredential(ctx, poolConn{s.pool}, accessKeyID)
}

// ListCredentials returns every credential, ordered by access key.
func (s *Store) ListCredentials(ctx context.Context) ([]opennimble.Credential, error) {
	return dialect.ListCredentials(ctx, poolConn{s.pool})
}

// DeleteCredential removes a credential, or returns an error wrapping
// ErrNoRecord if there is none with that access key.
func (s *Store) DeleteCredential(ctx context.Context, accessKeyID string) error {
	return dialect.DeleteCredential(ctx, poolConn{s.pool}, accessKeyID)
}
