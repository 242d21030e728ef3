package api

import (
	"fmt"
	"strings"
	"testing"
)

// TestTagRules checks AWS's tagging rules through the generated validator
// of each request that takes tags.
func TestTagRules(t *testing.T) {
	many := map[string]string{}
	for i := range 51 {
		many[fmt.Sprint("k", i)] = "v"
	}
	fifty := map[string]string{strings.Repeat("k", 128): ""}
	for i := range 49 {
		fifty[fmt.Sprint("k", i)] = strings.Repeat("v", 256)
	}
	requests := map[string]func(map[string]string) interface{ Validate(*Validator, string) }{
		"CreateStudio": func(m map[string]string) interface{ Validate(*Validator, string) } {
			return &CreateStudioRequest{Tags: m}
		},
		"CreateStudioComponent": func(m map[string]string) interface{ Validate(*Validator, string) } {
			return &CreateStudioComponentRequest{Tags: m}
		},
		"CreateLaunchProfile": func(m map[string]string) interface{ Validate(*Validator, string) } {
			return &CreateLaunchProfileRequest{Tags: m}
		},
		"CreateStreamingImage": func(m map[string]string) interface{ Validate(*Validator, string) } {
			return &CreateStreamingImageRequest{Tags: m}
		},
		"CreateStreamingSession": func(m map[string]string) interface{ Validate(*Validator, string) } {
			return &CreateStreamingSessionRequest{Tags: m}
		},
		"TagResource": func(m map[string]string) interface{ Validate(*Validator, string) } {
			return &TagResourceRequest{Tags: m}
		},
	}
	bad := map[string]struct {
		tags map[string]string
		want string
	}{
		"51 tags":         {many, "'[51 tags]' at 'tags'"},
		"reserved prefix": {map[string]string{"Aws:x": "v"}, "'Aws:x' at 'tags'"},
		"empty key":       {map[string]string{"": "v"}, "'' at 'tags'"},
		"long key":        {map[string]string{strings.Repeat("k", 129): "v"}, "at 'tags'"},
		"long value":      {map[string]string{"k": strings.Repeat("v", 257)}, "at 'tags.k'"},
	}
	for op, mk := range requests {
		errs := func(tags map[string]string) string {
			var v Validator
			mk(tags).Validate(&v, "")
			return strings.Join(v.errs, "; ")
		}
		if got := errs(fifty); strings.Contains(got, "tags") {
			t.Errorf("%s: fifty tags at the limits: %s", op, got)
		}
		for name, c := range bad {
			if got := errs(c.tags); !strings.Contains(got, c.want) {
				t.Errorf("%s, %s: errors %q, want one with %q", op, name, got, c.want)
			}
		}
	}
}
