package e2e

import (
	"testing"
	"time"

	"github.com/aws/aws-sdk-go/aws"
	"github.com/aws/aws-sdk-go/service/nimblestudio"
)

func TestControlsTransitionsManual(t *testing.T) {
	e := start(t)
	admin := e.adminCtl()
	var cfg struct {
		Default struct{ Mode, Delay string }
		Rules   []struct{ Type, State, Mode string }
	}
	admin.ok("GET", "/_nimble/transitions", nil, &cfg)
	if cfg.Default.Mode != "delay" || cfg.Default.Delay != "0s" || len(cfg.Rules) != 0 {
		t.Fatalf("default transitions: %+v", cfg)
	}
	admin.ok("PUT", "/_nimble/transitions", map[string]any{"rules": []any{
		map[string]any{"type": "studio", "state": "CREATE_IN_PROGRESS", "mode": "manual"},
	}}, &cfg)
	if len(cfg.Rules) != 1 || cfg.Rules[0].Mode != "manual" {
		t.Fatalf("PUT answered %+v", cfg)
	}

	id := e.createStudio("held")
	eventually(t, "the studio's creation to be held", func() bool { return admin.isHeld(id) })
	e.Clock.Advance(24 * time.Hour)
	if got := e.studioState(id); got != "CREATE_IN_PROGRESS" {
		t.Fatalf("a held studio is %s", got)
	}
	var adv advanced
	admin.ok("POST", "/_nimble/transitions/advance", map[string]any{"type": "studio", "id": id}, &adv)
	if len(adv.Advanced) != 1 || adv.Advanced[0].From != "CREATE_IN_PROGRESS" || adv.Advanced[0].State != "READY" {
		t.Fatalf("advance answered %+v", adv)
	}
	if got := e.studioState(id); got != "READY" {
		t.Fatalf("an advanced studio is %s", got)
	}
	if admin.isHeld(id) {
		t.Fatal("an advanced studio is still held")
	}
	// Other transitions keep the default: the update completes at once.
	must[*nimblestudio.UpdateStudioOutput](t)(e.Admin.UpdateStudioWithContext(ctx(t), &nimblestudio.UpdateStudioInput{StudioId: &id, DisplayName: aws.String("renamed")}))
	check(t, e.Admin.WaitUntilStudioReadyWithContext(ctx(t), &nimblestudio.GetStudioInput{StudioId: &id}, fast()))

	admin.refused("POST", "/_nimble/transitions/advance", map[string]any{"type": "studio", "id": id}, 409, "ConflictException")
	admin.refused("POST", "/_nimble/transitions/advance", map[string]any{"type": "studio", "id": "stu-nope"}, 404, "ResourceNotFoundException")
	admin.refused("POST", "/_nimble/transitions/advance", map[string]any{"id": id}, 400, "ValidationException")
	for _, bad := range []string{
		`{"rules":[{"type":"streaming-session-backup","state":"*","mode":"manual"}]}`,
		`{"rules":[{"type":"studio","state":"STOP_IN_PROGRESS","mode":"manual"}]}`,
		`{"rules":[{"type":"studio","state":"*","mode":"sometimes"}]}`,
		`{"rules":[{"type":"studio","state":"*","mode":"delay","delay":"soon"}]}`,
		`{"rules":[{"type":"studio","state":"*","mode":"immediate","reads":2}]}`,
		`{"rulez":[]}`,
	} {
		admin.refused("PUT", "/_nimble/transitions", bad, 400, "ValidationException")
	}

	// A session's stop, with its backup, held and then advanced: every
	// step runs before advance answers.
	admin.ok("PUT", "/_nimble/transitions", map[string]any{"rules": []any{
		map[string]any{"type": "streaming-session", "state": "STOP_IN_PROGRESS", "mode": "manual"},
	}}, nil)
	pr := makeProfile(t, ctx(t), e.Admin, "stops", withBackups(2), withPersistence(600))
	s := e.session(t, pr)
	check(t, s.stop())
	eventually(t, "the stop to be held", func() bool { return admin.isHeld(*s.id) })
	backups := s.backups()
	if len(backups) != 1 || aws.StringValue(backups[0].State) != "CREATE_IN_PROGRESS" {
		t.Fatalf("backups of a held stop: %s", backups)
	}
	adv = advanced{}
	admin.ok("POST", "/_nimble/transitions/advance", map[string]any{"type": "streaming-session"}, &adv)
	if len(adv.Advanced) != 1 || adv.Advanced[0].State != "STOPPED" {
		t.Fatalf("advance answered %+v", adv)
	}
	b := must[*nimblestudio.GetStreamingSessionBackupOutput](t)(e.Admin.GetStreamingSessionBackupWithContext(ctx(t), &nimblestudio.GetStreamingSessionBackupInput{StudioId: &pr.Studio, BackupId: backups[0].BackupId}))
	if st := aws.StringValue(b.StreamingSessionBackup.State); st != "READY" {
		t.Fatalf("backup of the advanced stop is %s", st)
	}
}

// TestControlsTransitionsReads: "manual" with reads N answers the first N
// reads with the *_IN_PROGRESS state and the next one with the outcome, as
// moto's state manager does.
func TestControlsTransitionsReads(t *testing.T) {
	e := start(t)
	admin := e.adminCtl()
	admin.ok("PUT", "/_nimble/transitions", map[string]any{"rules": []any{
		map[string]any{"type": "studio", "state": "*", "mode": "manual", "reads": 2},
	}}, nil)
	id := e.createStudio("counted")
	for i := range 2 {
		if got := e.studioState(id); got != "CREATE_IN_PROGRESS" {
			t.Fatalf("read %d: %s", i+1, got)
		}
	}
	if got := e.studioState(id); got != "READY" {
		t.Fatalf("read 3: %s", got)
	}
	// A waiter polls its way through.
	must[*nimblestudio.DeleteStudioOutput](t)(e.Admin.DeleteStudioWithContext(ctx(t), &nimblestudio.DeleteStudioInput{StudioId: &id}))
	check(t, e.Admin.WaitUntilStudioDeletedWithContext(ctx(t), &nimblestudio.GetStudioInput{StudioId: &id}, fast()))
}

func TestControlsTransitionsDelay(t *testing.T) {
	e := start(t)
	admin := e.adminCtl()
	admin.ok("PUT", "/_nimble/transitions", map[string]any{"default": map[string]any{"mode": "delay", "delay": "1h"}}, nil)
	slow := e.createStudio("slow")
	later := e.createStudio("later")
	e.Clock.Advance(59 * time.Minute)
	time.Sleep(300 * time.Millisecond) // the lifecycle polls every 250ms
	if got := e.studioState(slow); got != "CREATE_IN_PROGRESS" {
		t.Fatalf("after 59 of 60 minutes the studio is %s", got)
	}
	e.Clock.Advance(time.Minute)
	eventually(t, "the delayed studio", func() bool { return e.studioState(slow) == "READY" })

	// New rules apply at once to transitions under way.
	e.createStudio("newer")
	admin.ok("PUT", "/_nimble/transitions", map[string]any{"default": map[string]any{"mode": "immediate"}}, nil)
	eventually(t, "a studio under the new rules", func() bool { return e.studioState(later) == "READY" })
}

// TestControlsTransitionsReadModifyWrite: the document GET answers, held
// transitions included, is accepted by PUT; "held" is read-only and ignored.
func TestControlsTransitionsReadModifyWrite(t *testing.T) {
	e := start(t)
	admin := e.adminCtl()
	admin.ok("PUT", "/_nimble/transitions", map[string]any{"rules": []any{
		map[string]any{"type": "studio", "state": "CREATE_IN_PROGRESS", "mode": "manual"},
	}}, nil)
	id := e.createStudio("rmw")
	eventually(t, "the studio's creation to be held", func() bool { return admin.isHeld(id) })

	var doc map[string]any
	admin.ok("GET", "/_nimble/transitions", nil, &doc)
	if held, _ := doc["held"].([]any); len(held) != 1 {
		t.Fatalf("GET answered %v, want one held transition", doc)
	}
	doc["rules"] = append(doc["rules"].([]any), map[string]any{"type": "launch-profile", "state": "*", "mode": "manual", "reads": 1})
	doc["held"] = []any{map[string]any{"type": "studio", "id": "stu-other", "state": "DELETE_IN_PROGRESS"}}
	var got struct {
		Rules []struct{ Type, State, Mode string }
		Held  []struct{ Type, ID string }
	}
	admin.ok("PUT", "/_nimble/transitions", doc, &got)
	if len(got.Rules) != 2 || got.Rules[1].Type != "launch-profile" || got.Rules[1].Mode != "manual" {
		t.Fatalf("PUT of the GET document with one more rule answered rules %+v", got.Rules)
	}
	if len(got.Held) != 1 || got.Held[0].ID != id {
		t.Fatalf("PUT changed what is held: %+v (want only %s)", got.Held, id)
	}
	admin.refused("PUT", "/_nimble/transitions", `{"rules": [], "held": [], "heldd": []}`, 400, "ValidationException")
}
