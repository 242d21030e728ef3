package compat

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// Today's clients: AWS removed nimble from every CLI and SDK in October
// 2024, so a client installed today has no nimble model of its own and
// works with the one `opennimble model install` writes. This machine's image
// ships such clients in its own Python (pyenv): the AWS CLI v1 1.45 and
// boto3/botocore 1.43; PyPI is not reachable here to install others.

const todayHint = "today's clients come with the machine image's own Python (pyenv: " +
	"`python -m pip list` shows awscli 1.x, boto3 and botocore); on a machine without it, install them with " +
	"`python3 -m pip install awscli boto3` into a Python 3.9+ and put its bin folder first on the PATH"

// todayPython finds a Python whose boto3 has no nimble model of its own: the
// pyenv interpreters first, then python3 on the PATH.
func todayPython(t *testing.T) (python, version string) {
	t.Helper()
	var candidates []string
	for _, root := range []string{os.Getenv("PYENV_ROOT"), filepath.Join(os.Getenv("HOME"), ".pyenv"), "/root/.pyenv"} {
		if root == "" {
			continue
		}
		found, _ := filepath.Glob(filepath.Join(root, "versions", "*", "bin", "python3"))
		slices.Reverse(found) // the newest version first
		candidates = append(candidates, found...)
	}
	if p, err := exec.LookPath("python3"); err == nil {
		candidates = append(candidates, p)
	}
	var tried []string
	for _, p := range candidates {
		v, err := output(p, "-c", `import os, boto3, botocore
data = os.path.join(os.path.dirname(botocore.__file__), "data", "nimble")
print("boto3", boto3.__version__, "botocore", botocore.__version__, "builtin-nimble" if os.path.exists(data) else "no-nimble")`)
		switch {
		case err != nil:
			tried = append(tried, p+": no boto3")
		case strings.HasSuffix(v, "builtin-nimble"):
			tried = append(tried, p+": "+strings.TrimSuffix(v, " builtin-nimble")+" still has its own nimble model (a release before October 2024)")
		default:
			return p, strings.TrimSuffix(v, " no-nimble")
		}
	}
	t.Fatalf("no current boto3 found (tried %s): %s", strings.Join(tried, "; "), todayHint)
	return "", ""
}

// todayCLI finds the AWS CLI v1 installed next to python (pip installs its
// aws script in the interpreter's bin folder), else aws on the PATH, and
// checks it is a v1.
func todayCLI(t *testing.T, python string) (aws, version string) {
	t.Helper()
	candidates := []string{filepath.Join(filepath.Dir(python), "aws")}
	if p, err := exec.LookPath("aws"); err == nil {
		candidates = append(candidates, p)
	}
	var tried []string
	for _, p := range candidates {
		v, err := output(p, "--version")
		if err == nil && strings.HasPrefix(v, "aws-cli/1.") {
			return p, firstLine(v)
		}
		tried = append(tried, p+": "+firstLine(v))
	}
	t.Fatalf("no AWS CLI v1 found (tried %s): %s", strings.Join(tried, "; "), todayHint)
	return "", ""
}

// installModel runs `opennimble model install` with the given arguments and
// HOME, as a user would, and fails the test if it fails.
func installModel(t *testing.T, home string, args ...string) {
	t.Helper()
	cmd := exec.Command(serverBin, append([]string{"model", "install"}, args...)...)
	cmd.Env = append(os.Environ(), "HOME="+home)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("opennimble model install %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	t.Logf("opennimble model install %s: %s", strings.Join(args, " "), strings.TrimSpace(string(out)))
}

// TestAWSCLIv1Today runs the CLI scenario with today's AWS CLI v1 and the
// model installed by `opennimble model install` into a temporary HOME's
// ~/.aws/models (never the real one).
func TestAWSCLIv1Today(t *testing.T) {
	t.Parallel()
	python, _ := todayPython(t)
	aws, v := todayCLI(t, python)
	t.Log(aws, v)
	home := t.TempDir()
	installModel(t, home)
	srv := startServer(t, "--page-size", "1")
	runClientEnv(t, srv, "cli-v1", []string{"HOME=" + home, "AWS_CLI=" + aws}, "bash", "cli/scenario.sh")
}

// TestBoto3Today runs the boto3 scenario with today's boto3 and the model
// installed by `opennimble model install --dir DIR`, named by AWS_DATA_PATH;
// HOME is an empty temporary folder, so ~/.aws/models plays no part.
func TestBoto3Today(t *testing.T) {
	t.Parallel()
	python, v := todayPython(t)
	t.Log(python, v)
	data := t.TempDir()
	installModel(t, t.TempDir(), "--dir", data)
	srv := startServer(t, "--page-size", pageSize)
	runClientEnv(t, srv, "boto3-today", []string{"HOME=" + t.TempDir(), "AWS_DATA_PATH=" + data}, python, "python/scenario.py")
}
