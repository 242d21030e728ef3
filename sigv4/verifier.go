// Package sigv4 verifies AWS Signature Version 4 on incoming requests, in the
// header form and the presigned query-string form, as the AWS SDKs, the CLI
// and botocore produce them.
package sigv4

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/opennimble/opennimble"
)

// CredentialSource looks up the secret of an access key. It returns an error
// wrapping opennimble.ErrNoRecord when the key is unknown.
type CredentialSource interface {
	GetCredential(ctx context.Context, accessKeyID string) (*opennimble.Credential, error)
}

// Identity is the authenticated caller of a request.
type Identity struct {
	AccessKeyID string
	PrincipalID string
	Admin       bool
	Region      string // from the credential scope
}

// Verifier checks SigV4 signatures. It is safe for concurrent use, and must
// not be copied after its first use (it caches derived signing keys).
type Verifier struct {
	Credentials CredentialSource
	Clock       opennimble.Clock // nil means opennimble.SystemClock{}
	MaxSkew     time.Duration    // 0 means 15 minutes
	Service     string           // signing name; "" means "nimble"
	// Region, when non-empty, refuses credential scopes for other regions.
	Region string
	// Emulator accepts any well-formed, current signature without looking up
	// credentials; the access key id is then the principal id.
	Emulator bool
	// EmulatorAdmins are the access key ids that are administrators in
	// emulator mode (for example "test").
	EmulatorAdmins []string

	keys keyCache
}

// DefaultMaxSkew is how far a request's X-Amz-Date may be from now, as AWS allows.
const DefaultMaxSkew = 15 * time.Minute

// DefaultService is the signing name of Nimble Studio.
const DefaultService = "nimble"

// MsgSignatureMismatch is AWS's message for a signature that does not verify.
const MsgSignatureMismatch = "The request signature we calculated does not match the signature you provided. " +
	"Check your AWS Secret Access Key and signing method. Consult the service documentation for details."

// MsgUnrecognizedClient is AWS's message for an unknown access key.
const MsgUnrecognizedClient = "The security token included in the request is invalid."

func mismatch() error {
	return opennimble.Errorf(opennimble.ErrInvalidSignature, "%s", MsgSignatureMismatch)
}

// Verify authenticates r. body is the full request body, already read; it may
// be nil. Failures are *opennimble.Error values with AWS's codes:
// MissingAuthenticationTokenException when r carries no signature,
// IncompleteSignatureException when the signature is malformed,
// UnrecognizedClientException for an unknown access key, and
// InvalidSignatureException for a wrong or expired signature. An error from
// the credential source other than not-found is returned wrapped, as is.
func (v *Verifier) Verify(r *http.Request, body []byte) (*Identity, error) {
	var c Check
	if err := v.begin(r, &c); err != nil {
		return nil, err
	}
	return c.Finish(body)
}

// Check is a request whose signature has been checked as far as it can be
// without its body: its form, its time, its scope, the payload mode and the
// access key. A server calls Begin before it reads (and holds) a body, so
// that a caller without a usable key never makes it buffer one.
type Check struct {
	v    *Verifier
	r    *http.Request
	a    auth
	cred *opennimble.Credential // nil in emulator mode
}

// Begin checks what r's signature claims, without the body; Finish then
// verifies the signature over the body. The errors are Verify's.
func (v *Verifier) Begin(r *http.Request) (*Check, error) {
	c := new(Check)
	if err := v.begin(r, c); err != nil {
		return nil, err
	}
	return c, nil
}

func (v *Verifier) begin(r *http.Request, c *Check) error {
	c.v, c.r = v, r
	a := &c.a
	if err := parseRequest(r, a); err != nil {
		return err
	}
	if err := v.checkTime(a); err != nil {
		return err
	}
	if err := checkPayloadMode(r, a); err != nil {
		return err
	}
	if v.Emulator {
		return checkEmulatorKey(a.accessKeyID)
	}
	if err := v.checkScope(a); err != nil {
		return err
	}
	cred, err := v.lookup(r.Context(), a.accessKeyID)
	c.cred = cred
	return err
}

// Finish verifies the signature over body (nil for none) and returns the
// caller's identity.
func (c *Check) Finish(body []byte) (*Identity, error) {
	a := &c.a
	if c.v.Emulator {
		return &Identity{
			AccessKeyID: a.accessKeyID,
			PrincipalID: a.accessKeyID,
			Admin:       slices.Contains(c.v.EmulatorAdmins, a.accessKeyID),
			Region:      a.region,
		}, nil
	}
	var ph payloadHashes
	if err := ph.resolve(c.r, body, a.presigned); err != nil {
		return nil, err
	}
	cred := c.cred
	key, cached := c.v.keys.get(cred.SecretAccessKey, a.date, a.region, a.service)
	if !signatureMatches(c.r, a, &key, ph.hashes[:ph.n]) {
		return nil, mismatch()
	}
	if !cached {
		c.v.keys.put(cred.SecretAccessKey, a.date, a.region, a.service, key)
	}
	return &Identity{AccessKeyID: a.accessKeyID, PrincipalID: cred.PrincipalID, Admin: cred.Admin, Region: a.region}, nil
}

// MsgUnsignedPayload explains the refusal of UNSIGNED-PAYLOAD in a
// header-signed request.
const MsgUnsignedPayload = "x-amz-content-sha256 UNSIGNED-PAYLOAD is accepted only on presigned URLs or over HTTPS, " +
	"and this server speaks plain HTTP: sign the payload's SHA-256, as the AWS SDKs do over HTTP."

// checkPayloadMode refuses UNSIGNED-PAYLOAD on a header-signed request that
// did not come over TLS: nothing would then protect the body from being
// changed in transit (the AWS SDKs sign the payload over HTTP for that
// reason). A presigned URL signs no body in any case, so it keeps it.
func checkPayloadMode(r *http.Request, a *auth) error {
	if a.presigned || r.TLS != nil || r.Header.Get("X-Amz-Content-Sha256") != unsigned {
		return nil
	}
	return opennimble.Errorf(opennimble.ErrInvalidSignature, "%s", MsgUnsignedPayload)
}

// maxKeyID is the longest access key id IAM makes (its AccessKeyId shape).
const maxKeyID = 128

// checkEmulatorKey refuses, in emulator mode, access key ids no client could
// hold: empty, longer than IAM's, or with spaces or control characters.
// Such an id would become a principal id.
func checkEmulatorKey(id string) error {
	if len(id) > maxKeyID {
		return opennimble.Errorf(opennimble.ErrUnrecognizedClient, "%s", MsgUnrecognizedClient)
	}
	for i := 0; i < len(id); i++ {
		if id[i] <= ' ' || id[i] >= 0x7f {
			return opennimble.Errorf(opennimble.ErrUnrecognizedClient, "%s", MsgUnrecognizedClient)
		}
	}
	return nil
}

// parseRequest finds the signature in the Authorization header or, failing
// that, in a presigned query string.
func parseRequest(r *http.Request, a *auth) error {
	if h := r.Header.Get("Authorization"); h != "" {
		if err := parseAuthorization(h, a); err != nil {
			return err
		}
		return a.setDate(r.Header.Get("X-Amz-Date"))
	}
	if isPresigned(r.URL.RawQuery) {
		return parsePresigned(r.URL.RawQuery, a)
	}
	return opennimble.Errorf(opennimble.ErrMissingAuthentication, "Missing Authentication Token")
}

func (v *Verifier) now() time.Time {
	if v.Clock == nil {
		return opennimble.SystemClock{}.Now()
	}
	return v.Clock.Now()
}

// checkTime refuses requests signed too far from now (AWS's wording), and
// presigned URLs past their X-Amz-Expires.
func (v *Verifier) checkTime(a *auth) error {
	now := v.now().UTC()
	skew := v.MaxSkew
	if skew <= 0 {
		skew = DefaultMaxSkew
	}
	if late := now.Add(skew); a.time.After(late) {
		return opennimble.Errorf(opennimble.ErrInvalidSignature, "Signature not yet current: %s is still later than %s (%s + %s)",
			a.amzDate, late.Format(timeFormat), now.Format(timeFormat), formatSkew(skew))
	}
	if a.presigned {
		if now.After(a.time.Add(a.expires)) {
			return opennimble.Errorf(opennimble.ErrInvalidSignature, "Request has expired")
		}
		return nil
	}
	if early := now.Add(-skew); a.time.Before(early) {
		return opennimble.Errorf(opennimble.ErrInvalidSignature, "Signature expired: %s is now earlier than %s (%s - %s)",
			a.amzDate, early.Format(timeFormat), now.Format(timeFormat), formatSkew(skew))
	}
	return nil
}

// formatSkew writes a skew as AWS does ("15 min.").
func formatSkew(d time.Duration) string {
	if d%time.Minute == 0 {
		return fmt.Sprintf("%d min.", d/time.Minute)
	}
	return d.String() + "."
}

// checkScope compares the credential scope with the service, the configured
// region and the day of X-Amz-Date.
func (v *Verifier) checkScope(a *auth) error {
	service := v.Service
	if service == "" {
		service = DefaultService
	}
	if a.service != service || a.date != a.amzDate[:8] {
		return mismatch()
	}
	if v.Region != "" && a.region != v.Region {
		return opennimble.Errorf(opennimble.ErrInvalidSignature, "Credential should be scoped to a valid region, not '%s'.", a.region)
	}
	return nil
}

func (v *Verifier) lookup(ctx context.Context, accessKeyID string) (*opennimble.Credential, error) {
	if v.Credentials == nil {
		return nil, errors.New("sigv4: Verifier has no Credentials and is not in emulator mode")
	}
	cred, err := v.Credentials.GetCredential(ctx, accessKeyID)
	if errors.Is(err, opennimble.ErrNoRecord) || err == nil && cred == nil {
		return nil, opennimble.Errorf(opennimble.ErrUnrecognizedClient, "%s", MsgUnrecognizedClient)
	}
	if err != nil {
		return nil, fmt.Errorf("sigv4: looking up access key: %w", err)
	}
	return cred, nil
}

// emptySHA256 is the hex SHA-256 of an empty body.
const emptySHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

// payloadHashes are the candidate payload lines of the canonical request.
type payloadHashes struct {
	hashes [2]string
	n      int
}

// resolve takes x-amz-content-sha256 when present, checking it against the
// body unless it is UNSIGNED-PAYLOAD; otherwise it hashes the body. For
// presigned URLs of a non-S3 service, aws-sdk-go v1, botocore and the JS SDK
// sign the body's hash (of the empty string, for a GET), while smithy-go signs
// UNSIGNED-PAYLOAD when it is given no hash, so both are tried.
func (p *payloadHashes) resolve(r *http.Request, body []byte, presigned bool) error {
	if h := r.Header.Get("X-Amz-Content-Sha256"); h != "" {
		if h != unsigned && !bodyMatches(h, body) {
			return mismatch()
		}
		p.hashes[0], p.n = h, 1
		return nil
	}
	sum := emptySHA256
	if len(body) > 0 {
		s := sha256.Sum256(body)
		sum = hex.EncodeToString(s[:])
	}
	if presigned {
		p.hashes, p.n = [2]string{sum, unsigned}, 2
		return nil
	}
	p.hashes[0], p.n = sum, 1
	return nil
}

func bodyMatches(hexSum string, body []byte) bool {
	var claimed [sha256.Size]byte
	if len(hexSum) != 2*sha256.Size {
		return false
	}
	if _, err := hex.Decode(claimed[:], []byte(hexSum)); err != nil {
		return false
	}
	sum := sha256.Sum256(body)
	return hmac.Equal(claimed[:], sum[:])
}
