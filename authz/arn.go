package authz

import (
	"context"

	opennimble "github.com/opennimble/opennimble"
)

// authorizeARN decides a tagging operation on the resource t.arn names. An
// ARN of another region or account is refused for everyone: this endpoint
// cannot reach it. A malformed ARN is left to the service (a
// ValidationException) for administrators and refused for everyone else.
// Other callers are decided as for the resource itself: the administrators
// of its studio may do everything; a user of the studio may read the tags of
// what it may read and change those of its own sessions.
func (h *authorizer) authorizeARN(ctx context.Context, op string, p opennimble.Principal, rule Rule, t target) (opennimble.Principal, role, error) {
	a, err := opennimble.ParseARN(t.arn)
	ok := err == nil
	if ok && (a.Region != h.cfg.Region || a.Account != h.cfg.AccountID) {
		return p, 0, denied(op, p.ID, t.arn)
	}
	if p.Admin {
		return p, roleAdmin, nil
	}
	if !ok {
		return p, 0, denied(op, p.ID, t.arn)
	}
	var r role
	err = h.store.View(ctx, func(tx opennimble.Tx) error {
		f := facts{ctx: ctx, tx: tx, who: p.ID}
		var err error
		r, err = f.decideARN(rule.Users, a)
		return err
	})
	if err != nil {
		return p, 0, err
	}
	if r == 0 {
		return p, 0, denied(op, p.ID, t.arn)
	}
	return p, r, nil
}

// decideARN returns the caller's role for the resource a names, 0 when it
// may not use grant on it. A resource that is not stored belongs to no
// studio the caller could be in, so only account administrators reach it.
func (f facts) decideARN(grant Grant, a opennimble.ARN) (role, error) {
	rec, err := f.get(a.Kind, a.ID)
	if err != nil || rec == nil || rec.StudioID == "" {
		return 0, err
	}
	ok, err := f.studioAdmin(rec.StudioID)
	if err != nil || ok {
		return admin(ok), err
	}
	switch {
	case a.Kind == resSession || a.Kind == resBackup:
		// Users may read their own sessions and backups, and change their
		// own sessions; backups only the service changes.
		ok = rec.OwnedBy == f.who && (grant == TagsRead || a.Kind == resSession)
	case grant == TagsWrite:
		// Users change the tags of nothing else.
	case a.Kind == resStudio || a.Kind == resImage:
		ok = true
	case a.Kind == resLaunchProfile:
		ok, err = f.profileMember(rec.StudioID, rec.ID)
	}
	if !ok || err != nil {
		return 0, err
	}
	if ok, err := f.studioUser(rec.StudioID); !ok || err != nil {
		return 0, err
	}
	return roleUser, nil
}
