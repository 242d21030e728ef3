package restjson

import (
	"net/url"
	"testing"
)

// validEscapes agrees with url.PathUnescape on which segments decode.
func TestValidEscapes(t *testing.T) {
	for _, seg := range []string{"", "abc", "%41", "%4", "%", "a%zz", "%41%", "%e2%82%ac", "%E2%82%AC", "100%25", "x%2", "%%41", "%g1"} {
		_, err := url.PathUnescape(seg)
		if got := validEscapes(seg); got != (err == nil) {
			t.Errorf("validEscapes(%q) = %v, url.PathUnescape error %v", seg, got, err)
		}
	}
}
