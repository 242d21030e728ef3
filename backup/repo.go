package backup

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/restic/chunker"
	"lukechampine.com/blake3"
)

// Repo is a repository of backups in a Store. It is safe for concurrent
// use, also by several processes on one store.
type Repo struct {
	store Store
	pol   chunker.Pol
	opts  Options
	enc   *zstd.Encoder
	dec   *zstd.Decoder // chunks: at most chunkMaxSize, so a damaged frame cannot ask for more
	mdec  *zstd.Decoder // manifests, which are checksummed before they are decoded
}

// Options tune a Repo; the zero value is good.
type Options struct {
	// Create makes Open set up a store that holds no repository yet.
	Create bool
	// Workers is how many files a snapshot or restore handles at once
	// (default: twice the CPUs, at least 4; I/O waits overlap hashing).
	Workers int
	// Delay slows every chunk write, read and delete by this long. Crash
	// tests use it to kill a process in the middle of an operation.
	Delay  time.Duration
	Logger *slog.Logger
}

// The keys of a repository's objects.
const (
	configKey       = "config"
	chunkPrefix     = "chunks/"
	manifestPrefix  = "manifests/"
	repoVersion     = 1
	chunkMinSize    = chunker.MinSize // 512 KiB
	chunkMaxSize    = chunker.MaxSize // 8 MiB; the average is 1 MiB
	formatRaw       = 'r'             // a chunk stored as it is
	formatZstd      = 'z'             // a chunk stored zstd-compressed
	incompressibleN = 32              // store raw unless zstd saves 1/32
)

// Errors a Repo returns; test them with errors.Is.
var (
	// ErrNoRepo: the store holds no repository (and Options.Create is off).
	ErrNoRepo = errors.New("backup: the store holds no repository")
	// ErrNoBackup: the backup does not exist.
	ErrNoBackup = errors.New("backup: no such backup")
	// ErrCorrupt: stored data does not match its hash or cannot be decoded.
	ErrCorrupt = errors.New("backup: corrupt data")
)

// CorruptError says which object is damaged and how. It matches ErrCorrupt.
type CorruptError struct {
	Key    string // the object
	Reason string
}

func (e *CorruptError) Error() string { return fmt.Sprintf("%s is corrupt: %s", e.Key, e.Reason) }
func (e *CorruptError) Is(target error) bool {
	return target == ErrCorrupt
}

// SourceError is a failure to read the directory being backed up or to
// write the one being restored, as opposed to a failure of the store.
type SourceError struct{ Err error }

func (e *SourceError) Error() string { return e.Err.Error() }
func (e *SourceError) Unwrap() error { return e.Err }

type repoConfig struct {
	Version int         `json:"version"`
	Chunker chunker.Pol `json:"chunkerPolynomial"`
	Created time.Time   `json:"created"`
}

// Open opens the repository in store. With Options.Create it sets one up,
// with a random chunking polynomial (as restic does, so that chunk
// boundaries do not reveal contents across repositories), if there is none.
func Open(ctx context.Context, store Store, o Options) (*Repo, error) {
	if o.Workers <= 0 {
		o.Workers = max(4, 2*runtime.GOMAXPROCS(0))
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	cfg, err := readConfig(ctx, store)
	if errors.Is(err, ErrNotExist) && o.Create {
		cfg, err = createConfig(ctx, store)
	}
	if errors.Is(err, ErrNotExist) {
		return nil, ErrNoRepo
	}
	if err != nil {
		return nil, err
	}
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(o.Workers), zstd.WithLowerEncoderMem(true))
	if err != nil {
		return nil, err
	}
	dec, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(o.Workers), zstd.WithDecoderMaxMemory(2*chunkMaxSize))
	if err != nil {
		return nil, err
	}
	mdec, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(2), zstd.WithDecoderMaxMemory(1<<34))
	if err != nil {
		return nil, err
	}
	return &Repo{store: store, pol: cfg.Chunker, opts: o, enc: enc, dec: dec, mdec: mdec}, nil
}

func readConfig(ctx context.Context, store Store) (repoConfig, error) {
	var cfg repoConfig
	b, err := store.Get(ctx, configKey)
	if err != nil {
		return cfg, err
	}
	if err := json.Unmarshal(b, &cfg); err != nil {
		return cfg, &CorruptError{Key: configKey, Reason: err.Error()}
	}
	if cfg.Version != repoVersion {
		return cfg, fmt.Errorf("backup: repository version %d, this program reads %d", cfg.Version, repoVersion)
	}
	if !cfg.Chunker.Irreducible() {
		return cfg, &CorruptError{Key: configKey, Reason: "the chunker polynomial is not irreducible"}
	}
	return cfg, nil
}

// createConfig writes a new configuration under the exclusive lock, unless
// another process wrote one first.
func createConfig(ctx context.Context, store Store) (repoConfig, error) {
	unlock, err := store.Lock(ctx, true)
	if err != nil {
		return repoConfig{}, err
	}
	defer unlock()
	if cfg, err := readConfig(ctx, store); !errors.Is(err, ErrNotExist) {
		return cfg, err
	}
	pol, err := chunker.RandomPolynomial()
	if err != nil {
		return repoConfig{}, err
	}
	cfg := repoConfig{Version: repoVersion, Chunker: pol, Created: time.Now().UTC()}
	b, err := json.Marshal(cfg)
	if err != nil {
		return cfg, err
	}
	if err := store.Put(ctx, configKey, b); err != nil {
		return cfg, err
	}
	return cfg, store.Sync(ctx)
}

// Close releases the repository's encoders.
func (r *Repo) Close() error {
	r.dec.Close()
	r.mdec.Close()
	return r.enc.Close()
}

// Store is the store the repository lives in.
func (r *Repo) Store() Store { return r.store }

// ChunkID is the BLAKE3-256 hash of a chunk's contents.
type ChunkID [32]byte

func (id ChunkID) String() string { return hex.EncodeToString(id[:]) }

func (id ChunkID) MarshalText() ([]byte, error) { return []byte(id.String()), nil }

func (id *ChunkID) UnmarshalText(b []byte) error {
	if len(b) != 64 {
		return fmt.Errorf("chunk id %q: want 64 hex digits", b)
	}
	_, err := hex.Decode(id[:], b)
	return err
}

func chunkKey(id ChunkID) string {
	s := id.String()
	return chunkPrefix + s[:2] + "/" + s
}

// parseChunkKey returns the id a chunk key names.
func parseChunkKey(key string) (ChunkID, bool) {
	var id ChunkID
	if len(key) != len(chunkPrefix)+3+64 || key[:len(chunkPrefix)] != chunkPrefix {
		return id, false
	}
	if err := id.UnmarshalText([]byte(key[len(chunkPrefix)+3:])); err != nil || key[len(chunkPrefix):len(chunkPrefix)+2] != key[len(chunkPrefix)+3:len(chunkPrefix)+5] {
		return id, false
	}
	return id, true
}

func manifestKey(id string) string { return manifestPrefix + id }

func hashChunk(data []byte) ChunkID { return blake3.Sum256(data) }

// encodeChunk appends the stored form of data to dst: a format byte, then
// the zstd frame, or the data itself when it does not compress.
func (r *Repo) encodeChunk(dst, data []byte) []byte {
	dst = append(dst[:0], formatZstd)
	dst = r.enc.EncodeAll(data, dst)
	if len(dst)-1 > len(data)-len(data)/incompressibleN {
		dst = append(dst[:0], formatRaw)
		dst = append(dst, data...)
	}
	return dst
}

// readChunk fetches a chunk, decodes it into dst and checks it against its
// id. A damaged chunk is a *CorruptError; a missing one ErrNotExist.
func (r *Repo) readChunk(ctx context.Context, id ChunkID, dst []byte) ([]byte, error) {
	r.delay()
	key := chunkKey(id)
	b, err := r.store.Get(ctx, key)
	if err != nil {
		return nil, err
	}
	if len(b) == 0 {
		return nil, &CorruptError{Key: key, Reason: "empty object"}
	}
	switch b[0] {
	case formatRaw:
		dst = append(dst[:0], b[1:]...)
	case formatZstd:
		dst, err = r.dec.DecodeAll(b[1:], dst[:0])
		if err != nil {
			return nil, &CorruptError{Key: key, Reason: "cannot decompress: " + err.Error()}
		}
	default:
		return nil, &CorruptError{Key: key, Reason: fmt.Sprintf("unknown format byte %#x", b[0])}
	}
	if hashChunk(dst) != id {
		return nil, &CorruptError{Key: key, Reason: "contents do not match the hash"}
	}
	return dst, nil
}

func (r *Repo) delay() {
	if r.opts.Delay > 0 {
		time.Sleep(r.opts.Delay)
	}
}

// listChunks returns the ids of the chunks in the store and their stored
// sizes.
func (r *Repo) listChunks(ctx context.Context) (map[ChunkID]int64, error) {
	chunks := map[ChunkID]int64{}
	err := r.store.List(ctx, chunkPrefix, func(key string, size int64) error {
		if id, ok := parseChunkKey(key); ok {
			chunks[id] = size
		}
		return nil
	})
	return chunks, err
}

// Exists reports whether the backup id is complete in the store.
func (r *Repo) Exists(ctx context.Context, id string) (bool, error) {
	if !ValidID(id) {
		return false, fmt.Errorf("backup: invalid id %q", id)
	}
	_, err := r.store.Stat(ctx, manifestKey(id))
	if errors.Is(err, ErrNotExist) {
		return false, nil
	}
	return err == nil, err
}
