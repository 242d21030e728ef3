package controls

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"

	opennimble "github.com/opennimble/opennimble"
	"github.com/opennimble/opennimble/api"
	"github.com/opennimble/opennimble/transitions"
)

// transitionsView is the body of GET and PUT /_nimble/transitions.
type transitionsView struct {
	transitions.Config
	Held []transitions.Hold `json:"held"`
}

// transitionsPut is what PUT reads: the configuration, plus GET's read-only
// "held", accepted and ignored so that a client can read the document,
// change one rule and write it back.
type transitionsPut struct {
	transitions.Config
	Held json.RawMessage `json:"held,omitempty"`
}

func (c *Controls) getTransitions(*http.Request, []byte, string) (int, any, error) {
	return http.StatusOK, transitionsView{Config: c.o.Policy.Config(), Held: c.o.Policy.Held()}, nil
}

// putTransitions replaces the rules, then wakes every resource in a
// transition so that it is decided by the new rules (a held one may now be
// due, a delayed one due sooner).
func (c *Controls) putTransitions(r *http.Request, body []byte, _ string) (int, any, error) {
	var in transitionsPut
	if err := readJSON(body, &in); err != nil {
		return 0, nil, err
	}
	if err := c.o.Policy.Set(in.Config); err != nil {
		return 0, nil, invalid("%v", err)
	}
	recs, err := c.inTransition(r.Context(), "", "")
	if err != nil {
		return 0, nil, err
	}
	for _, rec := range recs {
		if err := c.o.Lifecycle.Wake(r.Context(), rec.Kind, rec.ID); err != nil {
			return 0, nil, err
		}
	}
	return c.getTransitions(r, nil, "")
}

// advanceRequest names what POST /_nimble/transitions/advance completes: one
// resource (type and id), or every resource in a transition, optionally of
// one type and one studio.
type advanceRequest struct {
	Type     string `json:"type,omitempty"`
	ID       string `json:"id,omitempty"`
	StudioID string `json:"studioId,omitempty"`
}

// Advanced reports one completed transition.
type Advanced struct {
	Type  opennimble.Kind `json:"type"`
	ID    string          `json:"id"`
	From  string          `json:"from"`
	State string          `json:"state"` // "" when the resource is gone
	// Error is set when the lifecycle could not finish the step now; it
	// then retries in the background.
	Error string `json:"error,omitempty"`
}

// advance releases transitions and runs their lifecycle at once, so that
// the response (and any request after it) sees where they ended.
func (c *Controls) advance(r *http.Request, body []byte, _ string) (int, any, error) {
	var in advanceRequest
	if err := readJSON(body, &in); err != nil {
		return 0, nil, err
	}
	ctx := r.Context()
	var recs []*opennimble.Record
	if in.ID != "" {
		kind, err := c.transitionKind(in.Type)
		if err != nil || kind == "" {
			return 0, nil, invalid("To advance one resource, name its type (one of %v) and id", transitions.Kinds())
		}
		rec, err := c.getRecord(ctx, kind, in.ID)
		if err != nil {
			return 0, nil, err
		}
		if rec == nil || (in.StudioID != "" && rec.StudioID != in.StudioID) {
			return 0, nil, opennimble.NotFound(string(kind), in.ID)
		}
		if !inProgress(rec.State) {
			return 0, nil, opennimble.Errorf(opennimble.ErrConflict, "%s %s is %s, not in a transition", kind, in.ID, rec.State)
		}
		recs = append(recs, rec)
	} else {
		kind, err := c.transitionKind(in.Type)
		if err != nil {
			return 0, nil, err
		}
		if recs, err = c.inTransition(ctx, kind, in.StudioID); err != nil {
			return 0, nil, err
		}
	}
	out := []Advanced{}
	for _, rec := range recs {
		c.o.Policy.Release(rec.Kind, rec.ID, rec.State, c.o.Clock.Now())
		a := Advanced{Type: rec.Kind, ID: rec.ID, From: rec.State}
		now, err := c.settle(ctx, rec.Kind, rec.ID)
		if err != nil {
			a.Error = err.Error()
		}
		if now != nil {
			a.State = now.State
		}
		out = append(out, a)
	}
	return http.StatusOK, map[string]any{"advanced": out}, nil
}

// transitionKind parses a type whose transitions the policy decides; ""
// stands for all of them.
func (c *Controls) transitionKind(s string) (opennimble.Kind, error) {
	if s == "" || s == transitions.Any {
		return "", nil
	}
	if _, ok := transitions.States[opennimble.Kind(s)]; !ok {
		return "", invalid("type %q: the types with transitions are %v", s, transitions.Kinds())
	}
	return opennimble.Kind(s), nil
}

// inTransition lists the resources of kind ("" for every kind) and studio
// ("" for every studio) that are in an *_IN_PROGRESS state.
func (c *Controls) inTransition(ctx context.Context, kind opennimble.Kind, studioID string) ([]*opennimble.Record, error) {
	kinds := transitions.Kinds()
	if kind != "" {
		kinds = []opennimble.Kind{kind}
	}
	var out []*opennimble.Record
	err := c.o.Store.View(ctx, func(tx opennimble.Tx) error {
		out = out[:0]
		for _, k := range kinds {
			recs, err := tx.List(ctx, opennimble.ListQuery{Kind: k, StudioID: studioID, States: transitions.States[k]})
			if err != nil {
				return err
			}
			out = append(out, recs...)
		}
		return nil
	})
	return out, err
}

// settle runs a released resource's reconciler until its transition is over
// or makes no progress now (a driver step that takes time), so that a
// session's several steps all run. It returns the resource as it is then,
// nil if it is gone. A failure is left to the lifecycle, which is woken.
func (c *Controls) settle(ctx context.Context, kind opennimble.Kind, id string) (*opennimble.Record, error) {
	var last *opennimble.Record
	for range 32 {
		rec, err := c.getRecord(ctx, kind, id)
		if err != nil || rec == nil {
			return nil, err
		}
		if !inProgress(rec.State) {
			c.o.Policy.Forget(kind, id, rec.State)
			return rec, nil
		}
		if last != nil && rec.Version == last.Version {
			return rec, nil
		}
		last = rec
		if err := c.o.Lifecycle.Reconcile(ctx, kind, id); err != nil {
			werr := c.o.Lifecycle.Wake(context.WithoutCancel(ctx), kind, id)
			return rec, errors.Join(err, werr)
		}
	}
	return last, nil
}

// readTargets maps the Get operations of resources with transitions to the
// resource their input names.
var readTargets = map[string]func(in any) (opennimble.Kind, string){
	"GetStudio": func(in any) (opennimble.Kind, string) {
		return opennimble.KindStudio, in.(*api.GetStudioRequest).StudioId
	},
	"GetStudioComponent": func(in any) (opennimble.Kind, string) {
		return opennimble.KindStudioComponent, in.(*api.GetStudioComponentRequest).StudioComponentId
	},
	"GetLaunchProfile": func(in any) (opennimble.Kind, string) {
		return opennimble.KindLaunchProfile, in.(*api.GetLaunchProfileRequest).LaunchProfileId
	},
	"GetStreamingImage": func(in any) (opennimble.Kind, string) {
		return opennimble.KindStreamingImage, in.(*api.GetStreamingImageRequest).StreamingImageId
	},
	"GetStreamingSession": func(in any) (opennimble.Kind, string) {
		return opennimble.KindStreamingSession, in.(*api.GetStreamingSessionRequest).SessionId
	},
	"GetStreamingSessionStream": func(in any) (opennimble.Kind, string) {
		return opennimble.KindStreamingStream, in.(*api.GetStreamingSessionStreamRequest).StreamId
	},
}

// countRead counts a Get of a resource in a transition held with "reads";
// the read that releases it first runs the transition to its end, so that
// this very read answers the outcome. Failures only leave the transition
// held; the read itself goes on.
func (c *Controls) countRead(ctx context.Context, op string, in any) {
	target, ok := readTargets[op]
	if !ok || !c.o.Policy.CountsReads() {
		return
	}
	kind, id := target(in)
	rec, err := c.getRecord(ctx, kind, id)
	if err != nil || rec == nil {
		return
	}
	if !inProgress(rec.State) {
		c.o.Policy.Forget(kind, id, rec.State)
		return
	}
	if !c.o.Policy.Read(kind, id, rec.State, c.o.Clock.Now()) {
		return
	}
	if _, err := c.settle(ctx, kind, id); err != nil {
		c.o.Logger.Warn("emulator controls: completing a transition released by reads failed", "type", kind, "id", id, "error", err)
	}
}
