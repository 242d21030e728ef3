package main

import (
	"runtime"
	"runtime/debug"
	"testing"
)

// One P becomes two unless GOMAXPROCS says otherwise; more stay as they are.
func TestAtLeastTwoProcs(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	runtime.GOMAXPROCS(1)
	if was, raised := atLeastTwoProcs(); !raised || was != 1 || runtime.GOMAXPROCS(0) != 2 {
		t.Fatalf("one P: was %d, raised %v, now %d; want raised to 2", was, raised, runtime.GOMAXPROCS(0))
	}
	runtime.GOMAXPROCS(3)
	if _, raised := atLeastTwoProcs(); raised || runtime.GOMAXPROCS(0) != 3 {
		t.Fatalf("three Ps: raised %v, now %d", raised, runtime.GOMAXPROCS(0))
	}
	t.Setenv("GOMAXPROCS", "1")
	runtime.GOMAXPROCS(1)
	if _, raised := atLeastTwoProcs(); raised || runtime.GOMAXPROCS(0) != 1 {
		t.Fatalf("GOMAXPROCS=1 set: raised %v, now %d", raised, runtime.GOMAXPROCS(0))
	}
}

// GOGC is 200 unless the environment says otherwise.
func TestGCPercent(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	t.Setenv("GOGC", "")
	if !gcPercent() || debug.SetGCPercent(100) != defaultGCPercent {
		t.Fatal("GOGC unset: the default was not applied")
	}
	t.Setenv("GOGC", "50")
	if gcPercent() || debug.SetGCPercent(100) != 100 {
		t.Fatal("GOGC=50 set: changed anyway")
	}
}
