package service

import (
	stdjson "encoding/json"
	"reflect"
	"testing"

	json "github.com/goccy/go-json"
)

// docSamples are stored documents as the server writes them, one of each
// kind the lifecycle touches, and a session in the middle of a stop.
var docSamples = map[string]struct {
	data string
	new  func() any
}{
	"launchProfileDoc":   {`{"arn":"arn:aws:nimble:us-west-2:000000000000:launch-profile/lp-vEYGQZ8QR8Xgh1ufKo","createdAt":"2026-12-02T13:21:03.687Z","createdBy":"admin","ec2SubnetIds":["subnet-1"],"launchProfileId":"lp-vEYGQZ8QR8Xgh1ufKo","launchProfileProtocolVersions":["2021-03-31"],"name":"profile","state":"READY","statusCode":"LAUNCH_PROFILE_CREATED","statusMessage":"Launch profile created","streamConfiguration":{"automaticTerminationMode":"ACTIVATED","clipboardMode":"ENABLED","ec2InstanceTypes":["g4dn.xlarge","g4dn.2xlarge"],"maxSessionLengthInMinutes":690,"maxStoppedSessionLengthInMinutes":600,"sessionBackup":{"maxBackupsToRetain":2,"mode":"AUTOMATIC"},"sessionPersistenceMode":"ACTIVATED","streamingImageIds":["si-caPXgAR35CU5qwWnjn"],"volumeConfiguration":{"size":500}},"studioComponentIds":["sc-H9i1s5x3UHl8ym9eJM"],"updatedAt":"2026-12-02T13:21:03.689Z","updatedBy":"admin","validationResults":[{"state":"VALIDATION_SUCCESS","statusCode":"VALIDATION_SUCCESS","statusMessage":"Validation succeeded","type":"VALIDATE_ACTIVE_DIRECTORY_STUDIO_COMPONENT"},{"state":"VALIDATION_SUCCESS","statusCode":"VALIDATION_SUCCESS","statusMessage":"Validation succeeded","type":"VALIDATE_SUBNET_ASSOCIATION"},{"state":"VALIDATION_SUCCESS","statusCode":"VALIDATION_SUCCESS","statusMessage":"Validation succeeded","type":"VALIDATE_NETWORK_ACL_ASSOCIATION"},{"state":"VALIDATION_SUCCESS","statusCode":"VALIDATION_SUCCESS","statusMessage":"Validation succeeded","type":"VALIDATE_SECURITY_GROUP_ASSOCIATION"}],"studioId":"stu-xjMkpK4Wi9tc7bMYch"}`, func() any { return new(launchProfileDoc) }},
	"streamingImageDoc":  {`{"arn":"arn:aws:nimble:us-west-2:000000000000:streaming-image/si-caPXgAR35CU5qwWnjn","ec2ImageId":"ami-0123456789abcdef0","name":"image","owner":"000000000000","platform":"LINUX","state":"READY","statusCode":"STREAMING_IMAGE_READY","statusMessage":"Streaming image ready","streamingImageId":"si-caPXgAR35CU5qwWnjn","studioId":"stu-xjMkpK4Wi9tc7bMYch","changedAt":"2026-12-02T13:21:03.684Z"}`, func() any { return new(streamingImageDoc) }},
	"studioDoc":          {`{"adminRoleArn":"arn:aws:iam::000000000000:role/admin","arn":"arn:aws:nimble:us-west-2:000000000000:studio/stu-xjMkpK4Wi9tc7bMYch","createdAt":"2026-12-02T13:21:03.656Z","displayName":"cycles","homeRegion":"us-west-2","ssoClientId":"K5YLZB7qbhAJaHK4Kf6qKBdgZg","state":"READY","statusCode":"STUDIO_CREATED","statusMessage":"Studio created","studioEncryptionConfiguration":{"keyType":"AWS_OWNED_KEY"},"studioId":"stu-xjMkpK4Wi9tc7bMYch","studioName":"cycles","studioUrl":"http://127.0.0.1:43767/portal/cycles","updatedAt":"2026-12-02T13:21:03.658Z","userRoleArn":"arn:aws:iam::000000000000:role/user"}`, func() any { return new(studioDoc) }},
	"studioComponentDoc": {`{"arn":"arn:aws:nimble:us-west-2:000000000000:studio-component/sc-H9i1s5x3UHl8ym9eJM","createdAt":"2026-12-02T13:21:03.685Z","createdBy":"admin","name":"custom","state":"READY","statusCode":"STUDIO_COMPONENT_CREATED","statusMessage":"Studio component created","studioComponentId":"sc-H9i1s5x3UHl8ym9eJM","type":"CUSTOM","updatedAt":"2026-12-02T13:21:03.686Z","updatedBy":"admin","studioId":"stu-xjMkpK4Wi9tc7bMYch"}`, func() any { return new(studioComponentDoc) }},
	"backupDoc":          {`{"arn":"arn:aws:nimble:us-west-2:000000000000:streaming-session-backup/bak-CGHGYIhd8wlhp3yggs","backupId":"bak-CGHGYIhd8wlhp3yggs","createdAt":"2026-12-02T13:21:06.629Z","launchProfileId":"lp-vEYGQZ8QR8Xgh1ufKo","ownedBy":"admin","sessionId":"ses-6PBHActbfMhLikCZUy","state":"READY","statusCode":"STREAMING_SESSION_READY","statusMessage":"Backup is ready","studioId":"stu-xjMkpK4Wi9tc7bMYch","volumeGeneration":1,"updatedAt":"2026-12-02T13:21:06.654Z"}`, func() any { return new(backupDoc) }},
	"sessionDoc":         {`{"arn":"arn:aws:nimble:us-west-2:000000000000:streaming-session/ses-wBBRqqaCO61zZL5S1m","automaticTerminationMode":"ACTIVATED","backupMode":"AUTOMATIC","createdAt":"2026-12-02T13:21:03.69Z","createdBy":"admin","ec2InstanceType":"g4dn.xlarge","launchProfileId":"lp-vEYGQZ8QR8Xgh1ufKo","maxBackupsToRetain":2,"ownedBy":"admin","sessionId":"ses-wBBRqqaCO61zZL5S1m","sessionPersistenceMode":"ACTIVATED","startedAt":"2026-12-02T13:21:06.78Z","startedBy":"admin","state":"READY","statusCode":"STREAMING_SESSION_STARTED","statusMessage":"Session started","stopAt":"2026-12-03T00:51:06.78Z","stoppedAt":"2026-12-02T13:21:06.733Z","stoppedBy":"admin","streamingImageId":"si-caPXgAR35CU5qwWnjn","terminateAt":"2026-12-03T10:51:06.78Z","updatedAt":"2026-12-02T13:21:06.804Z","updatedBy":"admin","volumeConfiguration":{"size":500},"volumeRetentionMode":"RETAIN","studioId":"stu-xjMkpK4Wi9tc7bMYch","maxSessionLengthInMinutes":690,"maxStoppedSessionLengthInMinutes":600,"ec2ImageId":"ami-0123456789abcdef0","volume":{"generation":1,"exists":true,"source":"image:si-caPXgAR35CU5qwWnjn","lastGeneration":1}}`, func() any { return new(sessionDoc) }},
	"sessionDoc with op": {`{"arn":"arn:aws:nimble:us-west-2:000000000000:streaming-session/ses-wBBRqqaCO61zZL5S1m","automaticTerminationMode":"ACTIVATED","backupMode":"AUTOMATIC","createdAt":"2026-12-02T13:21:03.69Z","createdBy":"admin","ec2InstanceType":"g4dn.xlarge","launchProfileId":"lp-vEYGQZ8QR8Xgh1ufKo","maxBackupsToRetain":2,"ownedBy":"admin","sessionId":"ses-wBBRqqaCO61zZL5S1m","sessionPersistenceMode":"ACTIVATED","startedAt":"2026-12-02T13:21:06.78Z","startedBy":"admin","state":"STOP_IN_PROGRESS","statusCode":"STREAMING_SESSION_STARTED","statusMessage":"Session started","stopAt":"2026-12-03T00:51:06.78Z","stoppedAt":"2026-12-02T13:21:06.733Z","stoppedBy":"admin","streamingImageId":"si-caPXgAR35CU5qwWnjn","terminateAt":"2026-12-03T10:51:06.78Z","updatedAt":"2026-12-02T13:21:06.804Z","updatedBy":"admin","volumeConfiguration":{"size":500},"volumeRetentionMode":"RETAIN","studioId":"stu-xjMkpK4Wi9tc7bMYch","maxSessionLengthInMinutes":690,"maxStoppedSessionLengthInMinutes":600,"ec2ImageId":"ami-0123456789abcdef0","volume":{"generation":1,"exists":true,"source":"image:si-caPXgAR35CU5qwWnjn","lastGeneration":1},"tags":{"team":"lighting <fx> & \"comp\"","ünï":"ü "},"op":{"token":"tok-1","kind":"stop","steps":["stop","backup"],"done":1,"backupId":"bak-1","generation":3,"auto":true,"lost":{"statusCode":"X","message":"gone"}}}`, func() any { return new(sessionDoc) }},
}

// TestDocCodecMatchesEncodingJSON checks that the stored documents' codec
// (go-json) reads what encoding/json reads and writes the bytes it writes,
// so that documents written before and after the switch are the same.
func TestDocCodecMatchesEncodingJSON(t *testing.T) {
	for name, s := range docSamples {
		want, got := s.new(), s.new()
		if err := stdjson.Unmarshal([]byte(s.data), want); err != nil {
			t.Fatalf("%s: encoding/json: %v", name, err)
		}
		if err := json.Unmarshal([]byte(s.data), got); err != nil {
			t.Fatalf("%s: go-json: %v", name, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: go-json read\n%+v\nencoding/json read\n%+v", name, got, want)
		}
		wantB, err := stdjson.Marshal(want)
		if err != nil {
			t.Fatal(err)
		}
		gotB, err := json.Marshal(want)
		if err != nil {
			t.Fatal(err)
		}
		if string(gotB) != string(wantB) {
			t.Errorf("%s: go-json wrote\n%s\nencoding/json wrote\n%s", name, gotB, wantB)
		}
	}
}

// BenchmarkDocCodec compares decoding and encoding a session with go-json
// and encoding/json.
func BenchmarkDocCodec(b *testing.B) {
	data := []byte(docSamples["sessionDoc with op"].data)
	for _, c := range []struct {
		name      string
		unmarshal func([]byte, any) error
		marshal   func(any) ([]byte, error)
	}{{"encoding-json", stdjson.Unmarshal, stdjson.Marshal}, {"go-json", json.Unmarshal, json.Marshal}} {
		b.Run("decode/"+c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				var d sessionDoc
				if err := c.unmarshal(data, &d); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("encode/"+c.name, func(b *testing.B) {
			var d sessionDoc
			if err := stdjson.Unmarshal(data, &d); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := c.marshal(&d); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
