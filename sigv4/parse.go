package sigv4

import (
	"encoding/hex"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/opennimble/opennimble"
)

const (
	algorithm   = "AWS4-HMAC-SHA256"
	terminator  = "aws4_request"
	timeFormat  = "20060102T150405Z"
	unsigned    = "UNSIGNED-PAYLOAD"
	maxPresign  = 7 * 24 * time.Hour
	sigQueryKey = "X-Amz-Signature"
)

// auth is what a request claims: who signed it, when, for which scope, over
// which headers, and the signature.
type auth struct {
	accessKeyID string
	scope       string // date/region/service/aws4_request, as sent
	date        string // yyyymmdd from the scope
	region      string
	service     string
	signed      string // SignedHeaders, lower-cased
	signature   [32]byte
	amzDate     string
	time        time.Time
	presigned   bool
	expires     time.Duration
}

func incomplete(format string, args ...any) error {
	return opennimble.Errorf(opennimble.ErrIncompleteSignature, format, args...)
}

// parseAuthorization reads the header form:
// "AWS4-HMAC-SHA256 Credential=AKID/DATE/REGION/SERVICE/aws4_request,
// SignedHeaders=a;b, Signature=hex".
func parseAuthorization(h string, a *auth) error {
	alg, rest, _ := strings.Cut(strings.TrimSpace(h), " ")
	if alg != algorithm {
		return incomplete("Authorization header requires the %s algorithm. Authorization=%s", algorithm, h)
	}
	var cred, signed, sig string
	var seen [3]bool
	for part := range strings.SplitSeq(rest, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return incomplete("Authorization header has a malformed component %q. Authorization=%s", part, h)
		}
		var i int
		switch k {
		case "Credential":
			i, cred = 0, v
		case "SignedHeaders":
			i, signed = 1, v
		case "Signature":
			i, sig = 2, v
		default:
			return incomplete("Authorization header has an unknown component %q. Authorization=%s", k, h)
		}
		if seen[i] {
			return incomplete("Authorization header repeats the '%s' parameter. Authorization=%s", k, h)
		}
		seen[i] = true
	}
	var missing []string
	for i, name := range [3]string{"Credential", "SignedHeaders", "Signature"} {
		if !seen[i] {
			missing = append(missing, "Authorization header requires '"+name+"' parameter.")
		}
	}
	if missing != nil {
		return incomplete("%s Authorization=%s", strings.Join(missing, " "), h)
	}
	return a.setParts(cred, signed, sig)
}

// setParts checks and stores the credential, signed headers and signature,
// which are the same in the header and the presigned form.
func (a *auth) setParts(cred, signed, sig string) error {
	akid, scope, _ := strings.Cut(cred, "/")
	date, rest, _ := strings.Cut(scope, "/")
	region, rest, _ := strings.Cut(rest, "/")
	service, term, ok := strings.Cut(rest, "/")
	if akid == "" || date == "" || region == "" || service == "" || !ok || strings.Contains(term, "/") {
		return incomplete("Credential must have the form <access key id>/<date>/<region>/<service>/%s, not '%s'.", terminator, cred)
	}
	if term != terminator {
		return incomplete("Credential should be scoped with a valid terminator: '%s', not '%s'.", terminator, term)
	}
	if len(date) != 8 {
		return incomplete("Credential date '%s' must have the form yyyyMMdd.", date)
	}
	a.accessKeyID, a.scope = akid, scope
	a.date, a.region, a.service = date, region, service

	a.signed = strings.ToLower(signed)
	hasHost := false
	for rest, more := a.signed, true; more; {
		var n string
		n, rest, more = strings.Cut(rest, ";")
		if n == "" {
			return incomplete("SignedHeaders '%s' has an empty header name.", signed)
		}
		hasHost = hasHost || n == "host"
	}
	if !hasHost {
		return incomplete("'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.")
	}
	if len(sig) != 64 {
		return incomplete("Signature must be 64 hexadecimal characters, not '%s'.", sig)
	}
	if _, err := hex.Decode(a.signature[:], []byte(sig)); err != nil {
		return incomplete("Signature must be 64 hexadecimal characters, not '%s'.", sig)
	}
	return nil
}

// setDate parses X-Amz-Date (ISO 8601 basic format, UTC).
func (a *auth) setDate(v string) error {
	if v == "" {
		if a.presigned {
			return incomplete("Query-string authentication requires the X-Amz-Date parameter.")
		}
		return incomplete("Authorization header requires existence of a 'X-Amz-Date' header.")
	}
	t, err := time.Parse(timeFormat, v)
	if err != nil {
		return incomplete("X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\", not '%s'.", v)
	}
	a.amzDate, a.time = v, t
	return nil
}

// presignParams are the query parameters of a presigned URL.
var presignParams = [...]string{"X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "X-Amz-Expires", "X-Amz-SignedHeaders", sigQueryKey}

// isPresigned reports whether the query carries query-string authentication.
func isPresigned(rawQuery string) bool {
	return strings.Contains(rawQuery, "X-Amz-Algorithm=") || strings.Contains(rawQuery, "X-Amz-Credential=") ||
		strings.Contains(rawQuery, "X-Amz-Signature=")
}

// parsePresigned reads the query-string form.
func parsePresigned(rawQuery string, a *auth) error {
	q, err := url.ParseQuery(rawQuery)
	if err != nil {
		return incomplete("The query string is malformed: %v.", err)
	}
	var missing []string
	for _, p := range presignParams {
		if len(q[p]) != 1 || q[p][0] == "" {
			missing = append(missing, p)
		}
	}
	if missing != nil {
		return incomplete("Query-string authentication requires exactly one of each of the parameters %s; missing or repeated: %s.",
			strings.Join(presignParams[:], ", "), strings.Join(missing, ", "))
	}
	if alg := q.Get("X-Amz-Algorithm"); alg != algorithm {
		return incomplete("X-Amz-Algorithm must be %s, not '%s'.", algorithm, alg)
	}
	a.presigned = true
	secs, err := strconv.ParseInt(q.Get("X-Amz-Expires"), 10, 64)
	if err != nil || secs < 0 || secs > int64(maxPresign/time.Second) {
		return incomplete("X-Amz-Expires must be a number of seconds from 0 to %d, not '%s'.", int64(maxPresign/time.Second), q.Get("X-Amz-Expires"))
	}
	a.expires = time.Duration(secs) * time.Second
	if err := a.setParts(q.Get("X-Amz-Credential"), q.Get("X-Amz-SignedHeaders"), q.Get(sigQueryKey)); err != nil {
		return err
	}
	return a.setDate(q.Get("X-Amz-Date"))
}
