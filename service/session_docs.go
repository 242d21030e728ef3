package service

import (
	"time"

	opennimble "github.com/opennimble/opennimble"
	"github.com/opennimble/opennimble/api"
)

// sessionDoc is a stored streaming session: the model's shape plus what the
// lifecycle needs to finish, or resume after a crash, the transition in
// progress. Records: ParentID is the launch profile, OwnedBy the owner.
type sessionDoc struct {
	api.StreamingSession
	StudioId string `json:"studioId"`
	// The launch profile's limits, copied at creation like the rest of its
	// stream configuration, so that later profile edits do not change them.
	MaxSessionLengthInMinutes        int32 `json:"maxSessionLengthInMinutes"`
	MaxStoppedSessionLengthInMinutes int32 `json:"maxStoppedSessionLengthInMinutes"`
	// ImageSource is the streaming image's source, for drivers with real volumes.
	ImageSource string `json:"imageSource,omitempty"`
	// Ec2ImageId is the streaming image's ec2ImageId, which drivers map to
	// what they run (the Kubernetes driver to a container image).
	Ec2ImageId string `json:"ec2ImageId,omitempty"`
	// Volume is the driver's volume as of the last step recorded.
	Volume sessionVolume `json:"volume"`
	// Op is the transition in progress; nil in a resting state.
	Op *sessionOp `json:"op,omitempty"`
}

// sessionVolume is the bookkeeping of a session's root volume: which
// generation it has and where that came from, so that any driver (and a
// restarted server) acts on exactly that volume.
type sessionVolume struct {
	Generation int64  `json:"generation"`       // of the current (or last) volume
	Exists     bool   `json:"exists"`           // false once deleted (stop with DELETE, terminate)
	Source     string `json:"source,omitempty"` // "image:<id>" or "backup:<id>"
	// LastGeneration is the highest generation ever handed out; new volumes
	// take the next one, so a generation is never reused.
	LastGeneration int64 `json:"lastGeneration"`
}

// sessionOp is a transition: its steps, in order, and how many are done.
// Each step is one driver call followed by one transaction that records it,
// so a crash repeats at most one (idempotent) driver call.
type sessionOp struct {
	// Token is unique per transition; drivers use it to tell a repeated call
	// from a new one, and the recording transaction to ignore a step result
	// that belongs to an earlier transition.
	Token string            `json:"token"`
	Kind  opKind            `json:"kind"`
	Steps []opennimble.Step `json:"steps"`
	Done  int               `json:"done"`
	// BackupID is the backup a stop fills (created with the stop).
	BackupID string `json:"backupId,omitempty"`
	// Generation is the volume generation a start runs on or a stop deletes.
	Generation int64 `json:"generation,omitempty"`
	// Auto marks a transition begun by a time limit rather than a user.
	Auto bool `json:"auto,omitempty"`
	// Lost, on a stop, is why the driver reported the workstation gone: the
	// stop then saves what is left (backup, volume) and the stopped session
	// reports the loss instead of "Session stopped".
	Lost *opennimble.DriverError `json:"lost,omitempty"`
}

type opKind string

const (
	opCreate opKind = "create"
	opStop   opKind = "stop"
	opStart  opKind = "start"
	opDelete opKind = "delete"
)

// stepRefuseStop fails a stop without calling the driver: the launch
// profile does not allow stopped sessions. The other steps of a transition
// are the driver's (opennimble.Step).
const stepRefuseStop opennimble.Step = "refuse-stop"

// next returns the step to run, or "" when all are done.
func (o *sessionOp) next() opennimble.Step {
	if o == nil || o.Done >= len(o.Steps) {
		return ""
	}
	return o.Steps[o.Done]
}

func (d *sessionDoc) kind() opennimble.Kind { return opennimble.KindStreamingSession }
func (d *sessionDoc) id() string            { return d.SessionId }
func (d *sessionDoc) columns() columns {
	return columns{StudioID: d.StudioId, ParentID: d.LaunchProfileId, OwnedBy: d.OwnedBy, State: string(d.State)}
}

// backupDoc is a stored streaming session backup. Records: ParentID is the
// session until the backup is DELETED, OwnedBy the session's owner.
type backupDoc struct {
	api.StreamingSessionBackup
	StudioId string `json:"studioId"`
	// VolumeGeneration is the session volume generation the backup copies.
	VolumeGeneration int64 `json:"volumeGeneration"`
	// UpdatedAt is when the state last changed (the model has no such member).
	UpdatedAt *time.Time `json:"updatedAt,omitempty"`
}

func (d *backupDoc) kind() opennimble.Kind { return opennimble.KindStreamingBackup }
func (d *backupDoc) id() string            { return d.BackupId }
func (d *backupDoc) columns() columns {
	// A deleted backup leaves its session's index: what pruning and a
	// session's deletion scan there is then the session's live backups,
	// not every backup deleted within the retention (a session stopped and
	// started a thousand times in an hour would otherwise scan a thousand
	// rows at each stop, and on PostgreSQL lock them all).
	parent := d.SessionId
	if d.State == api.StreamingSessionStateDeleted {
		parent = ""
	}
	return columns{StudioID: d.StudioId, ParentID: parent, OwnedBy: d.OwnedBy, State: string(d.State)}
}

// streamDoc is a stored streaming session stream. Records: ParentID is the
// session, OwnedBy the session's owner.
type streamDoc struct {
	api.StreamingSessionStream
	StudioId  string `json:"studioId"`
	SessionId string `json:"sessionId"`
	// Secret is the unguessable part of the stream's URL token.
	Secret    string     `json:"secret"`
	UpdatedAt *time.Time `json:"updatedAt,omitempty"`
}

func (d *streamDoc) kind() opennimble.Kind { return opennimble.KindStreamingStream }
func (d *streamDoc) id() string            { return d.StreamId }
func (d *streamDoc) columns() columns {
	return columns{StudioID: d.StudioId, ParentID: d.SessionId, OwnedBy: d.OwnedBy, State: string(d.State)}
}
