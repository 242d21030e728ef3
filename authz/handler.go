package authz

import (
	"context"

	opennimble "github.com/opennimble/opennimble"
	"github.com/opennimble/opennimble/api"
)

// The one check, run around every operation by api.Decorate. What a request
// acts on is read from its input by the model's member names: the studio
// from studioId, the resource from the member naming the rule's resource
// type, the ARN of a tagging request from resourceArn. The grants that
// narrow what a studio user sees or makes name the filter they force.

// idMember is the input member naming the resource a rule is decided on.
var idMember = map[opennimble.Kind]string{
	resComponent:     "studioComponentId",
	resLaunchProfile: "launchProfileId",
	resImage:         "streamingImageId",
	resSession:       "sessionId",
	resBackup:        "backupId",
}

// narrowing is the input member a grant forces to a studio user's own id:
// users create sessions owned by themselves, and list only their own
// sessions and backups and the launch profiles they are members of. A
// member naming another principal is refused (decide), an empty one set.
var narrowing = map[Grant]string{
	CreateOwned:  "ownedBy",
	ListOwned:    "ownedBy",
	ListMemberOf: "principalId",
}

// around authorises op on what in names, then calls the service, with the
// user's filter forced where the grant narrows, and filters ListStudios.
func (h *authorizer) around(ctx context.Context, op string, in any, call func(context.Context, any) (any, error)) (any, error) {
	m := in.(api.Input)
	rule := Policy[op]
	filter := narrowing[rule.Users]
	t := target{
		studio:  m.Member("studioId"),
		id:      m.Member(idMember[rule.Resource]),
		arn:     m.Member("resourceArn"),
		ownedBy: m.Member(filter),
	}
	p, role, err := h.authorize(ctx, op, t)
	if err != nil {
		return nil, err
	}
	if filter != "" && role == roleUser {
		// A copy: the caller's request is not changed in place.
		in = m.WithMember(filter, p.ID)
	}
	out, err := call(ctx, in)
	if rule.Users == OwnStudios && err == nil && !p.Admin {
		if list, ok := out.(*api.ListStudiosResponse); ok && list != nil {
			return h.ownStudios(ctx, p, list)
		}
	}
	return out, err
}

// ownStudios keeps the studios p administers or uses. The page keeps the
// service's nextToken, so a page may be shorter than the others, or empty,
// before the last.
func (h *authorizer) ownStudios(ctx context.Context, p opennimble.Principal, out *api.ListStudiosResponse) (*api.ListStudiosResponse, error) {
	var visible map[string]bool
	err := h.store.View(ctx, func(tx opennimble.Tx) error {
		var err error
		visible, err = facts{ctx: ctx, tx: tx, who: p.ID}.visibleStudios()
		return err
	})
	if err != nil {
		return nil, err
	}
	kept := make([]*api.Studio, 0, len(out.Studios))
	for _, s := range out.Studios {
		if s != nil && visible[s.StudioId] {
			kept = append(kept, s)
		}
	}
	return &api.ListStudiosResponse{Studios: kept, NextToken: out.NextToken}, nil
}
