package postgres

// OnRetry makes s call fn before each retry of a serialization failure.
func OnRetry(s *Store, fn func()) { s.onRetry = fn }
