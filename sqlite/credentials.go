package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/opennimble/opennimble"
)

var (
	sqlPutCredential = stmt(`
		INSERT INTO credentials (access_key_id, secret, principal_id, admin, created_at)
		VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (access_key_id) DO UPDATE SET
			secret = excluded.secret, principal_id = excluded.principal_id,
			admin = excluded.admin, created_at = excluded.created_at`)
	sqlGetCredential = stmt(`
		SELECT access_key_id, secret, principal_id, admin, created_at
		FROM credentials WHERE access_key_id = ?`)
	sqlListCredentials = stmt(`
		SELECT access_key_id, secret, principal_id, admin, created_at
		FROM credentials ORDER BY access_key_id`)
	sqlDeleteCredential = stmt(`DELETE FROM credentials WHERE access_key_id = ?`)
	sqlPutFirstAdmin    = stmt(`
		INSERT INTO credentials (access_key_id, secret, principal_id, admin, created_at)
		SELECT ?, ?, ?, ?, ? WHERE NOT EXISTS (SELECT 1 FROM credentials WHERE admin <> 0)`)
)

// PutCredential stores c, replacing any credential with the same access key.
// A zero CreatedAt is set to now.
func (s *Store) PutCredential(ctx context.Context, c opennimble.Credential) error {
	if c.CreatedAt.IsZero() {
		c.CreatedAt = time.Now()
	}
	err := s.write(ctx, func(t *tx) error {
		_, err := t.exec(ctx, sqlPutCredential, c.AccessKeyID, c.SecretAccessKey, c.PrincipalID, boolInt(c.Admin), toNanos(c.CreatedAt))
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlite: put credential %s: %w", c.AccessKeyID, err)
	}
	return nil
}

// PutFirstAdmin stores c if there is no administrator credential yet;
// SQLite's one writer makes the check and the insert atomic.
func (s *Store) PutFirstAdmin(ctx context.Context, c opennimble.Credential) (bool, error) {
	if c.CreatedAt.IsZero() {
		c.CreatedAt = time.Now()
	}
	var n int64
	err := s.write(ctx, func(t *tx) error {
		res, err := t.exec(ctx, sqlPutFirstAdmin, c.AccessKeyID, c.SecretAccessKey, c.PrincipalID, boolInt(c.Admin), toNanos(c.CreatedAt))
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return false, fmt.Errorf("sqlite: put first administrator %s: %w", c.AccessKeyID, err)
	}
	return n == 1, nil
}

// GetCredential returns the credential with the given access key, or an
// error wrapping ErrNoRecord.
func (s *Store) GetCredential(ctx context.Context, accessKeyID string) (*opennimble.Credential, error) {
	row := s.readerStmts[sqlGetCredential].QueryRowContext(ctx, accessKeyID)
	c, err := scanCredential(row)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("sqlite: credential %s: %w", accessKeyID, opennimble.ErrNoRecord)
	}
	if err != nil {
		return nil, fmt.Errorf("sqlite: credential %s: %w", accessKeyID, err)
	}
	return &c, nil
}

// ListCredentials returns every credential, ordered by access key.
func (s *Store) ListCredentials(ctx context.Context) ([]opennimble.Credential, error) {
	rows, err := s.readerStmts[sqlListCredentials].QueryContext(ctx)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list credentials: %w", err)
	}
	defer rows.Close()
	var out []opennimble.Credential
	for rows.Next() {
		c, err := scanCredential(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlite: list credentials: %w", err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: list credentials: %w", err)
	}
	return out, nil
}

// DeleteCredential removes a credential, or returns an error wrapping
// ErrNoRecord if there is none with that access key.
func (s *Store) DeleteCredential(ctx context.Context, accessKeyID string) error {
	err := s.write(ctx, func(t *tx) error {
		res, err := t.exec(ctx, sqlDeleteCredential, accessKeyID)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return opennimble.ErrNoRecord
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("sqlite: delete credential %s: %w", accessKeyID, err)
	}
	return nil
}

func scanCredential(row scanner) (opennimble.Credential, error) {
	var c opennimble.Credential
	var created int64
	err := row.Scan(&c.AccessKeyID, &c.SecretAccessKey, &c.PrincipalID, &c.Admin, &created)
	c.CreatedAt = fromNanos(created)
	return c, err
}
