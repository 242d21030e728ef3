package sqlite

import (
	"context"
	"database/sql"
	"fmt"
)

// Every statement the store runs, its own and the shared ones of sqlstore,
// is prepared once per database when it opens. Preparing costs more than running most of the store's statements (the wide
// SELECT of a record takes about twice as long to prepare as to run), and
// database/sql reuses a prepared statement on each connection it was
// prepared on, in every transaction. Statements are prepared at Open rather
// than on first use because preparing needs a free connection, and inside a
// transaction there may be none (the writer has exactly one).

// queries lists the SQL of every statement to prepare; stmt adds to it.
var queries []string

// stmt registers a statement to be prepared at Open and returns its SQL.
func stmt(query string) string {
	queries = append(queries, query)
	return query
}

// stmts holds the prepared statements of one *sql.DB, by SQL text. It is
// filled by Open and only read afterwards.
type stmts map[string]*sql.Stmt

// prepareAll prepares every registered statement on db.
func prepareAll(ctx context.Context, db *sql.DB) (stmts, error) {
	all := append(dialect.Queries(), queries...)
	m := make(stmts, len(all))
	for _, q := range all {
		if _, ok := m[q]; ok {
			continue
		}
		s, err := db.PrepareContext(ctx, q)
		if err != nil {
			m.close()
			return nil, fmt.Errorf("sqlite: prepare %q: %w", q, err)
		}
		m[q] = s
	}
	return m, nil
}

func (m stmts) close() {
	for _, s := range m {
		s.Close()
	}
}

// prepared returns query prepared for t's transaction; a statement that was
// not registered runs unprepared. In the group loop's transaction, which
// runs many writes, each statement is bound to the transaction once.
func (t *tx) prepared(ctx context.Context, query string) *sql.Stmt {
	if s, ok := t.txStmts[query]; ok {
		return s
	}
	s, ok := t.stmts[query]
	if !ok {
		return nil
	}
	s = t.tx.StmtContext(ctx, s)
	if t.txStmts != nil {
		t.txStmts[query] = s
	}
	return s
}

// stmtCtx is the context a statement of t runs with: the caller's when it
// has already ended (the driver then fails the statement at once), and
// otherwise one that never ends. The driver watches a cancellable context
// with a goroutine per statement, to interrupt it; the store's statements
// are short (point reads and writes, bounded pages), so a request that
// ends stops at its next statement instead. In the group loop's write
// transaction, shared by many writers, an interrupt would even roll back
// the whole transaction (SQLite does so when a write statement inside one
// is interrupted); a writer whose context ended while its fn ran is rolled
// back to its own savepoint afterwards (runGroupOnce).
func stmtCtx(ctx context.Context) context.Context {
	if ctx.Err() != nil {
		return ctx
	}
	return context.Background()
}

func (t *tx) query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	ctx = stmtCtx(ctx)
	if s := t.prepared(ctx, query); s != nil {
		return s.QueryContext(ctx, args...)
	}
	return t.tx.QueryContext(ctx, query, args...)
}

func (t *tx) queryRow(ctx context.Context, query string, args ...any) *sql.Row {
	ctx = stmtCtx(ctx)
	if s := t.prepared(ctx, query); s != nil {
		return s.QueryRowContext(ctx, args...)
	}
	return t.tx.QueryRowContext(ctx, query, args...)
}

func (t *tx) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	ctx = stmtCtx(ctx)
	if s := t.prepared(ctx, query); s != nil {
		return s.ExecContext(ctx, args...)
	}
	return t.tx.ExecContext(ctx, query, args...)
}
