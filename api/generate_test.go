package api_test

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/opennimble/opennimble/internal/gen"
)

// TestGeneratedCodeIsFresh fails when the committed zz_*.go files, or the
// model files under model/ that `opennimble model install` writes, differ
// from what cmd/nimblegen writes from the model today: regenerate with
// `go run ./cmd/nimblegen` and commit.
func TestGeneratedCodeIsFresh(t *testing.T) {
	dir, err := gen.ModelDir()
	if err != nil {
		t.Fatal(err)
	}
	in, err := gen.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	files, err := gen.Generate(in)
	if err != nil {
		t.Fatal(err)
	}
	committed, _ := filepath.Glob("zz_*.go")
	models, _ := filepath.Glob(gen.ModelDirInAPI + "/*")
	committed = append(committed, models...)
	if len(committed) != len(files) {
		t.Errorf("committed %d generated files %v, generator writes %d", len(committed), committed, len(files))
	}
	for name, want := range files {
		got, err := os.ReadFile(name)
		if err != nil {
			t.Errorf("%s: %v (run go run ./cmd/nimblegen)", name, err)
			continue
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs from a fresh generation (run go run ./cmd/nimblegen)", name)
		}
	}
}

func TestModelCoverage(t *testing.T) {
	dir, err := gen.ModelDir()
	if err != nil {
		t.Fatal(err)
	}
	in, err := gen.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(in.Model.Operations), 49; got != want {
		t.Fatalf("model has %d operations, want %d", got, want)
	}
	if got, want := len(in.Model.Shapes), 254; got != want {
		t.Fatalf("model has %d shapes, want %d", got, want)
	}
}
