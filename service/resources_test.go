package service

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	opennimble "github.com/opennimble/opennimble"
	"github.com/opennimble/opennimble/api"
	"github.com/opennimble/opennimble/sqlite"
)

// rt is a service on a real SQLite store with a fake clock, for the tests of
// studio components, launch profiles, images, EULAs, members and tags.
type rt struct {
	t     *testing.T
	s     *Service
	clock *opennimble.FakeClock
	ctx   context.Context
}

const (
	rtDelay     = time.Second
	rtRetention = time.Hour
	rtAccount   = "123456789012"
)

func newRT(t *testing.T, mod ...func(*Config)) *rt {
	t.Helper()
	st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "db", "opennimble.db"), sqlite.Options{Sync: "normal"})
	if err != nil {
		t.Fatalf("sqlite.Open: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	cfg := Config{Region: "us-west-2", AccountID: rtAccount, TransitionDelay: rtDelay, DeletedRetention: rtRetention, StreamBaseURL: "http://127.0.0.1:8080"}
	for _, m := range mod {
		m(&cfg)
	}
	clock := opennimble.NewFakeClock(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	s, err := New(t.Context(), cfg, Options{Store: st, Clock: clock, IDs: opennimble.NewSeededIDs(1)})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ctx := opennimble.WithPrincipal(t.Context(), opennimble.Principal{ID: "admin-1", Admin: true})
	return &rt{t: t, s: s, clock: clock, ctx: ctx}
}

// as returns a context whose caller is principal.
func (r *rt) as(principal string) context.Context {
	return opennimble.WithPrincipal(r.t.Context(), opennimble.Principal{ID: principal})
}

// settle lets a transition's delay pass and runs the reconciler once.
func (r *rt) settle(kind opennimble.Kind, id string) {
	r.t.Helper()
	r.clock.Advance(rtDelay)
	if err := r.s.Reconcile(r.ctx, kind, id); err != nil {
		r.t.Fatalf("Reconcile %s %s: %v", kind, id, err)
	}
}

// must fails the test on err and otherwise returns v: must(f())(t).
func must[T any](v T, err error) func(*testing.T) T {
	return func(t *testing.T) T {
		t.Helper()
		if err != nil {
			t.Fatalf("unexpected error: %v", err)
		}
		return v
	}
}

func noErr(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("unexpected error: %v", err)
	}
}

// wantErr checks err's code and, when field is set, that it names field
// (in its fieldName context or its message).
func wantErr(t *testing.T, err error, code, field string) {
	t.Helper()
	var e *opennimble.Error
	if !errors.As(err, &e) {
		t.Fatalf("err = %v, want %s", err, code)
	}
	if e.Code != code {
		t.Fatalf("code = %s (%s), want %s", e.Code, e.Message, code)
	}
	if field != "" && e.Context["fieldName"] != field && !strings.Contains(e.Message, field) {
		t.Fatalf("error %q (context %v) does not name %q", e.Message, e.Context, field)
	}
}

func (r *rt) studio(name string) string {
	r.t.Helper()
	out := must(r.s.CreateStudio(r.ctx, &api.CreateStudioRequest{StudioName: name, DisplayName: name, AdminRoleArn: "arn:aws:iam::123456789012:role/a", UserRoleArn: "arn:aws:iam::123456789012:role/u"}))(r.t)
	r.settle(opennimble.KindStudio, out.Studio.StudioId)
	return out.Studio.StudioId
}

func sfsConfig() *api.StudioComponentConfiguration {
	return &api.StudioComponentConfiguration{SharedFileSystemConfiguration: &api.SharedFileSystemConfiguration{
		Endpoint: "fs-1.example.com", FileSystemId: "fs-1", LinuxMountPoint: "/mnt/share", ShareName: "share", WindowsMountDrive: "Z"}}
}

func (r *rt) component(studioID string, req *api.CreateStudioComponentRequest) *api.StudioComponent {
	r.t.Helper()
	if req == nil {
		req = &api.CreateStudioComponentRequest{Name: "share", Type: api.StudioComponentTypeSharedFileSystem, Configuration: sfsConfig()}
	}
	req.StudioId = studioID
	out := must(r.s.CreateStudioComponent(r.ctx, req))(r.t)
	r.settle(opennimble.KindStudioComponent, out.StudioComponent.StudioComponentId)
	return out.StudioComponent
}

func TestStudioComponentLifecycle(t *testing.T) {
	r := newRT(t)
	stu := r.studio("alpha")
	created := must(r.s.CreateStudioComponent(r.ctx, &api.CreateStudioComponentRequest{
		StudioId: stu, Name: "share", Type: api.StudioComponentTypeSharedFileSystem, Subtype: api.StudioComponentSubtypeAmazonFsxForLustre,
		Configuration: sfsConfig(), Ec2SecurityGroupIds: []string{"sg-1"}, RuntimeRoleArn: "arn:aws:iam::1:role/run",
		ScriptParameters: []*api.ScriptParameterKeyValue{{Key: "SHARE", Value: "x"}}, Tags: map[string]string{"team": "fx"},
	}))(t).StudioComponent
	id := created.StudioComponentId
	if created.State != api.StudioComponentStateCreateInProgress || created.CreatedBy != "admin-1" || created.Arn != r.s.arn(opennimble.KindStudioComponent, id) {
		t.Fatalf("created = %+v", created)
	}
	if !strings.HasPrefix(id, "sc-") || len(id) > 22 {
		t.Errorf("id %q", id)
	}
	// Not due yet: the reconciler leaves it.
	noErr(t, r.s.Reconcile(r.ctx, opennimble.KindStudioComponent, id))
	get := func() *api.StudioComponent {
		return must(r.s.GetStudioComponent(r.ctx, &api.GetStudioComponentRequest{StudioId: stu, StudioComponentId: id}))(t).StudioComponent
	}
	if got := get(); got.State != api.StudioComponentStateCreateInProgress {
		t.Fatalf("state before delay = %s", got.State)
	}
	r.settle(opennimble.KindStudioComponent, id)
	if got := get(); got.State != api.StudioComponentStateReady || got.StatusCode != api.StudioComponentStatusCodeStudioComponentCreated || got.Tags["team"] != "fx" || got.Subtype != api.StudioComponentSubtypeAmazonFsxForLustre {
		t.Fatalf("after create = %+v", got)
	}

	up := must(r.s.UpdateStudioComponent(r.as("editor"), &api.UpdateStudioComponentRequest{StudioId: stu, StudioComponentId: id, Description: "new"}))(t).StudioComponent
	if up.State != api.StudioComponentStateUpdateInProgress || up.UpdatedBy != "editor" || up.Name != "share" || up.Configuration == nil || len(up.Ec2SecurityGroupIds) != 1 {
		t.Fatalf("update = %+v", up)
	}
	_, err := r.s.UpdateStudioComponent(r.ctx, &api.UpdateStudioComponentRequest{StudioId: stu, StudioComponentId: id, Name: "x"})
	wantErr(t, err, opennimble.ErrConflict, "UPDATE_IN_PROGRESS")
	r.settle(opennimble.KindStudioComponent, id)
	if got := get(); got.State != api.StudioComponentStateReady || got.StatusCode != api.StudioComponentStatusCodeStudioComponentUpdated || got.Description != "new" {
		t.Fatalf("after update = %+v", got)
	}

	del := must(r.s.DeleteStudioComponent(r.ctx, &api.DeleteStudioComponentRequest{StudioId: stu, StudioComponentId: id}))(t).StudioComponent
	if del.State != api.StudioComponentStateDeleteInProgress {
		t.Fatalf("delete = %s", del.State)
	}
	r.settle(opennimble.KindStudioComponent, id)
	if got := get(); got.State != api.StudioComponentStateDeleted || got.StatusCode != api.StudioComponentStatusCodeStudioComponentDeleted {
		t.Fatalf("after delete = %+v", got)
	}
	// A DELETED component is gone for every mutation and for lists.
	_, err = r.s.DeleteStudioComponent(r.ctx, &api.DeleteStudioComponentRequest{StudioId: stu, StudioComponentId: id})
	wantErr(t, err, opennimble.ErrNotFound, "")
	if l := must(r.s.ListStudioComponents(r.ctx, &api.ListStudioComponentsRequest{StudioId: stu}))(t); len(l.StudioComponents) != 0 {
		t.Fatalf("list after delete = %d", len(l.StudioComponents))
	}
	if l := must(r.s.ListStudioComponents(r.ctx, &api.ListStudioComponentsRequest{StudioId: stu, States: []api.StudioComponentState{api.StudioComponentStateDeleted}}))(t); len(l.StudioComponents) != 1 {
		t.Fatalf("list DELETED = %d", len(l.StudioComponents))
	}
	// Purged after the retention period.
	r.clock.Advance(rtRetention)
	noErr(t, r.s.Reconcile(r.ctx, opennimble.KindStudioComponent, id))
	_, err = r.s.GetStudioComponent(r.ctx, &api.GetStudioComponentRequest{StudioId: stu, StudioComponentId: id})
	wantErr(t, err, opennimble.ErrNotFound, "")
}

func TestStudioComponentValidation(t *testing.T) {
	r := newRT(t)
	stu := r.studio("alpha")
	ad := &api.StudioComponentConfiguration{ActiveDirectoryConfiguration: &api.ActiveDirectoryConfiguration{DirectoryId: "d-1"}}
	both := sfsConfig()
	both.LicenseServiceConfiguration = &api.LicenseServiceConfiguration{Endpoint: "lic"}
	// Tags are checked by the generated validators (api.Validator.Tags).
	cases := []struct {
		name  string
		req   api.CreateStudioComponentRequest
		field string
	}{
		{"shared fs without configuration", api.CreateStudioComponentRequest{Type: api.StudioComponentTypeSharedFileSystem}, "configuration.sharedFileSystemConfiguration"},
		{"custom with configuration", api.CreateStudioComponentRequest{Type: api.StudioComponentTypeCustom, Configuration: sfsConfig()}, "configuration.sharedFileSystemConfiguration"},
		{"type mismatch", api.CreateStudioComponentRequest{Type: api.StudioComponentTypeComputeFarm, Configuration: ad}, "configuration.activeDirectoryConfiguration"},
		{"two members", api.CreateStudioComponentRequest{Type: api.StudioComponentTypeSharedFileSystem, Configuration: both}, "configuration"},
		{"empty union", api.CreateStudioComponentRequest{Type: api.StudioComponentTypeLicenseService, Configuration: &api.StudioComponentConfiguration{}}, "configuration.licenseServiceConfiguration"},
		{"subtype of another type", api.CreateStudioComponentRequest{Type: api.StudioComponentTypeActiveDirectory, Subtype: api.StudioComponentSubtypeAmazonFsxForWindows, Configuration: ad}, "subtype"},
		{"unknown type", api.CreateStudioComponentRequest{Type: "PRINTER"}, "type"},
		{"missing type", api.CreateStudioComponentRequest{}, "type"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req := c.req
			req.StudioId, req.Name = stu, "c"
			_, err := r.s.CreateStudioComponent(r.ctx, &req)
			wantErr(t, err, opennimble.ErrValidation, c.field)
		})
	}
	// Each type with its own configuration is accepted.
	for _, req := range []api.CreateStudioComponentRequest{
		{Type: api.StudioComponentTypeActiveDirectory, Subtype: api.StudioComponentSubtypeAwsManagedMicrosoftAd, Configuration: ad},
		{Type: api.StudioComponentTypeSharedFileSystem, Configuration: sfsConfig()},
		{Type: api.StudioComponentTypeComputeFarm, Configuration: &api.StudioComponentConfiguration{ComputeFarmConfiguration: &api.ComputeFarmConfiguration{Endpoint: "farm"}}},
		{Type: api.StudioComponentTypeLicenseService, Configuration: &api.StudioComponentConfiguration{LicenseServiceConfiguration: &api.LicenseServiceConfiguration{Endpoint: "lic"}}},
		{Type: api.StudioComponentTypeCustom, Subtype: api.StudioComponentSubtypeCustom, Tags: map[string]string{strings.Repeat("k", 128): strings.Repeat("v", 256)}},
	} {
		req.StudioId, req.Name = stu, "ok"
		must(r.s.CreateStudioComponent(r.ctx, &req))(t)
	}
	_, err := r.s.CreateStudioComponent(r.ctx, &api.CreateStudioComponentRequest{StudioId: stu, Type: api.StudioComponentTypeCustom})
	wantErr(t, err, opennimble.ErrValidation, "name")
}

func TestStudioComponentUpdateType(t *testing.T) {
	r := newRT(t)
	stu := r.studio("alpha")
	c := r.component(stu, nil)
	// A new type without a configuration drops the old one: fine for CUSTOM.
	_, err := r.s.UpdateStudioComponent(r.ctx, &api.UpdateStudioComponentRequest{StudioId: stu, StudioComponentId: c.StudioComponentId, Type: api.StudioComponentTypeLicenseService})
	wantErr(t, err, opennimble.ErrValidation, "configuration.licenseServiceConfiguration")
	_, err = r.s.UpdateStudioComponent(r.ctx, &api.UpdateStudioComponentRequest{StudioId: stu, StudioComponentId: c.StudioComponentId, Configuration: &api.StudioComponentConfiguration{ComputeFarmConfiguration: &api.ComputeFarmConfiguration{}}})
	wantErr(t, err, opennimble.ErrValidation, "configuration.computeFarmConfiguration")
	up := must(r.s.UpdateStudioComponent(r.ctx, &api.UpdateStudioComponentRequest{StudioId: stu, StudioComponentId: c.StudioComponentId, Type: api.StudioComponentTypeCustom, Ec2SecurityGroupIds: []string{}}))(t).StudioComponent
	if up.Type != api.StudioComponentTypeCustom || up.Configuration != nil || len(up.Ec2SecurityGroupIds) != 0 {
		t.Fatalf("update to CUSTOM = %+v", up)
	}
}

func TestStudioComponentList(t *testing.T) {
	r := newRT(t)
	stu, other := r.studio("alpha"), r.studio("beta")
	var ids []string
	for i := range 5 {
		req := &api.CreateStudioComponentRequest{Name: fmt.Sprint("c", i), Type: api.StudioComponentTypeCustom}
		if i%2 == 0 {
			req = &api.CreateStudioComponentRequest{Name: fmt.Sprint("c", i), Type: api.StudioComponentTypeSharedFileSystem, Configuration: sfsConfig()}
		}
		ids = append(ids, r.component(stu, req).StudioComponentId)
	}
	r.component(other, nil)

	var got []string
	req := &api.ListStudioComponentsRequest{StudioId: stu, MaxResults: ptr(int32(2))}
	for pages := 0; ; pages++ {
		out := must(r.s.ListStudioComponents(r.ctx, req))(t)
		if len(out.StudioComponents) > 2 || pages > 3 {
			t.Fatalf("page %d has %d items", pages, len(out.StudioComponents))
		}
		for _, c := range out.StudioComponents {
			got = append(got, c.StudioComponentId)
		}
		if out.NextToken == "" {
			break
		}
		req.NextToken = out.NextToken
	}
	if fmt.Sprint(got) != fmt.Sprint(ids) {
		t.Fatalf("paged = %v, want %v", got, ids)
	}
	// A token only continues the query it came from.
	first := must(r.s.ListStudioComponents(r.ctx, &api.ListStudioComponentsRequest{StudioId: stu, MaxResults: ptr(int32(1))}))(t)
	_, err := r.s.ListStudioComponents(r.ctx, &api.ListStudioComponentsRequest{StudioId: other, NextToken: first.NextToken})
	wantErr(t, err, opennimble.ErrValidation, "nextToken")

	shared := must(r.s.ListStudioComponents(r.ctx, &api.ListStudioComponentsRequest{StudioId: stu, Types: []api.StudioComponentType{api.StudioComponentTypeSharedFileSystem}, MaxResults: ptr(int32(2))}))(t)
	if len(shared.StudioComponents) != 2 || shared.NextToken == "" {
		t.Fatalf("types filter page 1 = %d items, token %q", len(shared.StudioComponents), shared.NextToken)
	}
	shared2 := must(r.s.ListStudioComponents(r.ctx, &api.ListStudioComponentsRequest{StudioId: stu, Types: []api.StudioComponentType{api.StudioComponentTypeSharedFileSystem}, MaxResults: ptr(int32(2)), NextToken: shared.NextToken}))(t)
	if len(shared2.StudioComponents) != 1 || shared2.NextToken != "" || shared2.StudioComponents[0].Type != api.StudioComponentTypeSharedFileSystem {
		t.Fatalf("types filter page 2 = %+v", shared2)
	}
	ready := must(r.s.ListStudioComponents(r.ctx, &api.ListStudioComponentsRequest{StudioId: stu, States: []api.StudioComponentState{api.StudioComponentStateCreateInProgress}}))(t)
	if len(ready.StudioComponents) != 0 {
		t.Fatalf("states filter = %d", len(ready.StudioComponents))
	}
	_, err = r.s.ListStudioComponents(r.ctx, &api.ListStudioComponentsRequest{StudioId: "stu-missing"})
	wantErr(t, err, opennimble.ErrNotFound, "stu-missing")
}

func TestStudioComponentAcrossStudios(t *testing.T) {
	r := newRT(t)
	stu, other := r.studio("alpha"), r.studio("beta")
	c := r.component(stu, nil)
	_, err := r.s.GetStudioComponent(r.ctx, &api.GetStudioComponentRequest{StudioId: other, StudioComponentId: c.StudioComponentId})
	wantErr(t, err, opennimble.ErrNotFound, c.StudioComponentId)
	_, err = r.s.UpdateStudioComponent(r.ctx, &api.UpdateStudioComponentRequest{StudioId: other, StudioComponentId: c.StudioComponentId, Name: "x"})
	wantErr(t, err, opennimble.ErrNotFound, c.StudioComponentId)
	_, err = r.s.DeleteStudioComponent(r.ctx, &api.DeleteStudioComponentRequest{StudioId: other, StudioComponentId: c.StudioComponentId})
	wantErr(t, err, opennimble.ErrNotFound, c.StudioComponentId)
	_, err = r.s.CreateStudioComponent(r.ctx, &api.CreateStudioComponentRequest{StudioId: "stu-missing", Name: "c", Type: api.StudioComponentTypeCustom})
	wantErr(t, err, opennimble.ErrNotFound, "stu-missing")
}

func TestStudioComponentIdempotency(t *testing.T) {
	r := newRT(t)
	stu := r.studio("alpha")
	req := &api.CreateStudioComponentRequest{ClientToken: "tok-1", StudioId: stu, Name: "c", Type: api.StudioComponentTypeCustom}
	a := must(r.s.CreateStudioComponent(r.ctx, req))(t).StudioComponent
	b := must(r.s.CreateStudioComponent(r.ctx, req))(t).StudioComponent
	if a.StudioComponentId != b.StudioComponentId {
		t.Fatalf("replay made a second component: %s, %s", a.StudioComponentId, b.StudioComponentId)
	}
	_, err := r.s.CreateStudioComponent(r.ctx, &api.CreateStudioComponentRequest{ClientToken: "tok-1", StudioId: stu, Name: "other", Type: api.StudioComponentTypeCustom})
	wantErr(t, err, opennimble.ErrConflict, "tok-1")
	if l := must(r.s.ListStudioComponents(r.ctx, &api.ListStudioComponentsRequest{StudioId: stu}))(t); len(l.StudioComponents) != 1 {
		t.Fatalf("components = %d, want 1", len(l.StudioComponents))
	}
}

func TestStudioComponentQuota(t *testing.T) {
	r := newRT(t, func(c *Config) { c.Quotas.StudioComponentsPerStudio = 1 })
	stu := r.studio("alpha")
	r.component(stu, nil)
	_, err := r.s.CreateStudioComponent(r.ctx, &api.CreateStudioComponentRequest{StudioId: stu, Name: "c", Type: api.StudioComponentTypeCustom})
	wantErr(t, err, opennimble.ErrServiceQuotaExceeded, "")
}

func TestStudioDeleteWithResources(t *testing.T) {
	r := newRT(t)
	stu := r.studio("alpha")
	lp := r.launchProfile(stu, nil)
	must(r.s.PutStudioMembers(r.ctx, &api.PutStudioMembersRequest{StudioId: stu, IdentityStoreId: "d-1", Members: []*api.NewStudioMember{{PrincipalId: "u1", Persona: api.StudioPersonaAdministrator}}}))(t)
	must(r.s.DeleteStudio(r.ctx, &api.DeleteStudioRequest{StudioId: stu}))(t)
	r.settle(opennimble.KindStudio, stu)
	got := must(r.s.GetStudio(r.ctx, &api.GetStudioRequest{StudioId: stu}))(t).Studio
	if got.State != api.StudioStateDeleteFailed || got.StatusCode != api.StudioStatusCodeStudioWithLaunchProfilesNotDeleted {
		t.Fatalf("studio = %s %s", got.State, got.StatusCode)
	}
	// Deleting everything lets the studio go, and the purge takes the members.
	must(r.s.DeleteLaunchProfile(r.ctx, &api.DeleteLaunchProfileRequest{StudioId: stu, LaunchProfileId: lp.LaunchProfileId}))(t)
	r.settle(opennimble.KindLaunchProfile, lp.LaunchProfileId)
	for _, id := range lp.StudioComponentIds {
		must(r.s.DeleteStudioComponent(r.ctx, &api.DeleteStudioComponentRequest{StudioId: stu, StudioComponentId: id}))(t)
		r.settle(opennimble.KindStudioComponent, id)
	}
	for _, id := range lp.StreamConfiguration.StreamingImageIds {
		if r.s.serviceImage(id) == nil {
			must(r.s.DeleteStreamingImage(r.ctx, &api.DeleteStreamingImageRequest{StudioId: stu, StreamingImageId: id}))(t)
			r.settle(opennimble.KindStreamingImage, id)
		}
	}
	must(r.s.DeleteStudio(r.ctx, &api.DeleteStudioRequest{StudioId: stu}))(t)
	r.settle(opennimble.KindStudio, stu)
	if got := must(r.s.GetStudio(r.ctx, &api.GetStudioRequest{StudioId: stu}))(t).Studio; got.State != api.StudioStateDeleted {
		t.Fatalf("studio = %s %s", got.State, got.StatusCode)
	}
	r.clock.Advance(rtRetention)
	noErr(t, r.s.Reconcile(r.ctx, opennimble.KindStudio, stu))
	err := r.s.view(r.ctx, func(tx opennimble.Tx) error {
		n, err := tx.Count(r.ctx, opennimble.ListQuery{Kind: opennimble.KindStudioMember, StudioID: stu})
		if err == nil && n != 0 {
			err = fmt.Errorf("%d members left after the purge", n)
		}
		return err
	})
	noErr(t, err)
}
