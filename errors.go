// Package opennimble holds the domain vocabulary shared by every layer of the
// server: the error type, the clock, the store and driver interfaces.
package opennimble

import (
	"errors"
	"fmt"
)

// Error codes are the model's exception shape names. They double as the
// x-amzn-ErrorType header value and the body's "code" member.
const (
	ErrAccessDenied         = "AccessDeniedException"
	ErrConflict             = "ConflictException"
	ErrInternal             = "InternalServerErrorException"
	ErrNotFound             = "ResourceNotFoundException"
	ErrServiceQuotaExceeded = "ServiceQuotaExceededException"
	ErrThrottling           = "ThrottlingException"
	ErrValidation           = "ValidationException"

	// Errors outside the model that AWS's front door answers with.
	ErrUnrecognizedClient    = "UnrecognizedClientException"
	ErrInvalidSignature      = "InvalidSignatureException"
	ErrMissingAuthentication = "MissingAuthenticationTokenException"
	ErrIncompleteSignature   = "IncompleteSignatureException"
	ErrUnknownOperation      = "UnknownOperationException"
	ErrMethodNotAllowed      = "MethodNotAllowedException"
)

// Error is the one error type that crosses layers. The HTTP edge maps Code to a
// status and renders Message and Context; anything that is not an *Error is
// reported to the client as InternalServerErrorException and logged.
type Error struct {
	Code    string
	Message string
	Context map[string]string
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Errorf builds an *Error with a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// With returns a copy of e whose context has key set to value.
func (e *Error) With(key, value string) *Error {
	c := *e
	c.Context = make(map[string]string, len(e.Context)+1)
	for k, v := range e.Context {
		c.Context[k] = v
	}
	c.Context[key] = value
	return &c
}

// NotFound reports a missing resource, naming its type and id in the message
// and the context, as AWS does.
func NotFound(resourceType, id string) *Error {
	return (&Error{Code: ErrNotFound, Message: fmt.Sprintf("%s %s not found", resourceType, id)}).
		With("resourceType", resourceType).With("resourceId", id)
}

// ErrorCode returns the code of err if it is (or wraps) an *Error, and
// InternalServerErrorException otherwise.
func ErrorCode(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ErrInternal
}

// IsCode reports whether err is an *Error with the given code.
func IsCode(err error, code string) bool {
	var e *Error
	return errors.As(err, &e) && e.Code == code
}

// HTTPStatus maps an error code to the status AWS answers it with.
func HTTPStatus(code string) int {
	switch code {
	case ErrValidation, ErrIncompleteSignature:
		return 400
	case ErrServiceQuotaExceeded:
		return 402
	case ErrAccessDenied, ErrUnrecognizedClient, ErrInvalidSignature, ErrMissingAuthentication:
		return 403
	case ErrNotFound, ErrUnknownOperation:
		return 404
	case ErrMethodNotAllowed:
		return 405
	case ErrConflict:
		return 409
	case ErrThrottling:
		return 429
	default:
		return 500
	}
}
