package e2e

import (
	"fmt"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go/aws"
	"github.com/aws/aws-sdk-go/aws/awserr"
	"github.com/aws/aws-sdk-go/service/nimblestudio"
)

// TestTagRulesOnEveryOperation sends tags that break AWS's tagging rules to
// every operation that takes tags: each answers ValidationException naming
// the tags member, and nothing is created.
func TestTagRulesOnEveryOperation(t *testing.T) {
	e := start(t)
	pr := makeProfile(t, ctx(t), e.Admin, "tagrules")
	many := map[string]*string{}
	for i := range 51 {
		many[fmt.Sprint("k", i)] = aws.String("v")
	}
	bad := map[string]map[string]*string{
		"51 tags":         many,
		"reserved prefix": {"AWS:owner": aws.String("me")},
		"empty key":       {"": aws.String("v")},
		"long key":        {strings.Repeat("k", 129): aws.String("v")},
		"long value":      {"k": aws.String(strings.Repeat("v", 257))},
	}
	arn := must[*nimblestudio.GetLaunchProfileOutput](t)(e.Admin.GetLaunchProfileWithContext(ctx(t),
		&nimblestudio.GetLaunchProfileInput{StudioId: &pr.Studio, LaunchProfileId: &pr.LaunchProfile})).LaunchProfile.Arn
	ops := map[string]func(tags map[string]*string) error{
		"CreateStudio": func(tags map[string]*string) error {
			_, err := e.Admin.CreateStudioWithContext(ctx(t), &nimblestudio.CreateStudioInput{
				AdminRoleArn: aws.String("arn:aws:iam::000000000000:role/admin"), UserRoleArn: aws.String("arn:aws:iam::000000000000:role/user"),
				DisplayName: aws.String("tagged"), StudioName: aws.String("tagged"), Tags: tags})
			return err
		},
		"CreateStreamingSession": func(tags map[string]*string) error {
			_, err := e.Admin.CreateStreamingSessionWithContext(ctx(t), &nimblestudio.CreateStreamingSessionInput{
				StudioId: &pr.Studio, LaunchProfileId: &pr.LaunchProfile, Tags: tags})
			return err
		},
		"CreateLaunchProfile": func(tags map[string]*string) error {
			_, err := e.Admin.CreateLaunchProfileWithContext(ctx(t), &nimblestudio.CreateLaunchProfileInput{
				StudioId: &pr.Studio, Name: aws.String("tagged"), Ec2SubnetIds: []*string{}, LaunchProfileProtocolVersions: []*string{aws.String("2021-03-31")},
				StudioComponentIds: []*string{&pr.Component}, Tags: tags,
				StreamConfiguration: &nimblestudio.StreamConfigurationCreate{ClipboardMode: aws.String("ENABLED"),
					Ec2InstanceTypes: []*string{aws.String("g4dn.xlarge")}, StreamingImageIds: []*string{&pr.Image}}})
			return err
		},
		"CreateStudioComponent": func(tags map[string]*string) error {
			_, err := e.Admin.CreateStudioComponentWithContext(ctx(t), &nimblestudio.CreateStudioComponentInput{
				StudioId: &pr.Studio, Name: aws.String("tagged"), Type: aws.String("CUSTOM"), Tags: tags})
			return err
		},
		"CreateStreamingImage": func(tags map[string]*string) error {
			_, err := e.Admin.CreateStreamingImageWithContext(ctx(t), &nimblestudio.CreateStreamingImageInput{
				StudioId: &pr.Studio, Name: aws.String("tagged"), Ec2ImageId: aws.String("ami-0123456789abcdef0"), Tags: tags})
			return err
		},
		"TagResource": func(tags map[string]*string) error {
			_, err := e.Admin.TagResourceWithContext(ctx(t), &nimblestudio.TagResourceInput{ResourceArn: arn, Tags: tags})
			return err
		},
	}
	count := func() int {
		n := 0
		n += len(must[*nimblestudio.ListStudiosOutput](t)(e.Admin.ListStudiosWithContext(ctx(t), &nimblestudio.ListStudiosInput{})).Studios)
		n += len(must[*nimblestudio.ListStreamingSessionsOutput](t)(e.Admin.ListStreamingSessionsWithContext(ctx(t), &nimblestudio.ListStreamingSessionsInput{StudioId: &pr.Studio})).Sessions)
		n += len(must[*nimblestudio.ListLaunchProfilesOutput](t)(e.Admin.ListLaunchProfilesWithContext(ctx(t), &nimblestudio.ListLaunchProfilesInput{StudioId: &pr.Studio})).LaunchProfiles)
		n += len(must[*nimblestudio.ListStudioComponentsOutput](t)(e.Admin.ListStudioComponentsWithContext(ctx(t), &nimblestudio.ListStudioComponentsInput{StudioId: &pr.Studio})).StudioComponents)
		n += len(must[*nimblestudio.ListStreamingImagesOutput](t)(e.Admin.ListStreamingImagesWithContext(ctx(t), &nimblestudio.ListStreamingImagesInput{StudioId: &pr.Studio})).StreamingImages)
		n += len(must[*nimblestudio.ListTagsForResourceOutput](t)(e.Admin.ListTagsForResourceWithContext(ctx(t), &nimblestudio.ListTagsForResourceInput{ResourceArn: arn})).Tags)
		return n
	}
	before := count()
	for op, call := range ops {
		for name, tags := range bad {
			t.Run(op+"/"+name, func(t *testing.T) {
				err := call(tags)
				mustCode(t, err, "ValidationException")
				if msg := err.(awserr.Error).Message(); !strings.Contains(msg, "'tags") {
					t.Errorf("message %q does not name the tags member", msg)
				}
			})
		}
	}
	if after := count(); after != before {
		t.Fatalf("refused requests changed what exists: %d resources and tags before, %d after", before, after)
	}
	// Fifty tags at the limits are taken.
	fifty := map[string]*string{}
	for i := range 49 {
		fifty[fmt.Sprint("k", i)] = aws.String(strings.Repeat("v", 256))
	}
	fifty[strings.Repeat("k", 128)] = aws.String("")
	out := must[*nimblestudio.CreateStreamingSessionOutput](t)(e.Admin.CreateStreamingSessionWithContext(ctx(t),
		&nimblestudio.CreateStreamingSessionInput{StudioId: &pr.Studio, LaunchProfileId: &pr.LaunchProfile, Tags: fifty}))
	if n := len(out.Session.Tags); n != 50 {
		t.Fatalf("session has %d tags, want 50", n)
	}
}
