package service

import (
	"context"
	"slices"
	"time"

	opennimble "github.com/opennimble/opennimble"
	"github.com/opennimble/opennimble/api"
)

const eulaNoun = "EULA"

// eulaPublished is when the catalogue's EULAs were published; fixed, so that
// every server answers the same.
var eulaPublished = time.Date(2021, time.April, 28, 0, 0, 0, 0, time.UTC)

// eulaCatalogue holds the EULAs the service-owned streaming images refer to.
// The texts are opennimble's own summaries, written for the emulator; they
// are not the vendors' license terms.
var eulaCatalogue = []api.Eula{
	{
		EulaId: "eula-nimble-studio",
		Name:   "Nimble Studio Streaming Image License",
		Content: "NIMBLE STUDIO STREAMING IMAGE LICENSE\n\n" +
			"1. The streaming images provided with this service may be used only to run virtual workstations in the studio that accepted this license.\n" +
			"2. You may not copy, export or redistribute a provided image or any software pre-installed on it.\n" +
			"3. Software on a provided image is licensed under its own terms, which the image's other EULAs list; accepting this license does not accept them.\n" +
			"4. The images are provided as is, without warranty of any kind.\n\n" +
			"(opennimble emulator text: not a legal agreement.)",
	},
	{
		EulaId: "eula-nice-dcv",
		Name:   "NICE DCV Server End User License",
		Content: "NICE DCV SERVER END USER LICENSE\n\n" +
			"1. The NICE DCV server installed on this image is licensed for streaming the workstation it runs on to authorised studio users.\n" +
			"2. You may not reverse engineer, modify or separate the server from the image.\n" +
			"3. The license ends when the workstation is terminated.\n\n" +
			"(opennimble emulator text: not a legal agreement.)",
	},
	{
		EulaId: "eula-thinkbox-deadline",
		Name:   "AWS Thinkbox Deadline Client License",
		Content: "AWS THINKBOX DEADLINE CLIENT LICENSE\n\n" +
			"1. The Deadline client installed on this image may submit jobs to, and run as a worker of, render farms you operate.\n" +
			"2. Usage-based licensing of third-party software on the farm is billed separately and is not granted by this license.\n" +
			"3. The client is provided as is, without warranty of any kind.\n\n" +
			"(opennimble emulator text: not a legal agreement.)",
	},
}

// eula returns a copy of the catalogue's EULA id, or nil.
func eula(id string) *api.Eula {
	for _, e := range eulaCatalogue {
		if e.EulaId == id {
			e.CreatedAt, e.UpdatedAt = ptr(eulaPublished), ptr(eulaPublished)
			return &e
		}
	}
	return nil
}

func (s *Service) GetEula(ctx context.Context, in *api.GetEulaRequest) (*api.GetEulaResponse, error) {
	e := eula(in.EulaId)
	if e == nil {
		return nil, opennimble.NotFound(eulaNoun, in.EulaId)
	}
	return &api.GetEulaResponse{Eula: e}, nil
}

// ListEulas pages through the static catalogue; a token's position is the
// number of catalogue entries already looked at.
func (s *Service) ListEulas(ctx context.Context, in *api.ListEulasRequest) (*api.ListEulasResponse, error) {
	sc := scope("ListEulas", filterScope(in.EulaIds))
	pos, err := s.pages.position(sc, in.NextToken)
	if err != nil {
		return nil, err
	}
	out := &api.ListEulasResponse{Eulas: []*api.Eula{}}
	for i := int(max(pos, 0)); i < len(eulaCatalogue); i++ {
		id := eulaCatalogue[i].EulaId
		if len(in.EulaIds) > 0 && !slices.Contains(in.EulaIds, id) {
			continue
		}
		if len(out.Eulas) == s.cfg.PageSize {
			out.NextToken = s.pages.token(sc, int64(i))
			break
		}
		out.Eulas = append(out.Eulas, eula(id))
	}
	return out, nil
}

func (s *Service) AcceptEulas(ctx context.Context, in *api.AcceptEulasRequest) (*api.AcceptEulasResponse, error) {
	return idempotent(ctx, s, "AcceptEulas", in.ClientToken, in, func(t *txn) (*api.AcceptEulasResponse, error) {
		if _, err := s.liveStudio(ctx, t, in.StudioId); err != nil {
			return nil, err
		}
		existing, _, err := list[eulaAcceptanceDoc](ctx, t, opennimble.ListQuery{Kind: opennimble.KindEulaAcceptance, StudioID: in.StudioId})
		if err != nil {
			return nil, err
		}
		out := &api.AcceptEulasResponse{EulaAcceptances: []*api.EulaAcceptance{}}
		var seen []string
		for _, id := range in.EulaIds {
			if slices.Contains(seen, id) {
				continue
			}
			seen = append(seen, id)
			a, err := s.acceptEula(ctx, t, in.StudioId, id, existing)
			if err != nil {
				return nil, err
			}
			out.EulaAcceptances = append(out.EulaAcceptances, &a.EulaAcceptance)
		}
		return out, nil
	})
}

// acceptEula records that the studio accepted EULA id, unless it already
// did, in which case the earlier acceptance stands and is returned.
func (s *Service) acceptEula(ctx context.Context, t *txn, studioID, id string, existing []*eulaAcceptanceDoc) (*eulaAcceptanceDoc, error) {
	if eula(id) == nil {
		return nil, opennimble.NotFound(eulaNoun, id)
	}
	for _, a := range existing {
		if a.EulaId == id {
			return a, nil
		}
	}
	now := s.now()
	a := &eulaAcceptanceDoc{StudioId: studioID, EulaAcceptance: api.EulaAcceptance{
		AcceptedAt:       &now,
		AcceptedBy:       caller(ctx),
		AccepteeId:       studioID,
		EulaAcceptanceId: s.ids.New("ea"),
		EulaId:           id,
	}}
	_, err := put(ctx, t, nil, a)
	return a, err
}

func (s *Service) ListEulaAcceptances(ctx context.Context, in *api.ListEulaAcceptancesRequest) (*api.ListEulaAcceptancesResponse, error) {
	return read(ctx, s, func(tx opennimble.Tx) (*api.ListEulaAcceptancesResponse, error) {
		if _, _, err := s.loadStudio(ctx, tx, in.StudioId); err != nil {
			return nil, err
		}
		q := opennimble.ListQuery{Kind: opennimble.KindEulaAcceptance, StudioID: in.StudioId}
		keep := func(d *eulaAcceptanceDoc) bool { return len(in.EulaIds) == 0 || slices.Contains(in.EulaIds, d.EulaId) }
		sc := scope("ListEulaAcceptances", in.StudioId, filterScope(in.EulaIds))
		docs, next, err := page[eulaAcceptanceDoc](ctx, s, tx, sc, in.NextToken, 0, q, keep)
		if err != nil {
			return nil, err
		}
		out := &api.ListEulaAcceptancesResponse{EulaAcceptances: make([]*api.EulaAcceptance, 0, len(docs)), NextToken: next}
		for _, d := range docs {
			out.EulaAcceptances = append(out.EulaAcceptances, &d.EulaAcceptance)
		}
		return out, nil
	})
}
