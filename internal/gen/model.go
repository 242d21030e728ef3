// Package gen turns the Nimble Studio service model (api-2.json,
// waiters-2.json, paginators-1.json from aws-sdk-go) into the Go code of
// package api. cmd/nimblegen writes its output; a test in package api checks
// that the committed files equal a fresh generation.
package gen

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
)

// Model is the part of api-2.json the generator reads.
type Model struct {
	Metadata   map[string]any        `json:"metadata"`
	Operations map[string]*Operation `json:"operations"`
	Shapes     map[string]*Shape     `json:"shapes"`
}

// Operation is one entry of the model's operations.
type Operation struct {
	Name string `json:"name"`
	HTTP struct {
		Method       string `json:"method"`
		RequestURI   string `json:"requestUri"`
		ResponseCode int    `json:"responseCode"`
	} `json:"http"`
	Input      *ShapeRef  `json:"input"`
	Output     *ShapeRef  `json:"output"`
	Errors     []ShapeRef `json:"errors"`
	Idempotent bool       `json:"idempotent"`
}

// ShapeRef points at a shape, with a member's location traits.
type ShapeRef struct {
	Shape            string `json:"shape"`
	Location         string `json:"location"`
	LocationName     string `json:"locationName"`
	IdempotencyToken bool   `json:"idempotencyToken"`
}

// Shape is one entry of the model's shapes.
type Shape struct {
	Type      string               `json:"type"`
	Members   map[string]*ShapeRef `json:"members"`
	Required  []string             `json:"required"`
	Member    *ShapeRef            `json:"member"`
	Key       *ShapeRef            `json:"key"`
	Value     *ShapeRef            `json:"value"`
	Enum      []string             `json:"enum"`
	Min       *float64             `json:"min"`
	Max       *float64             `json:"max"`
	Pattern   string               `json:"pattern"`
	Sensitive bool                 `json:"sensitive"`
	Union     bool                 `json:"union"`
	Exception bool                 `json:"exception"`
	Error     *struct {
		HTTPStatusCode int `json:"httpStatusCode"`
	} `json:"error"`
}

// Waiters is waiters-2.json.
type Waiters struct {
	Waiters map[string]struct {
		Operation   string `json:"operation"`
		Delay       int    `json:"delay"`
		MaxAttempts int    `json:"maxAttempts"`
		Acceptors   []struct {
			State    string `json:"state"`
			Matcher  string `json:"matcher"`
			Argument string `json:"argument"`
			Expected any    `json:"expected"`
		} `json:"acceptors"`
	} `json:"waiters"`
}

// Paginators is paginators-1.json.
type Paginators struct {
	Pagination map[string]struct {
		InputToken  string `json:"input_token"`
		OutputToken string `json:"output_token"`
		LimitKey    string `json:"limit_key"`
		ResultKey   string `json:"result_key"`
	} `json:"pagination"`
}

// Input is everything the generator reads.
type Input struct {
	Model      Model
	Waiters    Waiters
	Paginators Paginators
	// Raw holds the three files as read, by their aws-sdk-go names; they
	// are written out unchanged as the model clients install.
	Raw map[string][]byte
}

// Load reads the three model files from dir.
func Load(dir string) (*Input, error) {
	in := &Input{Raw: map[string][]byte{}}
	for name, dst := range map[string]any{
		"api-2.json":        &in.Model,
		"waiters-2.json":    &in.Waiters,
		"paginators-1.json": &in.Paginators,
	} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			return nil, err
		}
		if err := json.Unmarshal(b, dst); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		in.Raw[name] = b
	}
	return in, nil
}

func sortedNames[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
