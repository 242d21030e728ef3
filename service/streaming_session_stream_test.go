package service

import (
	"strings"
	"testing"
	"time"

	opennimble "github.com/opennimble/opennimble"
	"github.com/opennimble/opennimble/api"
)

func (r *sessRig) newStream(sessionID string, seconds *int32) (*api.StreamingSessionStream, error) {
	out, err := r.svc.CreateStreamingSessionStream(r.alice, &api.CreateStreamingSessionStreamRequest{StudioId: rigStudio, SessionId: sessionID, ExpirationInSeconds: seconds})
	if err != nil {
		return nil, err
	}
	return out.Stream, nil
}

func (r *sessRig) getStream(sessionID, streamID string) *api.StreamingSessionStream {
	r.t.Helper()
	out, err := r.svc.GetStreamingSessionStream(r.alice, &api.GetStreamingSessionStreamRequest{StudioId: rigStudio, SessionId: sessionID, StreamId: streamID})
	if err != nil {
		r.t.Fatalf("GetStreamingSessionStream: %v", err)
	}
	return out.Stream
}

func TestStreamLifecycleAndExpiry(t *testing.T) {
	r := newSessRig(t)
	s := r.create(r.alice, &api.CreateStreamingSessionRequest{OwnedBy: "carol"})
	r.settle()
	st, err := r.newStream(s.SessionId, nil)
	if err != nil {
		t.Fatal(err)
	}
	if st.State != api.StreamingSessionStreamStateCreateInProgress || st.StatusCode != api.StreamingSessionStreamStatusCodeStreamCreateInProgress ||
		st.OwnedBy != "carol" || st.CreatedBy != "alice" || !st.ExpiresAt.Equal(st.CreatedAt.Add(120*time.Second)) {
		t.Fatalf("new stream: %+v", st)
	}
	token, ok := strings.CutPrefix(st.Url, "http://127.0.0.1:8080/_stream/")
	if !ok || len(token) < 40 {
		t.Fatalf("url %q", st.Url)
	}
	_, err = r.svc.StreamPage(r.alice, token)
	sessWantErr(t, err, opennimble.ErrNotFound) // not READY yet
	r.settle()
	if got := r.getStream(s.SessionId, st.StreamId); got.State != api.StreamingSessionStreamStateReady || got.StatusCode != api.StreamingSessionStreamStatusCodeStreamReady {
		t.Fatalf("stream %s/%s", got.State, got.StatusCode)
	}
	page, err := r.svc.StreamPage(r.alice, token)
	if err != nil {
		t.Fatal(err)
	}
	if *page != (StreamPageInfo{StreamID: st.StreamId, SessionID: s.SessionId, StudioID: rigStudio, OwnedBy: "carol", ExpiresAt: *st.ExpiresAt}) {
		t.Fatalf("page %+v", page)
	}
	id, _, _ := strings.Cut(token, ".")
	for _, bad := range []string{id + ".wrong", id, "", "str-none.x", token + "x"} {
		_, err := r.svc.StreamPage(r.alice, bad)
		sessWantErr(t, err, opennimble.ErrNotFound)
	}
	r.advance(120 * time.Second)
	_, err = r.svc.StreamPage(r.alice, token)
	sessWantErr(t, err, opennimble.ErrAccessDenied, "expired")
	if got := r.getStream(s.SessionId, st.StreamId); got.State != api.StreamingSessionStreamStateDeleted || got.StatusCode != api.StreamingSessionStreamStatusCodeStreamDeleted {
		t.Fatalf("expired stream %s/%s", got.State, got.StatusCode)
	}
	r.advance(time.Hour)
	_, err = r.svc.GetStreamingSessionStream(r.alice, &api.GetStreamingSessionStreamRequest{StudioId: rigStudio, SessionId: s.SessionId, StreamId: st.StreamId})
	sessWantErr(t, err, opennimble.ErrNotFound, st.StreamId)
}

func TestStreamRefusals(t *testing.T) {
	r := newSessRig(t)
	s := r.ready()
	for _, n := range []int32{59, 3601} {
		_, err := r.newStream(s.SessionId, &n)
		sessWantErr(t, err, opennimble.ErrValidation, "expirationInSeconds")
	}
	st, err := r.newStream(s.SessionId, ptr(int32(3600)))
	if err != nil || !st.ExpiresAt.Equal(st.CreatedAt.Add(time.Hour)) {
		t.Fatalf("stream of an hour: %+v, %v", st, err)
	}
	r.settle()
	_, err = r.svc.GetStreamingSessionStream(r.alice, &api.GetStreamingSessionStreamRequest{StudioId: rigStudio, SessionId: "ses-other", StreamId: st.StreamId})
	sessWantErr(t, err, opennimble.ErrNotFound)
	token := strings.TrimPrefix(st.Url, "http://127.0.0.1:8080/_stream/")

	r.stopped(s.SessionId, "")
	_, err = r.newStream(s.SessionId, nil)
	sessWantErr(t, err, opennimble.ErrConflict, "STOPPED")
	// A stopped session's streams no longer open.
	_, err = r.svc.StreamPage(r.alice, token)
	sessWantErr(t, err, opennimble.ErrNotFound)
}

// A stream whose session stops before the stream is ready fails.
func TestStreamOfAStoppingSessionFails(t *testing.T) {
	r := newSessRig(t)
	s := r.ready()
	st, err := r.newStream(s.SessionId, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.stop(s.SessionId, ""); err != nil {
		t.Fatal(err)
	}
	r.settle()
	if got := r.getStream(s.SessionId, st.StreamId); got.State != api.StreamingSessionStreamStateCreateFailed {
		t.Fatalf("stream is %s", got.State)
	}
}
