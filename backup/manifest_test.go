package backup

import (
	"path"
	"strings"
	"testing"
)

// cleanRelative accepts exactly the paths path.Clean leaves alone that
// stay below the root.
func TestCleanRelative(t *testing.T) {
	for _, p := range []string{"a", "a/b", "..a", "a..", ".a/b.", "a b/c", "", ".", "..", "/", "/a", "a/", "a//b", "./a", "a/.", "a/./b",
		"../a", "a/..", "a/../b", "../../a", "a/b/../../.."} {
		want := p != "" && p != "." && p != ".." && path.Clean(p) == p && !path.IsAbs(p) && !strings.HasPrefix(p, "../")
		if got := cleanRelative(p); got != want {
			t.Errorf("cleanRelative(%q) = %v, want %v", p, got, want)
		}
	}
}
