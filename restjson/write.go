package restjson

import (
	"errors"
	"net/http"
	"sort"
	"strconv"
	"sync"

	opennimble "github.com/opennimble/opennimble"
	"github.com/opennimble/opennimble/api"
)

// RequestIDHeader carries the request id on every response.
const RequestIDHeader = "x-amzn-RequestId"

// WriteOutput writes a successful response: status from the model, body the
// output's JSON (none for 204).
func WriteOutput(w http.ResponseWriter, status int, out api.Marshaler, o *api.EncodeOptions) {
	h := w.Header()
	if status == http.StatusNoContent {
		w.WriteHeader(status)
		return
	}
	bp := bodies.Get().(*[]byte)
	body := (*bp)[:0]
	if out == nil {
		body = append(body, "{}"...)
	} else {
		body = out.AppendJSON(body, o)
	}
	h["Content-Type"] = jsonContentType
	h["Content-Length"] = []string{strconv.Itoa(len(body))}
	w.WriteHeader(status)
	_, _ = w.Write(body) // copied into the connection's buffer, or sent
	if cap(body) <= maxPooledBody {
		*bp = body
		bodies.Put(bp)
	}
}

// jsonContentType is the Content-Type of every JSON response, one slice
// shared by all (a header's values are replaced, never appended to, here).
var jsonContentType = []string{"application/json"}

// bodies pools the buffers responses are encoded into; a buffer that grew
// past maxPooledBody (a large page of a list) is left to the collector.
var bodies = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

const maxPooledBody = 64 << 10

// WriteError writes err the way every client in docs/WIRE.md reads it: the status
// of its code, x-amzn-ErrorType with the bare code, and a JSON body with
// message, code and (when it names a resource) context. An error that is not
// an *opennimble.Error is reported as InternalServerErrorException without
// its text, which the caller is expected to have logged.
func WriteError(w http.ResponseWriter, err error) {
	var e *opennimble.Error
	if !errors.As(err, &e) {
		e = &opennimble.Error{Code: opennimble.ErrInternal, Message: "An internal error occurred. Try again; the request id identifies it in the server's log."}
	}
	body := ErrorBody(e)
	h := w.Header()
	h.Set("x-amzn-ErrorType", e.Code)
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(opennimble.HTTPStatus(e.Code))
	_, _ = w.Write(body)
}

// ErrorBody renders {"message","code","context"} for e.
func ErrorBody(e *opennimble.Error) []byte {
	b := make([]byte, 0, 128+len(e.Message))
	b = append(b, `{"message":`...)
	b = api.AppendString(b, e.Message)
	b = append(b, `,"code":`...)
	b = api.AppendString(b, e.Code)
	if len(e.Context) > 0 {
		b = append(b, `,"context":{`...)
		keys := make([]string, 0, len(e.Context))
		for k := range e.Context {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for i, k := range keys {
			if i > 0 {
				b = append(b, ',')
			}
			b = api.AppendString(b, k)
			b = append(b, ':')
			b = api.AppendString(b, e.Context[k])
		}
		b = append(b, '}')
	}
	return append(b, '}')
}
