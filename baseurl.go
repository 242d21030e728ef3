package opennimble

import "context"

type baseURLKey struct{}

// WithBaseURL returns a context carrying the base URL (scheme and host) a
// request reached the server at. A server with no configured public URL
// builds the URLs it hands out (stream, studio) from it.
func WithBaseURL(ctx context.Context, url string) context.Context {
	return context.WithValue(ctx, baseURLKey{}, url)
}

// BaseURLFrom returns the base URL of ctx, or "".
func BaseURLFrom(ctx context.Context) string {
	s, _ := ctx.Value(baseURLKey{}).(string)
	return s
}
