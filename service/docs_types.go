package service

import (
	"time"

	opennimble "github.com/opennimble/opennimble"
	"github.com/opennimble/opennimble/api"
)

// The stored documents of the studio-scoped resources. Each embeds the
// model's shape (what clients see) and may add internal fields, which
// encoding/json stores beside the model's members.

type studioComponentDoc struct {
	api.StudioComponent
	StudioId string `json:"studioId"`
}

func (d *studioComponentDoc) kind() opennimble.Kind { return opennimble.KindStudioComponent }
func (d *studioComponentDoc) id() string            { return d.StudioComponentId }
func (d *studioComponentDoc) columns() columns {
	return columns{StudioID: d.StudioId, State: string(d.State)}
}

type launchProfileDoc struct {
	api.LaunchProfile
	StudioId string `json:"studioId"`
}

func (d *launchProfileDoc) kind() opennimble.Kind { return opennimble.KindLaunchProfile }
func (d *launchProfileDoc) id() string            { return d.LaunchProfileId }
func (d *launchProfileDoc) columns() columns {
	return columns{StudioID: d.StudioId, State: string(d.State)}
}

type streamingImageDoc struct {
	api.StreamingImage
	StudioId string `json:"studioId"`
	// Source names what a new session volume is made from (a directory or
	// an archive on the server), for drivers with real volumes.
	Source string `json:"source,omitempty"`
	// ChangedAt is when the image last changed state: the model has no
	// updatedAt for images, and the lifecycle times transitions from it.
	ChangedAt *time.Time `json:"changedAt,omitempty"`
}

func (d *streamingImageDoc) kind() opennimble.Kind { return opennimble.KindStreamingImage }
func (d *streamingImageDoc) id() string            { return d.StreamingImageId }
func (d *streamingImageDoc) columns() columns {
	return columns{StudioID: d.StudioId, State: string(d.State)}
}

// studioMemberDoc is a studio membership; its id is studioId/principalId.
type studioMemberDoc struct {
	api.StudioMembership
	StudioId string `json:"studioId"`
}

func (d *studioMemberDoc) kind() opennimble.Kind { return opennimble.KindStudioMember }
func (d *studioMemberDoc) id() string            { return d.StudioId + "/" + d.PrincipalId }
func (d *studioMemberDoc) columns() columns {
	return columns{StudioID: d.StudioId, OwnedBy: d.PrincipalId}
}

// launchProfileMemberDoc is a launch profile membership; its id is
// launchProfileId/principalId and its parent the launch profile.
type launchProfileMemberDoc struct {
	api.LaunchProfileMembership
	StudioId        string `json:"studioId"`
	LaunchProfileId string `json:"launchProfileId"`
}

func (d *launchProfileMemberDoc) kind() opennimble.Kind { return opennimble.KindLaunchProfileMember }
func (d *launchProfileMemberDoc) id() string            { return d.LaunchProfileId + "/" + d.PrincipalId }
func (d *launchProfileMemberDoc) columns() columns {
	return columns{StudioID: d.StudioId, ParentID: d.LaunchProfileId, OwnedBy: d.PrincipalId}
}

// eulaAcceptanceDoc is an accepted EULA in a studio.
type eulaAcceptanceDoc struct {
	api.EulaAcceptance
	StudioId string `json:"studioId"`
}

func (d *eulaAcceptanceDoc) kind() opennimble.Kind { return opennimble.KindEulaAcceptance }
func (d *eulaAcceptanceDoc) id() string            { return d.EulaAcceptanceId }
func (d *eulaAcceptanceDoc) columns() columns {
	return columns{StudioID: d.StudioId, OwnedBy: d.AcceptedBy}
}
