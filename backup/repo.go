package backup

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
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
	idx   *index        // where each chunk lies
}

// Options tune a Repo; the zero value is good.
type Options struct {
	// Create makes Open set up a store that holds no repository yet.
	Create bool
	// Workers is how many files a snapshot or restore handles at once
	// (default: twice the CPUs, at least 4; I/O waits overlap hashing).
	Workers int
	// PackSize is the size at which a pack of chunks is closed and
	// written (default DefaultPackSize, 16 MiB). Tests use small ones.
	PackSize int
	// Delay slows every chunk write, read, copy (by a GC) and free (the
	// deletion of a pack waits once per chunk it frees) by this long.
	// Crash tests use it to kill a process in the middle of an operation.
	Delay  time.Duration
	Logger *slog.Logger
}

// The keys of a repository's objects.
const (
	configKey       = "config"
	manifestPrefix  = "manifests/"
	repoVersion     = 2               // 1 stored each chunk as its own object
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
	if o.PackSize <= 0 {
		o.PackSize = DefaultPackSize
	}
	o.PackSize = min(o.PackSize, maxPackSize)
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
	// No zstd checksum: every chunk is checked against its BLAKE3 id, and
	// every manifest against its BLAKE3 checksum.
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(o.Workers), zstd.WithLowerEncoderMem(true),
		zstd.WithEncoderCRC(false))
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
	return &Repo{store: store, pol: cfg.Chunker, opts: o, enc: enc, dec: dec, mdec: mdec, idx: newIndex()}, nil
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

func manifestKey(id string) string { return manifestPrefix + id }

func hashChunk(data []byte) ChunkID { return blake3.Sum256(data) }

// encodeChunk returns the stored form of data and its format: the zstd
// frame (written in *buf, which grows as needed), or data itself when it
// does not compress.
func (r *Repo) encodeChunk(buf *[]byte, data []byte) (byte, []byte) {
	*buf = r.enc.EncodeAll(data, (*buf)[:0])
	if len(*buf) > len(data)-len(data)/incompressibleN {
		return formatRaw, data
	}
	return formatZstd, *buf
}

// errMissing is why a chunk cannot be read when no pack holds it.
var errMissing = fmt.Errorf("backup: chunk missing from the store: %w", ErrNotExist)

// readChunk fetches a chunk from its pack, decodes it into dst and checks
// it against its id. A damaged chunk is a *CorruptError naming the pack
// and the chunk; a missing one matches ErrNotExist.
func (r *Repo) readChunk(ctx context.Context, id ChunkID, dst []byte) ([]byte, error) {
	r.delay()
	p, e, ok := r.idx.lookup(id)
	if !ok {
		return nil, errMissing
	}
	b, err := r.store.GetRange(ctx, p.key(), int64(e.off), int64(e.size))
	switch {
	case errors.Is(err, ErrNotExist):
		return nil, errMissing
	case errors.Is(err, io.ErrUnexpectedEOF):
		return nil, &CorruptError{Key: p.key(), Reason: fmt.Sprintf("chunk %s: the pack is truncated", id)}
	case err != nil:
		return nil, err
	}
	return r.decodeBlob(p.key(), e, b, dst)
}

// decodeBlob decodes the stored form b of the chunk e describes (in pack
// key) into dst, or returns b itself when it is stored raw, and checks it
// against its id.
func (r *Repo) decodeBlob(key string, e blobEntry, b, dst []byte) ([]byte, error) {
	dst, why := r.checkBlob(e, b, dst)
	if why != "" {
		return nil, &CorruptError{Key: key, Reason: fmt.Sprintf("chunk %s (%d bytes at offset %d): %s", e.id, e.size, e.off, why)}
	}
	return dst, nil
}

// checkBlob is decodeBlob, saying what is wrong in a few words.
func (r *Repo) checkBlob(e blobEntry, b, dst []byte) ([]byte, string) {
	if len(b) != int(e.size) {
		return nil, "truncated"
	}
	switch e.format {
	case formatRaw:
		dst = b
	case formatZstd:
		if cap(dst) < int(e.raw) {
			dst = make([]byte, 0, e.raw)
		}
		var err error
		if dst, err = r.dec.DecodeAll(b, dst[:0]); err != nil {
			return nil, "cannot decompress: " + err.Error()
		}
	default:
		return nil, fmt.Sprintf("unknown format %#x", e.format)
	}
	if len(dst) != int(e.raw) || hashChunk(dst) != e.id {
		return nil, "contents do not match the hash"
	}
	return dst, ""
}

func (r *Repo) delay() {
	if r.opts.Delay > 0 {
		time.Sleep(r.opts.Delay)
	}
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
