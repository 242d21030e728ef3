// Package transitions decides how *_IN_PROGRESS states progress: at once,
// after a delay, or only when told (by name, or after a number of reads of
// the resource), per resource type and per transition state. The service's
// reconcilers ask a Policy before completing a transition; the emulator
// controls configure it and release held transitions. It is the emulator's
// counterpart of moto's state manager.
package transitions

import (
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"sync"
	"time"

	opennimble "github.com/opennimble/opennimble"
)

// Mode is how a transition progresses.
type Mode string

// The modes of a rule.
const (
	// Immediate completes a transition as soon as the lifecycle looks at it.
	Immediate Mode = "immediate"
	// Delay completes it once Rule.Delay has passed since it began.
	Delay Mode = "delay"
	// Manual holds it until it is released by name (Policy.Release), or,
	// when Rule.Reads is set, by the read after the first Reads reads.
	Manual Mode = "manual"
)

// Any matches every type or every state in a rule.
const Any = "*"

// States lists, per resource type, the *_IN_PROGRESS states whose completion
// a Policy decides. Backups are absent: a backup is created by its session's
// stop and deleted without a wait, so rules for sessions cover them.
var States = map[opennimble.Kind][]string{
	opennimble.KindStudio:           {"CREATE_IN_PROGRESS", "UPDATE_IN_PROGRESS", "DELETE_IN_PROGRESS"},
	opennimble.KindStudioComponent:  {"CREATE_IN_PROGRESS", "UPDATE_IN_PROGRESS", "DELETE_IN_PROGRESS"},
	opennimble.KindLaunchProfile:    {"CREATE_IN_PROGRESS", "UPDATE_IN_PROGRESS", "DELETE_IN_PROGRESS"},
	opennimble.KindStreamingImage:   {"CREATE_IN_PROGRESS", "UPDATE_IN_PROGRESS", "DELETE_IN_PROGRESS"},
	opennimble.KindStreamingSession: {"CREATE_IN_PROGRESS", "START_IN_PROGRESS", "STOP_IN_PROGRESS", "DELETE_IN_PROGRESS"},
	opennimble.KindStreamingStream:  {"CREATE_IN_PROGRESS"},
}

// Kinds lists the keys of States in a stable order.
func Kinds() []opennimble.Kind {
	ks := make([]opennimble.Kind, 0, len(States))
	for k := range States {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

// Duration is a time.Duration that reads a Go duration string ("1.5s") or a
// number of seconds from JSON and writes the string.
type Duration time.Duration

// MarshalJSON writes d as a duration string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// UnmarshalJSON reads "250ms" or 0.25.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		v, err := time.ParseDuration(s)
		if err != nil {
			return fmt.Errorf("duration %q: want a Go duration such as \"2s\" or \"250ms\"", s)
		}
		*d = Duration(v)
		return nil
	}
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil {
		return fmt.Errorf("duration %s: want a string such as \"2s\" or a number of seconds", b)
	}
	*d = Duration(f * float64(time.Second))
	return nil
}

// Rule says how transitions of one type into one state progress.
type Rule struct {
	Type  string   `json:"type,omitempty"`  // a resource type (opennimble.Kind) or "*"
	State string   `json:"state,omitempty"` // an *_IN_PROGRESS state or "*"
	Mode  Mode     `json:"mode"`
	Delay Duration `json:"delay,omitempty"` // for Delay
	// Reads, for Manual, releases a transition on the read that follows
	// Reads reads of the resource (Get operations) made while it is held.
	Reads int `json:"reads,omitempty"`
}

// MarshalJSON writes a rule, with its delay whenever its mode is delay
// (also a delay of "0s").
func (r Rule) MarshalJSON() ([]byte, error) {
	type plain Rule
	out := struct {
		plain
		Delay *Duration `json:"delay,omitempty"`
	}{plain: plain(r)}
	if r.Mode == Delay || r.Delay != 0 {
		out.Delay = &r.Delay
	}
	return json.Marshal(out)
}

// Config is a policy's whole configuration. Default applies where no rule
// matches; its zero value is the server's configured transition delay.
type Config struct {
	Default *Rule  `json:"default,omitempty"`
	Rules   []Rule `json:"rules"`
}

// Hold is a transition the policy holds (Manual mode).
type Hold struct {
	Type  opennimble.Kind `json:"type"`
	ID    string          `json:"id"`
	State string          `json:"state"`
	// Since is when the transition began; zero until the lifecycle has
	// looked at it.
	Since time.Time `json:"since,omitzero"`
	Reads int       `json:"reads"`
}

// Policy decides transitions. It is safe for concurrent use. Holds live in
// memory: after a restart, held transitions are held again until released.
type Policy struct {
	base Rule // the server's default: a delay of --transition-delay

	mu    sync.Mutex
	cfg   Config
	holds map[key]*hold
}

type key struct {
	kind opennimble.Kind
	id   string
}

// hold tracks one transition of a resource under Manual mode, or one that
// was released by name.
type hold struct {
	state string
	since time.Time // zero until Due has seen the transition
	reads int
	// releasedAt is when the transition was released (zero: it is not). A
	// release applies only to a transition that began by then, never to a
	// later one into the same state.
	releasedAt time.Time
}

func (h *hold) released() bool { return !h.releasedAt.IsZero() }

// matches reports whether h tracks the transition into state begun at since.
func (h *hold) matches(state string, since time.Time) bool {
	switch {
	case h.state != state:
		return false
	case !h.since.IsZero():
		return h.since.Equal(since)
	case h.released():
		return !since.After(h.releasedAt)
	}
	return true
}

// New returns a policy whose default is to complete transitions delay after
// they began, which is what the server does without a policy.
func New(delay time.Duration) *Policy {
	return &Policy{base: Rule{Mode: Delay, Delay: Duration(delay)}, holds: map[key]*hold{}}
}

// Validate checks a configuration.
func (c *Config) Validate() error {
	if c.Default != nil {
		r := *c.Default
		if r.Type != "" || r.State != "" {
			return fmt.Errorf("default: type and state do not apply to the default rule")
		}
		r.Type, r.State = Any, Any
		if err := r.validate(); err != nil {
			return fmt.Errorf("default: %w", err)
		}
	}
	seen := map[[2]string]bool{}
	for i, r := range c.Rules {
		if err := r.validate(); err != nil {
			return fmt.Errorf("rules[%d]: %w", i, err)
		}
		k := [2]string{r.Type, r.State}
		if seen[k] {
			return fmt.Errorf("rules[%d]: a second rule for type %q and state %q", i, r.Type, r.State)
		}
		seen[k] = true
	}
	return nil
}

func (r *Rule) validate() error {
	if r.Type == "" || r.State == "" {
		return fmt.Errorf("type and state are required (\"*\" matches any)")
	}
	if r.Type != Any {
		states, ok := States[opennimble.Kind(r.Type)]
		if !ok {
			return fmt.Errorf("type %q: want one of %v or \"*\"", r.Type, Kinds())
		}
		if r.State != Any && !slices.Contains(states, r.State) {
			return fmt.Errorf("state %q: type %s has the transition states %v", r.State, r.Type, states)
		}
	} else if r.State != Any && !anyKindHas(r.State) {
		return fmt.Errorf("state %q is not a transition state of any type", r.State)
	}
	switch r.Mode {
	case Immediate:
		if r.Delay != 0 || r.Reads != 0 {
			return fmt.Errorf("mode immediate takes neither delay nor reads")
		}
	case Delay:
		if r.Delay < 0 || r.Reads != 0 {
			return fmt.Errorf("mode delay takes a delay of 0 or more and no reads")
		}
	case Manual:
		if r.Delay != 0 || r.Reads < 0 {
			return fmt.Errorf("mode manual takes no delay and reads of 0 (only by name) or more")
		}
	default:
		return fmt.Errorf("mode %q: want immediate, delay or manual", r.Mode)
	}
	return nil
}

func anyKindHas(state string) bool {
	for _, states := range States {
		if slices.Contains(states, state) {
			return true
		}
	}
	return false
}

// Set replaces the configuration. Transitions held by the old one stay held
// until the lifecycle looks at them again (the controls wake them).
func (p *Policy) Set(c Config) error {
	if err := c.Validate(); err != nil {
		return err
	}
	c.Rules = slices.Clone(c.Rules)
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cfg = c
	return nil
}

// Config returns the configuration, with the effective default filled in.
func (p *Policy) Config() Config {
	p.mu.Lock()
	defer p.mu.Unlock()
	c := Config{Default: p.defaultRule(), Rules: slices.Clone(p.cfg.Rules)}
	if c.Rules == nil {
		c.Rules = []Rule{}
	}
	return c
}

func (p *Policy) defaultRule() *Rule {
	r := p.base
	if p.cfg.Default != nil {
		r = *p.cfg.Default
	}
	return &r
}

// rule returns the most specific rule for kind and state: type and state
// named, then type named, then state named, then the default. It runs under
// p.mu.
func (p *Policy) rule(kind opennimble.Kind, state string) Rule {
	best, score := *p.defaultRule(), -1
	for _, r := range p.cfg.Rules {
		if (r.Type != Any && r.Type != string(kind)) || (r.State != Any && r.State != state) {
			continue
		}
		s := 0
		if r.Type != Any {
			s += 2
		}
		if r.State != Any {
			s++
		}
		if s > score {
			best, score = r, s
		}
	}
	return best
}

// CountsReads reports whether any rule releases transitions by reads, so
// that reads need counting at all.
func (p *Policy) CountsReads() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if d := p.defaultRule(); d.Mode == Manual && d.Reads > 0 {
		return true
	}
	return slices.ContainsFunc(p.cfg.Rules, func(r Rule) bool { return r.Mode == Manual && r.Reads > 0 })
}

// Due reports whether the transition of kind/id into state, which began at
// since, may complete at now. When it may not, at is when to look again; the
// zero time means not until the transition is released.
func (p *Policy) Due(kind opennimble.Kind, id, state string, since, now time.Time) (ok bool, at time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	k := key{kind, id}
	h := p.holds[k]
	if h != nil && h.matches(state, since) {
		h.since = since
		if h.released() {
			return true, time.Time{}
		}
	} else if h != nil {
		// The resource moved on to another transition.
		delete(p.holds, k)
		h = nil
	}
	r := p.rule(kind, state)
	switch r.Mode {
	case Immediate:
		return true, time.Time{}
	case Manual:
		if h == nil {
			p.holds[k] = &hold{state: state, since: since}
		}
		return false, time.Time{}
	}
	at = since.Add(time.Duration(r.Delay))
	if !now.Before(at) {
		return true, time.Time{}
	}
	return false, at
}

// Read counts a read of kind/id, which is in state, at now, and reports
// whether it releases the transition: under a Manual rule with Reads n, the
// read after the first n does. Reads under other rules are not counted.
func (p *Policy) Read(kind opennimble.Kind, id, state string, now time.Time) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	r := p.rule(kind, state)
	if r.Mode != Manual || r.Reads <= 0 {
		return false
	}
	k := key{kind, id}
	h := p.holds[k]
	if h == nil || h.state != state {
		h = &hold{state: state}
		p.holds[k] = h
	}
	if h.released() {
		return true
	}
	h.reads++
	if h.reads > r.Reads {
		h.releasedAt = now
	}
	return h.released()
}

// Release lets the transition of kind/id into state that is under way at
// now complete, whatever the rule says, the next time the lifecycle looks at
// it.
func (p *Policy) Release(kind opennimble.Kind, id, state string, now time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	// Whatever was tracked, the transition into state under way now is the
	// one released: it began by now, and any later one begins after.
	p.holds[key{kind, id}] = &hold{state: state, releasedAt: now}
}

// Forget drops what the policy tracks of kind/id unless it concerns state,
// the resource's current state.
func (p *Policy) Forget(kind opennimble.Kind, id, state string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	k := key{kind, id}
	if h := p.holds[k]; h != nil && h.state != state {
		delete(p.holds, k)
	}
}

// Held lists the transitions being held, by type and id.
func (p *Policy) Held() []Hold {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := []Hold{}
	for k, h := range p.holds {
		if !h.released() {
			out = append(out, Hold{Type: k.kind, ID: k.id, State: h.state, Since: h.since, Reads: h.reads})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Type != out[j].Type {
			return out[i].Type < out[j].Type
		}
		return out[i].ID < out[j].ID
	})
	return out
}

// Reset forgets every hold, as after a reset of all resources; with rules
// true it also drops the configuration, back to the server's default.
func (p *Policy) Reset(rules bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	clear(p.holds)
	if rules {
		p.cfg = Config{}
	}
}
