package service

import (
	"regexp"
	"slices"
	"testing"

	opennimble "github.com/opennimble/opennimble"
	"github.com/opennimble/opennimble/api"
)

func TestEulas(t *testing.T) {
	r := newRT(t, func(c *Config) { c.PageSize = 2 })
	pattern := regexp.MustCompile(`^[a-zA-Z0-9-_]*$`)
	for _, e := range eulaCatalogue {
		if !pattern.MatchString(e.EulaId) || len(e.EulaId) > 22 {
			t.Errorf("EULA id %q does not fit the model", e.EulaId)
		}
		got := must(r.s.GetEula(r.ctx, &api.GetEulaRequest{EulaId: e.EulaId}))(t).Eula
		if got.Name == "" || got.Content == "" || got.CreatedAt == nil || !got.CreatedAt.Equal(eulaPublished) {
			t.Errorf("EULA = %+v", got)
		}
	}
	_, err := r.s.GetEula(r.ctx, &api.GetEulaRequest{EulaId: "eula-missing"})
	wantErr(t, err, opennimble.ErrNotFound, "eula-missing")

	var ids []string
	req := &api.ListEulasRequest{}
	for {
		out := must(r.s.ListEulas(r.ctx, req))(t)
		if len(out.Eulas) == 0 || len(out.Eulas) > 2 {
			t.Fatalf("page of %d EULAs", len(out.Eulas))
		}
		for _, e := range out.Eulas {
			ids = append(ids, e.EulaId)
		}
		if out.NextToken == "" {
			break
		}
		req.NextToken = out.NextToken
	}
	if len(ids) != len(eulaCatalogue) {
		t.Fatalf("listed %v", ids)
	}
	filtered := must(r.s.ListEulas(r.ctx, &api.ListEulasRequest{EulaIds: []string{"eula-thinkbox-deadline", "eula-missing"}}))(t)
	if len(filtered.Eulas) != 1 || filtered.Eulas[0].EulaId != "eula-thinkbox-deadline" || filtered.NextToken != "" {
		t.Fatalf("filtered = %+v", filtered)
	}
	_, err = r.s.ListEulas(r.ctx, &api.ListEulasRequest{EulaIds: []string{"eula-nice-dcv"}, NextToken: req.NextToken + "x"})
	wantErr(t, err, opennimble.ErrValidation, "nextToken")
}

func TestAcceptEulas(t *testing.T) {
	r := newRT(t)
	stu, other := r.studio("alpha"), r.studio("beta")
	first := must(r.s.AcceptEulas(r.as("artist"), &api.AcceptEulasRequest{StudioId: stu, EulaIds: []string{"eula-nimble-studio", "eula-nice-dcv", "eula-nimble-studio"}}))(t).EulaAcceptances
	if len(first) != 2 {
		t.Fatalf("acceptances = %d", len(first))
	}
	a := first[0]
	if a.AcceptedBy != "artist" || a.AccepteeId != stu || a.EulaId != "eula-nimble-studio" || a.AcceptedAt == nil || len(a.EulaAcceptanceId) > 22 {
		t.Fatalf("acceptance = %+v", a)
	}
	// Accepting again keeps the first acceptance.
	r.clock.Advance(rtDelay)
	again := must(r.s.AcceptEulas(r.ctx, &api.AcceptEulasRequest{StudioId: stu, EulaIds: []string{"eula-nimble-studio"}}))(t).EulaAcceptances
	if len(again) != 1 || again[0].EulaAcceptanceId != a.EulaAcceptanceId || again[0].AcceptedBy != "artist" {
		t.Fatalf("second acceptance = %+v", again)
	}
	_, err := r.s.AcceptEulas(r.ctx, &api.AcceptEulasRequest{StudioId: stu, EulaIds: []string{"eula-thinkbox-deadline", "eula-missing"}})
	wantErr(t, err, opennimble.ErrNotFound, "eula-missing")
	_, err = r.s.AcceptEulas(r.ctx, &api.AcceptEulasRequest{StudioId: "stu-missing", EulaIds: []string{"eula-nice-dcv"}})
	wantErr(t, err, opennimble.ErrNotFound, "stu-missing")

	list := must(r.s.ListEulaAcceptances(r.ctx, &api.ListEulaAcceptancesRequest{StudioId: stu}))(t).EulaAcceptances
	if len(list) != 2 { // the failed request recorded nothing
		t.Fatalf("acceptances listed = %d", len(list))
	}
	only := must(r.s.ListEulaAcceptances(r.ctx, &api.ListEulaAcceptancesRequest{StudioId: stu, EulaIds: []string{"eula-nice-dcv"}}))(t).EulaAcceptances
	if len(only) != 1 || only[0].EulaId != "eula-nice-dcv" {
		t.Fatalf("filtered acceptances = %+v", only)
	}
	if got := must(r.s.ListEulaAcceptances(r.ctx, &api.ListEulaAcceptancesRequest{StudioId: other}))(t).EulaAcceptances; len(got) != 0 {
		t.Fatalf("other studio sees %d acceptances", len(got))
	}
	// Idempotent replay returns the same acceptances.
	req := &api.AcceptEulasRequest{ClientToken: "t1", StudioId: other, EulaIds: []string{"eula-nice-dcv"}}
	x := must(r.s.AcceptEulas(r.ctx, req))(t).EulaAcceptances
	y := must(r.s.AcceptEulas(r.ctx, req))(t).EulaAcceptances
	if !slices.EqualFunc(x, y, func(a, b *api.EulaAcceptance) bool { return a.EulaAcceptanceId == b.EulaAcceptanceId }) {
		t.Fatalf("replay = %v, %v", x, y)
	}
}
