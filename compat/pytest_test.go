package compat

import "testing"

// TestPytestPlugin runs the own tests of the pytest plugin in
// clients/python with Debian's python3-pytest and python3-boto3, against the
// opennimble this suite built.
func TestPytestPlugin(t *testing.T) {
	t.Parallel()
	v, err := output(debianPython, "-c", "import pytest, boto3; print('pytest', pytest.__version__, 'boto3', boto3.__version__)")
	if err != nil {
		t.Fatalf("pytest or boto3 is missing from %s (%v: %s): apt-get install -y python3-pytest python3-boto3 (what scripts/test does)", debianPython, err, v)
	}
	t.Log(v)
	// The plugin starts its own server (srv nil).
	runClientEnv(t, nil, "pytest", []string{
		"OPENNIMBLE_BIN=" + serverBin,
		"PYTHONDONTWRITEBYTECODE=1",
		"HOME=" + t.TempDir(),
	}, debianPython, "-m", "pytest", "-p", "no:cacheprovider", "-v", "--rootdir", "../clients/python", "../clients/python")
}
