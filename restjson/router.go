// Package restjson is the one codec of the server: it routes REST-JSON
// requests to the generated operation table, exposes them to the generated
// binders, and writes outputs and errors the way AWS's REST-JSON services do.
package restjson

import (
	"net/http"
	"net/url"
	"sort"
	"strings"

	opennimble "github.com/opennimble/opennimble"
	"github.com/opennimble/opennimble/api"
)

// Router matches a method and an escaped path against the URI templates of
// the operation table.
type Router struct {
	bySegments map[int][]*route
}

type route struct {
	op       *api.Operation
	segments []string // literal text, or "" for a label
	labels   []string // label name per segment, "" for a literal
	literals int
}

// NewRouter builds a router for ops.
func NewRouter(ops []*api.Operation) *Router {
	rt := &Router{bySegments: map[int][]*route{}}
	for _, op := range ops {
		r := &route{op: op}
		for _, seg := range strings.Split(strings.TrimPrefix(op.URI, "/"), "/") {
			if strings.HasPrefix(seg, "{") && strings.HasSuffix(seg, "}") {
				r.segments = append(r.segments, "")
				r.labels = append(r.labels, strings.TrimSuffix(strings.TrimPrefix(seg, "{"), "}"))
				continue
			}
			r.segments = append(r.segments, seg)
			r.labels = append(r.labels, "")
			r.literals++
		}
		n := len(r.segments)
		rt.bySegments[n] = append(rt.bySegments[n], r)
	}
	for _, rs := range rt.bySegments {
		// Prefer the most specific template when two could match.
		sort.SliceStable(rs, func(i, j int) bool { return rs[i].literals > rs[j].literals })
	}
	return rt
}

// Match finds the operation for method and escapedPath (the path as sent,
// percent-encoded). Labels come back percent-decoded. A path that matches no
// template is UnknownOperationException; a path that matches with another
// method is MethodNotAllowedException, with the allowed methods in allow.
func (rt *Router) Match(method, escapedPath string) (op *api.Operation, labels Labels, allow []string, err error) {
	segs := strings.Split(strings.TrimPrefix(escapedPath, "/"), "/")
	for _, r := range rt.bySegments[len(segs)] {
		if !r.literalsMatch(segs) {
			continue
		}
		if r.op.Method != method {
			allow = append(allow, r.op.Method)
			continue
		}
		vals, ok := r.labelValues(segs)
		if !ok {
			continue
		}
		return r.op, vals, nil, nil
	}
	if len(allow) > 0 {
		sort.Strings(allow)
		return nil, nil, allow, opennimble.Errorf(opennimble.ErrMethodNotAllowed,
			"%s is not allowed on %s; allowed: %s", method, escapedPath, strings.Join(allow, ", "))
	}
	return nil, nil, nil, opennimble.Errorf(opennimble.ErrUnknownOperation,
		"No operation of the nimble API matches %s %s", method, escapedPath)
}

// literalsMatch reports whether the literal segments of the template are
// those of segs and its label segments decode (checked before any label is
// decoded, so that the routes tried and not taken cost no allocation).
func (r *route) literalsMatch(segs []string) bool {
	for i, seg := range segs {
		if r.labels[i] == "" {
			if seg != r.segments[i] {
				return false
			}
		} else if !validEscapes(seg) {
			return false
		}
	}
	return true
}

// validEscapes reports whether every '%' in seg starts a two-digit hex
// escape, which is when url.PathUnescape succeeds.
func validEscapes(seg string) bool {
	for i := 0; i < len(seg); i++ {
		if seg[i] != '%' {
			continue
		}
		if i+2 >= len(seg) || !isHex(seg[i+1]) || !isHex(seg[i+2]) {
			return false
		}
		i += 2
	}
	return true
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// Labels are the decoded labels of a matched path, in template order (a
// template has at most three: a slice costs one allocation and a look-up
// a few comparisons, where a map cost several).
type Labels []Label

// Label is one label of a path: its name in the template and its value.
type Label struct{ Name, Value string }

// Get returns the value of the label name.
func (l Labels) Get(name string) (string, bool) {
	for _, x := range l {
		if x.Name == name {
			return x.Value, true
		}
	}
	return "", false
}

// labelValues decodes the label segments of segs; a segment that does not
// decode matches no template.
func (r *route) labelValues(segs []string) (Labels, bool) {
	var labels Labels
	for i, seg := range segs {
		if r.labels[i] == "" {
			continue
		}
		v, err := url.PathUnescape(seg)
		if err != nil {
			return nil, false
		}
		if labels == nil {
			labels = make(Labels, 0, len(segs)-r.literals)
		}
		labels = append(labels, Label{r.labels[i], v})
	}
	return labels, true
}

// request adapts an HTTP request to api.Request.
type request struct {
	h      http.Header
	query  url.Values
	labels Labels
	body   []byte
}

// NewRequest exposes an HTTP request whose body has been read to the
// generated binders.
func NewRequest(r *http.Request, labels Labels, body []byte) api.Request {
	var query url.Values // nil without a query string: most requests have none
	if r.URL.RawQuery != "" {
		query = r.URL.Query()
	}
	return &request{h: r.Header, query: query, labels: labels, body: body}
}

func (r *request) Label(name string) string {
	v, _ := r.labels.Get(name)
	return v
}

func (r *request) Query(name string) (string, bool) {
	v, ok := r.query[name]
	if !ok || len(v) == 0 {
		return "", false
	}
	return v[0], true
}

func (r *request) QueryAll(name string) []string { return r.query[name] }
func (r *request) Header(name string) string     { return r.h.Get(name) }
func (r *request) Body() []byte                  { return r.body }
