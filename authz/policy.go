package authz

import (
	"fmt"
	"slices"
	"strings"

	opennimble "github.com/opennimble/opennimble"
	"github.com/opennimble/opennimble/api"
)

// Grant says what a studio user (a member of at least one of the studio's
// launch profiles) may do with an operation. Account administrators
// (Principal.Admin) may call every operation, and a studio's administrators
// (its ADMINISTRATOR studio members) every operation inside that studio,
// whatever the grant.
type Grant int

// The grants, from AWS's managed policies AmazonNimbleStudio-StudioAdmin and
// AmazonNimbleStudio-StudioUser.
const (
	// Admins: administrators only.
	Admins Grant = iota
	// Authenticated: any authenticated principal; the operation is not
	// studio-scoped.
	Authenticated
	// OwnStudios: any authenticated principal; results are filtered to the
	// studios it administers or uses.
	OwnStudios
	// StudioUsers: any user of the studio.
	StudioUsers
	// ProfileMembers: users who are members of the launch profile.
	ProfileMembers
	// CreateOwned: users who are members of the launch profile, creating a
	// session owned by themselves (an ownedBy naming another is refused).
	CreateOwned
	// Owners: users who own the session or backup (its ownedBy).
	Owners
	// ListOwned: users, listing their own only: a missing ownedBy filter is
	// set to the caller, one naming another principal is refused.
	ListOwned
	// ListMemberOf: users, listing the launch profiles they are members of:
	// a missing principalId filter is set to the caller, one naming another
	// principal is refused.
	ListMemberOf
	// TagsRead: as reading the resource the ARN names (the studio, its
	// streaming images, launch profiles the user is a member of, its own
	// sessions and backups).
	TagsRead
	// TagsWrite: as changing the resource the ARN names (its own sessions).
	TagsWrite
)

var grantText = map[Grant]string{
	Admins:         "no",
	Authenticated:  "yes (any authenticated principal)",
	OwnStudios:     "yes: only the studios it administers or uses",
	StudioUsers:    "yes",
	ProfileMembers: "launch profiles it is a member of",
	CreateOwned:    "on launch profiles it is a member of, `ownedBy` itself",
	Owners:         "only its own (`ownedBy` = caller)",
	ListOwned:      "only its own: `ownedBy` is set to the caller; another `ownedBy` is refused",
	ListMemberOf:   "only those it is a member of: `principalId` is set to the caller; another is refused",
	TagsRead:       "resources it may read",
	TagsWrite:      "its own sessions",
}

func (g Grant) String() string { return grantText[g] }

// Rule is one row of the policy.
type Rule struct {
	// Resource is the kind of resource the action is decided on (the
	// resource type of its ARN), or "" for an action on the account; "arn"
	// means the resource the request's resourceArn names.
	Resource opennimble.Kind
	// Users is what a studio user may do.
	Users Grant
}

// The resources rules are decided on.
const (
	resAccount       = ""
	resARN           = "arn"
	resStudio        = opennimble.KindStudio
	resComponent     = opennimble.KindStudioComponent
	resLaunchProfile = opennimble.KindLaunchProfile
	resImage         = opennimble.KindStreamingImage
	resSession       = opennimble.KindStreamingSession
	resBackup        = opennimble.KindStreamingBackup
)

// taggable are the kinds a rule may be decided on besides the account and
// an ARN: those that have ARNs.
var taggable = map[opennimble.Kind]bool{
	resStudio: true, resComponent: true, resLaunchProfile: true,
	resImage: true, resSession: true, resBackup: true,
}

// Policy is the authorisation of every operation, by operation name: who
// besides administrators may call it. It is the one place the rules live.
var Policy = map[string]Rule{
	"AcceptEulas":                       {resStudio, StudioUsers},
	"CreateLaunchProfile":               {resStudio, Admins},
	"CreateStreamingImage":              {resStudio, Admins},
	"CreateStreamingSession":            {resLaunchProfile, CreateOwned},
	"CreateStreamingSessionStream":      {resSession, Owners},
	"CreateStudio":                      {resAccount, Admins},
	"CreateStudioComponent":             {resStudio, Admins},
	"DeleteLaunchProfile":               {resLaunchProfile, Admins},
	"DeleteLaunchProfileMember":         {resLaunchProfile, Admins},
	"DeleteStreamingImage":              {resImage, Admins},
	"DeleteStreamingSession":            {resSession, Owners},
	"DeleteStudio":                      {resStudio, Admins},
	"DeleteStudioComponent":             {resComponent, Admins},
	"DeleteStudioMember":                {resStudio, Admins},
	"GetEula":                           {resAccount, Authenticated},
	"GetLaunchProfile":                  {resLaunchProfile, ProfileMembers},
	"GetLaunchProfileDetails":           {resLaunchProfile, ProfileMembers},
	"GetLaunchProfileInitialization":    {resLaunchProfile, ProfileMembers},
	"GetLaunchProfileMember":            {resLaunchProfile, Admins},
	"GetStreamingImage":                 {resImage, StudioUsers},
	"GetStreamingSession":               {resSession, Owners},
	"GetStreamingSessionBackup":         {resBackup, Owners},
	"GetStreamingSessionStream":         {resSession, Owners},
	"GetStudio":                         {resStudio, StudioUsers},
	"GetStudioComponent":                {resComponent, Admins},
	"GetStudioMember":                   {resStudio, Admins},
	"ListEulaAcceptances":               {resStudio, StudioUsers},
	"ListEulas":                         {resAccount, Authenticated},
	"ListLaunchProfileMembers":          {resLaunchProfile, Admins},
	"ListLaunchProfiles":                {resStudio, ListMemberOf},
	"ListStreamingImages":               {resStudio, StudioUsers},
	"ListStreamingSessionBackups":       {resStudio, ListOwned},
	"ListStreamingSessions":             {resStudio, ListOwned},
	"ListStudioComponents":              {resStudio, Admins},
	"ListStudioMembers":                 {resStudio, Admins},
	"ListStudios":                       {resAccount, OwnStudios},
	"ListTagsForResource":               {resARN, TagsRead},
	"PutLaunchProfileMembers":           {resLaunchProfile, Admins},
	"PutStudioMembers":                  {resStudio, Admins},
	"StartStreamingSession":             {resSession, Owners},
	"StartStudioSSOConfigurationRepair": {resStudio, Admins},
	"StopStreamingSession":              {resSession, Owners},
	"TagResource":                       {resARN, TagsWrite},
	"UntagResource":                     {resARN, TagsWrite},
	"UpdateLaunchProfile":               {resLaunchProfile, Admins},
	"UpdateLaunchProfileMember":         {resLaunchProfile, Admins},
	"UpdateStreamingImage":              {resImage, Admins},
	"UpdateStudio":                      {resStudio, Admins},
	"UpdateStudioComponent":             {resComponent, Admins},
}

// Markdown renders the policy as a table, one row per operation of the model.
func Markdown() string {
	var b strings.Builder
	b.WriteString("| Operation | Decided on | Account admin | Studio admin | Studio user |\n| --- | --- | --- | --- | --- |\n")
	names := make([]string, 0, len(api.Operations))
	for _, op := range api.Operations {
		names = append(names, op.Name)
	}
	slices.Sort(names)
	for _, n := range names {
		r := Policy[n]
		res, studioAdmin := "`"+string(r.Resource)+"`", "yes"
		switch r.Resource {
		case resAccount:
			res = "account"
			switch r.Users {
			case Admins:
				studioAdmin = "no"
			case OwnStudios:
				studioAdmin = r.Users.String()
			}
		case resARN:
			res, studioAdmin = "the ARN's resource", "resources of its studio"
		}
		fmt.Fprintf(&b, "| %s | %s | yes | %s | %s |\n", n, res, studioAdmin, r.Users)
	}
	return b.String()
}
