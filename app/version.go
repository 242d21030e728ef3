package app

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"
)

// BuildTime is when the binary was built, set with
// -ldflags "-X github.com/opennimble/opennimble/app.BuildTime=..." (the Go
// toolchain records the commit's time, not the build's).
var BuildTime = ""

// Build describes the running binary, from runtime/debug.ReadBuildInfo.
type Build struct {
	// Version is Version when set at build time, else the module version
	// ("(devel)" for a build from a checkout).
	Version string
	// Revision is the VCS revision, with "+dirty" when the tree had
	// uncommitted changes; "unknown" when the build recorded none
	// (-buildvcs=false, or no repository).
	Revision     string
	RevisionTime string // the commit's time
	BuildTime    string
	GoVersion    string
}

// BuildInfo reads the running binary's build information.
func BuildInfo() Build {
	b := Build{Version: Version, Revision: "unknown", RevisionTime: "unknown", BuildTime: BuildTime, GoVersion: runtime.Version()}
	if b.BuildTime == "" {
		b.BuildTime = "unknown"
	}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return b
	}
	if b.Version == "dev" && bi.Main.Version != "" {
		b.Version = bi.Main.Version
	}
	dirty := false
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			b.Revision = s.Value
		case "vcs.time":
			b.RevisionTime = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if dirty && b.Revision != "unknown" {
		b.Revision += "+dirty"
	}
	return b
}

// String is what `opennimble version` prints.
func (b Build) String() string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "opennimble %s (nimble API 2020-08-01)\n", b.Version)
	fmt.Fprintf(&sb, "revision:  %s\n", b.Revision)
	fmt.Fprintf(&sb, "committed: %s\n", b.RevisionTime)
	fmt.Fprintf(&sb, "built:     %s\n", b.BuildTime)
	fmt.Fprintf(&sb, "go:        %s\n", b.GoVersion)
	return sb.String()
}
