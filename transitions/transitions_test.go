package transitions_test

import (
	"encoding/json"
	"testing"
	"time"

	opennimble "github.com/opennimble/opennimble"
	"github.com/opennimble/opennimble/transitions"
)

var t0 = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

const (
	studio  = opennimble.KindStudio
	session = opennimble.KindStreamingSession
)

func set(t *testing.T, p *transitions.Policy, js string) {
	t.Helper()
	var c transitions.Config
	if err := json.Unmarshal([]byte(js), &c); err != nil {
		t.Fatal(err)
	}
	if err := p.Set(c); err != nil {
		t.Fatal(err)
	}
}

func TestDefaultIsTheConfiguredDelay(t *testing.T) {
	p := transitions.New(5 * time.Second)
	if ok, at := p.Due(studio, "s", "CREATE_IN_PROGRESS", t0, t0.Add(time.Second)); ok || !at.Equal(t0.Add(5*time.Second)) {
		t.Fatalf("Due = %v %v, want a look at +5s", ok, at)
	}
	if ok, _ := p.Due(studio, "s", "CREATE_IN_PROGRESS", t0, t0.Add(5*time.Second)); !ok {
		t.Fatal("not due after the delay")
	}
	if len(p.Held()) != 0 {
		t.Fatal("a delay holds nothing")
	}
}

func TestMostSpecificRuleWins(t *testing.T) {
	p := transitions.New(0)
	set(t, p, `{"default":{"mode":"delay","delay":60},"rules":[
		{"type":"*","state":"*","mode":"delay","delay":"1s"},
		{"type":"*","state":"DELETE_IN_PROGRESS","mode":"delay","delay":"2s"},
		{"type":"studio","state":"*","mode":"delay","delay":"3s"},
		{"type":"studio","state":"DELETE_IN_PROGRESS","mode":"immediate"}]}`)
	cases := []struct {
		kind  opennimble.Kind
		state string
		want  time.Duration // -1: immediate
	}{
		{studio, "DELETE_IN_PROGRESS", -1},
		{studio, "CREATE_IN_PROGRESS", 3 * time.Second},
		{session, "DELETE_IN_PROGRESS", 2 * time.Second},
		{session, "STOP_IN_PROGRESS", time.Second},
	}
	for _, c := range cases {
		ok, at := p.Due(c.kind, "x", c.state, t0, t0)
		if c.want < 0 {
			if !ok {
				t.Errorf("%s %s: not immediate", c.kind, c.state)
			}
			continue
		}
		if ok || !at.Equal(t0.Add(c.want)) {
			t.Errorf("%s %s: Due = %v %v, want a look at +%s", c.kind, c.state, ok, at, c.want)
		}
	}
}

func TestManualHoldsUntilReleased(t *testing.T) {
	p := transitions.New(0)
	set(t, p, `{"rules":[{"type":"streaming-session","state":"STOP_IN_PROGRESS","mode":"manual"}]}`)
	if ok, at := p.Due(session, "a", "STOP_IN_PROGRESS", t0, t0.Add(time.Hour)); ok || !at.IsZero() {
		t.Fatalf("Due = %v %v, want held without a look", ok, at)
	}
	if h := p.Held(); len(h) != 1 || h[0].ID != "a" || !h[0].Since.Equal(t0) {
		t.Fatalf("held = %+v", h)
	}
	p.Release(session, "a", "STOP_IN_PROGRESS", t0.Add(time.Hour))
	for range 2 { // a retried reconcile still finds it released
		if ok, _ := p.Due(session, "a", "STOP_IN_PROGRESS", t0, t0.Add(time.Hour)); !ok {
			t.Fatal("a released transition is not due")
		}
	}
	// The next stop of the same session is held again.
	later := t0.Add(2 * time.Hour)
	if ok, _ := p.Due(session, "a", "STOP_IN_PROGRESS", later, later); ok {
		t.Fatal("a release carried over to a later transition")
	}
}

// A release names the transition under way: one that begins after it, into
// the same state, before the lifecycle looked, is not released.
func TestReleaseAppliesToTheTransitionUnderWay(t *testing.T) {
	p := transitions.New(0)
	set(t, p, `{"rules":[{"type":"studio","state":"*","mode":"manual"}]}`)
	p.Release(studio, "s", "UPDATE_IN_PROGRESS", t0)
	if ok, _ := p.Due(studio, "s", "UPDATE_IN_PROGRESS", t0.Add(time.Second), t0.Add(time.Second)); ok {
		t.Fatal("a release applied to a transition that began after it")
	}
	p.Release(studio, "s", "UPDATE_IN_PROGRESS", t0.Add(2*time.Second))
	if ok, _ := p.Due(studio, "s", "UPDATE_IN_PROGRESS", t0.Add(time.Second), t0.Add(3*time.Second)); !ok {
		t.Fatal("the transition under way was not released")
	}
}

func TestReadsReleaseAfterN(t *testing.T) {
	p := transitions.New(0)
	set(t, p, `{"rules":[{"type":"studio","state":"CREATE_IN_PROGRESS","mode":"manual","reads":2}]}`)
	if !p.CountsReads() {
		t.Fatal("CountsReads is false")
	}
	// Reads may come before the lifecycle's first look.
	for i := range 2 {
		if p.Read(studio, "s", "CREATE_IN_PROGRESS", t0) {
			t.Fatalf("read %d released", i+1)
		}
	}
	if ok, _ := p.Due(studio, "s", "CREATE_IN_PROGRESS", t0, t0); ok {
		t.Fatal("due before the third read")
	}
	if h := p.Held(); len(h) != 1 || h[0].Reads != 2 {
		t.Fatalf("held = %+v", h)
	}
	if !p.Read(studio, "s", "CREATE_IN_PROGRESS", t0) {
		t.Fatal("the third read did not release")
	}
	if ok, _ := p.Due(studio, "s", "CREATE_IN_PROGRESS", t0, t0); !ok {
		t.Fatal("not due after the third read")
	}
	// Reads of other states, or under other rules, are not counted.
	if p.Read(studio, "s", "UPDATE_IN_PROGRESS", t0) || p.Read(session, "x", "CREATE_IN_PROGRESS", t0) {
		t.Fatal("a read released a transition no reads rule holds")
	}
	p.Forget(studio, "s", "READY")
	if len(p.Held()) != 0 {
		t.Fatalf("held after Forget = %+v", p.Held())
	}
}

func TestValidate(t *testing.T) {
	bad := []string{
		`{"rules":[{"type":"streaming-session-backup","state":"*","mode":"manual"}]}`,
		`{"rules":[{"type":"studio","state":"STOP_IN_PROGRESS","mode":"manual"}]}`,
		`{"rules":[{"type":"*","state":"READY","mode":"manual"}]}`,
		`{"rules":[{"type":"studio","mode":"manual"}]}`,
		`{"rules":[{"type":"studio","state":"*","mode":"later"}]}`,
		`{"rules":[{"type":"studio","state":"*","mode":"delay","delay":-1}]}`,
		`{"rules":[{"type":"studio","state":"*","mode":"manual","delay":"1s"}]}`,
		`{"rules":[{"type":"studio","state":"*","mode":"manual"},{"type":"studio","state":"*","mode":"immediate"}]}`,
		`{"default":{"type":"studio","mode":"immediate"}}`,
	}
	for _, js := range bad {
		var c transitions.Config
		if err := json.Unmarshal([]byte(js), &c); err != nil {
			t.Fatal(err)
		}
		if err := c.Validate(); err == nil {
			t.Errorf("%s: accepted", js)
		}
	}
	var c transitions.Config
	if err := json.Unmarshal([]byte(`{"rules":[{"type":"studio","state":"*","mode":"delay","delay":"soon"}]}`), &c); err == nil {
		t.Error("a delay of \"soon\" parsed")
	}
}

func TestConfigJSON(t *testing.T) {
	p := transitions.New(2 * time.Second)
	b, err := json.Marshal(p.Config())
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(b), `{"default":{"mode":"delay","delay":"2s"},"rules":[]}`; got != want {
		t.Fatalf("config = %s, want %s", got, want)
	}
	p.Reset(true)
	set(t, p, `{"rules":[{"type":"studio","state":"*","mode":"manual","reads":1}]}`)
	p.Reset(true)
	if p.CountsReads() || len(p.Config().Rules) != 0 {
		t.Fatal("Reset(true) kept the rules")
	}
}
