package sim

// SetCompactAbove changes the journal size that triggers a compaction and
// returns a function that restores it.
func SetCompactAbove(n int64) func() {
	old := compactAbove
	compactAbove = n
	return func() { compactAbove = old }
}
