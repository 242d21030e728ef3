package kubernetes

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

// Object names and labels. Kubernetes names are lower-case DNS labels while
// Nimble ids mix cases, so every id becomes a key: the id in lower case,
// followed by a short hash of the exact id whenever lower-casing (or
// replacing characters) changed it, so that two ids never share a key. The
// exact ids are kept in annotations.
const (
	labelManagedBy     = "app.kubernetes.io/managed-by"
	managedBy          = "opennimble"
	labelComponent     = "nimble.opennimble.io/component"
	labelSession       = "nimble.opennimble.io/session"
	labelStudio        = "nimble.opennimble.io/studio"
	labelLaunchProfile = "nimble.opennimble.io/launch-profile"
	labelOwner         = "nimble.opennimble.io/owner"
	labelGeneration    = "nimble.opennimble.io/volume-generation"
	labelBackup        = "nimble.opennimble.io/backup"

	annSessionID     = "nimble.opennimble.io/session-id"
	annStudioID      = "nimble.opennimble.io/studio-id"
	annLaunchProfile = "nimble.opennimble.io/launch-profile-id"
	annOwnedBy       = "nimble.opennimble.io/owned-by"
	annBackupID      = "nimble.opennimble.io/backup-id"
	annToken         = "nimble.opennimble.io/transition"
	annImage         = "nimble.opennimble.io/ec2-image-id"
	annInstanceType  = "nimble.opennimble.io/instance-type"
	annStreamPort    = "nimble.opennimble.io/stream-port"
	annStreamClient  = "nimble.opennimble.io/stream-client"

	componentSession     = "session"
	componentWorkstation = "workstation"
	componentVolume      = "volume"
	componentBackup      = "backup"

	// The anchor ConfigMap records a transition's definitive failure, so
	// that a repeated call returns it again.
	keyFailedToken   = "failedTransition"
	keyFailedCode    = "failedStatusCode"
	keyFailedMessage = "failedStatusMessage"
)

// key turns an id into a DNS label of at most 40 characters.
func key(id string) string {
	b := []byte(strings.ToLower(id))
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			b[i] = '-'
		}
	}
	k := strings.Trim(string(b), "-")
	if k == id && len(k) <= 40 && k != "" {
		return k
	}
	sum := sha256.Sum256([]byte(id))
	if len(k) > 31 {
		k = strings.TrimRight(k[:31], "-")
	}
	if k == "" || !(k[0] >= 'a' && k[0] <= 'z') {
		k = "x" + k
	}
	return k + "-" + hex.EncodeToString(sum[:4])
}

// labelValue makes a value fit a label (63 characters of [A-Za-z0-9_.-],
// alphanumeric at both ends); the exact value is in an annotation.
func labelValue(v string) string {
	b := []byte(v)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			b[i] = '_'
		}
	}
	s := string(b)
	if len(s) > 63 {
		s = s[len(s)-63:]
	}
	return strings.Trim(s, "-_.")
}
