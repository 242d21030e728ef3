package service

import (
	"context"
	"slices"
	"strings"

	opennimble "github.com/opennimble/opennimble"
	"github.com/opennimble/opennimble/api"
)

const streamingImageNoun = "streaming image"

// serviceImageOwner is the owner of the images the service provides; the
// model spells it "amazon" (and "AMAZON" once), so filters compare it in any
// case.
const serviceImageOwner = "amazon"

// serviceImages are the images every studio sees besides its own, as AWS
// provides images with popular software. They are not stored: they are part
// of the service, always READY, and cannot be changed.
var serviceImages = []api.StreamingImage{
	{
		StreamingImageId: "si-amazonlinux2",
		Name:             "Amazon Linux 2 (Nimble Studio)",
		Description:      "Amazon Linux 2 workstation with the NICE DCV server and common creative tools",
		Ec2ImageId:       "ami-0a9f1e5d6c2b48a01",
		EulaIds:          []string{"eula-nimble-studio", "eula-nice-dcv"},
		Platform:         string(api.LaunchProfilePlatformLinux),
	},
	{
		StreamingImageId: "si-amazonlinux2-farm",
		Name:             "Amazon Linux 2 with Deadline client (Nimble Studio)",
		Description:      "Amazon Linux 2 workstation with the NICE DCV server and the AWS Thinkbox Deadline client",
		Ec2ImageId:       "ami-0c3d7a2b9e41f6d52",
		EulaIds:          []string{"eula-nimble-studio", "eula-nice-dcv", "eula-thinkbox-deadline"},
		Platform:         string(api.LaunchProfilePlatformLinux),
	},
	{
		StreamingImageId: "si-windows2019",
		Name:             "Windows Server 2019 (Nimble Studio)",
		Description:      "Windows Server 2019 workstation with the NICE DCV server",
		Ec2ImageId:       "ami-04e8b6f0d3a7c9e15",
		EulaIds:          []string{"eula-nimble-studio", "eula-nice-dcv"},
		Platform:         string(api.LaunchProfilePlatformWindows),
	},
}

// serviceImage returns the service-owned image id as this deployment shows
// it, or nil if id is not one.
func (s *Service) serviceImage(id string) *streamingImageDoc {
	for _, img := range serviceImages {
		if img.StreamingImageId == id {
			img.Arn = s.arn(opennimble.KindStreamingImage, id)
			img.Owner = serviceImageOwner
			img.State, img.StatusCode, img.StatusMessage = api.StreamingImageStateReady, api.StreamingImageStatusCodeStreamingImageReady, "Streaming image ready"
			img.EulaIds = slices.Clone(img.EulaIds)
			return &streamingImageDoc{StreamingImage: img}
		}
	}
	return nil
}

// notOwned refuses to change a service-owned image. It is AccessDenied
// rather than Conflict: the image is in no wrong state, it belongs to
// another owner, and no change of state would make the request succeed, as
// when an AWS account tries to modify a public AMI it does not own.
func notOwned(id string) error {
	return opennimble.Errorf(opennimble.ErrAccessDenied,
		"Streaming image %s is provided by the service (owner %q) and cannot be changed, deleted or tagged", id, serviceImageOwner).
		With("resourceType", streamingImageNoun).With("resourceId", id)
}

// streamingImage returns the streaming image imageID as studioID sees it: one
// of the studio's own images or one of the service-owned images every studio
// sees (returned with StudioId set to studioID). A missing or DELETED image
// is ResourceNotFoundException.
func (s *Service) streamingImage(ctx context.Context, tx opennimble.Tx, studioID, imageID string) (*streamingImageDoc, error) {
	if d := s.serviceImage(imageID); d != nil {
		d.StudioId = studioID
		return d, nil
	}
	d, _, err := loadIn[streamingImageDoc](ctx, tx, opennimble.KindStreamingImage, streamingImageNoun, studioID, imageID, true)
	if d != nil {
		// The tag is the source of truth, so that TagResource and
		// UntagResource change the source of the sessions made afterwards.
		d.Source = d.Tags[ImageSourceTag]
	}
	return d, err
}

// ImageSourceTag is the tag of a streaming image that names what a new
// session volume is made from, for drivers with real volumes: a directory
// or a .tar/.tar.gz/.tar.zst archive on the server (the local driver looks
// for it in its image roots). Set it with CreateStreamingImage or
// TagResource; sessions copy it when they are created.
const ImageSourceTag = "opennimble:source"

func (s *Service) CreateStreamingImage(ctx context.Context, in *api.CreateStreamingImageRequest) (*api.CreateStreamingImageResponse, error) {
	return idempotent(ctx, s, "CreateStreamingImage", in.ClientToken, in, func(t *txn) (*api.CreateStreamingImageResponse, error) {
		if _, err := s.liveStudio(ctx, t, in.StudioId); err != nil {
			return nil, err
		}
		if in.Ec2ImageId == "" {
			return nil, invalidField("ec2ImageId", "ec2ImageId is required")
		}
		if err := validateTags("tags", in.Tags); err != nil {
			return nil, err
		}
		n, err := t.Count(ctx, opennimble.ListQuery{Kind: opennimble.KindStreamingImage, StudioID: in.StudioId, ExcludeStates: []string{deletedState}})
		if err != nil {
			return nil, err
		}
		if err := s.checkQuota("streaming images per studio", n, s.cfg.Quotas.StreamingImagesPerStudio); err != nil {
			return nil, err
		}
		now, id := s.now(), s.ids.New("si")
		d := &streamingImageDoc{StudioId: in.StudioId, ChangedAt: &now, StreamingImage: api.StreamingImage{
			Arn:         s.arn(opennimble.KindStreamingImage, id),
			Description: in.Description,
			Ec2ImageId:  in.Ec2ImageId,
			// An image a studio makes itself needs no EULA accepted.
			EulaIds: []string{},
			Name:    in.Name,
			// The owner is the account, as for the AMIs images are made from.
			Owner: s.cfg.AccountID,
			// Every workstation the drivers run is Linux; there is no AMI
			// metadata to learn another platform from.
			Platform:         string(api.LaunchProfilePlatformLinux),
			State:            api.StreamingImageStateCreateInProgress,
			StatusCode:       api.StreamingImageStatusCodeStreamingImageCreateInProgress,
			StatusMessage:    "Streaming image creation in progress",
			StreamingImageId: id,
			Tags:             in.Tags,
		}}
		d.Source = in.Tags[ImageSourceTag]
		if err := s.saveAndSchedule(ctx, t, nil, d, now); err != nil {
			return nil, err
		}
		return &api.CreateStreamingImageResponse{StreamingImage: &d.StreamingImage}, nil
	})
}

func (s *Service) GetStreamingImage(ctx context.Context, in *api.GetStreamingImageRequest) (*api.GetStreamingImageResponse, error) {
	return read(ctx, s, func(tx opennimble.Tx) (*api.GetStreamingImageResponse, error) {
		if d := s.serviceImage(in.StreamingImageId); d != nil {
			// Service images are every studio's, but only a studio's.
			if _, _, err := s.loadStudio(ctx, tx, in.StudioId); err != nil {
				return nil, err
			}
			return &api.GetStreamingImageResponse{StreamingImage: &d.StreamingImage}, nil
		}
		// DELETED images answer until purged, for the StreamingImageDeleted waiter.
		d, _, err := loadIn[streamingImageDoc](ctx, tx, opennimble.KindStreamingImage, streamingImageNoun, in.StudioId, in.StreamingImageId, false)
		if err != nil {
			return nil, err
		}
		return &api.GetStreamingImageResponse{StreamingImage: &d.StreamingImage}, nil
	})
}

// ListStreamingImages lists the service-owned images first, then the
// studio's own. One nextToken covers both: a position of -k means the first k
// service images were returned (the store's keyset starts above 0, so the
// studio's images all lie beyond it), a positive one is a store keyset.
func (s *Service) ListStreamingImages(ctx context.Context, in *api.ListStreamingImagesRequest) (*api.ListStreamingImagesResponse, error) {
	return read(ctx, s, func(tx opennimble.Tx) (*api.ListStreamingImagesResponse, error) {
		if _, _, err := s.loadStudio(ctx, tx, in.StudioId); err != nil {
			return nil, err
		}
		sc := scope("ListStreamingImages", in.StudioId, in.Owner)
		after, err := s.pages.position(sc, in.NextToken)
		if err != nil {
			return nil, err
		}
		out := &api.ListStreamingImagesResponse{StreamingImages: []*api.StreamingImage{}}
		if after <= 0 && (in.Owner == "" || strings.EqualFold(in.Owner, serviceImageOwner)) {
			var done bool
			if after, done = s.listServiceImages(out, -after, sc); done {
				return out, nil
			}
		}
		if in.Owner != "" && in.Owner != s.cfg.AccountID && in.Owner != in.StudioId {
			return out, nil // only service images, or an owner no image has
		}
		return out, s.listOwnImages(ctx, tx, in.StudioId, sc, after, out)
	})
}

// listServiceImages appends the service images from index from on, up to a
// page. When the page is full it sets the token and reports done; otherwise
// it returns the position after the last service image.
func (s *Service) listServiceImages(out *api.ListStreamingImagesResponse, from int64, sc string) (int64, bool) {
	for i := int(from); i < len(serviceImages); i++ {
		if len(out.StreamingImages) == s.cfg.PageSize {
			out.NextToken = s.pages.token(sc, -int64(i))
			return 0, true
		}
		out.StreamingImages = append(out.StreamingImages, &s.serviceImage(serviceImages[i].StreamingImageId).StreamingImage)
	}
	return -int64(len(serviceImages)), false
}

// listOwnImages fills the rest of the page with the studio's own images from
// keyset position after.
func (s *Service) listOwnImages(ctx context.Context, tx opennimble.Tx, studioID, sc string, after int64, out *api.ListStreamingImagesResponse) error {
	q := opennimble.ListQuery{Kind: opennimble.KindStreamingImage, StudioID: studioID, ExcludeStates: []string{deletedState}}
	room := s.cfg.PageSize - len(out.StreamingImages)
	if room == 0 {
		// The page is full of service images: continue only if there is more.
		q.After, q.Limit = after, 1
		more, err := tx.List(ctx, q)
		if err == nil && len(more) > 0 {
			out.NextToken = s.pages.token(sc, after)
		}
		return err
	}
	docs, next, err := page[streamingImageDoc](ctx, s, tx, sc, s.pages.token(sc, after), room, q, nil)
	if err != nil {
		return err
	}
	for _, d := range docs {
		out.StreamingImages = append(out.StreamingImages, &d.StreamingImage)
	}
	out.NextToken = next
	return nil
}

func (s *Service) UpdateStreamingImage(ctx context.Context, in *api.UpdateStreamingImageRequest) (*api.UpdateStreamingImageResponse, error) {
	return idempotent(ctx, s, "UpdateStreamingImage", in.ClientToken, in, func(t *txn) (*api.UpdateStreamingImageResponse, error) {
		if _, err := s.liveStudio(ctx, t, in.StudioId); err != nil {
			return nil, err
		}
		if s.serviceImage(in.StreamingImageId) != nil {
			return nil, notOwned(in.StreamingImageId)
		}
		d, rec, err := loadIn[streamingImageDoc](ctx, t, opennimble.KindStreamingImage, streamingImageNoun, in.StudioId, in.StreamingImageId, true)
		if err != nil {
			return nil, err
		}
		if err := requireState(streamingImageNoun, d.StreamingImageId, string(d.State),
			string(api.StreamingImageStateReady), string(api.StreamingImageStateUpdateFailed)); err != nil {
			return nil, err
		}
		setString(&d.Name, in.Name)
		setString(&d.Description, in.Description)
		now := s.now()
		d.ChangedAt = &now
		d.State, d.StatusCode, d.StatusMessage = api.StreamingImageStateUpdateInProgress,
			api.StreamingImageStatusCodeStreamingImageUpdateInProgress, "Streaming image update in progress"
		if err := s.saveAndSchedule(ctx, t, rec, d, now); err != nil {
			return nil, err
		}
		return &api.UpdateStreamingImageResponse{StreamingImage: &d.StreamingImage}, nil
	})
}

func (s *Service) DeleteStreamingImage(ctx context.Context, in *api.DeleteStreamingImageRequest) (*api.DeleteStreamingImageResponse, error) {
	return idempotent(ctx, s, "DeleteStreamingImage", in.ClientToken, in, func(t *txn) (*api.DeleteStreamingImageResponse, error) {
		if _, _, err := s.loadStudio(ctx, t, in.StudioId); err != nil {
			return nil, err
		}
		if s.serviceImage(in.StreamingImageId) != nil {
			return nil, notOwned(in.StreamingImageId)
		}
		d, rec, err := loadIn[streamingImageDoc](ctx, t, opennimble.KindStreamingImage, streamingImageNoun, in.StudioId, in.StreamingImageId, true)
		if err != nil {
			return nil, err
		}
		if err := requireState(streamingImageNoun, d.StreamingImageId, string(d.State), resourceDeletableStates...); err != nil {
			return nil, err
		}
		lp, err := s.launchProfileUsing(ctx, t, in.StudioId, func(lp *launchProfileDoc) bool {
			return lp.StreamConfiguration != nil && slices.Contains(lp.StreamConfiguration.StreamingImageIds, d.StreamingImageId)
		})
		if err != nil {
			return nil, err
		}
		if lp != "" {
			return nil, inUse(streamingImageNoun, d.StreamingImageId, launchProfileNoun, lp)
		}
		now := s.now()
		d.ChangedAt = &now
		d.State, d.StatusCode, d.StatusMessage = api.StreamingImageStateDeleteInProgress,
			api.StreamingImageStatusCodeStreamingImageDeleteInProgress, "Streaming image deletion in progress"
		if err := s.saveAndSchedule(ctx, t, rec, d, now); err != nil {
			return nil, err
		}
		return &api.DeleteStreamingImageResponse{StreamingImage: &d.StreamingImage}, nil
	})
}
