package sim

// SetCompactAbove changes the journal size that triggers a compaction and
// returns a function that restores it.
func SetCompactAbove(n int64) func() {
	old := compactAbove
	compactAbove = n
	return func() { compactAbove = old }
}

// SetCompactLogAbove changes the state.log size below which it is not
// compacted and returns a function that restores it.
func SetCompactLogAbove(n int64) func() {
	old := compactLogAbove
	compactLogAbove = n
	return func() { compactLogAbove = old }
}
