package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	sqlitedriver "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/opennimble/opennimble"
)

// busyRetries is how many times Update starts over when the database is
// locked by another process for longer than the busy timeout.
const busyRetries = 5

// View runs fn in a read-only transaction on a snapshot of the database.
func (s *Store) View(ctx context.Context, fn func(opennimble.Tx) error) error {
	// database/sql would watch a cancellable context with a goroutine per
	// transaction: the statements check it instead (stmtCtx).
	sqlTx, err := s.reader.BeginTx(stmtCtx(ctx), &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return fmt.Errorf("sqlite: begin read: %w", err)
	}
	defer sqlTx.Rollback()
	return fn(newTx(sqlTx, s.readerStmts, false))
}

// Update runs fn in a write transaction and commits it when fn returns nil.
// An error from fn rolls the transaction back and is returned unchanged.
// Write transactions are serialised, so fn must not call Update (it would
// wait for itself); it may run more than once if another process holds the
// database lock for longer than the busy timeout.
func (s *Store) Update(ctx context.Context, fn func(opennimble.Tx) error) error {
	return s.write(ctx, func(t *tx) error { return fn(t) })
}

// isBusy reports whether err comes from a lock SQLite could not get.
func isBusy(err error) bool {
	var e *sqlitedriver.Error
	if !errors.As(err, &e) {
		return false
	}
	switch e.Code() & 0xff {
	case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED:
		return true
	}
	return false
}
