package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/opennimble/opennimble"
)

const (
	sqlPutCredential = `
		INSERT INTO credentials (access_key_id, secret, principal_id, admin, created_at)
		VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (access_key_id) DO UPDATE SET
			secret = excluded.secret, principal_id = excluded.principal_id,
			admin = excluded.admin, created_at = excluded.created_at`
	sqlGetCredential = `
		SELECT access_key_id, secret, principal_id, admin, created_at
		FROM credentials WHERE access_key_id = $1`
	sqlListCredentials = `
		SELECT access_key_id, secret, principal_id, admin, created_at
		FROM credentials ORDER BY access_key_id`
	sqlDeleteCredential = `DELETE FROM credentials WHERE access_key_id = $1`
)

// PutCredential stores c, replacing any credential with the same access key.
// A zero CreatedAt is set to now.
func (s *Store) PutCredential(ctx context.Context, c opennimble.Credential) error {
	if c.CreatedAt.IsZero() {
		c.CreatedAt = time.Now()
	}
	if !storable(c.AccessKeyID, c.SecretAccessKey, c.PrincipalID) {
		return fmt.Errorf("postgres: put credential %q: a field holds a NUL byte or invalid UTF-8", c.AccessKeyID)
	}
	_, err := s.pool.Exec(ctx, sqlPutCredential, c.AccessKeyID, c.SecretAccessKey, c.PrincipalID, c.Admin, toTime(c.CreatedAt))
	if err != nil {
		return fmt.Errorf("postgres: put credential %s: %w", c.AccessKeyID, err)
	}
	return nil
}

// firstCredentialLock is the advisory lock key that serialises
// PutFirstAdmin across replicas: "opfc" in ASCII.
const firstCredentialLock = 0x6f706663

// PutFirstAdmin stores c if there is no administrator credential yet. Under
// READ COMMITTED two replicas could both see none, so the check and the
// insert run under a transaction-scoped advisory lock.
func (s *Store) PutFirstAdmin(ctx context.Context, c opennimble.Credential) (bool, error) {
	if c.CreatedAt.IsZero() {
		c.CreatedAt = time.Now()
	}
	if !storable(c.AccessKeyID, c.SecretAccessKey, c.PrincipalID) {
		return false, fmt.Errorf("postgres: put first administrator %q: a field holds a NUL byte or invalid UTF-8", c.AccessKeyID)
	}
	var n int64
	err := pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.ReadCommitted}, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(firstCredentialLock)); err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `
			INSERT INTO credentials (access_key_id, secret, principal_id, admin, created_at)
			SELECT $1, $2, $3, $4, $5 WHERE NOT EXISTS (SELECT 1 FROM credentials WHERE admin)`,
			c.AccessKeyID, c.SecretAccessKey, c.PrincipalID, c.Admin, toTime(c.CreatedAt))
		n = tag.RowsAffected()
		return err
	})
	if err != nil {
		return false, fmt.Errorf("postgres: put first administrator %s: %w", c.AccessKeyID, err)
	}
	return n == 1, nil
}

// GetCredential returns the credential with the given access key, or an
// error wrapping ErrNoRecord.
func (s *Store) GetCredential(ctx context.Context, accessKeyID string) (*opennimble.Credential, error) {
	if !storable(accessKeyID) {
		return nil, fmt.Errorf("postgres: credential %q: %w", accessKeyID, opennimble.ErrNoRecord)
	}
	c, err := scanCredential(s.pool.QueryRow(ctx, sqlGetCredential, accessKeyID))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("postgres: credential %s: %w", accessKeyID, opennimble.ErrNoRecord)
	}
	if err != nil {
		return nil, fmt.Errorf("postgres: credential %s: %w", accessKeyID, err)
	}
	return &c, nil
}

// ListCredentials returns every credential, ordered by access key.
func (s *Store) ListCredentials(ctx context.Context) ([]opennimble.Credential, error) {
	rows, err := s.pool.Query(ctx, sqlListCredentials)
	if err != nil {
		return nil, fmt.Errorf("postgres: list credentials: %w", err)
	}
	defer rows.Close()
	var out []opennimble.Credential
	for rows.Next() {
		c, err := scanCredential(rows)
		if err != nil {
			return nil, fmt.Errorf("postgres: list credentials: %w", err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: list credentials: %w", err)
	}
	return out, nil
}

// DeleteCredential removes a credential, or returns an error wrapping
// ErrNoRecord if there is none with that access key.
func (s *Store) DeleteCredential(ctx context.Context, accessKeyID string) error {
	if !storable(accessKeyID) {
		return fmt.Errorf("postgres: delete credential %q: %w", accessKeyID, opennimble.ErrNoRecord)
	}
	tag, err := s.pool.Exec(ctx, sqlDeleteCredential, accessKeyID)
	if err != nil {
		return fmt.Errorf("postgres: delete credential %s: %w", accessKeyID, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("postgres: delete credential %s: %w", accessKeyID, opennimble.ErrNoRecord)
	}
	return nil
}

func scanCredential(row scanner) (opennimble.Credential, error) {
	var c opennimble.Credential
	err := row.Scan(&c.AccessKeyID, &c.SecretAccessKey, &c.PrincipalID, &c.Admin, &c.CreatedAt)
	c.CreatedAt = c.CreatedAt.UTC()
	return c, err
}
