package e2e

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go/service/nimblestudio"

	"github.com/opennimble/opennimble/internal/fixture"
)

type profile = fixture.Profile

var (
	withBackups     = fixture.WithBackups
	withPersistence = fixture.WithPersistence
)

// makeProfile builds a READY launch profile (with its studio, image and
// component) through c.
func makeProfile(t *testing.T, cx context.Context, c *nimblestudio.NimbleStudio, name string, opts ...fixture.Option) profile {
	t.Helper()
	p, err := fixture.Make(cx, c, name, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return p
}
