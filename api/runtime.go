package api

// This file is the hand-written runtime that the generated code in this
// package calls: the request view the codec offers, the validator that
// collects constraint violations, and the JSON writer for outputs. Nothing
// here knows about any particular operation.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	opennimble "github.com/opennimble/opennimble"
)

// Request is what an operation binds its input from: URI labels (already
// percent-decoded), query parameters, headers and the raw JSON body.
type Request interface {
	Label(name string) string
	Query(name string) (string, bool)
	QueryAll(name string) []string
	Header(name string) string
	Body() []byte
}

// Input is implemented by every operation's input: its string members
// (labels, query strings, headers and body), by model name.
type Input interface {
	Member(name string) string
	WithMember(name, v string) Input
}

// Marshaler is implemented by every generated structure: it appends the
// structure's JSON to b.
type Marshaler interface {
	AppendJSON(b []byte, o *EncodeOptions) []byte
}

// TimestampFormat chooses how outputs render timestamps.
type TimestampFormat int

const (
	// TimestampISO8601 renders "2026-11-26T19:25:39.891Z", as the model says.
	TimestampISO8601 TimestampFormat = iota
	// TimestampEpoch renders epoch seconds with milliseconds, for paws.
	TimestampEpoch
)

// EncodeOptions tune output encoding per request.
type EncodeOptions struct {
	Timestamps TimestampFormat
}

// Operation describes one operation of the model and how to serve it.
type Operation struct {
	Name        string
	Method      string
	URI         string // the model's URI template, e.g. /2020-08-01/studios/{studioId}
	SuccessCode int
	Idempotent  bool
	Errors      []string
	// Bind reads and validates the operation's input from r. Every error is
	// a *opennimble.Error (ValidationException).
	Bind func(r Request) (any, error)
	// Call invokes the handler's method for the operation with an input
	// returned by Bind.
	Call func(ctx context.Context, h Handler, in any) (Marshaler, error)
}

// Paginator is a paginators-1.json entry.
type Paginator struct {
	InputToken  string
	OutputToken string
	LimitKey    string
	ResultKey   string
}

// Acceptor is one acceptor of a waiter.
type Acceptor struct {
	State    string // success, failure, retry
	Matcher  string // path, pathAll, error, status
	Argument string
	Expected string
}

// Waiter is a waiters-2.json entry.
type Waiter struct {
	Name        string
	Operation   string
	Delay       int
	MaxAttempts int
	Acceptors   []Acceptor
}

// Validator collects constraint violations under member paths.
type Validator struct {
	errs []string
}

// Add records a violation for value at path.
func (v *Validator) Add(path string, value string, constraint string) {
	v.errs = append(v.errs, fmt.Sprintf("Value %s at '%s' failed to satisfy constraint: %s", value, path, constraint))
}

// Err returns nil when no constraint failed, otherwise a ValidationException
// listing every violation in AWS's words.
func (v *Validator) Err() error {
	if len(v.errs) == 0 {
		return nil
	}
	noun := "error"
	if len(v.errs) > 1 {
		noun = "errors"
	}
	return &opennimble.Error{
		Code:    opennimble.ErrValidation,
		Message: fmt.Sprintf("%d validation %s detected: %s", len(v.errs), noun, strings.Join(v.errs, "; ")),
	}
}

func join(path, member string) string {
	if path == "" {
		return member
	}
	return path + "." + member
}

func index(path string, i int) string {
	return path + "." + strconv.Itoa(i+1) + ".member"
}

func quote(s string, sensitive bool) string {
	if sensitive {
		return "'*** Sensitive Data Redacted ***'"
	}
	return "'" + s + "'"
}

func (v *Validator) required(path string) {
	v.Add(path, "null", "Member must not be null")
}

func (v *Validator) stringLen(path, s string, min, max int, sensitive bool) {
	n := utf8.RuneCountInString(s)
	if min >= 0 && n < min {
		v.Add(path, quote(s, sensitive), fmt.Sprintf("Member must have length greater than or equal to %d", min))
	}
	if max >= 0 && n > max {
		v.Add(path, quote(s, sensitive), fmt.Sprintf("Member must have length less than or equal to %d", max))
	}
}

func (v *Validator) pattern(path, s string, re *regexp.Regexp, sensitive bool) {
	if !re.MatchString(s) {
		v.Add(path, quote(s, sensitive), "Member must satisfy regular expression pattern: "+re.String())
	}
}

func (v *Validator) enum(path, s string, values []string) {
	for _, e := range values {
		if s == e {
			return
		}
	}
	v.Add(path, quote(s, false), "Member must satisfy enum value set: ["+strings.Join(values, ", ")+"]")
}

func (v *Validator) intRange(path string, n int32, min, max int64) {
	if int64(n) < min {
		v.Add(path, quote(strconv.Itoa(int(n)), false), fmt.Sprintf("Member must have value greater than or equal to %d", min))
	}
	if int64(n) > max {
		v.Add(path, quote(strconv.Itoa(int(n)), false), fmt.Sprintf("Member must have value less than or equal to %d", max))
	}
}

func (v *Validator) listLen(path string, n int, min, max int) {
	if min >= 0 && n < min {
		v.Add(path, "'["+strconv.Itoa(n)+" items]'", fmt.Sprintf("Member must have length greater than or equal to %d", min))
	}
	if max >= 0 && n > max {
		v.Add(path, "'["+strconv.Itoa(n)+" items]'", fmt.Sprintf("Member must have length less than or equal to %d", max))
	}
}

func (v *Validator) union(path string, set int) {
	if set != 1 {
		v.Add(path, "'"+strconv.Itoa(set)+" members set'", "Member must have exactly one member of the union set")
	}
}

// decodeBody unmarshals the JSON body into in. An empty body is an empty
// object. Unknown members are ignored; a member of the wrong JSON type or
// malformed JSON is a ValidationException that names the member.
func decodeBody(r Request, in any) error {
	body := r.Body()
	if len(strings.TrimSpace(string(body))) == 0 {
		return nil
	}
	err := json.Unmarshal(body, in)
	if err == nil {
		return nil
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		field := te.Field
		if field == "" {
			return opennimble.Errorf(opennimble.ErrValidation, "Request body must be a JSON object, not a JSON %s", te.Value)
		}
		return opennimble.Errorf(opennimble.ErrValidation, "Value of JSON type %s at '%s' cannot be read as %s", te.Value, field, jsonKind(te.Type.Kind().String()))
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return opennimble.Errorf(opennimble.ErrValidation, "Request body is not valid JSON: %s (at byte %d)", se.Error(), se.Offset)
	}
	return opennimble.Errorf(opennimble.ErrValidation, "Request body could not be read: %s", err.Error())
}

func jsonKind(goKind string) string {
	switch goKind {
	case "string":
		return "a string"
	case "int32", "int64", "int":
		return "an integer"
	case "slice":
		return "a list"
	case "map", "struct", "ptr":
		return "an object"
	}
	return goKind
}

func bindQueryInt(v *Validator, r Request, name string, dst **int32) {
	s, ok := r.Query(name)
	if !ok {
		return
	}
	n, err := strconv.ParseInt(s, 10, 32)
	if err != nil {
		v.Add(name, quote(s, false), "Member must be an integer")
		return
	}
	x := int32(n)
	*dst = &x
}

func bindQueryString(r Request, name string) string {
	s, _ := r.Query(name)
	return s
}

func bindQueryList(r Request, name string) []string {
	vals := r.QueryAll(name)
	if len(vals) == 0 {
		return nil
	}
	return vals
}

// JSON output helpers.

func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				const hex = "0123456789abcdef"
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, `\u202`...)
			b = append(b, "89"[r&1])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

func appendKey(b []byte, first *bool, name string) []byte {
	if !*first {
		b = append(b, ',')
	}
	*first = false
	b = append(b, '"')
	b = append(b, name...)
	return append(b, '"', ':')
}

func appendInt(b []byte, n int32) []byte { return strconv.AppendInt(b, int64(n), 10) }

func appendTime(b []byte, t time.Time, o *EncodeOptions) []byte {
	t = t.UTC()
	if o != nil && o.Timestamps == TimestampEpoch {
		ms := t.UnixMilli()
		sec := math.Floor(float64(ms) / 1000)
		b = strconv.AppendInt(b, int64(sec), 10)
		frac := ms - int64(sec)*1000
		b = append(b, '.')
		b = append(b, byte('0'+frac/100), byte('0'+frac/10%10), byte('0'+frac%10))
		return b
	}
	b = append(b, '"')
	b = t.AppendFormat(b, "2006-01-02T15:04:05.000Z")
	return append(b, '"')
}

func appendStringMap(b []byte, m map[string]string) []byte {
	b = append(b, '{')
	first := true
	for _, k := range sortedKeys(m) {
		if !first {
			b = append(b, ',')
		}
		first = false
		b = appendString(b, k)
		b = append(b, ':')
		b = appendString(b, m[k])
	}
	return append(b, '}')
}

// AppendString appends s as a JSON string, escaped as encoding/json does.
func AppendString(b []byte, s string) []byte { return appendString(b, s) }
