package e2e

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go/aws"
	"github.com/aws/aws-sdk-go/service/nimblestudio"

	opennimble "github.com/opennimble/opennimble"
	"github.com/opennimble/opennimble/app"
)

// TestEveryModelledErrorType reaches each of the model's seven error shapes
// through the real client, which must raise the typed error.
func TestEveryModelledErrorType(t *testing.T) {
	var fs *failingStore
	e := start(t, func(c *app.Config, o *app.Options) {
		c.Quotas.Studios = 1
		o.WrapStore = func(s opennimble.Store) opennimble.Store { fs = &failingStore{Store: s}; return fs }
	})
	c := e.Admin
	id := e.studio("quota")

	t.Run("ServiceQuotaExceededException", func(t *testing.T) {
		_, err := c.CreateStudioWithContext(ctx(t), &nimblestudio.CreateStudioInput{
			AdminRoleArn: aws.String("a"), UserRoleArn: aws.String("u"), DisplayName: aws.String("d"), StudioName: aws.String("second"),
		})
		mustCode(t, err, nimblestudio.ErrCodeServiceQuotaExceededException)
		if _, ok := err.(*nimblestudio.ServiceQuotaExceededException); !ok {
			t.Fatalf("not typed: %T", err)
		}
	})
	t.Run("ConflictException", func(t *testing.T) {
		_, err := c.CreateStudioWithContext(ctx(t), &nimblestudio.CreateStudioInput{
			AdminRoleArn: aws.String("a"), UserRoleArn: aws.String("u"), DisplayName: aws.String("d"), StudioName: aws.String("quota"),
		})
		mustCode(t, err, nimblestudio.ErrCodeConflictException)
		if ce, ok := err.(*nimblestudio.ConflictException); !ok || aws.StringValue(ce.Code_) != "ConflictException" || aws.StringValue(ce.Context["resourceId"]) != id {
			t.Fatalf("conflict: %#v", err)
		}
	})
	t.Run("ResourceNotFoundException", func(t *testing.T) {
		_, err := c.GetStudioWithContext(ctx(t), &nimblestudio.GetStudioInput{StudioId: aws.String("stu-nope")})
		mustCode(t, err, nimblestudio.ErrCodeResourceNotFoundException)
		if !strings.Contains(err.Error(), "stu-nope") {
			t.Fatalf("message does not name the resource: %v", err)
		}
	})
	t.Run("ValidationException", func(t *testing.T) {
		_, err := c.ListStudiosWithContext(ctx(t), &nimblestudio.ListStudiosInput{NextToken: aws.String("forged")})
		mustCode(t, err, nimblestudio.ErrCodeValidationException)
	})
	t.Run("AccessDeniedException", func(t *testing.T) {
		_, err := c.ListTagsForResourceWithContext(ctx(t), &nimblestudio.ListTagsForResourceInput{
			ResourceArn: aws.String("arn:aws:nimble:us-west-2:111111111111:studio/" + id),
		})
		mustCode(t, err, nimblestudio.ErrCodeAccessDeniedException)
	})
	t.Run("InternalServerErrorException", func(t *testing.T) {
		fs.broken.Store(true)
		defer fs.broken.Store(false)
		_, err := c.GetStudioWithContext(ctx(t), &nimblestudio.GetStudioInput{StudioId: &id})
		mustCode(t, err, nimblestudio.ErrCodeInternalServerErrorException)
		if strings.Contains(err.Error(), "disk I/O") {
			t.Fatalf("internal detail leaked to the client: %v", err)
		}
	})
	t.Run("state intact after the failure", func(t *testing.T) {
		out := must[*nimblestudio.GetStudioOutput](t)(c.GetStudioWithContext(ctx(t), &nimblestudio.GetStudioInput{StudioId: &id}))
		if aws.StringValue(out.Studio.State) != "READY" {
			t.Fatalf("studio %s", out.Studio)
		}
	})
}

func TestThrottling(t *testing.T) {
	e := start(t, func(c *app.Config, o *app.Options) { c.RateLimit = 1 })
	var last error
	for i := 0; i < 5; i++ {
		_, last = e.Admin.ListStudiosWithContext(ctx(t), &nimblestudio.ListStudiosInput{})
		if last != nil {
			break
		}
	}
	mustCode(t, last, nimblestudio.ErrCodeThrottlingException)
	// Another principal has its own bucket.
	if _, err := e.client("other", "x").ListStudiosWithContext(ctx(t), &nimblestudio.ListStudiosInput{}); err != nil {
		t.Fatal(err)
	}
}

// TestWireErrors checks the raw HTTP shape of errors that no SDK call makes.
func TestWireErrors(t *testing.T) {
	e := start(t)
	cases := []struct {
		name, method, path string
		status             int
		code               string
	}{
		{"unsigned", "GET", "/2020-08-01/studios", 403, "MissingAuthenticationTokenException"},
		{"unsigned unknown path", "GET", "/nothing-here", 403, "MissingAuthenticationTokenException"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req, _ := http.NewRequest(c.method, e.App.URL+c.path, nil)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != c.status || resp.Header.Get("x-amzn-ErrorType") != c.code || resp.Header.Get("x-amzn-RequestId") == "" {
				t.Fatalf("%d %q %s", resp.StatusCode, resp.Header.Get("x-amzn-ErrorType"), body)
			}
			if !strings.Contains(string(body), `"code":"`+c.code+`"`) {
				t.Fatalf("body %s", body)
			}
		})
	}
}
