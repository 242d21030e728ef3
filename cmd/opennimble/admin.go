package main

import (
	"fmt"
	"log/slog"
	"os"

	"golang.org/x/term"

	opennimble "github.com/opennimble/opennimble"
	"github.com/opennimble/opennimble/app"
)

// announceAdmin tells the operator about the first administrator
// credential. Its secret is in the admin-credentials file; it is shown
// again only on a terminal, never written to a log stream (a container's
// log, --log-format json, a file standard error goes to).
func announceAdmin(log *slog.Logger, dataDir string, c *opennimble.Credential) {
	file := app.AdminCredentialFile(dataDir)
	log.Info("created the first administrator credential; its secret is in the file, mode 0600", "access_key_id", c.AccessKeyID, "file", file)
	if !term.IsTerminal(int(os.Stderr.Fd())) {
		return
	}
	fmt.Fprintf(os.Stderr, "Created the administrator credential of this data folder (shown once; also in %s, mode 0600):\n  aws_access_key_id     = %s\n  aws_secret_access_key = %s\n",
		file, c.AccessKeyID, c.SecretAccessKey)
}
