package service

import (
	"encoding/json"
	"testing"
	"time"

	opennimble "github.com/opennimble/opennimble"
	"github.com/opennimble/opennimble/api"
)

// TestClientTokenRecords: a remembered response is stored compressed and
// replays exactly; the record expires after the retention, when the token
// makes a new resource.
func TestClientTokenRecords(t *testing.T) {
	r := newRT(t)
	stu := r.studio("alpha")
	comp := r.component(stu, nil).StudioComponentId
	req := &api.CreateLaunchProfileRequest{ClientToken: "tok", StudioId: stu, Name: "lp", Description: "a launch profile for the lighting team",
		LaunchProfileProtocolVersions: []string{"2021-03-31"}, StudioComponentIds: []string{comp}, StreamConfiguration: stream("si-amazonlinux2"),
		Tags: map[string]string{"team": "lighting", "show": "one"}}
	first := must(r.s.CreateLaunchProfile(r.ctx, req))(t)
	plain, err := json.Marshal(first)
	noErr(t, err)
	var rec *opennimble.IdempotencyRecord
	noErr(t, r.s.store.View(r.ctx, func(tx opennimble.Tx) (err error) {
		rec, err = tx.GetIdempotency(r.ctx, caller(r.ctx)+"\x00CreateLaunchProfile\x00tok")
		return err
	}))
	t.Logf("CreateLaunchProfile response: %d bytes as JSON, %d bytes stored (%.2fx smaller)", len(plain), len(rec.Response), float64(len(plain))/float64(len(rec.Response)))
	if len(rec.Response)*2 > len(plain) {
		t.Errorf("stored response is %d bytes, want at most half of the JSON's %d", len(rec.Response), len(plain))
	}
	if want := r.s.now().Add(8 * time.Hour); !rec.ExpiresAt.Equal(want) {
		t.Errorf("record expires at %v, want %v", rec.ExpiresAt, want)
	}
	replay := must(r.s.CreateLaunchProfile(r.ctx, req))(t)
	if b, _ := json.Marshal(replay); string(b) != string(plain) {
		t.Fatalf("replay = %s, want %s", b, plain)
	}
	r.clock.Advance(8 * time.Hour)
	later := must(r.s.CreateLaunchProfile(r.ctx, req))(t)
	if later.LaunchProfile.LaunchProfileId == first.LaunchProfile.LaunchProfileId {
		t.Fatal("the token replayed after its retention")
	}
}
