package e2e

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go/aws"
	"github.com/aws/aws-sdk-go/service/nimblestudio"
)

// profile is a READY studio with a streaming image, a component and a launch
// profile, as sessions need.
type profile struct {
	Studio, Image, Component, LaunchProfile string
}

// profileOpts change the launch profile's stream configuration.
type profileOpts func(*nimblestudio.StreamConfigurationCreate)

func withBackups(keep int64) profileOpts {
	return func(s *nimblestudio.StreamConfigurationCreate) {
		s.SessionBackup = &nimblestudio.StreamConfigurationSessionBackup{Mode: aws.String("AUTOMATIC"), MaxBackupsToRetain: aws.Int64(keep)}
	}
}

func withPersistence(maxStoppedMinutes int64) profileOpts {
	return func(s *nimblestudio.StreamConfigurationCreate) {
		s.SessionPersistenceMode = aws.String("ACTIVATED")
		s.AutomaticTerminationMode = aws.String("ACTIVATED")
		s.MaxStoppedSessionLengthInMinutes = aws.Int64(maxStoppedMinutes)
		s.VolumeConfiguration = &nimblestudio.VolumeConfiguration{Size: aws.Int64(500)}
	}
}

// makeProfile builds a profile through c and waits until it is READY.
func makeProfile(t *testing.T, cx context.Context, c *nimblestudio.NimbleStudio, name string, opts ...profileOpts) profile {
	t.Helper()
	stu := must[*nimblestudio.CreateStudioOutput](t)(c.CreateStudioWithContext(cx, &nimblestudio.CreateStudioInput{
		AdminRoleArn: aws.String("arn:aws:iam::000000000000:role/admin"), UserRoleArn: aws.String("arn:aws:iam::000000000000:role/user"),
		DisplayName: aws.String(name), StudioName: aws.String(name),
	})).Studio
	sid := stu.StudioId
	check(t, c.WaitUntilStudioReadyWithContext(cx, &nimblestudio.GetStudioInput{StudioId: sid}, fast()))
	img := must[*nimblestudio.CreateStreamingImageOutput](t)(c.CreateStreamingImageWithContext(cx, &nimblestudio.CreateStreamingImageInput{
		StudioId: sid, Ec2ImageId: aws.String("ami-0123456789abcdef0"), Name: aws.String("image"),
	})).StreamingImage
	check(t, c.WaitUntilStreamingImageReadyWithContext(cx, &nimblestudio.GetStreamingImageInput{StudioId: sid, StreamingImageId: img.StreamingImageId}, fast()))
	comp := must[*nimblestudio.CreateStudioComponentOutput](t)(c.CreateStudioComponentWithContext(cx, &nimblestudio.CreateStudioComponentInput{
		StudioId: sid, Name: aws.String("custom"), Type: aws.String("CUSTOM"),
	})).StudioComponent
	check(t, c.WaitUntilStudioComponentReadyWithContext(cx, &nimblestudio.GetStudioComponentInput{StudioId: sid, StudioComponentId: comp.StudioComponentId}, fast()))
	sc := &nimblestudio.StreamConfigurationCreate{
		ClipboardMode: aws.String("ENABLED"), Ec2InstanceTypes: []*string{aws.String("g4dn.xlarge"), aws.String("g4dn.2xlarge")},
		StreamingImageIds: []*string{img.StreamingImageId},
	}
	for _, o := range opts {
		o(sc)
	}
	lp := must[*nimblestudio.CreateLaunchProfileOutput](t)(c.CreateLaunchProfileWithContext(cx, &nimblestudio.CreateLaunchProfileInput{
		StudioId: sid, Name: aws.String("profile"), Ec2SubnetIds: []*string{aws.String("subnet-1")},
		LaunchProfileProtocolVersions: []*string{aws.String("2021-03-31")}, StudioComponentIds: []*string{comp.StudioComponentId},
		StreamConfiguration: sc,
	})).LaunchProfile
	check(t, c.WaitUntilLaunchProfileReadyWithContext(cx, &nimblestudio.GetLaunchProfileInput{StudioId: sid, LaunchProfileId: lp.LaunchProfileId}, fast()))
	return profile{Studio: *sid, Image: *img.StreamingImageId, Component: *comp.StudioComponentId, LaunchProfile: *lp.LaunchProfileId}
}
