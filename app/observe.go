package app

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"time"

	opennimble "github.com/opennimble/opennimble"
	"github.com/opennimble/opennimble/api"
	"github.com/opennimble/opennimble/metrics"
	"github.com/opennimble/opennimble/server"
)

// observedStore is the store as the rest of the server sees it: every
// transaction is timed, and every state change a committed transaction
// made is logged once (the principal and operation that made it, or the
// lifecycle) and counted. Everything that writes a resource goes through
// the store, so this is the one place that sees every change, whoever made
// it.
type observedStore struct {
	opennimble.Store
	log     *slog.Logger
	metrics *metrics.Metrics
}

var (
	_ opennimble.RecordGetter = (*observedStore)(nil)
)

func (s *observedStore) View(ctx context.Context, fn func(opennimble.Tx) error) error {
	start := time.Now()
	err := s.Store.View(ctx, fn)
	s.metrics.ObserveTx("view", time.Since(start), err)
	return err
}

func (s *observedStore) Update(ctx context.Context, fn func(opennimble.Tx) error) error {
	var t *changeTx
	start := time.Now()
	err := s.Store.Update(ctx, func(tx opennimble.Tx) error {
		// fn may run again when the database asks to retry: only the
		// changes of the run that committed count.
		t = &changeTx{Tx: tx, states: map[recordKey]string{}}
		return fn(t)
	})
	s.metrics.ObserveTx("update", time.Since(start), err)
	if err == nil && t != nil {
		for _, c := range t.changes {
			s.logChange(ctx, c)
		}
	}
	return err
}

// GetRecord keeps the store's committed-record reads (the SQLite cache)
// available to the service.
func (s *observedStore) GetRecord(ctx context.Context, kind opennimble.Kind, id string) (*opennimble.Record, error) {
	if g, ok := s.Store.(opennimble.RecordGetter); ok {
		return g.GetRecord(ctx, kind, id)
	}
	var rec *opennimble.Record
	err := s.View(ctx, func(tx opennimble.Tx) (err error) {
		rec, err = tx.Get(ctx, kind, id)
		return err
	})
	return rec, err
}

// Reset forwards the emulator controls' reset.
func (s *observedStore) Reset(ctx context.Context) error {
	r, ok := s.Store.(interface{ Reset(context.Context) error })
	if !ok {
		return errors.New("this store cannot be reset")
	}
	return r.Reset(ctx)
}

type recordKey struct {
	kind opennimble.Kind
	id   string
}

// change is one record's change in a transaction.
type change struct {
	rec      opennimble.Record
	from     string
	created  bool
	deleted  bool
	studioID string
}

// changeTx remembers the state of every record the transaction read, so
// that a Put knows the state it replaces.
type changeTx struct {
	opennimble.Tx
	states  map[recordKey]string
	changes []change
}

func (t *changeTx) Get(ctx context.Context, kind opennimble.Kind, id string) (*opennimble.Record, error) {
	r, err := t.Tx.Get(ctx, kind, id)
	if err == nil {
		t.states[recordKey{kind, id}] = r.State
	}
	return r, err
}

func (t *changeTx) List(ctx context.Context, q opennimble.ListQuery) ([]*opennimble.Record, error) {
	rs, err := t.Tx.List(ctx, q)
	for _, r := range rs {
		t.states[recordKey{r.Kind, r.ID}] = r.State
	}
	return rs, err
}

func (t *changeTx) Put(ctx context.Context, r *opennimble.Record) error {
	key := recordKey{r.Kind, r.ID}
	from, known := t.states[key]
	created := r.Version == 0
	if !known && !created {
		// Written without being read in this transaction: read what it
		// replaces (rare; the service reads before it writes).
		if old, err := t.Tx.Get(ctx, r.Kind, r.ID); err == nil {
			from = old.State
		}
	}
	if err := t.Tx.Put(ctx, r); err != nil {
		return err
	}
	t.states[key] = r.State
	if created || from != r.State {
		t.changes = append(t.changes, change{rec: *r, from: from, created: created})
	}
	return nil
}

func (t *changeTx) Delete(ctx context.Context, kind opennimble.Kind, id string) error {
	if err := t.Tx.Delete(ctx, kind, id); err != nil {
		return err
	}
	t.changes = append(t.changes, change{rec: opennimble.Record{Kind: kind, ID: id, State: t.states[recordKey{kind, id}]}, deleted: true})
	return nil
}

// logChange logs one committed change: INFO for a state change, a creation
// or a removal, WARN with the status code and message for a *_FAILED
// state.
func (s *observedStore) logChange(ctx context.Context, c change) {
	r := c.rec
	stateChange := !c.deleted && !(c.created && r.State == "")
	failed := stateChange && strings.HasSuffix(r.State, "_FAILED")
	if stateChange {
		s.metrics.StateChanged(string(r.Kind), r.State)
	}
	// The attributes are built only for a line that is written: at warn
	// (failures) or above, most changes are not.
	level := slog.LevelInfo
	if failed {
		level = slog.LevelWarn
	}
	if !s.log.Enabled(ctx, level) {
		return
	}
	attrs := []any{"kind", r.Kind, "id", r.ID}
	if r.StudioID != "" {
		attrs = append(attrs, "studio", r.StudioID)
	}
	if r.ParentID != "" {
		attrs = append(attrs, "parent", r.ParentID)
	}
	if r.OwnedBy != "" {
		attrs = append(attrs, "owner", r.OwnedBy)
	}
	attrs = append(attrs, actor(ctx)...)
	switch {
	case c.deleted:
		s.log.Info("resource removed", append(attrs, "state", r.State)...)
		return
	case !stateChange:
		s.log.Info("resource created", attrs...)
		return
	}
	attrs = append(attrs, "from", c.from, "to", r.State)
	if !failed {
		s.log.Info("state change", attrs...)
		return
	}
	var status struct {
		StatusCode    string `json:"statusCode"`
		StatusMessage string `json:"statusMessage"`
	}
	_ = json.Unmarshal(r.Data, &status)
	s.log.Warn("state change", append(attrs, "statusCode", status.StatusCode, "statusMessage", status.StatusMessage)...)
}

// actor names who made a change: the principal and operation of a request,
// or the lifecycle.
func actor(ctx context.Context) []any {
	p, ok := opennimble.PrincipalFrom(ctx)
	if !ok {
		return []any{"principal", "-", "by", "lifecycle"}
	}
	return []any{"principal", p.ID, "by", server.OperationFrom(ctx)}
}

// sessionsByState counts the streaming sessions in each state, for the
// sessions gauge read at every scrape.
func sessionsByState(store opennimble.Store) metrics.GaugeSource {
	return func(ctx context.Context) (map[string]float64, error) {
		out := map[string]float64{}
		err := store.View(ctx, func(tx opennimble.Tx) error {
			for _, st := range api.StreamingSessionStateValues {
				n, err := tx.Count(ctx, opennimble.ListQuery{Kind: opennimble.KindStreamingSession, States: []string{st}})
				if err != nil {
					return err
				}
				out[st] = float64(n)
			}
			return nil
		})
		return out, err
	}
}

// CountJobs forwards the store's job count (metrics).
func (s *observedStore) CountJobs(ctx context.Context) (int, error) {
	c, ok := s.Store.(opennimble.JobCounter)
	if !ok {
		return 0, errors.New("this store cannot count jobs")
	}
	return c.CountJobs(ctx)
}

// The job queue's calls are store transactions of their own (each commits
// on its own, outside Update): they are timed under their own kinds so that
// the writes a lifecycle cycle costs can be counted from /metrics
// (nimblebench's store_writes_per_cycle), empty claims by polling workers
// included.

func (s *observedStore) ClaimJobs(ctx context.Context, owner string, now time.Time, lease time.Duration, limit int) ([]opennimble.Job, error) {
	start := time.Now()
	jobs, err := s.Store.ClaimJobs(ctx, owner, now, lease, limit)
	s.metrics.ObserveTx("claim", time.Since(start), err)
	return jobs, err
}

func (s *observedStore) CompleteJob(ctx context.Context, j opennimble.Job) error {
	start := time.Now()
	err := s.Store.CompleteJob(ctx, j)
	s.metrics.ObserveTx("complete", time.Since(start), err)
	return err
}

func (s *observedStore) RetryJob(ctx context.Context, j opennimble.Job, runAt time.Time) error {
	start := time.Now()
	err := s.Store.RetryJob(ctx, j, runAt)
	s.metrics.ObserveTx("retry", time.Since(start), err)
	return err
}

func (s *observedStore) RenewJobs(ctx context.Context, owner string, jobs []opennimble.Job, until time.Time) (int, error) {
	start := time.Now()
	n, err := s.Store.RenewJobs(ctx, owner, jobs, until)
	s.metrics.ObserveTx("renew", time.Since(start), err)
	return n, err
}
