package controls

import (
	"context"
	"errors"
	"testing"

	opennimble "github.com/opennimble/opennimble"
)

func add(t *testing.T, fs *Faults, f Fault, stepFaults bool) Fault {
	t.Helper()
	if err := f.validate(stepFaults); err != nil {
		t.Fatalf("validate %+v: %v", f, err)
	}
	return fs.add(f)
}

// A rule with a count hits that many times, stays listed with nothing
// remaining, and hits nothing more; the first matching rule wins.
func TestFaultCountAndOrder(t *testing.T) {
	fs := NewFaults(1, nil)
	first := add(t, fs, Fault{Operation: "GetStudio", Error: &ErrorSpec{Code: opennimble.ErrThrottling}, Count: 2}, false)
	add(t, fs, Fault{Operation: "*", Error: &ErrorSpec{Code: opennimble.ErrInternal}}, false)
	ctx := context.Background()
	for i, want := range []string{opennimble.ErrThrottling, opennimble.ErrThrottling, opennimble.ErrInternal} {
		err := fs.apply(ctx, "GetStudio", "alice")
		var e *opennimble.Error
		if !errors.As(err, &e) || e.Code != want {
			t.Fatalf("call %d: %v, want %s", i+1, err, want)
		}
	}
	l := fs.list()
	if l[0].ID != first.ID || l[0].Hits != 2 || l[0].Remaining == nil || *l[0].Remaining != 0 {
		t.Fatalf("spent rule listed as %+v", l[0])
	}
	if first.Error.Status != 429 {
		t.Fatalf("status filled in as %d, want 429", first.Error.Status)
	}
}

// A rule for a principal leaves the others alone.
func TestFaultPrincipal(t *testing.T) {
	fs := NewFaults(1, nil)
	add(t, fs, Fault{Operation: "*", Principal: "bob", Error: &ErrorSpec{Code: opennimble.ErrAccessDenied}}, false)
	if err := fs.apply(context.Background(), "ListStudios", "alice"); err != nil {
		t.Fatalf("alice: %v", err)
	}
	if err := fs.apply(context.Background(), "ListStudios", "bob"); !opennimble.IsCode(err, opennimble.ErrAccessDenied) {
		t.Fatalf("bob: %v", err)
	}
}

// The same seed draws the same hits; about the probability's share hit.
func TestFaultProbabilityIsSeeded(t *testing.T) {
	draw := func() []bool {
		fs := NewFaults(42, nil)
		p := 0.5
		add(t, fs, Fault{Operation: "*", Error: &ErrorSpec{Code: opennimble.ErrInternal}, Probability: &p}, false)
		var hits []bool
		for range 200 {
			hits = append(hits, fs.apply(context.Background(), "ListStudios", "alice") != nil)
		}
		return hits
	}
	a, b := draw(), draw()
	n := 0
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("draw %d differs between two runs of seed 42", i)
		}
		if a[i] {
			n++
		}
	}
	if n < 60 || n > 140 {
		t.Fatalf("%d of 200 hit at probability 0.5", n)
	}
}

// A lifecycle fault fails the step it names, on its session only, with its
// status code; it needs a driver that takes step faults.
func TestStepRule(t *testing.T) {
	fs := NewFaults(1, nil)
	if err := (&Fault{Step: "provision"}).validate(false); !opennimble.IsCode(err, opennimble.ErrValidation) {
		t.Fatalf("step fault without a driver taking them: %v", err)
	}
	if err := (&Fault{Step: "reboot"}).validate(true); !opennimble.IsCode(err, opennimble.ErrValidation) {
		t.Fatalf("unknown step: %v", err)
	}
	add(t, fs, Fault{Step: string(opennimble.StepSnapshot), SessionID: "ses-1", StatusCode: "INSUFFICIENT_CAPACITY"}, true)
	if e := fs.StepRule(opennimble.StepSnapshot, "ses-2", "bak-1"); e != nil {
		t.Fatalf("other session hit: %v", e)
	}
	if e := fs.StepRule(opennimble.StepStop, "ses-1", ""); e != nil {
		t.Fatalf("other step hit: %v", e)
	}
	e := fs.StepRule(opennimble.StepSnapshot, "ses-1", "bak-1")
	if e == nil || e.StatusCode != "INSUFFICIENT_CAPACITY" || e.Message == "" {
		t.Fatalf("snapshot of ses-1: %+v", e)
	}
	if n := fs.Clear(); n != 1 || len(fs.list()) != 0 {
		t.Fatalf("Clear removed %d", n)
	}
}
