// Command nimblegen generates package api from the Nimble Studio service
// model in github.com/aws/aws-sdk-go@v1.55.8.
//
//	go run ./cmd/nimblegen            # writes ./api/zz_*.go and ./api/model/
//	go run ./cmd/nimblegen -out DIR   # writes elsewhere
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/opennimble/opennimble/internal/gen"
)

func main() {
	out := flag.String("out", "api", "folder to write the generated files to")
	model := flag.String("model", "", "folder holding api-2.json, waiters-2.json and paginators-1.json (default: from "+gen.SDKModule+")")
	flag.Parse()
	if err := run(*model, *out); err != nil {
		fmt.Fprintln(os.Stderr, "nimblegen:", err)
		os.Exit(1)
	}
}

func run(model, out string) error {
	if model == "" {
		dir, err := gen.ModelDir()
		if err != nil {
			return err
		}
		model = dir
	}
	in, err := gen.Load(model)
	if err != nil {
		return err
	}
	files, err := gen.Generate(in)
	if err != nil {
		return err
	}
	for name, src := range files {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(out, name)), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(out, name), src, 0o644); err != nil {
			return err
		}
	}
	return nil
}
