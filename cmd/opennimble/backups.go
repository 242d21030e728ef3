package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/opennimble/opennimble/app"
	"github.com/opennimble/opennimble/backup"
)

// newBackups is "opennimble backups": the backup store of the local
// driver, <data-dir>/backups or --backup-store. Every subcommand works while the server runs:
// verify and list share the store's lock with snapshots, gc takes it
// alone.
func newBackups() *cobra.Command {
	dataDir := app.Defaults().DataDir
	var bc app.BackupConfig
	cmd := &cobra.Command{
		Use:   "backups",
		Short: "Check, restore and maintain the session backups of the local driver (<data-dir>/backups or --backup-store; works while the server runs)",
	}
	cmd.PersistentFlags().StringVar(&dataDir, "data-dir", dataDir, "data folder whose backups/ to use (env "+envName("data-dir")+")")
	addBackupFlags(cmd.PersistentFlags(), &bc)
	var ioDelay time.Duration
	cmd.PersistentFlags().DurationVar(&ioDelay, "io-delay", 0, "slow every chunk write, read and delete by this long (crash tests)")
	_ = cmd.PersistentFlags().MarkHidden("io-delay")
	open := func(cmd *cobra.Command) (*backup.Repo, error) {
		if err := resolve(cmd.Flags(), ""); err != nil {
			return nil, err
		}
		key, err := bc.OperatorKey()
		if err != nil {
			return nil, err
		}
		quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
		store, err := bc.OpenBackend(cmd.Context(), dataDir, true, quiet)
		if err != nil {
			return nil, err
		}
		repo, err := backup.Open(cmd.Context(), store, backup.Options{Logger: quiet, Key: key, Delay: ioDelay})
		switch {
		case errors.Is(err, backup.ErrNoRepo):
			return nil, fmt.Errorf("%s holds no backup repository", bc.Describe(dataDir))
		case errors.Is(err, backup.ErrEncrypted):
			return nil, fmt.Errorf("%s: %w: give its key with --backup-key-file or %s", bc.Describe(dataDir), err, app.BackupKeyEnv)
		case err != nil:
			return nil, fmt.Errorf("%s: %w", bc.Describe(dataDir), err)
		}
		return repo, nil
	}
	var quick bool
	verify := &cobra.Command{
		Use:   "verify",
		Short: "Check every backup: manifests, packs, and every chunk against its hash (exit status 1 when a backup is damaged)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			repo, err := open(cmd)
			if err != nil {
				return err
			}
			defer repo.Close()
			rep, err := repo.Verify(cmd.Context(), backup.VerifyOptions{Quick: quick})
			if err != nil {
				return err
			}
			how := "read and checked against its hash"
			if quick {
				how = "checked to exist (--quick)"
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "backups:  %d (%d files)\n", rep.Backups, rep.Files)
			fmt.Fprintf(out, "packs:    %d, %s\n", rep.Packs, size(rep.PackBytes))
			fmt.Fprintf(out, "chunks:   %d, %s stored, each %s\n", rep.Chunks, size(rep.ChunkBytes), how)
			fmt.Fprintf(out, "garbage:  %d chunks (%s) no backup uses; garbage collection frees them once they make up most of a pack\n", rep.Unreferenced, size(rep.UnreferencedBytes))
			fmt.Fprintf(out, "took:     %v\n", rep.Duration.Round(time.Millisecond))
			if rep.OK() && quick {
				fmt.Fprintln(out, "OK: every backup's manifest reads and every chunk it names is listed in a pack header; the chunks' data was not read (run without --quick to read it)")
				return nil
			}
			if rep.OK() {
				fmt.Fprintln(out, "OK: every backup can be restored")
				return nil
			}
			fmt.Fprintf(out, "PROBLEMS: %d\n", len(rep.Problems))
			for _, p := range rep.Problems {
				fmt.Fprintln(out, "  "+p)
			}
			fmt.Fprintf(out, "damaged backups: %v\n", rep.Damaged)
			return fmt.Errorf("%d damaged backups", len(rep.Damaged))
		},
	}
	verify.Flags().BoolVar(&quick, "quick", false, "only check that every chunk a backup needs exists; do not read them")
	list := &cobra.Command{
		Use:   "list",
		Short: "List the backups in the store",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			repo, err := open(cmd)
			if err != nil {
				return err
			}
			defer repo.Close()
			infos, err := repo.List(cmd.Context())
			if err != nil {
				return err
			}
			slices.SortFunc(infos, func(a, b backup.Info) int { return a.Created.Compare(b.Created) })
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "BACKUP ID\tSESSION ID\tCREATED\tFILES\tSIZE\tCHUNKS")
			for _, in := range infos {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%d\n", in.ID, in.Meta["sessionId"], in.Created.UTC().Format(time.RFC3339), in.Files, size(in.Bytes), in.Chunks)
			}
			return tw.Flush()
		},
	}
	gc := &cobra.Command{
		Use:   "gc",
		Short: "Free the chunks no backup uses: delete packs that hold only those, repack those that mostly do, merge small packs (the server does this after every deletion)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			repo, err := open(cmd)
			if err != nil {
				return err
			}
			defer repo.Close()
			st, err := repo.GC(cmd.Context())
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "freed %d chunks (%s): deleted %d packs, of which %d were repacked into %d new ones\n",
				st.FreedChunks, size(st.FreedBytes), st.DeletedPacks, st.RepackedPacks, st.NewPacks)
			fmt.Fprintf(out, "kept %d packs (%s) holding %d chunks for %d backups; %d chunks (%s) of garbage wait in packs mostly in use\n",
				st.Packs, size(st.Bytes), st.Chunks, st.Backups, st.GarbageChunks, size(st.GarbageBytes))
			if st.DamagedPacks > 0 {
				fmt.Fprintf(out, "%d damaged packs were left as they are: run `opennimble backups verify`\n", st.DamagedPacks)
			}
			return nil
		},
	}
	restore := &cobra.Command{
		Use:   "restore <backupId> <dir>",
		Short: "Write the files of a backup into a new folder <dir> (without starting a session)",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			repo, err := open(cmd)
			if err != nil {
				return err
			}
			defer repo.Close()
			st, err := restoreInto(cmd.Context(), repo, args[0], args[1])
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "restored %s into %s: %d files (%s), %d folders, %d symlinks in %v\n",
				args[0], args[1], st.Files, size(st.Bytes), st.Dirs, st.Symlinks, st.Duration.Round(time.Millisecond))
			return nil
		},
	}
	cmd.AddCommand(verify, list, gc, restore)
	return cmd
}

// restoreInto restores backup id into dir, which must not exist: first
// into a hidden folder beside it, renamed to dir once complete, so that dir
// never holds half a backup.
func restoreInto(ctx context.Context, repo *backup.Repo, id, dir string) (backup.RestoreStats, error) {
	if _, err := os.Lstat(dir); err == nil {
		return backup.RestoreStats{}, fmt.Errorf("%s already exists: restore writes a new folder", dir)
	}
	tmp := filepath.Join(filepath.Dir(dir), ".restore-"+filepath.Base(dir)+"-"+strconv.Itoa(os.Getpid()))
	st, err := repo.Restore(ctx, id, tmp)
	if err != nil {
		_ = os.RemoveAll(tmp)
		if errors.Is(err, backup.ErrNoBackup) {
			return st, fmt.Errorf("no backup %q in the store (see `opennimble backups list`)", id)
		}
		return st, err
	}
	if err := os.Rename(tmp, dir); err != nil {
		_ = os.RemoveAll(tmp)
		return st, err
	}
	return st, nil
}

// addBackupFlags registers the flags that say where the backups are kept
// and with which key, for the server and the backups command alike.
func addBackupFlags(fs *pflag.FlagSet, c *app.BackupConfig) {
	fs.StringVar(&c.Store, "backup-store", c.Store, "where the local driver keeps backups: a folder, or s3://bucket/prefix (default <data-dir>/backups)")
	fs.StringVar(&c.S3Endpoint, "backup-s3-endpoint", c.S3Endpoint, "with an s3:// backup store: the S3 server's URL (default AWS)")
	fs.StringVar(&c.S3Region, "backup-s3-region", c.S3Region, "with an s3:// backup store: its region (default from the AWS environment or profile, else us-east-1)")
	fs.BoolVar(&c.S3PathStyle, "backup-s3-path-style", c.S3PathStyle, "with an s3:// backup store: address the bucket in the path, as most S3-compatible servers want")
	fs.StringVar(&c.KeyFile, "backup-key-file", c.KeyFile, "file holding the operator key that encrypts the backups (or put the key itself in "+app.BackupKeyEnv+"); keep it away from the backups")
}

func size(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.2f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
