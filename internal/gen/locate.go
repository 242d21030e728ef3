package gen

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
)

// SDKModule is the module and version whose model is the source of truth.
const SDKModule = "github.com/aws/aws-sdk-go@v1.55.8"

// ModelDir downloads (through the module proxy, if needed) the aws-sdk-go
// module and returns the nimble model folder inside it.
func ModelDir() (string, error) {
	out, err := exec.Command("go", "mod", "download", "-json", SDKModule).Output()
	if err != nil {
		return "", fmt.Errorf("go mod download %s: %w", SDKModule, err)
	}
	const key = `"Dir": "`
	s := string(out)
	i := strings.Index(s, key)
	if i < 0 {
		return "", fmt.Errorf("go mod download %s: no Dir in %s", SDKModule, s)
	}
	s = s[i+len(key):]
	dir := s[:strings.IndexByte(s, '"')]
	return filepath.Join(dir, "models", "apis", "nimble", "2020-08-01"), nil
}
