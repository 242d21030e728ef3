package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/opennimble/opennimble/app"
)

// newVersion is "opennimble version"; the root command's --version prints
// the same.
func newVersion() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version, VCS revision and build time",
		Args:  cobra.NoArgs,
		Run: func(cmd *cobra.Command, args []string) {
			fmt.Fprint(cmd.OutOrStdout(), app.BuildInfo())
		},
	}
}

// setVersion gives root a --version flag printing what `version` prints.
func setVersion(root *cobra.Command) {
	b := app.BuildInfo()
	root.Version = b.Version
	root.SetVersionTemplate(b.String())
}
