package app

import (
	"strings"
	"testing"
)

// TestValidateDriver: each driver's settings are checked before anything
// starts, with a message that names what is missing.
func TestValidateDriver(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(*Config)
		want   string // "" for valid
	}{
		{"sim", func(c *Config) {}, ""},
		{"local", func(c *Config) { c.Driver = "local" }, ""},
		{"local on a shared store", func(c *Config) { c.Driver, c.Store = "local", "postgres://x@y/z" }, "replicas on a shared store cannot use it"},
		{"kubernetes", func(c *Config) { c.Driver, c.KubernetesConfig = "kubernetes", "/etc/opennimble/kubernetes.yaml" }, ""},
		{"kubernetes on a shared store", func(c *Config) {
			c.Driver, c.KubernetesConfig, c.Store = "kubernetes", "/etc/opennimble/kubernetes.yaml", "postgres://x@y/z"
		}, ""},
		{"kubernetes without its configuration", func(c *Config) { c.Driver = "kubernetes" }, "needs --kubernetes-config"},
		{"unknown", func(c *Config) { c.Driver = "ec2" }, `driver "ec2": want sim, local or kubernetes`},
		{"desktop geometry", func(c *Config) { c.LocalDesktopGeometry = "1920x1080x16" }, ""},
		{"bad desktop geometry", func(c *Config) { c.LocalDesktopGeometry = "1920x1080x8" }, `local-desktop-geometry: "1920x1080x8": the depth "8" is not 16 or 24`},
		{"desktop cgroup folder", func(c *Config) { c.LocalDesktopCgroup = "/sys/fs/cgroup/opennimble" }, ""},
		{"relative desktop cgroup", func(c *Config) { c.LocalDesktopCgroup = "opennimble" }, `local-desktop-cgroup "opennimble": want auto, off or an absolute cgroup v2 folder`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := Defaults()
			tc.change(&c)
			err := c.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("valid configuration refused: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}
