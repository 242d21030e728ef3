package sigv4

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/opennimble/opennimble"
)

func TestHMACMatchesCryptoHMAC(t *testing.T) {
	key := deriveKey("test", "20261126", "us-west-2", "nimble")
	for _, msg := range []string{"", "a", strings.Repeat("x", 63), strings.Repeat("y", 64), strings.Repeat("z", 1000)} {
		padded := append(appendPad(nil, &key, innerPad), msg...)
		got := hmacSHA256(&key, padded)
		m := hmac.New(sha256.New, key[:])
		m.Write([]byte(msg))
		if want := m.Sum(nil); !hmac.Equal(got[:], want) {
			t.Errorf("hmacSHA256(%d bytes) = %x, want %x", len(msg), got, want)
		}
	}
}

// TestDeriveKeyAWSExample is the signing-key example of the AWS documentation.
func TestDeriveKeyAWSExample(t *testing.T) {
	got := deriveKey("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "20120215", "us-east-1", "iam")
	if want := "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d"; hex.EncodeToString(got[:]) != want {
		t.Errorf("deriveKey = %x, want %s", got, want)
	}
}

// TestAWSTestSuite replays requests of AWS's SigV4 test suite
// (aws-sig-v4-test-suite: get-vanilla, get-vanilla-query-order-key-case).
func TestAWSTestSuite(t *testing.T) {
	creds := credMap{"AKIDEXAMPLE": {AccessKeyID: "AKIDEXAMPLE", SecretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", PrincipalID: "example"}}
	tests := []struct{ name, raw string }{
		{"get-vanilla", `GET / HTTP/1.1
Host:example.amazonaws.com
X-Amz-Date:20150830T123600Z
Authorization: AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31

`},
		{"get-vanilla-query-order-key-case", `GET /?Param2=value2&Param1=value1 HTTP/1.1
Host:example.amazonaws.com
X-Amz-Date:20150830T123600Z
Authorization: AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500

`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, body := readWire(t, tt.raw)
			v := &Verifier{Credentials: creds, Service: "service", Clock: opennimble.NewFakeClock(time.Date(2015, 8, 30, 12, 36, 0, 0, time.UTC))}
			if _, err := v.Verify(r, body); err != nil {
				t.Fatalf("Verify: %v", err)
			}
		})
	}
}

func TestKeyCacheBounded(t *testing.T) {
	var c keyCache
	for i := range 3 * maxCachedKeys {
		secret := strings.Repeat("s", i%7) + string(rune('a'+i%26)) + time.Duration(i).String()
		want := deriveKey(secret, "20261126", "us-west-2", "nimble")
		got, cached := c.get(secret, "20261126", "us-west-2", "nimble")
		if cached || got != want {
			t.Fatalf("first get of key %d: cached=%v, key mismatch=%v", i, cached, got != want)
		}
		c.put(secret, "20261126", "us-west-2", "nimble", got)
		if got, cached := c.get(secret, "20261126", "us-west-2", "nimble"); !cached || got != want {
			t.Fatalf("second get of key %d: cached=%v, key mismatch=%v", i, cached, got != want)
		}
		if len(c.keys) > maxCachedKeys {
			t.Fatalf("cache holds %d keys, more than %d", len(c.keys), maxCachedKeys)
		}
	}
}

// TestVerifyConcurrent shares one Verifier and the requests between
// goroutines (run with -race); Verify must not modify the request.
func TestVerifyConcurrent(t *testing.T) {
	type req struct {
		r    *http.Request
		body []byte
	}
	var reqs []req
	for _, vec := range append(wireVectors[:len(wireVectors):len(wireVectors)], botocoreVectors...) {
		if !strings.Contains(vec.name, "Presigned") {
			r, body := readWire(t, vec.raw)
			reqs = append(reqs, req{r, body})
		}
	}
	clock := opennimble.NewFakeClock(time.Date(2026, 11, 26, 19, 45, 0, 0, time.UTC))
	v := &Verifier{Credentials: testCreds, Clock: clock, MaxSkew: time.Hour}
	done := make(chan error)
	for g := range 8 {
		go func() {
			var err error
			for i := range 50 {
				q := reqs[(g+i)%len(reqs)]
				if _, e := v.Verify(q.r, q.body); e != nil && err == nil {
					err = e
				}
			}
			done <- err
		}()
	}
	for range 8 {
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
}
