package opennimble

import "fmt"

// principalIDChars are the characters a principal id may hold: those of
// IAM Identity Center user and group ids and of IAM user names. The model
// types principalId and ownedBy as plain strings, but they appear in URI
// labels, in logs and in access keys' records, so opennimble keeps them to
// characters that need no escaping anywhere.
const principalIDChars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._@+=,-"

// MaxPrincipalIDLength bounds a principal id.
const MaxPrincipalIDLength = 128

// ValidatePrincipalID says why id cannot be a principal id, or returns nil.
func ValidatePrincipalID(id string) error {
	if id == "" || len(id) > MaxPrincipalIDLength {
		return fmt.Errorf("principal id %q: want 1 to %d characters", id, MaxPrincipalIDLength)
	}
	for _, c := range id {
		if !containsRune(principalIDChars, c) {
			return fmt.Errorf("principal id %q: %q is not allowed (letters, digits and . _ @ + = , - are)", id, c)
		}
	}
	return nil
}

func containsRune(s string, r rune) bool {
	for _, c := range s {
		if c == r {
			return true
		}
	}
	return false
}
