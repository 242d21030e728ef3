package sqlstore

import (
	"context"
	"errors"
	"time"

	"github.com/opennimble/opennimble"
)

// Credentials are read and written outside Update, by the store's own
// means (SQLite's writer, PostgreSQL's pool); these are the statements and
// their Go, on whatever Conn the store gives.

// credential checks c and fills a zero CreatedAt with now.
func (d *Dialect) credential(c *opennimble.Credential, op string) error {
	if c.CreatedAt.IsZero() {
		c.CreatedAt = time.Now()
	}
	if !d.storable(c.AccessKeyID, c.SecretAccessKey, c.PrincipalID) {
		return d.errorf("%s %q: a field holds a NUL byte or invalid UTF-8", op, c.AccessKeyID)
	}
	return nil
}

func (d *Dialect) credentialArgs(c opennimble.Credential) []any {
	return []any{c.AccessKeyID, c.SecretAccessKey, c.PrincipalID, c.Admin, d.Time(d.Stored(c.CreatedAt))}
}

// PutCredential stores c, replacing any credential with the same access key.
// A zero CreatedAt is set to now.
func (d *Dialect) PutCredential(ctx context.Context, conn Conn, c opennimble.Credential) error {
	if err := d.credential(&c, "put credential"); err != nil {
		return err
	}
	if _, err := conn.Exec(ctx, d.q.putCredential, d.credentialArgs(c)...); err != nil {
		return d.errorf("put credential %s: %w", c.AccessKeyID, err)
	}
	return nil
}

// PutFirstAdmin stores c if there is no administrator credential yet and
// reports whether it did. The check and the insert are one statement; the
// store makes it atomic against other writers (SQLite's single writer,
// PostgreSQL's advisory lock).
func (d *Dialect) PutFirstAdmin(ctx context.Context, conn Conn, c opennimble.Credential) (bool, error) {
	if err := d.credential(&c, "put first administrator"); err != nil {
		return false, err
	}
	n, err := conn.Exec(ctx, d.q.putFirstAdmin, d.credentialArgs(c)...)
	if err != nil {
		return false, d.errorf("put first administrator %s: %w", c.AccessKeyID, err)
	}
	return n == 1, nil
}

// GetCredential returns the credential with the given access key, or an
// error wrapping ErrNoRecord.
func (d *Dialect) GetCredential(ctx context.Context, conn Conn, accessKeyID string) (*opennimble.Credential, error) {
	if !d.storable(accessKeyID) {
		return nil, d.errorf("credential %q: %w", accessKeyID, opennimble.ErrNoRecord)
	}
	var c opennimble.Credential
	err := queryRow(ctx, conn, d.q.getCredential, []any{accessKeyID}, credentialDest(&c)...)
	if errors.Is(err, ErrNoRows) {
		return nil, d.errorf("credential %s: %w", accessKeyID, opennimble.ErrNoRecord)
	}
	if err != nil {
		return nil, d.errorf("credential %s: %w", accessKeyID, err)
	}
	return &c, nil
}

// ListCredentials returns every credential, ordered by access key.
func (d *Dialect) ListCredentials(ctx context.Context, conn Conn) ([]opennimble.Credential, error) {
	rows, err := conn.Query(ctx, d.q.listCredentials)
	if err != nil {
		return nil, d.errorf("list credentials: %w", err)
	}
	defer rows.Close()
	var out []opennimble.Credential
	for rows.Next() {
		var c opennimble.Credential
		if err := rows.Scan(credentialDest(&c)...); err != nil {
			return nil, d.errorf("list credentials: %w", err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, d.errorf("list credentials: %w", err)
	}
	return out, nil
}

// DeleteCredential removes a credential, or returns an error wrapping
// ErrNoRecord if there is none with that access key.
func (d *Dialect) DeleteCredential(ctx context.Context, conn Conn, accessKeyID string) error {
	if !d.storable(accessKeyID) {
		return d.errorf("delete credential %q: %w", accessKeyID, opennimble.ErrNoRecord)
	}
	n, err := conn.Exec(ctx, d.q.deleteCredential, accessKeyID)
	if err != nil {
		return d.errorf("delete credential %s: %w", accessKeyID, err)
	}
	if n == 0 {
		return d.errorf("delete credential %s: %w", accessKeyID, opennimble.ErrNoRecord)
	}
	return nil
}

func credentialDest(c *opennimble.Credential) []any {
	return []any{&c.AccessKeyID, &c.SecretAccessKey, &c.PrincipalID, &c.Admin, timeDest{&c.CreatedAt}}
}
