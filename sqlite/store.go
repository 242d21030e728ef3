// Package sqlite implements opennimble.Store on an embedded SQLite database,
// the default store of a single-machine server.
//
// Writes go through one connection in BEGIN IMMEDIATE transactions, so they
// are serialised inside the process and take the database's write lock up
// front; reads use a pool of query-only connections that see WAL snapshots and
// never wait for the writer.
//
// The statements it shares with the PostgreSQL store (records, lists,
// idempotency, meta, credentials, migrations, part of the job queue) live
// in sqlstore; this package adds SQLite's dialect, group commit, record
// cache, pragmas and its side of the job queue.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver

	"github.com/opennimble/opennimble"
)

// Options tune how the database is opened. The zero value is the safe default.
type Options struct {
	// Sync is "full" (the default: every acknowledged Update survives a power
	// loss) or "normal" (survives a crash of the process, may lose the last
	// commits on a power loss, much faster on slow disks).
	Sync string
	// BusyTimeout is how long a transaction waits for a lock held by another
	// process before failing; 5s when zero.
	BusyTimeout time.Duration
	// Readers is the size of the read-only connection pool; at least 4 and
	// GOMAXPROCS when zero.
	Readers int
}

// Store is an opennimble.Store backed by one SQLite file. It is safe for
// concurrent use.
type Store struct {
	path        string
	writer      *sql.DB // one connection, BEGIN IMMEDIATE, used by the group loop only
	group       grouper
	cache       *recordCache
	syncer      *walSyncer // flushes the WAL after commits when Sync is "full"; nil for "normal"
	reader      *sql.DB    // query_only connections
	writerStmts stmts
	readerStmts stmts
	onBusy      func()       // called before each retry of a busy write; tests only
	retries     atomic.Int64 // groups started over (TxRetries)
}

var (
	_ opennimble.Store          = (*Store)(nil)
	_ opennimble.TxRetryCounter = (*Store)(nil)
)

// TxRetries counts the write groups started over because another process
// held the database lock past the busy timeout.
func (s *Store) TxRetries() int64 { return s.retries.Load() }

// Open opens (creating it and its folder if needed) the database at path and
// brings its schema up to date.
func Open(ctx context.Context, path string, opts Options) (*Store, error) {
	sync, err := syncPragma(opts.Sync)
	if err != nil {
		return nil, err
	}
	busy := opts.BusyTimeout
	if busy <= 0 {
		busy = 5 * time.Second
	}
	readers := opts.Readers
	if readers <= 0 {
		readers = max(4, runtime.GOMAXPROCS(0))
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	if err := createFile(abs); err != nil {
		return nil, err
	}

	writer, err := sql.Open("sqlite", dsn(abs, busy, true))
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", abs, err)
	}
	writer.SetMaxOpenConns(1)
	writer.SetMaxIdleConns(1)
	writer.SetConnMaxLifetime(0)
	writer.SetConnMaxIdleTime(0)
	s := &Store{path: abs, writer: writer, cache: newRecordCache(100_000)}
	if sync == "FULL" {
		s.syncer = newWALSyncer(abs)
	}
	closeWriter := func() {
		s.stopWriting()
		writer.Close()
	}
	if err := s.migrate(ctx); err != nil {
		closeWriter()
		return nil, err
	}
	// The file, its WAL and their directory entries must be durable before
	// the first acknowledged write depends on them.
	if err := syncDir(filepath.Dir(abs)); err != nil {
		closeWriter()
		return nil, err
	}

	reader, err := sql.Open("sqlite", dsn(abs, busy, false))
	if err != nil {
		closeWriter()
		return nil, fmt.Errorf("sqlite: open %s: %w", abs, err)
	}
	reader.SetMaxOpenConns(readers)
	reader.SetMaxIdleConns(readers)
	s.reader = reader
	if s.writerStmts, err = prepareAll(ctx, writer); err != nil {
		s.Close()
		return nil, err
	}
	if s.readerStmts, err = prepareAll(ctx, reader); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// Path returns the absolute path of the database file.
func (s *Store) Path() string { return s.path }

// Close closes every connection. SQLite checkpoints the WAL into the database
// file when the last connection closes; nothing else is needed.
func (s *Store) Close() error {
	s.stopWriting()
	s.readerStmts.close()
	s.writerStmts.close()
	return errors.Join(s.reader.Close(), s.writer.Close())
}

// stopWriting ends the group loop and then the syncer, which acknowledges
// the writes still waiting for a flush.
func (s *Store) stopWriting() {
	s.stopGroup()
	if s.syncer != nil {
		s.syncer.close()
	}
}

// syncPragma validates Options.Sync.
func syncPragma(v string) (string, error) {
	switch strings.ToLower(v) {
	case "", "full":
		return "FULL", nil
	case "normal":
		return "NORMAL", nil
	default:
		return "", fmt.Errorf("sqlite: Sync must be \"full\" or \"normal\", not %q", v)
	}
}

// dsn builds a file: URI whose pragmas the driver applies to every new
// connection. The path is escaped so that '?', '#' and '%' in it are not read
// as URI syntax.
func dsn(path string, busy time.Duration, write bool) string {
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", max(1, busy.Milliseconds())))
	q.Add("_pragma", "foreign_keys(1)")
	// Reading pages through a memory map rather than read(2) made list
	// pages about 40% faster; the first 256 MiB of the file are mapped.
	q.Add("_pragma", "mmap_size(268435456)")
	if write {
		q.Add("_pragma", "journal_mode(WAL)")
		// The writer never waits for the disk in COMMIT: with Sync
		// "full" the syncer flushes the WAL after it (walsync.go).
		q.Add("_pragma", "synchronous(NORMAL)")
		// The group loop runs each write in a savepoint, whose
		// sub-journal SQLite keeps in memory only up to 64 KiB and then
		// spills to a temporary file (a write(2) per page): a group of
		// dozens of writes did, at every commit. In memory it stays.
		q.Add("_pragma", "temp_store(MEMORY)")
		q.Set("_txlock", "immediate")
	} else {
		q.Add("_pragma", "query_only(1)")
	}
	esc := strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(filepath.ToSlash(path))
	return "file:" + esc + "?" + q.Encode()
}

// createFile makes the folder and an empty database file readable by the
// owner only: the database holds credential secrets, and SQLite gives its
// WAL and shared-memory files the database file's permissions.
func createFile(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("sqlite: %w", err)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("sqlite: %w", err)
	}
	return f.Close()
}

// syncDir flushes a directory's entries to stable storage.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sqlite: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, os.ErrInvalid) {
		return fmt.Errorf("sqlite: sync %s: %w", dir, err)
	}
	return nil
}
