package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opennimble/opennimble/api"
	"github.com/opennimble/opennimble/internal/gen"
)

// runOut executes the command line in-process, its output in a buffer (the
// model is larger than a pipe holds).
func runOut(t *testing.T, args ...string) (string, error) {
	t.Helper()
	root := newRoot()
	root.SetArgs(args)
	var b bytes.Buffer
	root.SetOut(&b)
	err := root.Execute()
	return b.String(), err
}

// TestModelInstallWritesTheServedModel: what `model install` writes is,
// byte for byte, the aws-sdk-go model the generator reads, and it describes
// the operations, paginators and waiters of the generated tables the server
// routes by.
func TestModelInstallWritesTheServedModel(t *testing.T) {
	dir := t.TempDir()
	out, err := runOut(t, "model", "install", "--dir", dir)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "AWS_DATA_PATH="+dir) {
		t.Errorf("install --dir did not say how to use the folder: %q", out)
	}
	src, err := gen.ModelDir()
	if err != nil {
		t.Fatal(err)
	}
	written := map[string][]byte{}
	for sdkName, apiPath := range gen.ModelFiles {
		name := filepath.Base(apiPath)
		got, err := os.ReadFile(filepath.Join(dir, "nimble", "2020-08-01", name))
		if err != nil {
			t.Fatal(err)
		}
		want, err := os.ReadFile(filepath.Join(src, sdkName))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs from %s of %s", name, sdkName, gen.SDKModule)
		}
		written[name] = got
	}
	entries, _ := os.ReadDir(filepath.Join(dir, "nimble", "2020-08-01"))
	if len(entries) != 3 {
		t.Errorf("install wrote %d files, want 3 (no temporary files left)", len(entries))
	}
	checkOperations(t, written["service-2.json"])
	checkPaginators(t, written["paginators-1.json"])
	checkWaiters(t, written["waiters-2.json"])
}

func checkOperations(t *testing.T, b []byte) {
	var model struct {
		Metadata struct {
			APIVersion, Protocol, ServiceID, SigningName, EndpointPrefix string
		}
		Operations map[string]struct {
			HTTP struct {
				Method, RequestURI string
				ResponseCode       int
			}
		}
	}
	if err := json.Unmarshal(b, &model); err != nil {
		t.Fatal(err)
	}
	m := model.Metadata
	if m.APIVersion != "2020-08-01" || m.Protocol != "rest-json" || m.ServiceID != "nimble" || m.SigningName != "nimble" {
		t.Errorf("service-2.json metadata: %+v", m)
	}
	if len(model.Operations) != len(api.Operations) {
		t.Errorf("service-2.json has %d operations, the server %d", len(model.Operations), len(api.Operations))
	}
	for _, op := range api.Operations {
		w, ok := model.Operations[op.Name]
		if !ok {
			t.Errorf("the server serves %s, service-2.json lacks it", op.Name)
			continue
		}
		code := w.HTTP.ResponseCode
		if code == 0 {
			code = 200
		}
		if w.HTTP.Method != op.Method || w.HTTP.RequestURI != op.URI || code != op.SuccessCode {
			t.Errorf("%s: service-2.json says %s %s %d, the server %s %s %d", op.Name,
				w.HTTP.Method, w.HTTP.RequestURI, code, op.Method, op.URI, op.SuccessCode)
		}
	}
}

func checkPaginators(t *testing.T, b []byte) {
	var p struct {
		Pagination map[string]struct {
			InputToken  string `json:"input_token"`
			OutputToken string `json:"output_token"`
			ResultKey   string `json:"result_key"`
		}
	}
	if err := json.Unmarshal(b, &p); err != nil {
		t.Fatal(err)
	}
	if len(p.Pagination) != len(api.Paginators) {
		t.Errorf("paginators-1.json has %d paginators, the server %d", len(p.Pagination), len(api.Paginators))
	}
	for op, want := range api.Paginators {
		got := p.Pagination[op]
		if got.InputToken != want.InputToken || got.OutputToken != want.OutputToken || got.ResultKey != want.ResultKey {
			t.Errorf("paginator of %s: file %+v, server %+v", op, got, want)
		}
	}
}

func checkWaiters(t *testing.T, b []byte) {
	var w struct {
		Waiters map[string]struct {
			Operation string
			Acceptors []struct{ Expected any }
		}
	}
	if err := json.Unmarshal(b, &w); err != nil {
		t.Fatal(err)
	}
	if len(w.Waiters) != len(api.Waiters) {
		t.Errorf("waiters-2.json has %d waiters, the server %d", len(w.Waiters), len(api.Waiters))
	}
	for _, want := range api.Waiters {
		got, ok := w.Waiters[want.Name]
		if !ok || got.Operation != want.Operation || len(got.Acceptors) != len(want.Acceptors) {
			t.Errorf("waiter %s: file %+v, server %+v", want.Name, got, want)
		}
	}
}

// TestModelInstallDefaultsToAWSModels: without --dir, the model goes where
// the AWS CLI and botocore look by default, ~/.aws/models.
func TestModelInstallDefaultsToAWSModels(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	if _, err := runOut(t, "model", "install"); err != nil {
		t.Fatal(err)
	}
	for _, f := range modelFiles {
		if _, err := os.Stat(filepath.Join(home, ".aws", "models", f)); err != nil {
			t.Error(err)
		}
	}
	// A second install replaces the files in place.
	if _, err := runOut(t, "model", "install"); err != nil {
		t.Fatal(err)
	}
}

func TestModelExport(t *testing.T) {
	dir := t.TempDir()
	if _, err := runOut(t, "model", "install", "--dir", dir); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"", "service-2.json", "paginators-1.json", "waiters-2.json"} {
		args := []string{"model", "export"}
		file := "service-2.json"
		if name != "" {
			args, file = append(args, name), name
		}
		out, err := runOut(t, args...)
		if err != nil {
			t.Fatal(err)
		}
		want, _ := os.ReadFile(filepath.Join(dir, "nimble", "2020-08-01", file))
		if out != string(want) {
			t.Errorf("model export %s printed %d bytes, not the %d of %s", name, len(out), len(want), file)
		}
	}
	exported := t.TempDir()
	if _, err := runOut(t, "model", "export", "--dir", exported); err != nil {
		t.Fatal(err)
	}
	for _, f := range modelFiles {
		got, _ := os.ReadFile(filepath.Join(exported, f))
		want, _ := os.ReadFile(filepath.Join(dir, f))
		if len(want) == 0 || !bytes.Equal(got, want) {
			t.Errorf("export --dir wrote %s unlike install", f)
		}
	}
	if _, err := runOut(t, "model", "export", "api-2.json"); err == nil || !strings.Contains(err.Error(), "service-2.json") {
		t.Errorf("export of an unknown file: %v", err)
	}
}
