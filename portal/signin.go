package portal

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"net/http"
	"slices"
	"strings"

	opennimble "github.com/opennimble/opennimble"
)

// ErrBadCredentials is what a Provider returns when the person signing in
// could not be identified; the portal counts it towards the throttle and
// logs it. Any other error is the provider's own failure.
var ErrBadCredentials = errors.New("the access key id or secret is wrong")

// Field is one input of a provider's sign-in form.
type Field struct {
	Name, Label, Type, Autocomplete string
}

// A Provider establishes who is signing in. The portal owns everything else
// (its session cookie, CSRF, throttling of failures, the audit log), so a
// new way of signing in, such as an OIDC provider, is one more Provider.
//
// The sign-in page shows each provider: a form of its Fields posted to
// /portal/<studio>/signin/<ID>, or, when it has no fields, a link there
// (for a provider that redirects to an identity provider and back).
type Provider interface {
	ID() string    // the URL segment, [a-z]+
	Label() string // the button's text
	Fields() []Field
	// SignIn serves a request to the provider's URL. It returns the
	// principal once the person is known; (nil, nil) means it wrote the
	// response itself (a redirect to an identity provider); an error
	// wrapping ErrBadCredentials, that the person was refused. attempt
	// names what the throttle counts failures against besides the client
	// address (the access key id), "" for nothing more.
	SignIn(w http.ResponseWriter, r *http.Request) (p *opennimble.Principal, attempt string, err error)
}

// Revalidator is a Provider whose sign-ins can be withdrawn: the portal asks
// on every request whether a principal still may sign in, so that deleting
// a credential ends the portal sessions made with it.
type Revalidator interface {
	StillValid(ctx context.Context, p opennimble.Principal) bool
}

// CredentialSource looks up access keys (the store).
type CredentialSource interface {
	GetCredential(ctx context.Context, accessKeyID string) (*opennimble.Credential, error)
}

// KeyProvider signs in with an access key id and its secret, as created by
// `opennimble credentials create`: the same credentials the API takes.
type KeyProvider struct {
	Credentials CredentialSource
	// Emulator accepts any secret, as the API does in emulator mode: the
	// access key id is then the principal id, and EmulatorAdmins are
	// administrators.
	Emulator       bool
	EmulatorAdmins []string
}

var _ Revalidator = (*KeyProvider)(nil)

func (*KeyProvider) ID() string    { return "key" }
func (*KeyProvider) Label() string { return "Sign in" }
func (*KeyProvider) Fields() []Field {
	return []Field{
		{Name: "access_key_id", Label: "Access key id", Type: "text", Autocomplete: "username"},
		{Name: "secret", Label: "Secret access key", Type: "password", Autocomplete: "current-password"},
	}
}

// dummySecret is compared against when the key is unknown, so that an
// unknown key and a wrong secret take the same time.
var dummySecret = sha256.Sum256([]byte("opennimble: no such access key"))

func (k *KeyProvider) SignIn(w http.ResponseWriter, r *http.Request) (*opennimble.Principal, string, error) {
	if r.Method != http.MethodPost {
		// Nothing to check: back to the form.
		http.Redirect(w, r, "/portal/"+r.PathValue("studio")+"/signin", http.StatusSeeOther)
		return nil, "", nil
	}
	id := strings.TrimSpace(r.PostFormValue("access_key_id"))
	secret := r.PostFormValue("secret")
	if id == "" || len(id) > 128 {
		return nil, "", ErrBadCredentials
	}
	if k.Emulator {
		return &opennimble.Principal{ID: id, AccessKeyID: id, Admin: slices.Contains(k.EmulatorAdmins, id)}, id, nil
	}
	cred, err := k.Credentials.GetCredential(r.Context(), id)
	if err != nil && !errors.Is(err, opennimble.ErrNoRecord) {
		return nil, id, err
	}
	want := dummySecret
	if cred != nil {
		want = sha256.Sum256([]byte(cred.SecretAccessKey))
	}
	got := sha256.Sum256([]byte(secret))
	if subtle.ConstantTimeCompare(got[:], want[:]) != 1 || cred == nil {
		return nil, id, ErrBadCredentials
	}
	return &opennimble.Principal{ID: cred.PrincipalID, AccessKeyID: cred.AccessKeyID, Admin: cred.Admin}, id, nil
}

// StillValid reports whether p's access key still exists.
func (k *KeyProvider) StillValid(ctx context.Context, p opennimble.Principal) bool {
	if k.Emulator {
		return true
	}
	cred, err := k.Credentials.GetCredential(ctx, p.AccessKeyID)
	return err == nil && cred != nil && cred.PrincipalID == p.ID
}
