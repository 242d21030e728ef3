package controls

import (
	"encoding/json"
	"net/http"
	"strings"

	opennimble "github.com/opennimble/opennimble"
	"github.com/opennimble/opennimble/transitions"
)

// Resource is one stored resource in the state dump: its indexed columns,
// how many times it was written, and its document, which is the API's shape
// of the resource (with its own timestamps) plus the server's bookkeeping (a
// session's transition in progress, its volume generation...).
type Resource struct {
	Type     opennimble.Kind `json:"type"`
	ID       string          `json:"id"`
	StudioID string          `json:"studioId,omitempty"`
	ParentID string          `json:"parentId,omitempty"`
	OwnedBy  string          `json:"ownedBy,omitempty"`
	State    string          `json:"state,omitempty"`
	Version  int64           `json:"version"`
	Document json.RawMessage `json:"document,omitempty"`
}

// State is the body of GET /_nimble/state.
type State struct {
	Resources []Resource         `json:"resources"`
	Held      []transitions.Hold `json:"held"`
	// Driver is what the driver holds (the simulated driver's sessions and
	// backups), shown when the dump is not filtered.
	Driver any `json:"driver,omitempty"`
}

// state dumps every resource, from one snapshot of the store. Query
// parameters filter it: studioId, and type (repeated or comma separated).
func (c *Controls) state(r *http.Request, _ []byte, _ string) (int, any, error) {
	q := r.URL.Query()
	studio := q.Get("studioId")
	kinds := allKinds
	if types := q["type"]; len(types) > 0 {
		kinds = nil
		for _, t := range types {
			for _, s := range strings.Split(t, ",") {
				k, err := parseKind(strings.TrimSpace(s))
				if err != nil {
					return 0, nil, err
				}
				kinds = append(kinds, k)
			}
		}
	}
	out := State{Resources: []Resource{}, Held: c.o.Policy.Held()}
	ctx := r.Context()
	err := c.o.Store.View(ctx, func(tx opennimble.Tx) error {
		out.Resources = out.Resources[:0]
		for _, k := range kinds {
			recs, err := tx.List(ctx, opennimble.ListQuery{Kind: k, StudioID: studio})
			if err != nil {
				return err
			}
			for _, rec := range recs {
				out.Resources = append(out.Resources, Resource{Type: rec.Kind, ID: rec.ID, StudioID: rec.StudioID,
					ParentID: rec.ParentID, OwnedBy: rec.OwnedBy, State: rec.State, Version: rec.Version,
					Document: documentJSON(rec.Data)})
			}
		}
		return nil
	})
	if err != nil {
		return 0, nil, err
	}
	if d, ok := opennimble.DriverAs[opennimble.StateDumper](c.o.Driver); ok && studio == "" && len(q["type"]) == 0 {
		out.Driver = d.DumpState()
	}
	return http.StatusOK, out, nil
}

// documentJSON returns a stored document as JSON, or nil when it is not.
func documentJSON(b []byte) json.RawMessage {
	if len(b) == 0 || !json.Valid(b) {
		return nil
	}
	return b
}
