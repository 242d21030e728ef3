package e2e

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go/aws"
	"github.com/aws/aws-sdk-go/service/nimblestudio"

	"github.com/opennimble/opennimble/app"
	"github.com/opennimble/opennimble/internal/testwait"
)

type sess struct {
	e        *env
	studio   string
	id       *string
	c        *nimblestudio.NimbleStudio
	profile  profile
	t        *testing.T
	lastBack string
}

func (e *env) session(t *testing.T, pr profile) *sess {
	t.Helper()
	out := must[*nimblestudio.CreateStreamingSessionOutput](t)(e.Admin.CreateStreamingSessionWithContext(ctx(t), &nimblestudio.CreateStreamingSessionInput{
		StudioId: &pr.Studio, LaunchProfileId: &pr.LaunchProfile, Tags: map[string]*string{"shot": aws.String("010")},
	}))
	s := &sess{e: e, studio: pr.Studio, id: out.Session.SessionId, c: e.Admin, profile: pr, t: t}
	s.waitReady()
	return s
}

func (s *sess) get() *nimblestudio.StreamingSession {
	s.t.Helper()
	return must[*nimblestudio.GetStreamingSessionOutput](s.t)(s.c.GetStreamingSessionWithContext(ctx(s.t), &nimblestudio.GetStreamingSessionInput{StudioId: &s.studio, SessionId: s.id})).Session
}

func (s *sess) in() *nimblestudio.GetStreamingSessionInput {
	return &nimblestudio.GetStreamingSessionInput{StudioId: &s.studio, SessionId: s.id}
}

func (s *sess) waitReady() {
	s.t.Helper()
	check(s.t, s.c.WaitUntilStreamingSessionReadyWithContext(ctx(s.t), s.in(), fast()))
}

func (s *sess) stop() error {
	_, err := s.c.StopStreamingSessionWithContext(ctx(s.t), &nimblestudio.StopStreamingSessionInput{StudioId: &s.studio, SessionId: s.id})
	return err
}

func (s *sess) start(backupID string) error {
	in := &nimblestudio.StartStreamingSessionInput{StudioId: &s.studio, SessionId: s.id}
	if backupID != "" {
		in.BackupId = &backupID
	}
	_, err := s.c.StartStreamingSessionWithContext(ctx(s.t), in)
	return err
}

// backups lists the session's studio's backups through the SDK paginator.
func (s *sess) backups() []*nimblestudio.StreamingSessionBackup {
	s.t.Helper()
	var out []*nimblestudio.StreamingSessionBackup
	check(s.t, s.c.ListStreamingSessionBackupsPagesWithContext(ctx(s.t), &nimblestudio.ListStreamingSessionBackupsInput{StudioId: &s.studio},
		func(p *nimblestudio.ListStreamingSessionBackupsOutput, last bool) bool {
			out = append(out, p.StreamingSessionBackups...)
			return true
		}))
	return out
}

// stopWithBackup stops the session, polls the new backup until READY as
// clients do, and waits for STOPPED.
func (s *sess) stopWithBackup() string {
	s.t.Helper()
	check(s.t, s.stop())
	var id string
	deadline := testwait.Deadline(s.t)
	for time.Now().Before(deadline) {
		list := s.backups()
		if len(list) > 0 && aws.StringValue(list[0].BackupId) != s.lastBack {
			id = *list[0].BackupId
			b := must[*nimblestudio.GetStreamingSessionBackupOutput](s.t)(s.c.GetStreamingSessionBackupWithContext(ctx(s.t), &nimblestudio.GetStreamingSessionBackupInput{StudioId: &s.studio, BackupId: &id}))
			if aws.StringValue(b.StreamingSessionBackup.State) == "READY" {
				break
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	if id == "" {
		s.t.Fatal("no backup appeared")
	}
	check(s.t, s.c.WaitUntilStreamingSessionStoppedWithContext(ctx(s.t), s.in(), fast()))
	s.lastBack = id
	return id
}

// advanceUntil moves the fake clock on, a step's duration at a time, until
// the session is in state: each driver step begins when the lifecycle gets
// to it, so the clock must move again after each one.
func (s *sess) advanceUntil(state string) {
	s.t.Helper()
	deadline := testwait.Deadline(s.t)
	for aws.StringValue(s.get().State) != state {
		if time.Now().After(deadline) {
			s.t.Fatalf("session never reached %s: %s", state, s.get())
		}
		s.e.Clock.Advance(2 * time.Minute)
		time.Sleep(20 * time.Millisecond)
	}
}

func TestSessionBackupRetentionAndRestore(t *testing.T) {
	e := start(t)
	pr := makeProfile(t, ctx(t), e.Admin, "retain", withBackups(2), withPersistence(600))
	s := e.session(t, pr)
	got := s.get()
	if aws.StringValue(got.BackupMode) != "AUTOMATIC" || aws.Int64Value(got.MaxBackupsToRetain) != 2 || aws.StringValue(got.SessionPersistenceMode) != "ACTIVATED" ||
		aws.StringValue(got.Ec2InstanceType) != "g4dn.xlarge" || aws.StringValue(got.StreamingImageId) != pr.Image || aws.StringValue(got.OwnedBy) != "test" ||
		got.StopAt == nil || got.StartedAt == nil || aws.Int64Value(got.VolumeConfiguration.Size) != 500 {
		t.Fatalf("session does not carry its launch profile's configuration: %s", got)
	}

	var ids []string
	for i := 0; i < 3; i++ {
		ids = append(ids, s.stopWithBackup())
		st := s.get()
		if st.StoppedAt == nil || aws.StringValue(st.StoppedBy) != "test" {
			t.Fatalf("stopped: %s", st)
		}
		check(t, s.start(""))
		s.waitReady()
	}
	list := s.backups()
	if len(list) != 2 || *list[0].BackupId != ids[2] || *list[1].BackupId != ids[1] {
		t.Fatalf("retention kept %s, want the two newest %v", list, ids[1:])
	}
	for _, b := range list {
		if aws.StringValue(b.State) != "READY" || aws.StringValue(b.SessionId) != *s.id || aws.StringValue(b.OwnedBy) != "test" ||
			aws.StringValue(b.LaunchProfileId) != pr.LaunchProfile || aws.StringValue(b.Tags["shot"]) != "010" || b.CreatedAt == nil ||
			!strings.HasSuffix(aws.StringValue(b.Arn), "streaming-session-backup/"+*b.BackupId) {
			t.Fatalf("backup: %s", b)
		}
	}
	_, err := e.Admin.GetStreamingSessionBackupWithContext(ctx(t), &nimblestudio.GetStreamingSessionBackupInput{StudioId: &s.studio, BackupId: &ids[0]})
	if code := errCode(err); code != "" && code != "ResourceNotFoundException" {
		t.Fatalf("oldest backup: %v", err)
	}

	// Restore from the older of the two kept backups.
	s.stopWithBackup()
	check(t, s.start(ids[2]))
	s.waitReady()
	if got := s.get(); aws.StringValue(got.StartedFromBackupId) != ids[2] {
		t.Fatalf("startedFromBackupId %q, want %s", aws.StringValue(got.StartedFromBackupId), ids[2])
	}

	// Backups can be listed by owner, tagged and listed by tag.
	mine := must[*nimblestudio.ListStreamingSessionBackupsOutput](t)(e.Admin.ListStreamingSessionBackupsWithContext(ctx(t), &nimblestudio.ListStreamingSessionBackupsInput{StudioId: &s.studio, OwnedBy: aws.String("test")}))
	if len(mine.StreamingSessionBackups) != 2 {
		t.Fatalf("ownedBy filter: %s", mine)
	}
	arn := mine.StreamingSessionBackups[0].Arn
	must[*nimblestudio.TagResourceOutput](t)(e.Admin.TagResourceWithContext(ctx(t), &nimblestudio.TagResourceInput{ResourceArn: arn, Tags: map[string]*string{"keep": aws.String("yes")}}))
	tags := must[*nimblestudio.ListTagsForResourceOutput](t)(e.Admin.ListTagsForResourceWithContext(ctx(t), &nimblestudio.ListTagsForResourceInput{ResourceArn: arn}))
	if aws.StringValue(tags.Tags["keep"]) != "yes" || aws.StringValue(tags.Tags["shot"]) != "010" {
		t.Fatalf("backup tags: %s", tags)
	}

	// Deleting the session deletes its backups.
	must[*nimblestudio.DeleteStreamingSessionOutput](t)(e.Admin.DeleteStreamingSessionWithContext(ctx(t), &nimblestudio.DeleteStreamingSessionInput{StudioId: &s.studio, SessionId: s.id}))
	check(t, e.Admin.WaitUntilStreamingSessionDeletedWithContext(ctx(t), s.in(), fast()))
	deadline := testwait.Deadline(t)
	for len(s.backups()) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("backups of a deleted session remain: %s", s.backups())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestSessionWrongStatesAndBadBackups(t *testing.T) {
	e := start(t, func(c *app.Config, o *app.Options) { c.SimStepDuration = time.Minute })
	pr := makeProfile(t, ctx(t), e.Admin, "states", withBackups(5), withPersistence(600))
	create := func() *sess {
		out := must[*nimblestudio.CreateStreamingSessionOutput](t)(e.Admin.CreateStreamingSessionWithContext(ctx(t), &nimblestudio.CreateStreamingSessionInput{StudioId: &pr.Studio, LaunchProfileId: &pr.LaunchProfile}))
		return &sess{e: e, studio: pr.Studio, id: out.Session.SessionId, c: e.Admin, t: t}
	}
	s := create()
	if st := aws.StringValue(s.get().State); st != "CREATE_IN_PROGRESS" {
		t.Fatalf("state %s", st)
	}
	conflict := func(err error, state string) {
		t.Helper()
		mustCode(t, err, "ConflictException")
		if !strings.Contains(err.Error(), state) {
			t.Fatalf("conflict does not name the state %s: %v", state, err)
		}
	}
	conflict(s.stop(), "CREATE_IN_PROGRESS")
	_, err := e.Admin.DeleteStreamingSessionWithContext(ctx(t), &nimblestudio.DeleteStreamingSessionInput{StudioId: &s.studio, SessionId: s.id})
	conflict(err, "CREATE_IN_PROGRESS")
	_, err = e.Admin.CreateStreamingSessionStreamWithContext(ctx(t), &nimblestudio.CreateStreamingSessionStreamInput{StudioId: &s.studio, SessionId: s.id})
	conflict(err, "CREATE_IN_PROGRESS")

	s.advanceUntil("READY") // the simulated workstation comes up
	s.waitReady()
	conflict(s.start(""), "READY")
	check(t, s.stop())
	conflict(s.stop(), "STOP_IN_PROGRESS")
	conflict(s.start(""), "STOP_IN_PROGRESS")
	s.advanceUntil("STOPPED") // the stop, then the snapshot
	check(t, e.Admin.WaitUntilStreamingSessionStoppedWithContext(ctx(t), s.in(), fast()))
	conflict(s.stop(), "STOPPED")
	_, err = e.Admin.CreateStreamingSessionStreamWithContext(ctx(t), &nimblestudio.CreateStreamingSessionStreamInput{StudioId: &s.studio, SessionId: s.id})
	conflict(err, "STOPPED")

	// Starting from a backup: unknown, another session's.
	mustCode(t, s.start("bak-doesnotexist"), "ResourceNotFoundException")
	other := create()
	other.advanceUntil("READY")
	check(t, other.stop())
	other.advanceUntil("STOPPED")
	var otherBackup string
	for _, b := range other.backups() {
		if *b.SessionId == *other.id {
			otherBackup = *b.BackupId
		}
	}
	err = s.start(otherBackup)
	mustCode(t, err, "ValidationException")
	if !strings.Contains(err.Error(), otherBackup) {
		t.Fatalf("message does not name the backup: %v", err)
	}
	// Unknown ids.
	_, err = e.Admin.GetStreamingSessionWithContext(ctx(t), &nimblestudio.GetStreamingSessionInput{StudioId: &s.studio, SessionId: aws.String("ses-nope")})
	mustCode(t, err, "ResourceNotFoundException")
	_, err = e.Admin.GetStreamingSessionBackupWithContext(ctx(t), &nimblestudio.GetStreamingSessionBackupInput{StudioId: &s.studio, BackupId: aws.String("bak-nope")})
	mustCode(t, err, "ResourceNotFoundException")
	// A launch profile's instance types and images are enforced.
	_, err = e.Admin.CreateStreamingSessionWithContext(ctx(t), &nimblestudio.CreateStreamingSessionInput{StudioId: &pr.Studio, LaunchProfileId: &pr.LaunchProfile, Ec2InstanceType: aws.String("g4dn.16xlarge")})
	mustCode(t, err, "ValidationException")
	_, err = e.Admin.CreateStreamingSessionWithContext(ctx(t), &nimblestudio.CreateStreamingSessionInput{StudioId: &pr.Studio, LaunchProfileId: &pr.LaunchProfile, StreamingImageId: aws.String("si-amazonlinux2")})
	mustCode(t, err, "ValidationException")
}

func TestSessionTimeLimits(t *testing.T) {
	e := start(t)
	cx := ctx(t)
	t.Run("stopped at stopAt, then terminated at terminateAt", func(t *testing.T) {
		pr := makeProfile(t, cx, e.Admin, "limits", withBackups(1), withPersistence(60))
		s := e.session(t, pr)
		got := s.get()
		if got.StopAt == nil || got.StopAt.Sub(*got.StartedAt) != 690*time.Minute {
			t.Fatalf("stopAt %v, startedAt %v", got.StopAt, got.StartedAt)
		}
		e.Clock.Advance(691 * time.Minute)
		check(t, e.Admin.WaitUntilStreamingSessionStoppedWithContext(cx, s.in(), fast()))
		if n := len(s.backups()); n != 1 {
			t.Fatalf("automatic stop made %d backups", n)
		}
		got = s.get()
		if got.TerminateAt == nil || got.TerminateAt.Sub(*got.StoppedAt) != 60*time.Minute {
			t.Fatalf("terminateAt %v, stoppedAt %v", got.TerminateAt, got.StoppedAt)
		}
		e.Clock.Advance(61 * time.Minute)
		check(t, e.Admin.WaitUntilStreamingSessionDeletedWithContext(cx, s.in(), fast()))
	})
	t.Run("terminated at stopAt when stopping is not allowed", func(t *testing.T) {
		pr := makeProfile(t, cx, e.Admin, "nostop")
		s := e.session(t, pr)
		e.Clock.Advance(691 * time.Minute)
		check(t, e.Admin.WaitUntilStreamingSessionDeletedWithContext(cx, s.in(), fast()))
	})
	t.Run("stopping is refused when maxStoppedSessionLengthInMinutes is 0", func(t *testing.T) {
		pr := makeProfile(t, cx, e.Admin, "stopzero")
		s := e.session(t, pr)
		check(t, s.stop())
		err := e.Admin.WaitUntilStreamingSessionStoppedWithContext(cx, s.in(), fast())
		if errCode(err) != "ResourceNotReady" {
			t.Fatalf("waiter: %v", err)
		}
		got := s.get()
		if aws.StringValue(got.State) != "STOP_FAILED" || !strings.Contains(aws.StringValue(got.StatusMessage), "maxStoppedSessionLengthInMinutes") {
			t.Fatalf("session %s", got)
		}
	})
}

func TestSessionStreams(t *testing.T) {
	e := start(t)
	pr := makeProfile(t, ctx(t), e.Admin, "streams")
	s := e.session(t, pr)
	unchecked := e.client("test", "test")
	unchecked.Handlers.Validate.Clear() // reach the server's own validation
	_, err := unchecked.CreateStreamingSessionStreamWithContext(ctx(t), &nimblestudio.CreateStreamingSessionStreamInput{StudioId: &s.studio, SessionId: s.id, ExpirationInSeconds: aws.Int64(30)})
	mustCode(t, err, "ValidationException")
	st := must[*nimblestudio.CreateStreamingSessionStreamOutput](t)(e.Admin.CreateStreamingSessionStreamWithContext(ctx(t), &nimblestudio.CreateStreamingSessionStreamInput{StudioId: &s.studio, SessionId: s.id})).Stream
	if st.ExpiresAt == nil || st.CreatedAt == nil || st.ExpiresAt.Sub(*st.CreatedAt) != 120*time.Second || aws.StringValue(st.OwnedBy) != "test" {
		t.Fatalf("stream %s", st)
	}
	in := &nimblestudio.GetStreamingSessionStreamInput{StudioId: &s.studio, SessionId: s.id, StreamId: st.StreamId}
	check(t, e.Admin.WaitUntilStreamingSessionStreamReadyWithContext(ctx(t), in, fast()))
	got := must[*nimblestudio.GetStreamingSessionStreamOutput](t)(e.Admin.GetStreamingSessionStreamWithContext(ctx(t), in)).Stream
	url := aws.StringValue(got.Url)
	if !strings.HasPrefix(url, e.App.URL+"/") {
		t.Fatalf("url %q is not served by the server", url)
	}
	resp, err := http.Get(url)
	check(t, err)
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(page), *s.id) || !strings.Contains(string(page), "test") {
		t.Fatalf("stream page %d: %s", resp.StatusCode, page)
	}
	e.Clock.Advance(121 * time.Second)
	resp, err = http.Get(url)
	check(t, err)
	resp.Body.Close()
	if resp.StatusCode != 403 {
		t.Fatalf("expired stream answered %d", resp.StatusCode)
	}
	resp, err = http.Get(e.App.URL + "/_stream/forged.token")
	check(t, err)
	resp.Body.Close()
	if resp.StatusCode != 403 {
		t.Fatalf("forged stream answered %d", resp.StatusCode)
	}
}

// TestSessionBackupRetentionUnset: a launch profile that does not set
// maxBackupsToRetain keeps it unset, on create, update, get and the
// sessions' copy, and its sessions keep every backup.
func TestSessionBackupRetentionUnset(t *testing.T) {
	e := start(t)
	automatic := func(s *nimblestudio.StreamConfigurationCreate) {
		s.SessionBackup = &nimblestudio.StreamConfigurationSessionBackup{Mode: aws.String("AUTOMATIC")}
	}
	pr := makeProfile(t, ctx(t), e.Admin, "keepall", automatic, withPersistence(600))
	getBackup := func() *nimblestudio.StreamConfigurationSessionBackup {
		lp := must[*nimblestudio.GetLaunchProfileOutput](t)(e.Admin.GetLaunchProfileWithContext(ctx(t),
			&nimblestudio.GetLaunchProfileInput{StudioId: &pr.Studio, LaunchProfileId: &pr.LaunchProfile})).LaunchProfile
		return lp.StreamConfiguration.SessionBackup
	}
	if b := getBackup(); aws.StringValue(b.Mode) != "AUTOMATIC" || b.MaxBackupsToRetain != nil {
		t.Fatalf("created profile's sessionBackup = %s, want AUTOMATIC and no maxBackupsToRetain", b)
	}
	sc := &nimblestudio.StreamConfigurationCreate{ClipboardMode: aws.String("ENABLED"), Ec2InstanceTypes: []*string{aws.String("g4dn.xlarge")},
		StreamingImageIds: []*string{&pr.Image}}
	automatic(sc)
	withPersistence(600)(sc)
	must[*nimblestudio.UpdateLaunchProfileOutput](t)(e.Admin.UpdateLaunchProfileWithContext(ctx(t), &nimblestudio.UpdateLaunchProfileInput{
		StudioId: &pr.Studio, LaunchProfileId: &pr.LaunchProfile, StreamConfiguration: sc}))
	check(t, e.Admin.WaitUntilLaunchProfileReadyWithContext(ctx(t), &nimblestudio.GetLaunchProfileInput{StudioId: &pr.Studio, LaunchProfileId: &pr.LaunchProfile}, fast()))
	if b := getBackup(); aws.StringValue(b.Mode) != "AUTOMATIC" || b.MaxBackupsToRetain != nil {
		t.Fatalf("updated profile's sessionBackup = %s, want AUTOMATIC and no maxBackupsToRetain", b)
	}
	s := e.session(t, pr)
	if got := s.get(); aws.StringValue(got.BackupMode) != "AUTOMATIC" || got.MaxBackupsToRetain != nil {
		t.Fatalf("session: %s, want AUTOMATIC backups and no maxBackupsToRetain", got)
	}
	var ids []string
	for range 3 {
		ids = append(ids, s.stopWithBackup())
		check(t, s.start(""))
		s.waitReady()
	}
	list := s.backups()
	if len(list) != 3 {
		t.Fatalf("unset maxBackupsToRetain kept %d backups (%s), want all 3 %v", len(list), list, ids)
	}
	for _, b := range list {
		if aws.StringValue(b.State) != "READY" {
			t.Fatalf("backup %s", b)
		}
	}
}
