package opennimble

import (
	"errors"
	"testing"
)

// An ARN is the resource's kind and id under the deployment's region and
// account, and reads back as what was written.
func TestARNRoundTrip(t *testing.T) {
	for _, k := range []Kind{KindStudio, KindStudioComponent, KindLaunchProfile, KindStreamingImage, KindStreamingSession, KindStreamingBackup} {
		a := ARN{Region: "eu-west-1", Account: "123456789012", Kind: k, ID: "x-1"}
		s := a.String()
		if want := "arn:aws:nimble:eu-west-1:123456789012:" + string(k) + "/x-1"; s != want {
			t.Errorf("%s: %s, want %s", k, s, want)
		}
		got, err := ParseARN(s)
		if err != nil || got != a {
			t.Errorf("ParseARN(%s) = %+v, %v", s, got, err)
		}
	}
}

// ParseARN tells an ARN of another service or shape from one whose resource
// part is wrong, and keeps the region and account of the latter so that a
// caller can refuse another deployment's ARN first.
func TestParseARNErrors(t *testing.T) {
	cases := []struct {
		in   string
		want error
	}{
		{"not-an-arn", ErrARNShape},
		{"arn:aws:s3:us-west-2:000000000000:studio/stu-1", ErrARNShape},
		{"arn:aws:nimble:us-west-2:000000000000", ErrARNShape},
		{"arn:aws:nimble:us-west-2:000000000000:studio", ErrARNResource},
		{"arn:aws:nimble:us-west-2:000000000000:studio/", ErrARNResource},
		{"arn:aws:nimble:us-west-2:000000000000:studio/a/b", ErrARNResource},
		{"arn:aws:nimble:us-west-2:000000000000:studio-member/stu-1", ErrARNResource},
	}
	for _, c := range cases {
		a, err := ParseARN(c.in)
		if !errors.Is(err, c.want) {
			t.Errorf("ParseARN(%q): %v, want %v", c.in, err, c.want)
		}
		if c.want == ErrARNResource && (a.Region != "us-west-2" || a.Account != "000000000000") {
			t.Errorf("ParseARN(%q) lost the region and account: %+v", c.in, a)
		}
	}
	if KindStudioMember.HasARN() || KindStreamingStream.HasARN() || !KindStreamingBackup.HasARN() {
		t.Error("HasARN: members and streams have no ARN, backups have")
	}
}
