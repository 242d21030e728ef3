package sim

import "os"

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

// BreakLog makes writes to the driver's state.log fail, until the function
// it returns opens the log again.
func BreakLog(d *Driver) func() {
	l := d.log
	l.wmu.Lock()
	defer l.wmu.Unlock()
	l.f.Close()
	return func() {
		l.wmu.Lock()
		defer l.wmu.Unlock()
		f, err := os.OpenFile(l.path, os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			panic(err)
		}
		l.f = f
	}
}
