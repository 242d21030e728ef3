package authz

import (
	"context"
	"errors"

	opennimble "github.com/opennimble/opennimble"
)

// deleted is the model's DELETED state, the same for every resource.
const deleted = "DELETED"

// facts answers questions about one principal from the records of a read
// transaction: studio members are kind studio-member with id
// studioId/principalId; launch profile members are kind
// launch-profile-member with id launchProfileId/principalId; sessions and
// backups carry their owner in OwnedBy.
type facts struct {
	ctx context.Context
	tx  opennimble.Tx
	who string
}

// get returns a record, nil if there is none.
func (f facts) get(kind opennimble.Kind, id string) (*opennimble.Record, error) {
	rec, err := f.tx.Get(f.ctx, kind, id)
	if errors.Is(err, opennimble.ErrNoRecord) {
		return nil, nil
	}
	return rec, err
}

// studioAdmin reports whether the caller is a member of the studio. The
// model's studio membership has the one persona ADMINISTRATOR.
func (f facts) studioAdmin(studioID string) (bool, error) {
	if studioID == "" {
		return false, nil
	}
	rec, err := f.get(opennimble.KindStudioMember, studioID+"/"+f.who)
	return rec != nil && rec.StudioID == studioID, err
}

// profileMember reports whether the caller is a member of the launch
// profile of the studio, which is not deleted. The model's launch profile
// membership has the one persona USER.
func (f facts) profileMember(studioID, launchProfileID string) (bool, error) {
	if studioID == "" || launchProfileID == "" {
		return false, nil
	}
	rec, err := f.get(opennimble.KindLaunchProfileMember, launchProfileID+"/"+f.who)
	if err != nil || rec == nil || rec.StudioID != studioID || rec.ParentID != launchProfileID {
		return false, err
	}
	return f.liveProfile(studioID, launchProfileID)
}

// liveProfile reports whether the launch profile of the studio exists and
// is not deleted. Memberships outlive a deleted profile until it is purged.
func (f facts) liveProfile(studioID, launchProfileID string) (bool, error) {
	lp, err := f.get(opennimble.KindLaunchProfile, launchProfileID)
	return lp != nil && lp.StudioID == studioID && lp.State != deleted, err
}

// studioUser reports whether the caller is a member of at least one of the
// studio's launch profiles that is not deleted.
func (f facts) studioUser(studioID string) (bool, error) {
	if studioID == "" {
		return false, nil
	}
	ids, err := f.usedStudios(studioID)
	return ids[studioID], err
}

// usedStudios returns the studios the caller is a user of, among studioID
// ("" for every studio).
func (f facts) usedStudios(studioID string) (map[string]bool, error) {
	recs, err := f.tx.List(f.ctx, opennimble.ListQuery{Kind: opennimble.KindLaunchProfileMember, StudioID: studioID, OwnedBy: f.who})
	if err != nil {
		return nil, err
	}
	out := map[string]bool{}
	for _, m := range recs {
		if out[m.StudioID] {
			continue
		}
		live, err := f.liveProfile(m.StudioID, m.ParentID)
		if err != nil {
			return nil, err
		}
		out[m.StudioID] = live
	}
	return out, nil
}

// visibleStudios returns the studios the caller administers or uses.
func (f facts) visibleStudios() (map[string]bool, error) {
	out, err := f.usedStudios("")
	if err != nil {
		return nil, err
	}
	recs, err := f.tx.List(f.ctx, opennimble.ListQuery{Kind: opennimble.KindStudioMember, OwnedBy: f.who})
	if err != nil {
		return nil, err
	}
	for _, m := range recs {
		out[m.StudioID] = true
	}
	return out, nil
}

// owner reports whether the caller is a user of the studio and owns the
// session or backup id of it. A missing resource is not owned: the caller
// learns nothing about resources it may not reach.
func (f facts) owner(studioID string, kind opennimble.Kind, id string) (bool, error) {
	rec, err := f.get(kind, id)
	if err != nil || rec == nil || rec.StudioID != studioID || rec.OwnedBy != f.who {
		return false, err
	}
	return f.studioUser(studioID)
}
