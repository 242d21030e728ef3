// Package service implements api.Handler: business rules, idempotency and
// state preconditions (authorisation is authz's decorator around it). It writes desired state and
// *_IN_PROGRESS states in one transaction and schedules the lifecycle; it
// never calls a workstation driver and never waits.
package service

import (
	"context"
	"log/slog"
	"time"

	opennimble "github.com/opennimble/opennimble"
	"github.com/opennimble/opennimble/api"
)

// Config holds what the service needs to know about its deployment.
type Config struct {
	Region    string // e.g. us-west-2
	AccountID string // twelve digits
	// TransitionDelay is how long a *_IN_PROGRESS state lasts before the
	// lifecycle completes it; 0 completes it as soon as a worker runs.
	TransitionDelay time.Duration
	// DeletedRetention is how long a DELETED resource still answers Get.
	DeletedRetention time.Duration
	// PageSize is the page length of list operations without maxResults.
	PageSize int
	// StreamBaseURL is the server's public base URL, for stream URLs.
	StreamBaseURL string
	// Quotas limit how many resources may exist; 0 means the default.
	Quotas Quotas
}

// Quotas are the service quotas: exceeding one is ServiceQuotaExceededException.
type Quotas struct {
	Studios                   int
	StudioComponentsPerStudio int
	LaunchProfilesPerStudio   int
	StreamingImagesPerStudio  int
	SessionsPerStudio         int
}

func (q *Quotas) defaults() {
	for _, f := range []*int{&q.Studios, &q.StudioComponentsPerStudio, &q.LaunchProfilesPerStudio, &q.StreamingImagesPerStudio, &q.SessionsPerStudio} {
		if *f <= 0 {
			*f = 1000
		}
	}
}

// checkQuota refuses to create one more resource when current already
// reaches max.
func (s *Service) checkQuota(what string, current, max int) error {
	if current >= max {
		return opennimble.Errorf(opennimble.ErrServiceQuotaExceeded,
			"The quota of %d %s is reached", max, what).With("quota", what)
	}
	return nil
}

// Service implements api.Handler.
type Service struct {
	store opennimble.Store
	clock opennimble.Clock
	ids   opennimble.IDs
	cfg   Config
	pages *pager
	// kick is called after a transaction enqueued a job due now, so that
	// the lifecycle does not wait for its next poll.
	kick func()
	// driver does the compute work of sessions; only reconcilers call it.
	driver opennimble.Driver
	// transitions, when set, decides when transitions complete (see due).
	transitions TransitionPolicy
	// docs keeps decoded documents of records read by getCommitted.
	docs *docCache
	log  *slog.Logger
}

var _ api.Handler = (*Service)(nil)

// Options are the collaborators of a Service.
type Options struct {
	Store opennimble.Store
	Clock opennimble.Clock
	IDs   opennimble.IDs
	// Kick, when set, is called whenever work became due.
	Kick func()
	// Driver is the workstation driver the lifecycle uses for sessions.
	Driver opennimble.Driver
	// Logger receives what the service notices on its own (a lost
	// workstation); nil logs nothing.
	Logger *slog.Logger
	// Transitions, when set, decides when *_IN_PROGRESS states complete in
	// place of Config.TransitionDelay (emulator controls).
	Transitions TransitionPolicy
	// PageKey, when set, is the pagination key in place of the one kept in
	// the store (a seeded emulator's tokens are reproducible).
	PageKey []byte
}

// TransitionPolicy decides when a transition may complete.
type TransitionPolicy interface {
	// Due reports whether the transition of kind/id into state (an
	// *_IN_PROGRESS state), which began at since, may complete at now. When
	// it may not, at is when to look again; the zero time means only when
	// the policy's owner wakes the resource (Service.Wake).
	Due(kind opennimble.Kind, id, state string, since, now time.Time) (ok bool, at time.Time)
}

// New returns a service on store. The pagination key is created on first use
// and kept in the store, so that tokens survive restarts and work across
// replicas.
func New(ctx context.Context, cfg Config, o Options) (*Service, error) {
	if o.Clock == nil {
		o.Clock = opennimble.SystemClock{}
	}
	if o.IDs == nil {
		o.IDs = opennimble.RandomIDs{}
	}
	if o.Kick == nil {
		o.Kick = func() {}
	}
	if cfg.PageSize <= 0 {
		cfg.PageSize = 100
	}
	if cfg.DeletedRetention <= 0 {
		cfg.DeletedRetention = time.Hour
	}
	cfg.Quotas.defaults()
	if cfg.Region == "" {
		cfg.Region = "us-west-2"
	}
	if cfg.AccountID == "" {
		cfg.AccountID = "000000000000"
	}
	if o.Transitions != nil {
		// The policy decides every delay, so that the first look at a
		// transition comes at once and asks it.
		cfg.TransitionDelay = 0
	}
	p := &pager{key: o.PageKey}
	if o.PageKey == nil {
		var err error
		if p, err = newPager(ctx, o.Store); err != nil {
			return nil, err
		}
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Service{store: o.Store, clock: o.Clock, ids: o.IDs, cfg: cfg, pages: p, kick: o.Kick, driver: o.Driver, transitions: o.Transitions,
		docs: newDocCache(50_000), log: log}, nil
}

// Config returns the service's configuration.
func (s *Service) Config() Config { return s.cfg }

func (s *Service) now() time.Time { return s.clock.Now().UTC().Truncate(time.Millisecond) }

// caller returns the id of the authenticated principal. Requests reach the
// service only after authentication, so a missing principal is a wiring bug
// reported as access denied rather than a panic.
func caller(ctx context.Context) string {
	p, _ := opennimble.PrincipalFrom(ctx)
	return p.ID
}

func ptr[T any](v T) *T { return &v }
