package backup

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"time"

	chunkers "github.com/PlakarKorp/go-cdc-chunkers"
	_ "github.com/PlakarKorp/go-cdc-chunkers/chunkers/fastcdc" // registers fastcdc-v1.0.0
	"github.com/klauspost/compress/s2"
	"github.com/zeebo/blake3"
)

// Repo is a repository of backups in a Backend. It is safe for concurrent
// use, also by several processes on one store.
type Repo struct {
	store Backend
	cfg   repoConfig
	opts  Options
	idx   *index // where each chunk lies

	recent recentManifests // written last, for the next snapshot's parent
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
	// Key opens an encrypted repository, and makes Create set up an
	// encrypted one (see crypt.go); nil for an unencrypted repository.
	Key OperatorKey
}

// The keys of a repository's objects, and the format of what they hold.
const (
	configKey      = "config"
	manifestPrefix = "manifests/"
	// repoVersion is the format of the whole repository, recorded in its
	// config: 1 stored each chunk as its own object; 2 packed them, cut by
	// Rabin fingerprints and compressed with zstd; 3 cuts them with keyed
	// FastCDC and compresses them with S2. A program refuses a repository
	// of another version.
	repoVersion = 3
	// The chunking of new repositories (kept in the config): FastCDC with
	// normalised chunk sizes around 1 MiB.
	chunkerName        = "fastcdc-v1.0.0"
	chunkerKeySize     = 32
	defaultChunkMin    = 512 << 10
	defaultChunkNormal = 1 << 20
	defaultChunkMax    = 4 << 20
	chunkMaxSize       = 8 << 20 // no stored chunk is longer: a bound for readers
	formatRaw          = 'r'     // a chunk stored as it is
	formatS2           = 's'     // a chunk stored as an S2 block
	incompressibleN    = 32      // store raw unless S2 saves 1/32
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
	Version int `json:"version"`
	// Chunker names the go-cdc-chunkers algorithm that cuts files, and
	// ChunkerKey the random key its gear table is derived from.
	Chunker     string    `json:"chunker"`
	ChunkerKey  []byte    `json:"chunkerKey"`
	ChunkMin    int       `json:"chunkMin"`
	ChunkNormal int       `json:"chunkNormal"`
	ChunkMax    int       `json:"chunkMax"`
	Created     time.Time `json:"created"`
}

// check refuses a config this program cannot follow.
func (c *repoConfig) check() error {
	switch {
	case c.Chunker != chunkerName:
		return fmt.Errorf("unknown chunker %q", c.Chunker)
	case len(c.ChunkerKey) != chunkerKeySize:
		return fmt.Errorf("the chunker key has %d bytes, not %d", len(c.ChunkerKey), chunkerKeySize)
	case c.ChunkMin < 64 || c.ChunkNormal <= c.ChunkMin || c.ChunkMax <= c.ChunkNormal || c.ChunkMax > chunkMaxSize || c.ChunkNormal&(c.ChunkNormal-1) != 0:
		return fmt.Errorf("impossible chunk sizes %d, %d, %d", c.ChunkMin, c.ChunkNormal, c.ChunkMax)
	}
	return nil
}

// chunkerOpts are the options of a chunker cutting as c says.
func (c *repoConfig) chunkerOpts() *chunkers.ChunkerOpts {
	return &chunkers.ChunkerOpts{MinSize: c.ChunkMin, NormalSize: c.ChunkNormal, MaxSize: c.ChunkMax, Key: c.ChunkerKey}
}

// Open opens the repository in store. With Options.Create it sets one up,
// with a random chunker key (as restic picks a random polynomial, so that
// chunk boundaries do not reveal contents across repositories), if there
// is none.
func Open(ctx context.Context, store Backend, o Options) (*Repo, error) {
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
	store, err := openKeys(ctx, store, o.Key, o.Create)
	if err != nil {
		return nil, err
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
	return &Repo{store: store, cfg: cfg, opts: o, idx: newIndex()}, nil
}

func readConfig(ctx context.Context, store Backend) (repoConfig, error) {
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
	if err := cfg.check(); err != nil {
		return cfg, &CorruptError{Key: configKey, Reason: err.Error()}
	}
	return cfg, nil
}

// createConfig writes a new configuration under the exclusive lock, unless
// another process wrote one first.
func createConfig(ctx context.Context, store Backend) (repoConfig, error) {
	unlock, err := store.Lock(ctx, true)
	if err != nil {
		return repoConfig{}, err
	}
	defer unlock()
	if cfg, err := readConfig(ctx, store); !errors.Is(err, ErrNotExist) {
		return cfg, err
	}
	cfg := repoConfig{Version: repoVersion, Chunker: chunkerName, ChunkerKey: make([]byte, chunkerKeySize),
		ChunkMin: defaultChunkMin, ChunkNormal: defaultChunkNormal, ChunkMax: defaultChunkMax, Created: time.Now().UTC()}
	if _, err := rand.Read(cfg.ChunkerKey); err != nil {
		return cfg, err
	}
	b, err := json.Marshal(cfg)
	if err != nil {
		return cfg, err
	}
	if err := store.Put(ctx, configKey, b); err != nil {
		return cfg, err
	}
	return cfg, store.Sync(ctx)
}

// Close releases the repository. It holds nothing that needs releasing
// now; callers close it all the same.
func (r *Repo) Close() error { return nil }

// Backend is the backend the repository lives in: an *Encrypted one
// around the backend Open was given when the repository is encrypted.
func (r *Repo) Backend() Backend { return r.store }

// Encrypted reports whether the repository is encrypted.
func (r *Repo) Encrypted() bool {
	_, ok := r.store.(*Encrypted)
	return ok
}

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

// encodeChunk returns the stored form of data and its format: the S2
// block (written in *buf, which grows as needed), or data itself when it
// does not compress. S2 rather than zstd: at 3 to 4 times zstd's fastest
// speed on text and libraries it compresses them about as well (31% and
// 68% of their size, against 25% and 65%), and it gives up on media within
// a few passes of its skipping search.
func encodeChunk(buf *[]byte, data []byte) (byte, []byte) {
	n := s2.MaxEncodedLen(len(data))
	if cap(*buf) < n {
		*buf = make([]byte, n)
	}
	out := s2.Encode((*buf)[:n], data)
	if len(out) > len(data)-len(data)/incompressibleN {
		return formatRaw, data
	}
	return formatS2, out
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
	case formatS2:
		// The block says how long it decodes, and the header how long the
		// chunk is: nothing is allocated for a damaged block's say-so.
		if n, err := s2.DecodedLen(b); err != nil || n != int(e.raw) {
			return nil, "cannot decompress: not an S2 block of the chunk's length"
		}
		if cap(dst) < int(e.raw) {
			dst = make([]byte, e.raw)
		}
		var err error
		if dst, err = s2.Decode(dst[:e.raw], b); err != nil {
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
