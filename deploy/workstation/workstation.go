// Package workstation holds the workstation image: session-start.sh, the
// script that starts a session's desktop, and the Containerfile that builds
// the Kubernetes workstation image around the same script. The local driver
// runs the embedded copy of the script in its sandboxes, so the script the
// image runs is the one the local desktops test.
package workstation

import _ "embed"

// StartScript is session-start.sh.
//
//go:embed session-start.sh
var StartScript []byte
