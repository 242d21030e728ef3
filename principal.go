package opennimble

import "context"

// Principal is the authenticated caller of a request.
type Principal struct {
	ID          string
	AccessKeyID string
	// Admin marks an account administrator: it may do everything everywhere.
	Admin bool
}

type principalKey struct{}

// WithPrincipal returns a context carrying p.
func WithPrincipal(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// PrincipalFrom returns the principal of ctx, if any.
func PrincipalFrom(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(Principal)
	return p, ok
}
