package compat

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go/aws"
	"github.com/aws/aws-sdk-go/aws/awserr"
	"github.com/aws/aws-sdk-go/aws/credentials"
	"github.com/aws/aws-sdk-go/aws/request"
	"github.com/aws/aws-sdk-go/aws/session"
	"github.com/aws/aws-sdk-go/service/nimblestudio"
)

// TestGoSDK runs the scenario with aws-sdk-go v1's nimblestudio client, the
// one the e2e tests use in process, against the built binary.
func TestGoSDK(t *testing.T) {
	t.Parallel()
	srv := startServer(t, "--page-size", pageSize)
	start := time.Now()
	g := &goScenario{t: t, c: goClient(srv.URL, "test", "test")}
	// Errors must name their code in x-amzn-ErrorType too (docs/WIRE.md, style
	// A), not only in the body the SDK would fall back to.
	g.c.Handlers.UnmarshalError.PushFront(func(r *request.Request) {
		g.errorType = r.HTTPResponse.Header.Get("x-amzn-ErrorType")
	})
	g.run()
	t.Logf("go passed in %s", time.Since(start).Round(time.Millisecond))
}

func goClient(endpoint, akid, secret string) *nimblestudio.NimbleStudio {
	sess := session.Must(session.NewSessionWithOptions(session.Options{
		Config: aws.Config{
			Region:      aws.String("us-west-2"),
			Endpoint:    aws.String(endpoint),
			Credentials: credentials.NewStaticCredentials(akid, secret, ""),
			HTTPClient:  &http.Client{Timeout: 30 * time.Second},
		},
		SharedConfigState: session.SharedConfigDisable,
	}))
	return nimblestudio.New(sess)
}

type goScenario struct {
	t *testing.T
	c *nimblestudio.NimbleStudio
	// studio, image, component, profile are the ids of the resources made.
	studio, image, component, profile string
	// errorType is the x-amzn-ErrorType header of the last error response.
	errorType string
}

// poll is the waiter delay: the server completes transitions at once.
func poll() request.WaiterOption {
	return request.WithWaiterDelay(request.ConstantWaiterDelay(100 * time.Millisecond))
}

func (g *goScenario) ctx() context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	g.t.Cleanup(cancel)
	return c
}

func (g *goScenario) ok(err error, what string) {
	g.t.Helper()
	if err != nil {
		g.t.Fatalf("%s: %v", what, err)
	}
}

func (g *goScenario) check(cond bool, format string, args ...any) {
	g.t.Helper()
	if !cond {
		g.t.Fatalf(format, args...)
	}
}

// pollUntil calls fn every 100ms until it reports done.
func (g *goScenario) pollUntil(what string, fn func() bool) {
	g.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !fn() {
		if time.Now().After(deadline) {
			g.t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func recent(ts *time.Time) bool {
	return ts != nil && time.Since(*ts) < 10*time.Minute && time.Until(*ts) < time.Minute && ts.Location() == time.UTC
}

func (g *goScenario) run() {
	t, c := g.t, g.c

	st, err := c.CreateStudioWithContext(g.ctx(), &nimblestudio.CreateStudioInput{
		StudioName: aws.String("compatgo"), DisplayName: aws.String("Compat Go"),
		AdminRoleArn: aws.String("arn:aws:iam::000000000000:role/admin"), UserRoleArn: aws.String("arn:aws:iam::000000000000:role/user"),
		Tags: aws.StringMap(map[string]string{"suite": "compat"}),
	})
	g.ok(err, "CreateStudio")
	g.studio = aws.StringValue(st.Studio.StudioId)
	g.check(recent(st.Studio.CreatedAt), "studio createdAt %v", st.Studio.CreatedAt)
	g.ok(c.WaitUntilStudioReadyWithContext(g.ctx(), &nimblestudio.GetStudioInput{StudioId: &g.studio}, poll()), "StudioReady")
	t.Logf("ok: studio %s READY", g.studio)

	img, err := c.CreateStreamingImageWithContext(g.ctx(), &nimblestudio.CreateStreamingImageInput{
		StudioId: &g.studio, Name: aws.String("compat-image"), Description: aws.String("compat"), Ec2ImageId: aws.String("ami-0123456789abcdef0"),
	})
	g.ok(err, "CreateStreamingImage")
	g.image = aws.StringValue(img.StreamingImage.StreamingImageId)
	g.ok(c.WaitUntilStreamingImageReadyWithContext(g.ctx(), &nimblestudio.GetStreamingImageInput{StudioId: &g.studio, StreamingImageId: &g.image}, poll()), "StreamingImageReady")
	t.Logf("ok: streaming image %s READY", g.image)

	comp, err := c.CreateStudioComponentWithContext(g.ctx(), &nimblestudio.CreateStudioComponentInput{
		StudioId: &g.studio, Name: aws.String("compat-component"), Type: aws.String("CUSTOM"), Description: aws.String("compat"),
	})
	g.ok(err, "CreateStudioComponent")
	g.component = aws.StringValue(comp.StudioComponent.StudioComponentId)
	g.ok(c.WaitUntilStudioComponentReadyWithContext(g.ctx(), &nimblestudio.GetStudioComponentInput{StudioId: &g.studio, StudioComponentId: &g.component}, poll()), "StudioComponentReady")
	t.Logf("ok: studio component %s READY", g.component)

	lp, err := c.CreateLaunchProfileWithContext(g.ctx(), &nimblestudio.CreateLaunchProfileInput{
		StudioId: &g.studio, Name: aws.String("compat-profile"), Description: aws.String("compat"),
		Ec2SubnetIds:                  aws.StringSlice([]string{"subnet-0123456789abcdef0"}),
		LaunchProfileProtocolVersions: aws.StringSlice([]string{"2021-03-31"}),
		StudioComponentIds:            aws.StringSlice([]string{g.component}),
		StreamConfiguration: &nimblestudio.StreamConfigurationCreate{
			ClipboardMode:                    aws.String("ENABLED"),
			Ec2InstanceTypes:                 aws.StringSlice([]string{"g4dn.xlarge", "g4dn.2xlarge"}),
			StreamingImageIds:                aws.StringSlice([]string{g.image}),
			MaxSessionLengthInMinutes:        aws.Int64(60),
			SessionPersistenceMode:           aws.String("ACTIVATED"),
			AutomaticTerminationMode:         aws.String("ACTIVATED"),
			MaxStoppedSessionLengthInMinutes: aws.Int64(120),
			SessionBackup:                    &nimblestudio.StreamConfigurationSessionBackup{Mode: aws.String("AUTOMATIC"), MaxBackupsToRetain: aws.Int64(2)},
		},
	})
	g.ok(err, "CreateLaunchProfile")
	g.profile = aws.StringValue(lp.LaunchProfile.LaunchProfileId)
	g.ok(c.WaitUntilLaunchProfileReadyWithContext(g.ctx(), &nimblestudio.GetLaunchProfileInput{StudioId: &g.studio, LaunchProfileId: &g.profile}, poll()), "LaunchProfileReady")
	glp, err := c.GetLaunchProfileWithContext(g.ctx(), &nimblestudio.GetLaunchProfileInput{StudioId: &g.studio, LaunchProfileId: &g.profile})
	g.ok(err, "GetLaunchProfile")
	sb := glp.LaunchProfile.StreamConfiguration.SessionBackup
	g.check(aws.StringValue(glp.LaunchProfile.State) == "READY" && sb != nil && aws.StringValue(sb.Mode) == "AUTOMATIC" && aws.Int64Value(sb.MaxBackupsToRetain) == 2,
		"launch profile %s", glp.LaunchProfile)
	t.Logf("ok: launch profile %s READY with sessionBackup AUTOMATIC/2", g.profile)

	// Three sessions: more than one page of ListStreamingSessions.
	var sessions []string
	for i := range 3 {
		s, err := c.CreateStreamingSessionWithContext(g.ctx(), &nimblestudio.CreateStreamingSessionInput{
			StudioId: &g.studio, LaunchProfileId: &g.profile, Ec2InstanceType: aws.String("g4dn.xlarge"), StreamingImageId: &g.image,
			Tags: aws.StringMap(map[string]string{"session": fmt.Sprint(i)}),
		})
		g.ok(err, "CreateStreamingSession")
		g.check(aws.StringValue(s.Session.State) == "CREATE_IN_PROGRESS", "created session %s", s.Session)
		sessions = append(sessions, aws.StringValue(s.Session.SessionId))
	}
	for _, id := range sessions {
		g.ok(c.WaitUntilStreamingSessionReadyWithContext(g.ctx(), &nimblestudio.GetStreamingSessionInput{StudioId: &g.studio, SessionId: aws.String(id)}, poll()), "StreamingSessionReady")
		s := g.session(id)
		g.check(aws.StringValue(s.State) == "READY" && aws.StringValue(s.BackupMode) == "AUTOMATIC" && aws.Int64Value(s.MaxBackupsToRetain) == 2 &&
			aws.StringValue(s.SessionPersistenceMode) == "ACTIVATED" && aws.StringValue(s.OwnedBy) == "test" && recent(s.CreatedAt) && recent(s.StartedAt),
			"ready session %s", s)
	}
	t.Logf("ok: sessions %v READY", sessions)
	s1, s2, s3 := sessions[0], sessions[1], sessions[2]

	first, err := c.ListStreamingSessionsWithContext(g.ctx(), &nimblestudio.ListStreamingSessionsInput{StudioId: &g.studio})
	g.ok(err, "ListStreamingSessions")
	g.check(len(first.Sessions) < 3 && first.NextToken != nil, "the first page should not hold all sessions: %d sessions, nextToken %v", len(first.Sessions), first.NextToken)
	var listed []string
	pages := 0
	g.ok(c.ListStreamingSessionsPagesWithContext(g.ctx(), &nimblestudio.ListStreamingSessionsInput{StudioId: &g.studio},
		func(p *nimblestudio.ListStreamingSessionsOutput, last bool) bool {
			pages++
			for _, s := range p.Sessions {
				listed = append(listed, aws.StringValue(s.SessionId))
			}
			return pages < 50
		}), "ListStreamingSessionsPages")
	g.check(sameSet(listed, sessions) && pages >= 2 && pages < 50, "paginated sessions %v in %d pages, want %v", listed, pages, sessions)
	t.Logf("ok: ListStreamingSessions returned the 3 sessions in %d pages", pages)

	// Stop: an AUTOMATIC backup; start from it.
	g.stop(s1)
	b1 := g.waitBackup(s1, nil)
	s := g.start(s1, b1)
	g.check(aws.StringValue(s.State) == "READY" && aws.StringValue(s.StartedFromBackupId) == b1, "session started from backup: %s", s)
	t.Logf("ok: session %s started from %s", s1, b1)

	g.stop(s2)
	b2 := g.waitBackup(s2, nil)
	g.stop(s3)
	b3 := g.waitBackup(s3, nil)
	fb, err := c.ListStreamingSessionBackupsWithContext(g.ctx(), &nimblestudio.ListStreamingSessionBackupsInput{StudioId: &g.studio})
	g.ok(err, "ListStreamingSessionBackups")
	g.check(len(fb.StreamingSessionBackups) < 3 && fb.NextToken != nil, "the first page should not hold all backups: %d backups, nextToken %v", len(fb.StreamingSessionBackups), fb.NextToken)
	all, pages := g.backups(aws.String("test"))
	var ids []string
	for _, b := range all {
		ids = append(ids, aws.StringValue(b.BackupId))
	}
	g.check(sameSet(ids, []string{b1, b2, b3}) && pages >= 2, "paginated backups %v in %d pages", ids, pages)
	t.Logf("ok: ListStreamingSessionBackups returned the 3 backups in %d pages", pages)

	// Errors, typed.
	_, err = c.GetStreamingSessionBackupWithContext(g.ctx(), &nimblestudio.GetStreamingSessionBackupInput{StudioId: &g.studio, BackupId: aws.String("bak-doesnotexist0000")})
	g.typed(err, "GetStreamingSessionBackup", notFound)
	_, err = c.StartStreamingSessionWithContext(g.ctx(), &nimblestudio.StartStreamingSessionInput{StudioId: &g.studio, SessionId: &s2, BackupId: aws.String("bak-doesnotexist0000")})
	g.typed(err, "StartStreamingSession from an unknown backup", notFound)
	_, err = c.GetStreamingSessionWithContext(g.ctx(), &nimblestudio.GetStreamingSessionInput{StudioId: &g.studio, SessionId: aws.String("ses-doesnotexist0000")})
	g.typed(err, "GetStreamingSession", notFound)
	_, err = c.StartStreamingSessionWithContext(g.ctx(), &nimblestudio.StartStreamingSessionInput{StudioId: &g.studio, SessionId: &s1})
	g.typed(err, "StartStreamingSession of a READY session", conflict)

	// maxBackupsToRetain 2: two more stops of s1 leave its two newest backups.
	g.stop(s1)
	b4 := g.waitBackup(s1, []string{b1})
	g.start(s1, "")
	g.stop(s1)
	b5 := g.waitBackup(s1, []string{b1, b4})
	g.pollUntil(s1+" to keep only its two newest backups", func() bool {
		return sameSet(g.readyBackupsOf(s1), []string{b4, b5})
	})
	old, err := c.GetStreamingSessionBackupWithContext(g.ctx(), &nimblestudio.GetStreamingSessionBackupInput{StudioId: &g.studio, BackupId: &b1})
	if err == nil {
		st := aws.StringValue(old.StreamingSessionBackup.State)
		g.check(st == "DELETE_IN_PROGRESS" || st == "DELETED", "pruned backup %s", old)
	} else {
		g.typed(err, "GetStreamingSessionBackup of a purged backup", notFound)
	}
	t.Logf("ok: %s keeps backups %s and %s; %s was pruned", s1, b4, b5, b1)

	// Tags.
	arn := g.session(s1).Arn
	_, err = c.TagResourceWithContext(g.ctx(), &nimblestudio.TagResourceInput{ResourceArn: arn, Tags: aws.StringMap(map[string]string{"team": "fx", "stage": "compat"})})
	g.ok(err, "TagResource")
	g.check(g.tags(arn) == "session=0,stage=compat,team=fx", "tags after TagResource: %s", g.tags(arn))
	_, err = c.UntagResourceWithContext(g.ctx(), &nimblestudio.UntagResourceInput{ResourceArn: arn, TagKeys: aws.StringSlice([]string{"stage", "session"})})
	g.ok(err, "UntagResource")
	g.check(g.tags(arn) == "team=fx", "tags after UntagResource: %s", g.tags(arn))
	bak, err := c.GetStreamingSessionBackupWithContext(g.ctx(), &nimblestudio.GetStreamingSessionBackupInput{StudioId: &g.studio, BackupId: &b5})
	g.ok(err, "GetStreamingSessionBackup")
	g.check(g.tags(bak.StreamingSessionBackup.Arn) == "session=0", "backup tags: %s", g.tags(bak.StreamingSessionBackup.Arn))
	missing := aws.String(aws.StringValue(arn)[:strings.LastIndex(aws.StringValue(arn), "/")+1] + "ses-doesnotexist0000")
	_, err = c.ListTagsForResourceWithContext(g.ctx(), &nimblestudio.ListTagsForResourceInput{ResourceArn: missing})
	g.typed(err, "ListTagsForResource of an unknown session", notFound)
	t.Log("ok: TagResource, ListTagsForResource, UntagResource")

	// Delete everything, waiting for DELETED.
	for _, id := range sessions {
		d, err := c.DeleteStreamingSessionWithContext(g.ctx(), &nimblestudio.DeleteStreamingSessionInput{StudioId: &g.studio, SessionId: aws.String(id)})
		g.ok(err, "DeleteStreamingSession")
		st := aws.StringValue(d.Session.State)
		g.check(st == "DELETE_IN_PROGRESS" || st == "DELETED", "delete response %s", d.Session)
	}
	for _, id := range sessions {
		g.ok(c.WaitUntilStreamingSessionDeletedWithContext(g.ctx(), &nimblestudio.GetStreamingSessionInput{StudioId: &g.studio, SessionId: aws.String(id)}, poll()), "StreamingSessionDeleted")
	}
	left, err := c.ListStreamingSessionsWithContext(g.ctx(), &nimblestudio.ListStreamingSessionsInput{StudioId: &g.studio})
	g.ok(err, "ListStreamingSessions")
	g.check(len(left.Sessions) == 0 && left.NextToken == nil, "sessions left: %s", left)
	g.pollUntil("the sessions' backups to be deleted", func() bool { b, _ := g.backups(nil); return len(b) == 0 })
	t.Log("ok: sessions and their backups DELETED")
	_, err = c.DeleteLaunchProfileWithContext(g.ctx(), &nimblestudio.DeleteLaunchProfileInput{StudioId: &g.studio, LaunchProfileId: &g.profile})
	g.ok(err, "DeleteLaunchProfile")
	g.ok(c.WaitUntilLaunchProfileDeletedWithContext(g.ctx(), &nimblestudio.GetLaunchProfileInput{StudioId: &g.studio, LaunchProfileId: &g.profile}, poll()), "LaunchProfileDeleted")
	_, err = c.DeleteStudioComponentWithContext(g.ctx(), &nimblestudio.DeleteStudioComponentInput{StudioId: &g.studio, StudioComponentId: &g.component})
	g.ok(err, "DeleteStudioComponent")
	g.ok(c.WaitUntilStudioComponentDeletedWithContext(g.ctx(), &nimblestudio.GetStudioComponentInput{StudioId: &g.studio, StudioComponentId: &g.component}, poll()), "StudioComponentDeleted")
	_, err = c.DeleteStreamingImageWithContext(g.ctx(), &nimblestudio.DeleteStreamingImageInput{StudioId: &g.studio, StreamingImageId: &g.image})
	g.ok(err, "DeleteStreamingImage")
	g.ok(c.WaitUntilStreamingImageDeletedWithContext(g.ctx(), &nimblestudio.GetStreamingImageInput{StudioId: &g.studio, StreamingImageId: &g.image}, poll()), "StreamingImageDeleted")
	_, err = c.DeleteStudioWithContext(g.ctx(), &nimblestudio.DeleteStudioInput{StudioId: &g.studio})
	g.ok(err, "DeleteStudio")
	g.ok(c.WaitUntilStudioDeletedWithContext(g.ctx(), &nimblestudio.GetStudioInput{StudioId: &g.studio}, poll()), "StudioDeleted")
	t.Log("ok: launch profile, studio component, streaming image and studio DELETED")
}

func (g *goScenario) session(id string) *nimblestudio.StreamingSession {
	g.t.Helper()
	out, err := g.c.GetStreamingSessionWithContext(g.ctx(), &nimblestudio.GetStreamingSessionInput{StudioId: &g.studio, SessionId: &id})
	g.ok(err, "GetStreamingSession "+id)
	return out.Session
}

func (g *goScenario) stop(id string) {
	g.t.Helper()
	out, err := g.c.StopStreamingSessionWithContext(g.ctx(), &nimblestudio.StopStreamingSessionInput{StudioId: &g.studio, SessionId: &id, VolumeRetentionMode: aws.String("RETAIN")})
	g.ok(err, "StopStreamingSession")
	st := aws.StringValue(out.Session.State)
	g.check(st == "STOP_IN_PROGRESS" || st == "STOPPED", "stop response %s", out.Session)
	g.ok(g.c.WaitUntilStreamingSessionStoppedWithContext(g.ctx(), &nimblestudio.GetStreamingSessionInput{StudioId: &g.studio, SessionId: &id}, poll()), "StreamingSessionStopped")
	s := g.session(id)
	g.check(aws.StringValue(s.State) == "STOPPED" && recent(s.StoppedAt) && aws.StringValue(s.StoppedBy) == "test", "stopped session %s", s)
}

func (g *goScenario) start(id, backupID string) *nimblestudio.StreamingSession {
	g.t.Helper()
	in := &nimblestudio.StartStreamingSessionInput{StudioId: &g.studio, SessionId: &id}
	if backupID != "" {
		in.BackupId = &backupID
	}
	out, err := g.c.StartStreamingSessionWithContext(g.ctx(), in)
	g.ok(err, "StartStreamingSession")
	st := aws.StringValue(out.Session.State)
	g.check(st == "START_IN_PROGRESS" || st == "READY", "start response %s", out.Session)
	if backupID != "" {
		g.check(aws.StringValue(out.Session.StartedFromBackupId) == backupID, "start response startedFromBackupId: %s", out.Session)
	}
	g.ok(g.c.WaitUntilStreamingSessionReadyWithContext(g.ctx(), &nimblestudio.GetStreamingSessionInput{StudioId: &g.studio, SessionId: &id}, poll()), "StreamingSessionReady")
	return g.session(id)
}

// backups lists every backup of the studio with the SDK's paginator.
func (g *goScenario) backups(ownedBy *string) ([]*nimblestudio.StreamingSessionBackup, int) {
	g.t.Helper()
	var all []*nimblestudio.StreamingSessionBackup
	pages := 0
	g.ok(g.c.ListStreamingSessionBackupsPagesWithContext(g.ctx(), &nimblestudio.ListStreamingSessionBackupsInput{StudioId: &g.studio, OwnedBy: ownedBy},
		func(p *nimblestudio.ListStreamingSessionBackupsOutput, last bool) bool {
			pages++
			all = append(all, p.StreamingSessionBackups...)
			return pages < 50
		}), "ListStreamingSessionBackupsPages")
	g.check(pages < 50, "ListStreamingSessionBackups: 50 pages; is nextToken honoured?")
	return all, pages
}

func (g *goScenario) readyBackupsOf(sessionID string) []string {
	all, _ := g.backups(nil)
	var ids []string
	for _, b := range all {
		if aws.StringValue(b.SessionId) == sessionID && aws.StringValue(b.State) == "READY" {
			ids = append(ids, aws.StringValue(b.BackupId))
		}
	}
	return ids
}

// waitBackup waits for a new backup of sessionID (not in known) to show in
// ListStreamingSessionBackups and then for GetStreamingSessionBackup to say
// READY.
func (g *goScenario) waitBackup(sessionID string, known []string) string {
	g.t.Helper()
	var id string
	g.pollUntil("a new backup of "+sessionID, func() bool {
		all, _ := g.backups(nil)
		for _, b := range all {
			st := aws.StringValue(b.State)
			if aws.StringValue(b.SessionId) == sessionID && (st == "READY" || st == "CREATE_IN_PROGRESS") && !slices.Contains(known, aws.StringValue(b.BackupId)) {
				id = aws.StringValue(b.BackupId)
				return true
			}
		}
		return false
	})
	var b *nimblestudio.StreamingSessionBackup
	g.pollUntil("backup "+id+" READY", func() bool {
		out, err := g.c.GetStreamingSessionBackupWithContext(g.ctx(), &nimblestudio.GetStreamingSessionBackupInput{StudioId: &g.studio, BackupId: &id})
		g.ok(err, "GetStreamingSessionBackup")
		b = out.StreamingSessionBackup
		st := aws.StringValue(b.State)
		g.check(st == "READY" || st == "CREATE_IN_PROGRESS", "backup %s", b)
		return st == "READY"
	})
	arn := aws.StringValue(b.Arn)
	g.check(aws.StringValue(b.BackupId) == id && aws.StringValue(b.SessionId) == sessionID && strings.HasPrefix(arn, "arn:aws:nimble:") &&
		strings.HasSuffix(arn, id) && aws.StringValue(b.OwnedBy) == "test" && aws.StringValue(b.LaunchProfileId) == g.profile && recent(b.CreatedAt),
		"ready backup %s", b)
	g.t.Logf("ok: backup %s of %s READY", id, sessionID)
	return id
}

func (g *goScenario) tags(arn *string) string {
	g.t.Helper()
	out, err := g.c.ListTagsForResourceWithContext(g.ctx(), &nimblestudio.ListTagsForResourceInput{ResourceArn: arn})
	g.ok(err, "ListTagsForResource")
	var kv []string
	for k, v := range out.Tags {
		kv = append(kv, k+"="+aws.StringValue(v))
	}
	slices.Sort(kv)
	return strings.Join(kv, ",")
}

const (
	notFound = "ResourceNotFoundException"
	conflict = "ConflictException"
)

// typed checks that err is the modelled error type named code.
func (g *goScenario) typed(err error, what, code string) {
	g.t.Helper()
	var ok bool
	switch code {
	case notFound:
		_, ok = err.(*nimblestudio.ResourceNotFoundException)
	case conflict:
		_, ok = err.(*nimblestudio.ConflictException)
	}
	ae, isAWS := err.(awserr.RequestFailure)
	g.check(ok && isAWS && ae.Code() == code && ae.Message() != "", "%s: want a typed %s, got %T %v", what, code, err, err)
	g.check(g.errorType == code, "%s: x-amzn-ErrorType %q, want %q", what, g.errorType, code)
	g.t.Logf("ok: %s raised %s (HTTP %d): %s", what, code, ae.StatusCode(), ae.Message())
}

// sameSet reports whether a and b hold the same strings, each once.
func sameSet(a, b []string) bool {
	x, y := slices.Clone(a), slices.Clone(b)
	slices.Sort(x)
	slices.Sort(y)
	return slices.Equal(x, y) && len(slices.Compact(x)) == len(a)
}
