package service

import (
	"strings"

	opennimble "github.com/opennimble/opennimble"
)

// arnTypes maps the resource-type part of an ARN to a kind.
var arnTypes = map[string]opennimble.Kind{
	"studio":                   opennimble.KindStudio,
	"studio-component":         opennimble.KindStudioComponent,
	"launch-profile":           opennimble.KindLaunchProfile,
	"streaming-image":          opennimble.KindStreamingImage,
	"streaming-session":        opennimble.KindStreamingSession,
	"streaming-session-backup": opennimble.KindStreamingBackup,
}

func arnType(k opennimble.Kind) string {
	for t, kk := range arnTypes {
		if kk == k {
			return t
		}
	}
	return string(k)
}

// arn returns the ARN of a resource of this deployment.
func (s *Service) arn(k opennimble.Kind, id string) string {
	return "arn:aws:nimble:" + s.cfg.Region + ":" + s.cfg.AccountID + ":" + arnType(k) + "/" + id
}

// parseARN resolves a taggable resource's ARN of this deployment.
func (s *Service) parseARN(arn string) (opennimble.Kind, string, error) {
	bad := func(why string) error {
		return opennimble.Errorf(opennimble.ErrValidation, "Invalid resourceArn %q: %s", arn, why).With("resourceArn", arn)
	}
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" || parts[2] != "nimble" {
		return "", "", bad("expected arn:aws:nimble:<region>:<account-id>:<resource-type>/<id>")
	}
	if parts[3] != s.cfg.Region || parts[4] != s.cfg.AccountID {
		return "", "", opennimble.Errorf(opennimble.ErrAccessDenied,
			"Resource %s belongs to region %q and account %q; this endpoint serves region %q and account %q",
			arn, parts[3], parts[4], s.cfg.Region, s.cfg.AccountID).With("resourceArn", arn)
	}
	typ, id, ok := strings.Cut(parts[5], "/")
	kind, known := arnTypes[typ]
	if !ok || !known || id == "" || strings.Contains(id, "/") {
		return "", "", bad("unknown resource type or missing id")
	}
	return kind, id, nil
}
