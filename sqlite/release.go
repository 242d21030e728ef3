package sqlite

import (
	"context"
	"fmt"
	"time"
)

var sqlReleaseAll = stmt(`
	UPDATE jobs SET lease_owner = NULL, lease_until = NULL, run_at = ?, next_run_at = NULL
	WHERE lease_owner IS NOT NULL`)

// ReleaseLeases frees every leased job to run at now. A server calls it when
// it starts as the only user of the database (it holds the data folder's
// lock): any lease it finds belonged to a process that died, and waiting for
// the lease to expire would only delay the recovery.
func (s *Store) ReleaseLeases(ctx context.Context, now time.Time) (int64, error) {
	var n int64
	err := s.write(ctx, func(t *tx) error {
		res, err := t.exec(ctx, sqlReleaseAll, toNanos(now))
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("sqlite: release leases: %w", err)
	}
	return n, nil
}
