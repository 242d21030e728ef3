package service

import (
	"errors"

	opennimble "github.com/opennimble/opennimble"
)

// arn returns the ARN of a resource of this deployment.
func (s *Service) arn(k opennimble.Kind, id string) string {
	return opennimble.ARN{Region: s.cfg.Region, Account: s.cfg.AccountID, Kind: k, ID: id}.String()
}

// parseARN resolves a taggable resource's ARN of this deployment. An ARN of
// another region or account is refused before its resource part is read.
func (s *Service) parseARN(arn string) (opennimble.Kind, string, error) {
	bad := func(why error) error {
		return opennimble.Errorf(opennimble.ErrValidation, "Invalid resourceArn %q: %s", arn, why).With("resourceArn", arn)
	}
	a, err := opennimble.ParseARN(arn)
	if errors.Is(err, opennimble.ErrARNShape) {
		return "", "", bad(err)
	}
	if a.Region != s.cfg.Region || a.Account != s.cfg.AccountID {
		return "", "", opennimble.Errorf(opennimble.ErrAccessDenied,
			"Resource %s belongs to region %q and account %q; this endpoint serves region %q and account %q",
			arn, a.Region, a.Account, s.cfg.Region, s.cfg.AccountID).With("resourceArn", arn)
	}
	if err != nil {
		return "", "", bad(err)
	}
	return a.Kind, a.ID, nil
}
