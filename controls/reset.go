package controls

import (
	"context"
	"errors"
	"net/http"

	opennimble "github.com/opennimble/opennimble"
)

// resetRequest is the optional body of POST /_nimble/reset.
type resetRequest struct {
	// Controls also drops the fault rules and the transition rules.
	Controls bool `json:"controls,omitempty"`
}

// reset deletes every resource of every studio, with the lifecycle's jobs,
// the idempotency records and the driver's state (the simulated driver's); credentials
// stay. A seeded server starts its id sequence again, so that a test that
// begins with a reset sees the same ids on every run.
func (c *Controls) reset(r *http.Request, body []byte, _ string) (int, any, error) {
	var in resetRequest
	if err := readJSON(body, &in); err != nil {
		return 0, nil, err
	}
	ctx := r.Context()
	// Ids first: an id drawn from the new sequence before the store is
	// emptied belongs to a resource the reset deletes.
	if c.o.IDs != nil {
		c.o.IDs.Reset()
	}
	if err := c.resetStore(ctx); err != nil {
		return 0, nil, err
	}
	if d, ok := opennimble.DriverAs[opennimble.Resetter](c.o.Driver); ok {
		if err := d.Reset(); err != nil {
			return 0, nil, err
		}
	}
	c.o.Policy.Reset(in.Controls)
	if in.Controls {
		c.o.Faults.Clear()
	}
	return http.StatusOK, map[string]any{"reset": true, "controls": in.Controls}, nil
}

// resetStore empties the store in one transaction: with its own Reset when
// it has one, otherwise by deleting every resource (jobs of deleted
// resources then find nothing to do; idempotency records stay).
func (c *Controls) resetStore(ctx context.Context) error {
	if st, ok := c.o.Store.(Resetter); ok {
		return st.Reset(ctx)
	}
	return c.o.Store.Update(ctx, func(tx opennimble.Tx) error {
		var errs []error
		for _, k := range allKinds {
			recs, err := tx.List(ctx, opennimble.ListQuery{Kind: k})
			if err != nil {
				return err
			}
			for _, rec := range recs {
				errs = append(errs, tx.Delete(ctx, k, rec.ID))
			}
		}
		return errors.Join(errs...)
	})
}
