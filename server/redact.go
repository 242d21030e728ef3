package server

import "strings"

// StreamPrefix is the path of stream URLs: /_stream/<token>/..., where the
// token is the secret that admits its holder to a workstation.
const StreamPrefix = "/_stream/"

// Redacted replaces secrets in what is logged.
const Redacted = "REDACTED"

// RedactPath hides the token of a stream URL's path, so that logs never hold
// a working stream link; other paths are returned as they are.
func RedactPath(path string) string {
	rest, ok := strings.CutPrefix(path, StreamPrefix)
	if !ok || rest == "" {
		return path
	}
	_, after, more := strings.Cut(rest, "/")
	if !more {
		return StreamPrefix + Redacted
	}
	return StreamPrefix + Redacted + "/" + after
}
