package sigv4

import (
	"testing"

	"github.com/opennimble/opennimble"
)

// BenchmarkVerifyGET measures the hot path: a signed GET from a known key,
// with the signing key already cached.
func BenchmarkVerifyGET(b *testing.B) {
	r, body := readWire(b, wireVectors[7].raw) // go/GetStreamingSessionBackup
	v := &Verifier{Credentials: testCreds, Clock: opennimble.NewFakeClock(signedAt(b, r)), Region: "us-west-2"}
	if _, err := v.Verify(r, body); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(r, body); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerifyGETParallel is the same from many goroutines, to show
// contention on the key cache.
func BenchmarkVerifyGETParallel(b *testing.B) {
	r, body := readWire(b, wireVectors[7].raw) // go/GetStreamingSessionBackup
	v := &Verifier{Credentials: testCreds, Clock: opennimble.NewFakeClock(signedAt(b, r))}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := v.Verify(r, body); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
