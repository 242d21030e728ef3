package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/opennimble/opennimble/api"
)

// modelFiles are the files of the model in botocore's data layout, relative
// to a data folder (~/.aws/models or an AWS_DATA_PATH entry).
var modelFiles = []string{
	"nimble/2020-08-01/service-2.json",
	"nimble/2020-08-01/paginators-1.json",
	"nimble/2020-08-01/waiters-2.json",
}

// newModel is `opennimble model`: AWS removed nimble from its CLIs and SDKs
// in 2024, but the AWS CLI and botocore still load service models from
// ~/.aws/models and AWS_DATA_PATH, so today's clients work once the model the
// server is generated from is there.
func newModel() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "model",
		Short: "Install or export the nimble 2020-08-01 service model for today's AWS CLI and boto3",
	}
	cmd.AddCommand(newModelInstall(), newModelExport())
	return cmd
}

func newModelInstall() *cobra.Command {
	var dir string
	cmd := &cobra.Command{
		Use:   "install",
		Short: "Write the nimble model into ~/.aws/models (or --dir), where the AWS CLI and boto3 find it",
		Long: `Write the nimble 2020-08-01 service model, its paginators and its waiters in
botocore's layout (nimble/2020-08-01/service-2.json, paginators-1.json,
waiters-2.json) into ~/.aws/models, which the AWS CLI (v1 and v2) and boto3
read, or into --dir DIR, a folder to name in AWS_DATA_PATH (boto3, AWS CLI v1).
The files are the model this server is generated from. Existing files are
replaced.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if dir == "" {
				home, err := os.UserHomeDir()
				if err != nil {
					return fmt.Errorf("no home folder to install into (%w): give --dir", err)
				}
				dir = filepath.Join(home, ".aws", "models")
			}
			if err := writeModel(dir); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Installed the nimble 2020-08-01 model in %s\n", filepath.Join(dir, "nimble", "2020-08-01"))
			if cmd.Flags().Changed("dir") {
				fmt.Fprintf(cmd.OutOrStdout(), "Point boto3 and the AWS CLI v1 at it with: export AWS_DATA_PATH=%s\n", dir)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&dir, "dir", "", "data folder to install into, for AWS_DATA_PATH (default ~/.aws/models)")
	return cmd
}

func newModelExport() *cobra.Command {
	var dir string
	cmd := &cobra.Command{
		Use:   "export [service-2.json|paginators-1.json|waiters-2.json]",
		Short: "Print one file of the nimble model, or write all of them under --dir",
		Long: `Print one file of the nimble 2020-08-01 model (service-2.json unless named)
on the standard output, or, with --dir DIR, write all three in botocore's
layout under DIR (DIR/nimble/2020-08-01/...), as install does.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if dir != "" {
				if len(args) > 0 {
					return errors.New("give either a file name to print or --dir, not both")
				}
				return writeModel(dir)
			}
			name := "service-2.json"
			if len(args) == 1 {
				name = args[0]
			}
			for _, f := range modelFiles {
				if path.Base(f) == name {
					b, err := fs.ReadFile(api.Model(), f)
					if err != nil {
						return err
					}
					_, err = cmd.OutOrStdout().Write(b)
					return err
				}
			}
			return fmt.Errorf("no model file %q: the files are service-2.json, paginators-1.json and waiters-2.json", name)
		},
	}
	cmd.Flags().StringVar(&dir, "dir", "", "write the three files under this data folder instead of printing one")
	return cmd
}

// writeModel writes the model files under dir, each replaced atomically
// (written aside, then renamed) so that a client never reads half a model.
func writeModel(dir string) error {
	for _, f := range modelFiles {
		b, err := fs.ReadFile(api.Model(), f)
		if err != nil {
			return err
		}
		dst := filepath.Join(dir, filepath.FromSlash(f))
		if err := writeFileAtomic(dst, b); err != nil {
			return err
		}
	}
	return nil
}

func writeFileAtomic(dst string, b []byte) error {
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(dst), ".tmp-"+filepath.Base(dst)+"-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // after the rename, a no-op
	_, err = tmp.Write(b)
	if err == nil {
		err = tmp.Chmod(0o644)
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	return os.Rename(tmp.Name(), dst)
}
