package opennimble

import (
	"context"
	"net"
	"net/url"
	"time"
)

// Driver does the compute work of streaming sessions: workstation instances,
// their root volumes and the snapshots that back sessions up. The lifecycle
// calls it between store transactions, so every method must be idempotent:
// a call repeated with the same parameters (after a crash, a lost lease or a
// "not done yet") reports on the one operation the first call began and never
// begins a second one. Calls are keyed by session id (and Token, which
// changes with every transition of the session) or by backup id.
//
// Every method returns one of:
//   - Progress{Done: true}, nil: the operation is complete;
//   - Progress{Done: false}, nil: it is under way; call again (after
//     RetryAfter, when set) to learn more;
//   - a zero Progress and a *DriverError: the operation failed for
//     good, and the session or backup must show StatusCode and Message. A
//     repeated call with the same key and token returns the same failure;
//   - any other error: a transient failure (network, context cancelled).
//     Nothing is known about the operation; the caller retries later.
type Driver interface {
	// Provision creates the workstation of a new session and its root volume,
	// of generation VolumeGeneration, from the streaming image, and starts it.
	Provision(ctx context.Context, p ProvisionParams) (Progress, error)
	// Stop stops the session's workstation instance. Its volume is kept.
	Stop(ctx context.Context, p StopParams) (Progress, error)
	// Start starts the session's workstation on its volume of generation
	// VolumeGeneration. A volume of that generation is used as it is; when the
	// session has no volume, or only an older generation, a new volume of that
	// generation is made from the streaming image first. A call naming a
	// generation older than the session's volume fails: generations only grow.
	Start(ctx context.Context, p StartParams) (Progress, error)
	// Terminate removes the session's workstation and its volume. Backups are
	// kept. Terminating a session the driver does not know is complete.
	Terminate(ctx context.Context, p TerminateParams) (Progress, error)
	// Snapshot copies the session's volume, which must exist with generation
	// VolumeGeneration, into the backup BackupID. The backup counts as taken
	// only when Done is reported: until then it may hold nothing.
	Snapshot(ctx context.Context, p SnapshotParams) (Progress, error)
	// Restore replaces the session's volume by a new volume of generation
	// VolumeGeneration holding the data of backup BackupID. It fails with a
	// *DriverError when the backup does not exist.
	Restore(ctx context.Context, p RestoreParams) (Progress, error)
	// DeleteVolume deletes the session's volume if its generation is not
	// newer than VolumeGeneration (a late call never deletes a newer volume).
	// Deleting a volume that is gone is complete.
	DeleteVolume(ctx context.Context, p DeleteVolumeParams) (Progress, error)
	// DeleteBackup deletes the data of a backup. Deleting a backup that is
	// gone is complete.
	DeleteBackup(ctx context.Context, p DeleteBackupParams) (Progress, error)
}

// Step names a kind of driver operation: one method of Driver. Drivers key
// their operations by it, the service records the steps of a transition by
// it, and lifecycle faults name it.
type Step string

// The steps of the Driver interface.
const (
	StepProvision    Step = "provision"
	StepStop         Step = "stop"
	StepStart        Step = "start"
	StepTerminate    Step = "terminate"
	StepSnapshot     Step = "snapshot"
	StepRestore      Step = "restore"
	StepDeleteVolume Step = "delete-volume"
	StepDeleteBackup Step = "delete-backup"
)

// Steps lists every step.
var Steps = []Step{StepProvision, StepStop, StepStart, StepTerminate, StepSnapshot, StepRestore, StepDeleteVolume, StepDeleteBackup}

// Progress reports how far a driver operation is.
type Progress struct {
	Done bool
	// RetryAfter, when the operation is not done, is how long the caller
	// should wait before asking again; 0 leaves it to the caller.
	RetryAfter time.Duration
}

// Volume describes the root volume a session's workstation runs on.
type Volume struct {
	// Generation numbers the volumes of one session: every volume made from
	// the image or from a backup gets a new, higher generation, so that a
	// driver can tell "the volume I already have" from "a fresh one".
	Generation int64
	// Size, Iops and Throughput are the session's volumeConfiguration; 0
	// leaves the driver's default.
	SizeGiB, Iops, ThroughputMiBs int32
}

// ProvisionParams describe a new session's workstation.
type ProvisionParams struct {
	SessionID, StudioID, OwnedBy string
	LaunchProfileID              string
	Token                        string // the transition; see Driver
	InstanceType                 string
	ImageID                      string
	// Ec2ImageID is the streaming image's ec2ImageId, which drivers that
	// run other kinds of images map to theirs (a container image, say).
	Ec2ImageID string
	// ImageSource is the streaming image's source for drivers with real
	// volumes (a directory or archive on the server); may be empty.
	ImageSource string
	Volume      Volume
	// Workstation is what the workstation runs, from the launch profile.
	Workstation Workstation
}

// Workstation is what a session's workstation runs, from its launch profile
// as it is when the workstation starts: where its volume is mounted and what
// its studio components add. Drivers without real workstations ignore it.
type Workstation struct {
	// Home is where the session's volume is mounted: the launch profile's
	// sessionStorage.root.linux, or /home/<ownedBy>.
	Home string
	// SystemScripts run before the desktop starts, UserScripts as the user
	// once it is up; both in the launch profile's order of components (the
	// LINUX scripts GetLaunchProfileInitialization answers).
	SystemScripts, UserScripts []InitScript
	// SharedFileSystems are the SHARED_FILE_SYSTEM components to mount.
	SharedFileSystems []SharedFileSystem
}

// InitScript is one initialization script of a studio component.
type InitScript struct {
	ComponentID, ComponentName string
	Script                     string
}

// SharedFileSystem is a SHARED_FILE_SYSTEM studio component: Endpoint is
// the configuration's endpoint (for the local driver, a folder on the
// host), MountPoint its linuxMountPoint.
type SharedFileSystem struct {
	ComponentID, ComponentName string
	Endpoint, ShareName        string
	MountPoint                 string
}

// StopParams name the session to stop.
type StopParams struct {
	SessionID, StudioID, Token string
}

// StartParams describe the workstation to start; see Driver.Start.
type StartParams struct {
	SessionID, StudioID, OwnedBy string
	LaunchProfileID              string
	Token                        string
	InstanceType                 string
	ImageID                      string
	Ec2ImageID                   string
	ImageSource                  string
	Volume                       Volume
	Workstation                  Workstation
}

// TerminateParams name the session to terminate.
type TerminateParams struct {
	SessionID, StudioID, Token string
}

// SnapshotParams name the volume generation to copy and the backup to fill.
type SnapshotParams struct {
	SessionID, StudioID, BackupID string
	VolumeGeneration              int64
}

// RestoreParams name the backup to restore and the generation of the new volume.
type RestoreParams struct {
	SessionID, StudioID, BackupID, Token string
	Volume                               Volume
}

// DeleteVolumeParams name the session and the newest generation to delete.
type DeleteVolumeParams struct {
	SessionID, StudioID, Token string
	VolumeGeneration           int64
}

// DeleteBackupParams name the backup whose data to delete.
type DeleteBackupParams struct {
	BackupID, StudioID string
}

// DriverError is a driver operation's definitive failure. StatusCode is one
// of the model's StreamingSessionStatusCode values (INSUFFICIENT_CAPACITY,
// INTERNAL_ERROR, …); the lifecycle copies it and Message onto the session or
// backup, which moves to its *_FAILED state.
type DriverError struct {
	StatusCode string
	Message    string
}

func (e *DriverError) Error() string { return "driver: " + e.StatusCode + ": " + e.Message }

// Watcher is implemented by drivers whose workstations can change outside
// opennimble: a Kubernetes Pod deleted by an operator, a node lost. The
// service asks Check about every READY session Watch names, and a
// workstation that is gone or failed for good moves its session out of READY
// with the driver's status code and message, so that no session is READY
// without a workstation.
type Watcher interface {
	// Watch calls changed with the id of every session whose workstation may
	// have changed, until ctx ends: once for every session the driver knows
	// when it starts (so that a restart re-checks everything it created) and
	// then on every change it sees. Calls may repeat.
	Watch(ctx context.Context, changed func(sessionID, studioID string))
	// Check reports on the workstation of a session that is READY: nil when
	// it runs, a *DriverError when it is gone or failed, any other error when
	// the driver cannot tell now.
	Check(ctx context.Context, sessionID, studioID string) error
}

// DriverAs finds the optional interface T (Watcher, Streamer, Resetter,
// StateDumper) on d or on the drivers it wraps: a decorator (the emulator's
// fault injection) offers Unwrap() Driver, as wrapped errors offer Unwrap.
func DriverAs[T any](d Driver) (T, bool) {
	for d != nil {
		if t, ok := d.(T); ok {
			return t, true
		}
		u, ok := d.(interface{ Unwrap() Driver })
		if !ok {
			break
		}
		d = u.Unwrap()
	}
	var zero T
	return zero, false
}

// Resetter is implemented by drivers that can forget every session, volume
// and backup, as if new: the emulator's reset calls it.
type Resetter interface {
	Reset() error
}

// StateDumper is implemented by drivers that can show what they hold, as a
// JSON-encodable value: the emulator's state dump includes it.
type StateDumper interface {
	DumpState() any
}

// Streamer is implemented by drivers whose workstations serve their remote
// desktop over HTTP (and WebSocket) at an address the server can reach: the
// stream URL of such a session is proxied there rather than answered with a
// page.
type Streamer interface {
	// StreamTarget returns where the session's remote desktop is, or a
	// *DriverError when the session has no running workstation.
	StreamTarget(ctx context.Context, sessionID, studioID string) (StreamTarget, error)
}

// StreamTarget is a workstation's remote desktop as the stream URL reaches
// it.
type StreamTarget struct {
	// URL is the desktop's base URL: the stream URL's /<path> is proxied to
	// <URL>/<path>.
	URL *url.URL
	// NoVNC says the desktop serves noVNC's web client and its WebSocket at
	// /websockify (websockify, as the workstation image does): the stream
	// URL's own / then opens vnc.html connected to that WebSocket, as the
	// local driver's desktops do. Otherwise / is the desktop's own.
	NoVNC bool
}

// Shutdowner is implemented by drivers that run workstations' desktops in
// the server's care (the local driver's desktop processes): before the
// server exits, Shutdown closes them cleanly (the applications save and
// quit, the display server ends) within ctx's deadline. Sessions stay as
// the store says (READY); a driver that can, brings their desktops back
// when the server starts again. Drivers whose workstations live elsewhere
// (Kubernetes Pods) leave them running and do not implement it.
type Shutdowner interface {
	Shutdown(ctx context.Context) error
}

// VNCDialer is implemented by drivers whose workstations are desktops that
// the server reaches over VNC (RFB) itself, the local driver's: the stream
// URL of such a session serves noVNC and bridges its WebSocket to the
// connection DialVNC makes.
type VNCDialer interface {
	// DialVNC connects to the VNC server of the session's desktop, or
	// returns a *DriverError when the session has no running desktop.
	DialVNC(ctx context.Context, sessionID, studioID string) (net.Conn, error)
}
