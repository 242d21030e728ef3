package service

import (
	"regexp"
	"slices"
	"testing"

	opennimble "github.com/opennimble/opennimble"
	"github.com/opennimble/opennimble/api"
)

func TestStreamingImageLifecycle(t *testing.T) {
	r := newRT(t)
	stu, other := r.studio("alpha"), r.studio("beta")
	created := must(r.s.CreateStreamingImage(r.ctx, &api.CreateStreamingImageRequest{StudioId: stu, Name: "img", Description: "d", Ec2ImageId: "ami-1", Tags: map[string]string{"a": "b"}}))(t).StreamingImage
	id := created.StreamingImageId
	if created.State != api.StreamingImageStateCreateInProgress || created.Owner != rtAccount || created.Platform != "LINUX" || created.EulaIds == nil || len(created.EulaIds) != 0 {
		t.Fatalf("created = %+v", created)
	}
	get := func() *api.StreamingImage {
		return must(r.s.GetStreamingImage(r.ctx, &api.GetStreamingImageRequest{StudioId: stu, StreamingImageId: id}))(t).StreamingImage
	}
	r.settle(opennimble.KindStreamingImage, id)
	if got := get(); got.State != api.StreamingImageStateReady || got.StatusCode != api.StreamingImageStatusCodeStreamingImageReady || got.Tags["a"] != "b" {
		t.Fatalf("after create = %+v", got)
	}
	_, err := r.s.GetStreamingImage(r.ctx, &api.GetStreamingImageRequest{StudioId: other, StreamingImageId: id})
	wantErr(t, err, opennimble.ErrNotFound, id)

	up := must(r.s.UpdateStreamingImage(r.ctx, &api.UpdateStreamingImageRequest{StudioId: stu, StreamingImageId: id, Name: "renamed"}))(t).StreamingImage
	if up.State != api.StreamingImageStateUpdateInProgress || up.Name != "renamed" || up.Description != "d" {
		t.Fatalf("update = %+v", up)
	}
	_, err = r.s.DeleteStreamingImage(r.ctx, &api.DeleteStreamingImageRequest{StudioId: stu, StreamingImageId: id})
	wantErr(t, err, opennimble.ErrConflict, "UPDATE_IN_PROGRESS")
	r.settle(opennimble.KindStreamingImage, id)
	must(r.s.DeleteStreamingImage(r.ctx, &api.DeleteStreamingImageRequest{StudioId: stu, StreamingImageId: id}))(t)
	r.settle(opennimble.KindStreamingImage, id)
	if got := get(); got.State != api.StreamingImageStateDeleted || got.StatusCode != api.StreamingImageStatusCodeStreamingImageDeleted {
		t.Fatalf("after delete = %+v", got)
	}
	noErr(t, r.s.view(r.ctx, func(tx opennimble.Tx) error {
		_, err := r.s.streamingImage(r.ctx, tx, stu, id)
		wantErr(t, err, opennimble.ErrNotFound, id)
		return nil
	}))
	r.clock.Advance(rtRetention)
	noErr(t, r.s.Reconcile(r.ctx, opennimble.KindStreamingImage, id))
	_, err = r.s.GetStreamingImage(r.ctx, &api.GetStreamingImageRequest{StudioId: stu, StreamingImageId: id})
	wantErr(t, err, opennimble.ErrNotFound, id)

	_, err = r.s.CreateStreamingImage(r.ctx, &api.CreateStreamingImageRequest{StudioId: stu, Name: "img"})
	wantErr(t, err, opennimble.ErrValidation, "ec2ImageId")
}

func TestServiceImages(t *testing.T) {
	r := newRT(t)
	stu := r.studio("alpha")
	pattern := regexp.MustCompile(`^[a-zA-Z0-9-_]*$`)
	for _, img := range serviceImages {
		id := img.StreamingImageId
		if !pattern.MatchString(id) || len(id) > 22 {
			t.Errorf("service image id %q does not fit the model", id)
		}
		for _, e := range img.EulaIds {
			if eula(e) == nil {
				t.Errorf("image %s refers to unknown EULA %s", id, e)
			}
		}
		got := must(r.s.GetStreamingImage(r.ctx, &api.GetStreamingImageRequest{StudioId: stu, StreamingImageId: id}))(t).StreamingImage
		if got.Owner != "amazon" || got.State != api.StreamingImageStateReady || len(got.EulaIds) == 0 || got.Arn == "" {
			t.Errorf("service image = %+v", got)
		}
	}
	const id = "si-amazonlinux2"
	_, err := r.s.GetStreamingImage(r.ctx, &api.GetStreamingImageRequest{StudioId: "stu-missing", StreamingImageId: id})
	wantErr(t, err, opennimble.ErrNotFound, "stu-missing")
	_, err = r.s.UpdateStreamingImage(r.ctx, &api.UpdateStreamingImageRequest{StudioId: stu, StreamingImageId: id, Name: "x"})
	wantErr(t, err, opennimble.ErrAccessDenied, id)
	_, err = r.s.DeleteStreamingImage(r.ctx, &api.DeleteStreamingImageRequest{StudioId: stu, StreamingImageId: id})
	wantErr(t, err, opennimble.ErrAccessDenied, id)
	arn := r.s.arn(opennimble.KindStreamingImage, id)
	_, err = r.s.TagResource(r.ctx, &api.TagResourceRequest{ResourceArn: arn, Tags: map[string]string{"a": "b"}})
	wantErr(t, err, opennimble.ErrAccessDenied, id)
	if tags := must(r.s.ListTagsForResource(r.ctx, &api.ListTagsForResourceRequest{ResourceArn: arn}))(t).Tags; tags == nil || len(tags) != 0 {
		t.Errorf("service image tags = %v", tags)
	}
	noErr(t, r.s.view(r.ctx, func(tx opennimble.Tx) error {
		d, err := r.s.streamingImage(r.ctx, tx, stu, id)
		if err == nil && (d.StudioId != stu || d.Owner != "amazon") {
			t.Errorf("streamingImage = %+v", d)
		}
		return err
	}))
}

func TestListStreamingImages(t *testing.T) {
	r := newRT(t, func(c *Config) { c.PageSize = 2 })
	stu, other := r.studio("alpha"), r.studio("beta")
	own := []string{r.image(stu).StreamingImageId, r.image(stu).StreamingImageId}
	r.image(other)
	deleted := r.image(stu).StreamingImageId
	must(r.s.DeleteStreamingImage(r.ctx, &api.DeleteStreamingImageRequest{StudioId: stu, StreamingImageId: deleted}))(t)
	r.settle(opennimble.KindStreamingImage, deleted)

	all := func(owner string) (ids []string, pages int) {
		req := &api.ListStreamingImagesRequest{StudioId: stu, Owner: owner}
		for {
			out := must(r.s.ListStreamingImages(r.ctx, req))(t)
			pages++
			if len(out.StreamingImages) == 0 || len(out.StreamingImages) > 2 {
				t.Fatalf("owner %q page %d has %d images", owner, pages, len(out.StreamingImages))
			}
			for _, img := range out.StreamingImages {
				ids = append(ids, img.StreamingImageId)
			}
			if out.NextToken == "" {
				return ids, pages
			}
			req.NextToken = out.NextToken
		}
	}
	var want []string
	for _, img := range serviceImages {
		want = append(want, img.StreamingImageId)
	}
	want = append(want, own...)
	if got, pages := all(""); !slices.Equal(got, want) || pages != 3 {
		t.Fatalf("all images = %v in %d pages, want %v", got, pages, want)
	}
	if got, _ := all("AMAZON"); !slices.Equal(got, want[:len(serviceImages)]) {
		t.Fatalf("amazon images = %v", got)
	}
	for _, owner := range []string{rtAccount, stu} {
		if got, _ := all(owner); !slices.Equal(got, own) {
			t.Fatalf("owner %s images = %v", owner, got)
		}
	}
	if out := must(r.s.ListStreamingImages(r.ctx, &api.ListStreamingImagesRequest{StudioId: stu, Owner: "someone"}))(t); len(out.StreamingImages) != 0 {
		t.Fatalf("unknown owner = %d images", len(out.StreamingImages))
	}
}

func TestStreamingImageQuota(t *testing.T) {
	r := newRT(t, func(c *Config) { c.Quotas.StreamingImagesPerStudio = 1 })
	stu := r.studio("alpha")
	r.image(stu)
	_, err := r.s.CreateStreamingImage(r.ctx, &api.CreateStreamingImageRequest{StudioId: stu, Name: "img", Ec2ImageId: "ami-1"})
	wantErr(t, err, opennimble.ErrServiceQuotaExceeded, "")
}

// A page exactly full of service images continues only when the studio has
// images of its own.
func TestListStreamingImagesFullPage(t *testing.T) {
	r := newRT(t, func(c *Config) { c.PageSize = len(serviceImages) })
	stu := r.studio("alpha")
	first := must(r.s.ListStreamingImages(r.ctx, &api.ListStreamingImagesRequest{StudioId: stu}))(t)
	if len(first.StreamingImages) != len(serviceImages) || first.NextToken != "" {
		t.Fatalf("without own images: %d images, token %q", len(first.StreamingImages), first.NextToken)
	}
	own := r.image(stu).StreamingImageId
	first = must(r.s.ListStreamingImages(r.ctx, &api.ListStreamingImagesRequest{StudioId: stu}))(t)
	if len(first.StreamingImages) != len(serviceImages) || first.NextToken == "" {
		t.Fatalf("with an own image: %d images, token %q", len(first.StreamingImages), first.NextToken)
	}
	next := must(r.s.ListStreamingImages(r.ctx, &api.ListStreamingImagesRequest{StudioId: stu, NextToken: first.NextToken}))(t)
	if len(next.StreamingImages) != 1 || next.StreamingImages[0].StreamingImageId != own || next.NextToken != "" {
		t.Fatalf("second page = %+v", next)
	}
}
