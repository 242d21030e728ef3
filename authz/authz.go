// Package authz decides, from the authenticated principal, whether a request
// may reach the service: account administrators may do everything, a
// studio's administrators everything in their studio, and studio users (the
// members of its launch profiles) only what AWS's managed policy for studio
// users allows, on their own launch profiles, sessions and backups. The rules
// are the one table in policy.go.
//
// Decisions read memberships and ownership from the store on every request
// (no caching, so removing a member takes effect at once), using only the
// stored records' columns.
package authz

import (
	"context"

	opennimble "github.com/opennimble/opennimble"
	"github.com/opennimble/opennimble/api"
)

// Config names the deployment, for the ARNs in denials and to refuse ARNs of
// another account or region.
type Config struct {
	Region    string // e.g. us-west-2; defaults to us-west-2
	AccountID string // twelve digits; defaults to 000000000000
}

// authorizer decides requests from the policy and the store.
type authorizer struct {
	store opennimble.Store
	cfg   Config
}

// New returns next guarded by the policy, deciding from store: each request
// is authorised before it reaches next. A refused request gets
// AccessDeniedException and never reaches next, so it changes nothing.
func New(next api.Handler, store opennimble.Store, cfg Config) api.Handler {
	if cfg.Region == "" {
		cfg.Region = "us-west-2"
	}
	if cfg.AccountID == "" {
		cfg.AccountID = "000000000000"
	}
	h := &authorizer{store: store, cfg: cfg}
	return api.Decorate(next, h.around)
}

// target is what a request acts on, from its input.
type target struct {
	studio string // the studio in the request's path
	id     string // the id of the resource of the rule's type
	// ownedBy is the ownedBy of a session to create, or the ownedBy or
	// principalId filter of a list.
	ownedBy string
	arn     string // the resourceArn of a tagging request
}

// role is how much of a request's studio the caller may reach.
type role int

const (
	roleAdmin role = iota + 1 // account or studio administrator: everything
	roleUser                  // studio user, within the rule's grant
)

// authorize decides op on t for the caller. It returns the caller and its
// role, or AccessDeniedException.
func (h *authorizer) authorize(ctx context.Context, op string, t target) (opennimble.Principal, role, error) {
	p, ok := opennimble.PrincipalFrom(ctx)
	rule, known := Policy[op]
	if !known {
		// A policy without a row for an operation is a bug: refuse rather
		// than guess. The test over api.Operations keeps this unreachable.
		return p, 0, opennimble.Errorf(opennimble.ErrAccessDenied, "No authorisation rule for nimble:%s", op)
	}
	if !ok || p.ID == "" {
		return p, 0, h.deny(op, "anonymous", rule, t)
	}
	if rule.Resource == resARN {
		return h.authorizeARN(ctx, op, p, rule, t)
	}
	if p.Admin {
		return p, roleAdmin, nil
	}
	if rule.Users == Authenticated || rule.Users == OwnStudios {
		return p, roleUser, nil
	}
	if rule.Resource == resAccount {
		return p, 0, h.deny(op, p.ID, rule, t)
	}
	var r role
	err := h.store.View(ctx, func(tx opennimble.Tx) error {
		f := facts{ctx: ctx, tx: tx, who: p.ID}
		var err error
		r, err = f.decide(rule, t)
		return err
	})
	if err != nil {
		return p, 0, err
	}
	if r == 0 {
		return p, 0, h.deny(op, p.ID, rule, t)
	}
	return p, r, nil
}

// decide returns the caller's role for a studio-scoped request, 0 if it may
// not make it.
func (f facts) decide(rule Rule, t target) (role, error) {
	ok, err := f.studioAdmin(t.studio)
	if err != nil || ok {
		return admin(ok), err
	}
	switch rule.Users {
	case StudioUsers:
		ok, err = f.studioUser(t.studio)
	case ListOwned, ListMemberOf:
		if t.ownedBy == "" || t.ownedBy == f.who {
			ok, err = f.studioUser(t.studio)
		}
	case ProfileMembers:
		ok, err = f.profileMember(t.studio, t.id)
	case CreateOwned:
		if t.ownedBy == "" || t.ownedBy == f.who {
			ok, err = f.profileMember(t.studio, t.id)
		}
	case Owners:
		ok, err = f.owner(t.studio, rule.Resource, t.id)
	}
	if !ok || err != nil {
		return 0, err
	}
	return roleUser, nil
}

// admin is roleAdmin if ok, else 0 (no decision yet).
func admin(ok bool) role {
	if ok {
		return roleAdmin
	}
	return 0
}

// deny is the AccessDeniedException of op on t, in AWS's words.
func (h *authorizer) deny(op, who string, rule Rule, t target) error {
	res := "*"
	switch rule.Resource {
	case resAccount:
	case resARN:
		res = t.arn
	case resStudio:
		res = h.arn(resStudio, t.studio)
	default:
		res = h.arn(rule.Resource, t.id)
	}
	return denied(op, who, res)
}

func denied(op, who, resource string) error {
	return opennimble.Errorf(opennimble.ErrAccessDenied,
		"User: %s is not authorized to perform: nimble:%s on resource: %s", who, op, resource)
}

// arn is the ARN of a resource of this deployment.
func (h *authorizer) arn(kind opennimble.Kind, id string) string {
	return opennimble.ARN{Region: h.cfg.Region, Account: h.cfg.AccountID, Kind: kind, ID: id}.String()
}
