package sigv4

import (
	"net/http"
	"net/textproto"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// unreserved marks the bytes that SigV4 URI encoding leaves alone: the RFC 3986
// unreserved set. Everything else becomes %XX with upper-case hex.
var unreserved [256]bool

func init() {
	for c := 0; c < 256; c++ {
		unreserved[c] = 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' ||
			c == '-' || c == '.' || c == '_' || c == '~'
	}
}

const upperHex = "0123456789ABCDEF"

// appendEncoded appends s URI-encoded the SigV4 way. With keepSlash, '/' is
// kept (paths); without, it becomes %2F (query names and values).
func appendEncoded(dst []byte, s string, keepSlash bool) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if unreserved[c] || keepSlash && c == '/' {
			dst = append(dst, c)
			continue
		}
		dst = append(dst, '%', upperHex[c>>4], upperHex[c&15])
	}
	return dst
}

func encoded(s string, keepSlash bool) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; !unreserved[c] && !(keepSlash && c == '/') {
			return string(appendEncoded(make([]byte, 0, len(s)+16), s, keepSlash))
		}
	}
	return s
}

// wirePath returns the request path exactly as the client sent it, still
// percent-encoded. RequestURI is the request line's target; r.URL.EscapedPath
// may re-escape a path that Go considers oddly encoded, so it is only the
// fallback (for requests built in-process and absolute-form targets).
func wirePath(r *http.Request) string {
	if u := r.RequestURI; u != "" && u[0] == '/' {
		if i := strings.IndexByte(u, '?'); i >= 0 {
			u = u[:i]
		}
		return u
	}
	if p := r.URL.EscapedPath(); p != "" {
		return p
	}
	return "/"
}

// canonicalPaths returns the canonical URI of a wire path and, when it differs,
// a second candidate. Every SDK encodes the already-escaped wire path once
// more ("%3A" becomes "%253A"), but botocore and the JS SDK first remove empty
// and dot segments, while the Go SDKs sign the path as it is.
func canonicalPaths(p string) (string, string) {
	first := encoded(p, true)
	norm := normalizePath(p)
	if norm == p {
		return first, ""
	}
	return first, encoded(norm, true)
}

// normalizePath removes empty, "." and ".." segments the way botocore's
// remove_dot_segments and the JS SDK's getCanonicalPath do.
func normalizePath(p string) string {
	if !strings.Contains(p, "//") && !strings.Contains(p, "/.") {
		return p
	}
	var segs []string
	for s := range strings.SplitSeq(p, "/") {
		switch s {
		case "", ".":
		case "..":
			if len(segs) > 0 {
				segs = segs[:len(segs)-1]
			}
		default:
			segs = append(segs, s)
		}
	}
	out := strings.Join(segs, "/")
	if strings.HasPrefix(p, "/") {
		out = "/" + out
	}
	if len(segs) > 0 && strings.HasSuffix(p, "/") {
		out += "/"
	}
	return out
}

type queryPair struct {
	rawKey, rawValue string // decoded
	key, value       string // SigV4-encoded
}

// canonicalQueries returns the canonical query string of a raw query and,
// when it differs, a second candidate. The spec (botocore, JS for values,
// smithy) sorts the encoded pairs; aws-sdk-go v1 sorts the decoded keys and
// values instead, which orders "a-b" before "a/b" where the spec puts
// "a%2Fb" first. skip names a parameter to leave out (X-Amz-Signature).
func canonicalQueries(raw, skip string) (string, string) {
	if raw == "" {
		return "", ""
	}
	var pairs []queryPair
	for seg := range strings.SplitSeq(raw, "&") {
		if seg == "" {
			continue
		}
		k, v, _ := strings.Cut(seg, "=")
		p := queryPair{rawKey: unescapeQuery(k), rawValue: unescapeQuery(v)}
		if skip != "" && p.rawKey == skip {
			continue
		}
		p.key, p.value = encoded(p.rawKey, false), encoded(p.rawValue, false)
		pairs = append(pairs, p)
	}
	slices.SortFunc(pairs, func(a, b queryPair) int {
		if c := strings.Compare(a.key, b.key); c != 0 {
			return c
		}
		return strings.Compare(a.value, b.value)
	})
	spec := joinQuery(pairs)
	sorted := slices.IsSortedFunc(pairs, compareRaw)
	if sorted {
		return spec, ""
	}
	slices.SortFunc(pairs, compareRaw)
	return spec, joinQuery(pairs)
}

func compareRaw(a, b queryPair) int {
	if c := strings.Compare(a.rawKey, b.rawKey); c != 0 {
		return c
	}
	return strings.Compare(a.rawValue, b.rawValue)
}

// unescapeQuery decodes a query name or value as net/url does ('+' is a
// space), so that the signature covers what handlers will read. An invalid
// escape is kept literally; its '%' is then encoded as %25.
func unescapeQuery(s string) string {
	if !strings.ContainsAny(s, "%+") {
		return s
	}
	u, err := url.QueryUnescape(s)
	if err != nil {
		return s
	}
	return u
}

func joinQuery(pairs []queryPair) string {
	n := 0
	for _, p := range pairs {
		n += len(p.key) + len(p.value) + 2
	}
	var b strings.Builder
	b.Grow(n)
	for i, p := range pairs {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(p.key)
		b.WriteByte('=')
		b.WriteString(p.value)
	}
	return b.String()
}

// Header-value whitespace handling differs between signers: botocore and the
// JS SDK collapse any run of whitespace to one space, aws-sdk-go v1 and v2
// collapse runs of spaces only, and smithy-go's aws-http-auth only trims.
// The three agree unless a value holds a tab or two spaces in a row.
const (
	collapseWhitespace = iota
	collapseSpaces
	trimOnly
	numSpaceModes
)

// knownHeaders maps the lower-case names that clients usually sign to their
// canonical MIME form, so that looking them up does not allocate.
var knownHeaders = map[string]string{
	"amz-sdk-invocation-id": "Amz-Sdk-Invocation-Id",
	"amz-sdk-request":       "Amz-Sdk-Request",
	"content-length":        "Content-Length",
	"content-md5":           "Content-Md5",
	"content-type":          "Content-Type",
	"x-amz-client-token":    "X-Amz-Client-Token",
	"x-amz-content-sha256":  "X-Amz-Content-Sha256",
	"x-amz-date":            "X-Amz-Date",
	"x-amz-security-token":  "X-Amz-Security-Token",
	"x-amz-target":          "X-Amz-Target",
	"x-amz-user-agent":      "X-Amz-User-Agent",
	"user-agent":            "User-Agent",
}

// headerValues returns the values of the header with the given lower-case
// name. net/http removes Host and Transfer-Encoding from Header and keeps them
// in fields, so those are rebuilt from the fields.
func headerValues(r *http.Request, name string) []string {
	key, ok := knownHeaders[name]
	if !ok {
		key = textproto.CanonicalMIMEHeaderKey(name)
	}
	if v, ok := r.Header[key]; ok {
		return v
	}
	if v, ok := r.Header[name]; ok {
		return v
	}
	switch name {
	case "transfer-encoding":
		if len(r.TransferEncoding) > 0 {
			return []string{strings.Join(r.TransferEncoding, ",")}
		}
	case "content-length":
		if r.ContentLength > 0 {
			return []string{strconv.FormatInt(r.ContentLength, 10)}
		}
	}
	return nil
}

// requestHost is the value of the signed host header.
func requestHost(r *http.Request) string {
	if r.Host != "" {
		return r.Host
	}
	return r.URL.Host
}

// appendHeaders appends the canonical headers block (each "name:value\n")
// for the signed names (lower case, ';'-separated), in the order given. It
// reports whether any value has whitespace that the signers treat differently.
func appendHeaders(dst []byte, r *http.Request, signed string, mode int) ([]byte, bool) {
	ambiguous := false
	for rest := signed; rest != ""; {
		var name string
		name, rest, _ = strings.Cut(rest, ";")
		dst = append(dst, name...)
		dst = append(dst, ':')
		if name == "host" {
			dst = append(dst, requestHost(r)...)
			dst = append(dst, '\n')
			continue
		}
		for i, v := range headerValues(r, name) {
			if i > 0 {
				dst = append(dst, ',')
			}
			var amb bool
			dst, amb = appendValue(dst, v, mode)
			ambiguous = ambiguous || amb
		}
		dst = append(dst, '\n')
	}
	return dst, ambiguous
}

// appendValue appends one header value, trimmed and with inner whitespace
// collapsed according to mode.
func appendValue(dst []byte, v string, mode int) ([]byte, bool) {
	v = strings.Trim(v, " \t")
	if !strings.Contains(v, "  ") && strings.IndexByte(v, '\t') < 0 {
		return append(dst, v...), false
	}
	if mode == trimOnly {
		return append(dst, v...), true
	}
	prevSpace := false
	for i := 0; i < len(v); i++ {
		c := v[i]
		space := c == ' ' || c == '\t' && mode == collapseWhitespace
		if space && prevSpace {
			continue
		}
		if space {
			c = ' '
		}
		prevSpace = space
		dst = append(dst, c)
	}
	return dst, true
}
