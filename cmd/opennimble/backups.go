package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/opennimble/opennimble/app"
	"github.com/opennimble/opennimble/backup"
)

// newBackups is "opennimble backups": the backup store of the local
// driver, <data-dir>/backups. Every subcommand works while the server runs:
// verify and list share the store's lock with snapshots, gc takes it
// alone.
func newBackups() *cobra.Command {
	dataDir := app.Defaults().DataDir
	cmd := &cobra.Command{
		Use:   "backups",
		Short: "Check and maintain the session backups of the local driver (<data-dir>/backups; works while the server runs)",
	}
	cmd.PersistentFlags().StringVar(&dataDir, "data-dir", dataDir, "data folder whose backups/ to use (env "+envName("data-dir")+")")
	open := func(cmd *cobra.Command) (*backup.Repo, error) {
		if err := resolve(cmd.Flags(), ""); err != nil {
			return nil, err
		}
		dir := filepath.Join(dataDir, "backups")
		if _, err := os.Stat(dir); err != nil {
			return nil, fmt.Errorf("no backup store at %s (the local driver makes it): %w", dir, err)
		}
		store, err := backup.OpenFS(dir)
		if err != nil {
			return nil, err
		}
		repo, err := backup.Open(cmd.Context(), store, backup.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		if errors.Is(err, backup.ErrNoRepo) {
			return nil, fmt.Errorf("%s holds no backup repository", dir)
		}
		return repo, err
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
	cmd.AddCommand(verify, list, gc)
	return cmd
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
