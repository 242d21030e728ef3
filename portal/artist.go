package portal

import (
	"net/http"
	"slices"

	opennimble "github.com/opennimble/opennimble"
	"github.com/opennimble/opennimble/api"
)

// profileView is a launch profile the caller may launch from, with the
// choices its stream configuration allows.
type profileView struct {
	Profile       *api.LaunchProfile
	Images        []*api.StreamingImage
	InstanceTypes []api.StreamingInstanceType
	Backups       bool // stopping its sessions takes a backup
	Token         string
}

// sessionRow is a session with the names of what it was launched from.
type sessionRow struct {
	S       *api.StreamingSession
	Profile string
	Image   string
}

type homeData struct {
	Eulas    []*api.Eula
	Profiles []profileView
	Sessions []sessionRow
}

// home is the artist's page: licences to accept, launch profiles, sessions.
func (p *Portal) home(q *req) {
	d, err := p.homeData(q)
	if err != nil {
		p.fail(q, err)
		return
	}
	p.render(q, http.StatusOK, "home", "My workstations", d)
}

func (p *Portal) homeData(q *req) (*homeData, error) {
	studio, me := q.studio.StudioId, q.sess.principal.ID
	lps, err := p.profiles(q.ctx, studio, me)
	if err != nil {
		return nil, err
	}
	imgs, err := p.images(q.ctx, studio)
	if err != nil {
		return nil, err
	}
	d := &homeData{}
	var used []*api.StreamingImage
	for _, lp := range lps {
		v := profileView{Profile: lp, Token: randomToken()[:32]}
		if sc := lp.StreamConfiguration; sc != nil {
			for _, id := range sc.StreamingImageIds {
				if im := imgs[id]; im != nil && im.State == api.StreamingImageStateReady {
					v.Images = append(v.Images, im)
				}
			}
			v.InstanceTypes = sc.Ec2InstanceTypes
			v.Backups = sc.SessionBackup != nil && sc.SessionBackup.Mode == api.SessionBackupModeAutomatic
		}
		used = append(used, v.Images...)
		d.Profiles = append(d.Profiles, v)
	}
	if d.Eulas, err = p.unacceptedEulas(q.ctx, studio, used); err != nil {
		return nil, err
	}
	d.Sessions, err = p.rows(q, me, lps, imgs)
	return d, err
}

// rows lists the sessions of owner ("" for everybody's) with names.
func (p *Portal) rows(q *req, owner string, lps []*api.LaunchProfile, imgs map[string]*api.StreamingImage) ([]sessionRow, error) {
	ss, err := p.sessionsOf(q.ctx, q.studio.StudioId, owner)
	if err != nil {
		return nil, err
	}
	rows := make([]sessionRow, 0, len(ss))
	for _, s := range ss {
		r := sessionRow{S: s, Profile: s.LaunchProfileId, Image: s.StreamingImageId}
		if i := slices.IndexFunc(lps, func(lp *api.LaunchProfile) bool { return lp.LaunchProfileId == s.LaunchProfileId }); i >= 0 {
			r.Profile = lps[i].Name
		}
		if im := imgs[s.StreamingImageId]; im != nil {
			r.Image = im.Name
		}
		rows = append(rows, r)
	}
	return rows, nil
}

// liveSessions is the sessions table of the home page, for live updates.
func (p *Portal) liveSessions(q *req) {
	d, err := p.homeData(q)
	if err != nil {
		p.liveFail(q, err)
		return
	}
	p.fragment(q, "sessions", d)
}

func (p *Portal) acceptEulas(q *req) {
	ids := q.r.PostForm["eula"]
	if len(ids) == 0 || q.r.PostFormValue("agree") != "yes" {
		p.back(q, flash{Error: true, Text: "Tick the box to accept the licence agreements."})
		return
	}
	if _, err := call(q.ctx, &api.AcceptEulasRequest{StudioId: q.studio.StudioId, EulaIds: ids}, p.api.AcceptEulas); err != nil {
		p.fail(q, err)
		return
	}
	p.back(q, flash{Text: "Licence agreements accepted."})
}

// launch creates a session. The form's token is the request's client
// token, so a form posted twice launches one session.
func (p *Portal) launch(q *req) {
	f := q.r.PostFormValue
	imgs, err := p.images(q.ctx, q.studio.StudioId)
	if err != nil {
		p.fail(q, err)
		return
	}
	if im := imgs[f("streamingImageId")]; im != nil {
		eulas, err := p.unacceptedEulas(q.ctx, q.studio.StudioId, []*api.StreamingImage{im})
		if err != nil {
			p.fail(q, err)
			return
		}
		if len(eulas) > 0 {
			p.back(q, flash{Error: true, Text: "Accept the licence agreements of " + im.Name + " before launching it."})
			return
		}
	}
	out, err := call(q.ctx, &api.CreateStreamingSessionRequest{
		StudioId: q.studio.StudioId, ClientToken: f("token"), LaunchProfileId: f("launchProfileId"),
		StreamingImageId: f("streamingImageId"), Ec2InstanceType: api.StreamingInstanceType(f("ec2InstanceType")),
	}, p.api.CreateStreamingSession)
	if err != nil {
		p.fail(q, err)
		return
	}
	p.sessions.addFlash(q.token, flash{Text: "Launching session " + out.Session.SessionId + ".", While: api.StreamingSessionStateCreateInProgress})
	http.Redirect(q.w, q.r, "/portal/"+q.studio.StudioName+"/sessions/"+out.Session.SessionId, http.StatusSeeOther)
}

type sessionData struct {
	sessionRow
	Backups     []*api.StreamingSessionBackup
	TakesBackup bool // stopping takes a backup
	KeepsVolume bool // the volume outlives a stop
	Mine        bool
}

func (p *Portal) sessionData(q *req) (*sessionData, error) {
	studio := q.studio.StudioId
	out, err := call(q.ctx, &api.GetStreamingSessionRequest{StudioId: studio, SessionId: q.r.PathValue("id")}, p.api.GetStreamingSession)
	if err != nil {
		return nil, err
	}
	s := out.Session
	if s.State == api.StreamingSessionStateDeleted {
		return nil, opennimble.NotFound("StreamingSession", s.SessionId)
	}
	d := &sessionData{sessionRow: sessionRow{S: s, Profile: s.LaunchProfileId, Image: s.StreamingImageId},
		TakesBackup: s.BackupMode == api.SessionBackupModeAutomatic,
		KeepsVolume: s.SessionPersistenceMode == api.SessionPersistenceModeActivated,
		Mine:        s.OwnedBy == q.sess.principal.ID}
	if lp, err := call(q.ctx, &api.GetLaunchProfileRequest{StudioId: studio, LaunchProfileId: s.LaunchProfileId}, p.api.GetLaunchProfile); err == nil {
		d.Profile = lp.LaunchProfile.Name
	}
	if im, err := call(q.ctx, &api.GetStreamingImageRequest{StudioId: studio, StreamingImageId: s.StreamingImageId}, p.api.GetStreamingImage); err == nil {
		d.Image = im.StreamingImage.Name
	}
	d.Backups, err = p.backupsOf(q.ctx, studio, s.OwnedBy, s.SessionId)
	return d, err
}

func (p *Portal) sessionPage(q *req) {
	d, err := p.sessionData(q)
	if err != nil {
		p.fail(q, err)
		return
	}
	p.render(q, http.StatusOK, "session", "Session "+d.S.SessionId, d)
}

func (p *Portal) liveSession(q *req) {
	d, err := p.sessionData(q)
	if err != nil {
		p.liveFail(q, err)
		return
	}
	p.fragment(q, "session", d)
}

// sessionAction stops, starts, deletes or opens the desktop of a session.
func (p *Portal) sessionAction(q *req) {
	studio, id, base := q.studio.StudioId, q.r.PathValue("id"), "/portal/"+q.studio.StudioName
	var err error
	var note string
	var while api.StreamingSessionState
	switch q.r.PathValue("action") {
	case "stop":
		var out *api.StopStreamingSessionResponse
		out, err = call(q.ctx, &api.StopStreamingSessionRequest{StudioId: studio, SessionId: id}, p.api.StopStreamingSession)
		if err == nil {
			note, while = "Stopping session "+id+".", api.StreamingSessionStateStopInProgress
			if out.Session.BackupMode == api.SessionBackupModeAutomatic {
				note += " A backup of its volume is being taken."
			}
		}
	case "start":
		_, err = call(q.ctx, &api.StartStreamingSessionRequest{StudioId: studio, SessionId: id}, p.api.StartStreamingSession)
		note, while = "Starting session "+id+".", api.StreamingSessionStateStartInProgress
	case "delete":
		if _, err = call(q.ctx, &api.DeleteStreamingSessionRequest{StudioId: studio, SessionId: id}, p.api.DeleteStreamingSession); err == nil {
			p.sessions.addFlash(q.token, flash{Text: "Deleting session " + id + "."})
			http.Redirect(q.w, q.r, base, http.StatusSeeOther)
			return
		}
	case "desktop":
		var out *api.CreateStreamingSessionStreamResponse
		out, err = call(q.ctx, &api.CreateStreamingSessionStreamRequest{StudioId: studio, SessionId: id}, p.api.CreateStreamingSessionStream)
		if err == nil {
			http.Redirect(q.w, q.r, base+"/streams/"+id+"/"+out.Stream.StreamId, http.StatusSeeOther)
			return
		}
	default:
		http.NotFound(q.w, q.r)
		return
	}
	if err != nil {
		p.fail(q, err)
		return
	}
	p.sessions.addFlash(q.token, flash{Text: note, While: while})
	http.Redirect(q.w, q.r, base+"/sessions/"+id, http.StatusSeeOther)
}

// startFromBackup starts a session from one of its backups. The backup is
// read first, through the API: one the caller may not see, or of another
// session, is not found.
func (p *Portal) startFromBackup(q *req) {
	studio, id, backup := q.studio.StudioId, q.r.PathValue("id"), q.r.PathValue("backup")
	b, err := call(q.ctx, &api.GetStreamingSessionBackupRequest{StudioId: studio, BackupId: backup}, p.api.GetStreamingSessionBackup)
	if err == nil && b.StreamingSessionBackup.SessionId != id {
		err = opennimble.NotFound("StreamingSessionBackup", backup)
	}
	if err == nil {
		_, err = call(q.ctx, &api.StartStreamingSessionRequest{StudioId: studio, SessionId: id, BackupId: backup}, p.api.StartStreamingSession)
	}
	if err != nil {
		p.fail(q, err)
		return
	}
	p.sessions.addFlash(q.token, flash{Text: "Starting session " + id + " from backup " + backup + ".", While: api.StreamingSessionStateStartInProgress})
	http.Redirect(q.w, q.r, "/portal/"+q.studio.StudioName+"/sessions/"+id, http.StatusSeeOther)
}

type streamData struct {
	SessionID string
	Stream    *api.StreamingSessionStream
}

func (p *Portal) streamData(q *req) (*streamData, error) {
	id := q.r.PathValue("id")
	out, err := call(q.ctx, &api.GetStreamingSessionStreamRequest{StudioId: q.studio.StudioId, SessionId: id, StreamId: q.r.PathValue("stream")}, p.api.GetStreamingSessionStream)
	if err != nil {
		return nil, err
	}
	return &streamData{SessionID: id, Stream: out.Stream}, nil
}

// streamPage waits, live, for a stream to be READY, then opens its URL.
func (p *Portal) streamPage(q *req) {
	d, err := p.streamData(q)
	if err != nil {
		p.fail(q, err)
		return
	}
	p.render(q, http.StatusOK, "stream", "Desktop of "+d.SessionID, d)
}

func (p *Portal) liveStream(q *req) {
	d, err := p.streamData(q)
	if err != nil {
		p.liveFail(q, err)
		return
	}
	p.fragment(q, "stream", d)
}
