package server

import (
	"net/http"
	"strings"
	"time"
)

// RequestObserver learns every answered request: the operation (or the
// unauthenticated path prefix, or "-" when none matched), the error code of
// a failed one ("" otherwise) and how long it took.
type RequestObserver interface {
	ObserveRequest(operation, code string, d time.Duration)
}

// describeRejected names, for the access log, the operation a request that
// failed authentication was for and the access key id it was signed with
// (never the secret, which a request does not carry). Either is "-" when
// the request does not say.
func (s *Server) describeRejected(r *http.Request) (operation, accessKeyID string) {
	operation = "-"
	if op, _, _, err := s.router.Match(r.Method, r.URL.EscapedPath()); err == nil {
		operation = op.Name
	}
	return operation, accessKeyOf(r)
}

// accessKeyOf returns the access key id of a SigV4 Authorization header
// (Credential=AKID/date/region/service/aws4_request) or of a presigned URL's
// X-Amz-Credential, or "-".
func accessKeyOf(r *http.Request) string {
	cred := r.URL.Query().Get("X-Amz-Credential")
	if auth := r.Header.Get("Authorization"); auth != "" {
		_, after, ok := strings.Cut(auth, "Credential=")
		if !ok {
			return "-"
		}
		cred = after
	}
	akid, _, _ := strings.Cut(cred, "/")
	akid = strings.TrimSpace(akid)
	if akid == "" || len(akid) > 128 || strings.ContainsAny(akid, " ,=\"") {
		return "-"
	}
	return akid
}
