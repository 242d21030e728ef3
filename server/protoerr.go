package server

import (
	"bytes"
	"fmt"
	"net/http"
	"strconv"

	"github.com/google/uuid"
	opennimble "github.com/opennimble/opennimble"
	"github.com/opennimble/opennimble/restjson"
)

// net/http answers a request it cannot parse (a bad percent-escape in the
// path, a control byte in a header, no Host, headers too large, an unknown
// transfer coding) itself, before any handler runs, by writing
// "HTTP/1.1 <status>" + httpErrorHeaders + a plain-text reason straight to
// the connection. No http.Server hook reaches those, so the connection
// rewrites that one write into the AWS shape. A handler's response never
// matches: it always carries x-amzn-RequestId, which sorts before nothing
// that would make it look like this.
const httpErrorHeaders = "\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n"

// awsProtocolError returns the AWS-shaped answer for p when p is net/http's
// answer to a request it could not parse.
func awsProtocolError(p []byte) ([]byte, bool) {
	rest, ok := bytes.CutPrefix(p, []byte("HTTP/1.1 "))
	if !ok || len(p) > 1024 {
		return nil, false
	}
	status, rest, ok := bytes.Cut(rest, []byte(httpErrorHeaders))
	if !ok || len(status) < 3 {
		return nil, false
	}
	if _, err := strconv.Atoi(string(status[:3])); err != nil {
		return nil, false
	}
	// net/http gives its reason, when it has one, after the status
	// ("400 Bad Request: missing required Host header"), and repeats that
	// line as the body; or it writes the reason alone as the body.
	reason := "the request line, the URI (for example a bad percent-escape such as %zz) or a header could not be parsed"
	switch _, why, found := bytes.Cut(status, []byte(": ")); {
	case found:
		reason = string(why)
	case bytes.HasPrefix(status, []byte("431")):
		reason = "the request's headers are larger than the server accepts"
	case !bytes.Equal(rest, status):
		reason = string(rest)
	}
	return rawError(400, opennimble.ErrValidation, "The request is not valid HTTP/1.1: "+reason), true
}

// rawError is a whole HTTP response in the AWS error shape, for answers
// written to a connection rather than through a handler; it closes the
// connection.
func rawError(status int, code, message string) []byte {
	body := restjson.ErrorBody(&opennimble.Error{Code: code, Message: message})
	return fmt.Appendf(nil, "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nX-Amzn-Errortype: %s\r\nX-Amzn-Requestid: %s\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s",
		status, http.StatusText(status), code, uuid.NewString(), len(body), body)
}
