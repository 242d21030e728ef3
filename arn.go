package opennimble

import (
	"errors"
	"strings"
)

// ARN is the Amazon Resource Name of a resource that has one:
// arn:aws:nimble:<region>:<account>:<kind>/<id>. The resource-type part of
// an ARN is the resource's Kind.
type ARN struct {
	Region, Account string
	Kind            Kind
	ID              string
}

// String renders the ARN.
func (a ARN) String() string {
	return "arn:aws:nimble:" + a.Region + ":" + a.Account + ":" + string(a.Kind) + "/" + a.ID
}

// HasARN reports whether resources of kind k have ARNs (and so tags).
func (k Kind) HasARN() bool {
	switch k {
	case KindStudio, KindStudioComponent, KindLaunchProfile, KindStreamingImage, KindStreamingSession, KindStreamingBackup:
		return true
	}
	return false
}

// The errors of ParseARN; their text says what a valid ARN looks like.
var (
	ErrARNShape    = errors.New("expected arn:aws:nimble:<region>:<account-id>:<resource-type>/<id>")
	ErrARNResource = errors.New("unknown resource type or missing id")
)

// ParseARN splits a nimble resource ARN. It returns ErrARNShape when s is no
// nimble ARN, and ErrARNResource, with Region and Account set, when its
// resource part names no resource that has ARNs.
func ParseARN(s string) (ARN, error) {
	parts := strings.SplitN(s, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" || parts[2] != "nimble" {
		return ARN{}, ErrARNShape
	}
	a := ARN{Region: parts[3], Account: parts[4]}
	typ, id, ok := strings.Cut(parts[5], "/")
	if !ok || !Kind(typ).HasARN() || id == "" || strings.Contains(id, "/") {
		return a, ErrARNResource
	}
	a.Kind, a.ID = Kind(typ), id
	return a, nil
}
