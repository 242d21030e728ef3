package compat

import (
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// readmeBlock is a fenced code block of README.md.
type readmeBlock struct{ lang, body string }

// readmeBlocks returns the fenced blocks of the README section whose
// heading is heading, up to the next heading of the same or a higher level.
func readmeBlocks(t *testing.T, heading string) []readmeBlock {
	t.Helper()
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	i := strings.Index(s, "\n"+heading+"\n")
	if i < 0 {
		t.Fatalf("README.md has no section %q", heading)
	}
	s = s[i+len(heading)+2:]
	level := heading[:strings.IndexByte(heading, ' ')+1]
	if j := regexp.MustCompile(`(?m)^#{1,` + strconv.Itoa(len(level)-1) + `} `).FindStringIndex(s); j != nil {
		s = s[:j[0]]
	}
	var out []readmeBlock
	for _, m := range regexp.MustCompile("(?ms)^```([a-z]*)\n(.*?)^```$").FindAllStringSubmatch(s, -1) {
		out = append(out, readmeBlock{lang: m[1], body: m[2]})
	}
	return out
}

// TestReadmeQuickStart follows the README's quick start as written, with
// today's AWS CLI v1 and boto3 and the binary this suite built, then the
// "Using it from…" walkthroughs of the AWS CLI and boto3 on the same server
// (each makes a studio of its own name). The commands come from README.md
// itself; the only changes are the server's port (a free one rather than
// 8080) and its data folder (a temporary one).
func TestReadmeQuickStart(t *testing.T) {
	t.Parallel()
	python, _ := todayPython(t)
	aws, _ := todayCLI(t, python)
	quick := readmeBlocks(t, "## Quick start")
	if len(quick) < 3 || quick[0].lang != "sh" || quick[1].lang != "sh" || quick[2].lang != "python" {
		t.Fatalf("the quick start should open with the server's commands, the client's and a Python snippet: %+v", quick)
	}

	// The server's block: the build (done by TestMain, the same command),
	// then the server, started as the README says.
	var serveFlags []string
	for _, line := range strings.Split(strings.TrimSpace(quick[0].body), "\n") {
		fields := strings.Fields(strings.SplitN(line, "#", 2)[0])
		switch {
		case strings.Join(fields, " ") == "go build -o opennimble ./cmd/opennimble":
		case len(fields) >= 3 && fields[0] == "./opennimble" && fields[1] == "serve" && fields[2] == "--emulator":
			serveFlags = fields[3:]
		default:
			t.Fatalf("the quick start's server block has a line this test does not know how to run: %q", line)
		}
	}
	srv := startServer(t, serveFlags...)

	dir := t.TempDir() // the folder the quick start runs in, holding ./opennimble
	if err := os.Symlink(serverBin, filepath.Join(dir, "opennimble")); err != nil {
		t.Fatal(err)
	}
	home := t.TempDir()
	// The client's shell block, with the Python snippet run from the same
	// shell, so that it has the environment the block exported.
	script := quick[1].body + "\"$README_PYTHON\" - <<'README_PYTHON_EOF'\n" + quick[2].body + "README_PYTHON_EOF\n"
	out := runReadme(t, srv, dir, home, aws, python, script)
	if _, err := os.Stat(filepath.Join(home, ".aws", "models", "nimble", "2020-08-01", "service-2.json")); err != nil {
		t.Errorf("the quick start did not install the model in ~/.aws/models: %v", err)
	}
	if !regexp.MustCompile(`(?m)^quickstart\s+(CREATE_IN_PROGRESS|READY)$`).MatchString(out) || !strings.Contains(out, "['quickstart']") {
		t.Errorf("the quick start's listings do not show its studio:\n%s", out)
	}

	// The walkthroughs of the AWS CLI and boto3, in order on the same
	// server and environment.
	using := readmeBlocks(t, "## Using it from…")
	if len(using) < 3 || using[0].lang != "sh" || using[1].lang != "python" || using[2].lang != "python" {
		t.Fatalf("Using it from… should open with the AWS CLI's block and two boto3 snippets: %+v", using)
	}
	script = exports(quick[1].body) + using[0].body + "\"$README_PYTHON\" - <<'README_PYTHON_EOF'\n" + using[1].body + "README_PYTHON_EOF\n"
	out = runReadme(t, srv, dir, home, aws, python, script)
	if !strings.Contains(out, "READY") || !strings.Contains(out, "bak-nope") {
		t.Errorf("the walkthroughs printed no READY studio or no missing backup:\n%s", out)
	}
	// The second boto3 snippet is for Debian's pinned boto3 and the model of
	// Debian's awscli package.
	if _, err := os.Stat(awscliNimble); err != nil {
		t.Fatalf("the nimble model of Debian's awscli package is missing (%v): %s", err, aptInstall)
	}
	script = "\"" + debianPython + "\" - <<'README_PYTHON_EOF'\n" + using[2].body + "README_PYTHON_EOF\n"
	if out = runReadme(t, srv, dir, home, aws, python, script); !strings.Contains(out, "democli") || !strings.Contains(out, "demoboto") {
		t.Errorf("the pinned boto3 snippet does not list the walkthroughs' studios:\n%s", out)
	}
}

// exports returns the export lines of a shell block: the environment it
// leaves to the commands that follow.
func exports(block string) string {
	var b strings.Builder
	for _, line := range strings.Split(block, "\n") {
		if strings.HasPrefix(line, "export ") {
			b.WriteString(line + "\n")
		}
	}
	return b.String()
}

// runReadme runs README commands with bash -e in dir, as a user with an
// empty HOME would: no AWS settings but those the commands make, today's
// AWS CLI first on the PATH, and the server's URL for 127.0.0.1:8080.
func runReadme(t *testing.T, srv *server, dir, home, aws, python, script string) string {
	t.Helper()
	script = "set -euo pipefail\n" + strings.ReplaceAll(script, "http://127.0.0.1:8080", srv.URL)
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AWS_") && !strings.HasPrefix(kv, "PYTHONPATH=") && !strings.HasPrefix(kv, "PYTHONHOME=") {
			env = append(env, kv)
		}
	}
	env = append(env, "HOME="+home, "PATH="+filepath.Dir(aws)+string(os.PathListSeparator)+os.Getenv("PATH"),
		"README_PYTHON="+python, "AWS_PAGER=", "AWS_EC2_METADATA_DISABLED=true")
	ctx, cancel := clientContext(t)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-c", script)
	cmd.Dir, cmd.Env, cmd.WaitDelay = dir, env, 5*time.Second
	var all bytes.Buffer
	w := &lineLogger{t: t, prefix: "readme: "}
	cmd.Stdout = io.MultiWriter(&all, w)
	cmd.Stderr = cmd.Stdout
	err := cmd.Run()
	w.flush()
	if err != nil {
		t.Fatalf("README commands failed (%v); their output is above; the script was:\n%s", err, script)
	}
	return all.String()
}
