package app

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/opennimble/opennimble/backup"
	"github.com/opennimble/opennimble/backup/s3store"
)

// BackupConfig says where the local driver keeps its backups and with
// which key they are encrypted.
type BackupConfig struct {
	// Store is "" for <data-dir>/backups, another folder, or
	// s3://bucket/prefix.
	Store string
	// S3Endpoint, S3Region and S3PathStyle say how to reach an S3 store
	// (credentials come from the usual AWS environment and profile chain).
	S3Endpoint  string
	S3Region    string
	S3PathStyle bool
	// KeyFile holds the operator key that encrypts the repository; when
	// it is "", the environment variable BackupKeyEnv may hold the key
	// itself; with neither, a new repository is not encrypted.
	KeyFile string
}

// BackupKeyEnv is the environment variable that may hold the operator key
// of the backup repository.
const BackupKeyEnv = "OPENNIMBLE_BACKUP_KEY"

// Describe names the store for messages.
func (c BackupConfig) Describe(dataDir string) string {
	if c.Store == "" {
		return filepath.Join(dataDir, "backups")
	}
	return c.Store
}

// OperatorKey reads the operator key from KeyFile or BackupKeyEnv; nil
// when there is none.
func (c BackupConfig) OperatorKey() (backup.OperatorKey, error) {
	if c.KeyFile != "" {
		b, err := os.ReadFile(c.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("backup key file: %w", err)
		}
		k, err := backup.ParseOperatorKey(string(b))
		if err != nil {
			return nil, fmt.Errorf("backup key file %s: %w", c.KeyFile, err)
		}
		return k, nil
	}
	if s, ok := os.LookupEnv(BackupKeyEnv); ok {
		k, err := backup.ParseOperatorKey(s)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", BackupKeyEnv, err)
		}
		return k, nil
	}
	return nil, nil
}

// OpenBackend opens the backend the configuration names. mustExist
// refuses a folder that does not exist yet (the backups command does not
// make one).
func (c BackupConfig) OpenBackend(ctx context.Context, dataDir string, mustExist bool, log *slog.Logger) (backup.Backend, error) {
	if s3store.IsURL(c.Store) {
		return s3store.Open(ctx, s3store.Options{URL: c.Store, Endpoint: c.S3Endpoint, Region: c.S3Region, PathStyle: c.S3PathStyle,
			CacheDir: filepath.Join(dataDir, "backup-cache"), Logger: log})
	}
	if c.S3Endpoint != "" || c.S3Region != "" || c.S3PathStyle {
		return nil, fmt.Errorf("backup store %q: the S3 settings apply to an s3:// store only", c.Describe(dataDir))
	}
	dir := c.Describe(dataDir)
	if mustExist {
		if _, err := os.Stat(dir); err != nil {
			return nil, fmt.Errorf("no backup store at %s (the local driver makes it): %w", dir, err)
		}
	}
	return backup.OpenFS(dir)
}
