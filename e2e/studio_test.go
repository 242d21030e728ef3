package e2e

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go/aws"
	"github.com/aws/aws-sdk-go/service/nimblestudio"
)

func TestStudioLifecycle(t *testing.T) {
	e := start(t)
	c := e.Admin
	out, err := c.CreateStudioWithContext(ctx(t), &nimblestudio.CreateStudioInput{
		AdminRoleArn: aws.String("arn:aws:iam::000000000000:role/admin"),
		UserRoleArn:  aws.String("arn:aws:iam::000000000000:role/user"),
		DisplayName:  aws.String("Studio one"),
		StudioName:   aws.String("one"),
		Tags:         map[string]*string{"team": aws.String("fx")},
	})
	if err != nil {
		t.Fatal(err)
	}
	s := out.Studio
	id := aws.StringValue(s.StudioId)
	if aws.StringValue(s.State) != "CREATE_IN_PROGRESS" || aws.StringValue(s.HomeRegion) != "us-west-2" ||
		aws.StringValue(s.Arn) != "arn:aws:nimble:us-west-2:000000000000:studio/"+id || s.CreatedAt == nil ||
		aws.StringValue(s.StudioEncryptionConfiguration.KeyType) != "AWS_OWNED_KEY" || aws.StringValue(s.SsoClientId) == "" ||
		!strings.HasSuffix(aws.StringValue(s.StudioUrl), "/portal/one") {
		t.Fatalf("created studio: %s", s)
	}
	if err := c.WaitUntilStudioReadyWithContext(ctx(t), &nimblestudio.GetStudioInput{StudioId: &id}, fast()); err != nil {
		t.Fatal(err)
	}
	got := must[*nimblestudio.GetStudioOutput](t)(c.GetStudioWithContext(ctx(t), &nimblestudio.GetStudioInput{StudioId: &id}))
	if aws.StringValue(got.Studio.StatusCode) != "STUDIO_CREATED" || aws.StringValue(got.Studio.Tags["team"]) != "fx" {
		t.Fatalf("ready studio: %s", got.Studio)
	}

	// A second studio of the same name conflicts.
	_, err = c.CreateStudioWithContext(ctx(t), &nimblestudio.CreateStudioInput{
		AdminRoleArn: aws.String("a"), UserRoleArn: aws.String("u"), DisplayName: aws.String("d"), StudioName: aws.String("one"),
	})
	mustCode(t, err, "ConflictException")

	up := must[*nimblestudio.UpdateStudioOutput](t)(c.UpdateStudioWithContext(ctx(t), &nimblestudio.UpdateStudioInput{StudioId: &id, DisplayName: aws.String("Renamed")}))
	if aws.StringValue(up.Studio.State) != "UPDATE_IN_PROGRESS" || aws.StringValue(up.Studio.DisplayName) != "Renamed" {
		t.Fatalf("updated: %s", up.Studio)
	}
	if err := c.WaitUntilStudioReadyWithContext(ctx(t), &nimblestudio.GetStudioInput{StudioId: &id}, fast()); err != nil {
		t.Fatal(err)
	}
	rep := must[*nimblestudio.StartStudioSSOConfigurationRepairOutput](t)(c.StartStudioSSOConfigurationRepairWithContext(ctx(t), &nimblestudio.StartStudioSSOConfigurationRepairInput{StudioId: &id}))
	if aws.StringValue(rep.Studio.StatusCode) != "AWS_SSO_CONFIGURATION_REPAIR_IN_PROGRESS" {
		t.Fatalf("repair: %s", rep.Studio)
	}
	if err := c.WaitUntilStudioReadyWithContext(ctx(t), &nimblestudio.GetStudioInput{StudioId: &id}, fast()); err != nil {
		t.Fatal(err)
	}

	list := must[*nimblestudio.ListStudiosOutput](t)(c.ListStudiosWithContext(ctx(t), &nimblestudio.ListStudiosInput{}))
	if len(list.Studios) != 1 || aws.StringValue(list.Studios[0].StudioId) != id {
		t.Fatalf("list: %s", list)
	}

	del := must[*nimblestudio.DeleteStudioOutput](t)(c.DeleteStudioWithContext(ctx(t), &nimblestudio.DeleteStudioInput{StudioId: &id}))
	if aws.StringValue(del.Studio.State) != "DELETE_IN_PROGRESS" {
		t.Fatalf("delete: %s", del.Studio)
	}
	if err := c.WaitUntilStudioDeletedWithContext(ctx(t), &nimblestudio.GetStudioInput{StudioId: &id}, fast()); err != nil {
		t.Fatal(err)
	}
	list = must[*nimblestudio.ListStudiosOutput](t)(c.ListStudiosWithContext(ctx(t), &nimblestudio.ListStudiosInput{}))
	if len(list.Studios) != 0 {
		t.Fatalf("deleted studio still listed: %s", list)
	}
	_, err = c.UpdateStudioWithContext(ctx(t), &nimblestudio.UpdateStudioInput{StudioId: &id, DisplayName: aws.String("x")})
	mustCode(t, err, "ResourceNotFoundException")
}

func TestValidationThroughClient(t *testing.T) {
	e := start(t)
	// The Go SDK validates locally too; switch that off to reach the server.
	c := e.Admin
	c.Handlers.Validate.Clear()
	_, err := c.CreateStudioWithContext(ctx(t), &nimblestudio.CreateStudioInput{
		AdminRoleArn: aws.String("a"), UserRoleArn: aws.String("u"), DisplayName: aws.String("d"), StudioName: aws.String("Bad Name"),
	})
	mustCode(t, err, "ValidationException")
	if !strings.Contains(err.Error(), "Value 'Bad Name' at 'studioName' failed to satisfy constraint: Member must satisfy regular expression pattern: ^[a-z0-9]*$") {
		t.Fatalf("message: %v", err)
	}
	_, err = c.GetStudioWithContext(ctx(t), &nimblestudio.GetStudioInput{StudioId: aws.String("stu-missing")})
	mustCode(t, err, "ResourceNotFoundException")
}

func TestStudioURLServesThePortal(t *testing.T) {
	e := start(t)
	id := e.studio("portal")
	s := must[*nimblestudio.GetStudioOutput](t)(e.Admin.GetStudioWithContext(ctx(t), &nimblestudio.GetStudioInput{StudioId: &id}))
	resp, err := http.Get(aws.StringValue(s.Studio.StudioUrl))
	check(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	// The studio portal: a browser not signed in lands on its sign-in page.
	if resp.StatusCode != 200 || !strings.HasSuffix(resp.Request.URL.Path, "/portal/portal/signin") ||
		!strings.Contains(string(body), "Sign in to portal") || !strings.Contains(string(body), `action="/portal/portal/signin/key"`) {
		t.Fatalf("%d %s %s", resp.StatusCode, resp.Request.URL, body)
	}
}
