package authz

import (
	"context"
	"strings"

	opennimble "github.com/opennimble/opennimble"
)

// taggable are the resource types of the ARNs tagging operations accept.
var taggable = map[string]bool{
	resStudio: true, resComponent: true, resLaunchProfile: true,
	resImage: true, resSession: true, resBackup: true,
}

// parsedARN is a resource ARN: arn:aws:nimble:<region>:<account>:<type>/<id>.
type parsedARN struct {
	region, account, resourceType, id string
}

// parseARN splits a nimble resource ARN; ok is false when it is not one.
func parseARN(arn string) (parsedARN, bool) {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" || parts[2] != "nimble" {
		return parsedARN{}, false
	}
	typ, id, ok := strings.Cut(parts[5], "/")
	if !ok || !taggable[typ] || id == "" || strings.Contains(id, "/") {
		return parsedARN{}, false
	}
	return parsedARN{region: parts[3], account: parts[4], resourceType: typ, id: id}, true
}

// authorizeARN decides a tagging operation on the resource t.arn names. An
// ARN of another region or account is refused for everyone: this endpoint
// cannot reach it. A malformed ARN is left to the service (a
// ValidationException) for administrators and refused for everyone else.
// Other callers are decided as for the resource itself: the administrators
// of its studio may do everything; a user of the studio may read the tags of
// what it may read and change those of its own sessions.
func (h *Handler) authorizeARN(ctx context.Context, op string, p opennimble.Principal, rule Rule, t target) (opennimble.Principal, role, error) {
	a, ok := parseARN(t.arn)
	if ok && (a.region != h.cfg.Region || a.account != h.cfg.AccountID) {
		return p, 0, denied(op, p.ID, t.arn)
	}
	if p.Admin {
		return p, roleAdmin, nil
	}
	if !ok {
		return p, 0, denied(op, p.ID, t.arn)
	}
	var r role
	err := h.store.View(ctx, func(tx opennimble.Tx) error {
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
func (f facts) decideARN(grant Grant, a parsedARN) (role, error) {
	rec, err := f.get(opennimble.Kind(a.resourceType), a.id)
	if err != nil || rec == nil || rec.StudioID == "" {
		return 0, err
	}
	ok, err := f.studioAdmin(rec.StudioID)
	if err != nil || ok {
		return admin(ok), err
	}
	switch {
	case a.resourceType == resSession || a.resourceType == resBackup:
		// Users may read their own sessions and backups, and change their
		// own sessions; backups only the service changes.
		ok = rec.OwnedBy == f.who && (grant == TagsRead || a.resourceType == resSession)
	case grant == TagsWrite:
		// Users change the tags of nothing else.
	case a.resourceType == resStudio || a.resourceType == resImage:
		ok = true
	case a.resourceType == resLaunchProfile:
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
