package main

import (
	"os"

	"github.com/spf13/cobra"

	"github.com/opennimble/opennimble/app"
	"github.com/opennimble/opennimble/driver/local"
)

// newSessionLog is "opennimble session-log SESSION_ID": what the desktop
// of a local session printed on its last start, its initialization
// scripts first.
func newSessionLog() *cobra.Command {
	dataDir := app.Defaults().DataDir
	cmd := &cobra.Command{
		Use:   "session-log SESSION_ID",
		Short: "Show the log of a local session's desktop: its initialization scripts' output, then the desktop's",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := resolve(cmd.Flags(), ""); err != nil {
				return err
			}
			b, err := local.SessionLog(dataDir, args[0])
			if err != nil {
				return err
			}
			_, err = os.Stdout.Write(b)
			return err
		},
	}
	cmd.Flags().StringVar(&dataDir, "data-dir", dataDir, "data folder of the server (env "+envName("data-dir")+")")
	return cmd
}
