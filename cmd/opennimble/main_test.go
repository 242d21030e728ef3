package main

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/pflag"

	"github.com/opennimble/opennimble/app"
)

func TestResolvePrecedence(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "opennimble.toml")
	if err := os.WriteFile(file, []byte("listen = \"127.0.0.1:1111\"\nregion = \"eu-west-1\"\naccount-id = \"123456789012\"\nemulator-admins = [\"a\", \"b\"]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:8080", "")
	region := fs.String("region", "us-west-2", "")
	account := fs.String("account-id", "000000000000", "")
	admins := fs.StringSlice("emulator-admins", []string{"test"}, "")
	data := fs.String("data-dir", "./data", "")
	if err := fs.Parse([]string{"--listen", "127.0.0.1:3333"}); err != nil {
		t.Fatal(err)
	}
	t.Setenv("OPENNIMBLE_REGION", "ap-south-1")
	if err := resolve(fs, file); err != nil {
		t.Fatal(err)
	}
	if *listen != "127.0.0.1:3333" {
		t.Errorf("flag lost to file or env: listen %q", *listen)
	}
	if *region != "ap-south-1" {
		t.Errorf("env lost to file: region %q", *region)
	}
	if *account != "123456789012" {
		t.Errorf("file not applied: account-id %q", *account)
	}
	if strings.Join(*admins, ",") != "a,b" {
		t.Errorf("file list not applied: %v", *admins)
	}
	if *data != "./data" {
		t.Errorf("default changed: %q", *data)
	}
}

func TestResolveRefusesUnknownSettings(t *testing.T) {
	file := filepath.Join(t.TempDir(), "c.toml")
	if err := os.WriteFile(file, []byte("lisen = \"x\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
	fs.String("listen", "", "")
	if err := resolve(fs, file); err == nil || !strings.Contains(err.Error(), `unknown setting "lisen"`) {
		t.Fatalf("got %v", err)
	}
}

// run executes the command line in-process and returns what it printed.
func run(t *testing.T, args ...string) (string, error) {
	t.Helper()
	root := newRoot()
	root.SetArgs(args)
	old := os.Stdout
	r, w, _ := os.Pipe()
	os.Stdout = w
	err := root.Execute()
	w.Close()
	os.Stdout = old
	var b bytes.Buffer
	_, _ = io.Copy(&b, r)
	return b.String(), err
}

func TestCredentialsCommands(t *testing.T) {
	dir := t.TempDir()
	if _, err := run(t, "credentials", "create", "--data-dir", dir, "--principal-id", "alice"); err == nil || !strings.Contains(err.Error(), "holds no opennimble data") {
		t.Fatalf("create in a folder with no data: %v", err)
	}
	// The data folder of a server that has run.
	cfg := app.Defaults()
	cfg.DataDir = dir
	st, err := app.OpenStore(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	if _, err := run(t, "credentials", "create", "--data-dir", dir, "--principal-id", "al ice"); err == nil || !strings.Contains(err.Error(), "is not allowed") {
		t.Fatalf("create with a space in the principal id: %v", err)
	}
	out, err := run(t, "credentials", "create", "--data-dir", dir, "--principal-id", "alice")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "principal_id          = alice") || !strings.Contains(out, "admin                 = false") {
		t.Fatalf("create printed %q", out)
	}
	akid := strings.TrimSpace(strings.SplitN(strings.SplitN(out, "= ", 2)[1], "\n", 2)[0])
	if _, err := run(t, "credentials", "create", "--data-dir", dir, "--principal-id", "ops", "--admin"); err != nil {
		t.Fatal(err)
	}
	out, err = run(t, "credentials", "list", "--data-dir", dir)
	if err != nil || !strings.Contains(out, akid) || !strings.Contains(out, "ops") || strings.Contains(out, "secret") {
		t.Fatalf("list: %v\n%s", err, out)
	}
	if _, err := run(t, "credentials", "delete", "--data-dir", dir, akid); err != nil {
		t.Fatal(err)
	}
	out, _ = run(t, "credentials", "list", "--data-dir", dir)
	if strings.Contains(out, akid) {
		t.Fatalf("deleted key still listed:\n%s", out)
	}
	if _, err := run(t, "credentials", "delete", "--data-dir", dir, akid); err == nil {
		t.Fatal("deleting an unknown key succeeded")
	}
	if _, err := run(t, "credentials", "create", "--data-dir", dir); err == nil {
		t.Fatal("create without --principal-id succeeded")
	}
}

func TestServeHelpDocumentsEverySetting(t *testing.T) {
	root := newRoot()
	var b bytes.Buffer
	root.SetOut(&b)
	root.SetArgs([]string{"serve", "--help"})
	if err := root.Execute(); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"--listen", "--data-dir", "--emulator", "--region", "--account-id", "--transition-delay", "--timestamps", "--config", "OPENNIMBLE_"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("serve --help lacks %s", want)
		}
	}
}
