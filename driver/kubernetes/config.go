package kubernetes

import (
	"errors"
	"fmt"
	"os"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/yaml"
)

// Config is the driver's configuration file (YAML): where sessions run, what
// their workstations run and on what.
type Config struct {
	// Namespace, when set, holds every session's objects; empty gives each
	// studio its own namespace, NamespacePrefix followed by the studio id.
	Namespace       string `json:"namespace,omitempty"`
	NamespacePrefix string `json:"namespacePrefix,omitempty"`
	// StorageClassName is the storage class of session volumes ("" leaves
	// the cluster's default).
	StorageClassName string `json:"storageClassName,omitempty"`
	// VolumeSnapshotClassName is the class of the VolumeSnapshots that back
	// sessions up ("" leaves the cluster's default).
	VolumeSnapshotClassName string `json:"volumeSnapshotClassName,omitempty"`
	// HomePath is where a session's volume is mounted in its workstation.
	HomePath string `json:"homePath,omitempty"`
	// DefaultVolumeSizeGiB sizes the volume of a session whose launch
	// profile names no volumeConfiguration.size.
	DefaultVolumeSizeGiB int32 `json:"defaultVolumeSizeGiB,omitempty"`
	// UnschedulableTimeout is how long a workstation Pod may stay
	// unschedulable before its session fails with INSUFFICIENT_CAPACITY;
	// clusters that add nodes on demand want a few minutes. 0 fails at once.
	UnschedulableTimeout metav1.Duration `json:"unschedulableTimeout,omitempty"`
	// TerminationGracePeriodSeconds is how long a stopping workstation has to
	// shut down (Kubernetes' default when unset).
	TerminationGracePeriodSeconds *int64 `json:"terminationGracePeriodSeconds,omitempty"`
	// Images map streaming images, by their ec2ImageId ("*" matches any), to
	// container images.
	Images []Image `json:"images"`
	// InstanceTypes map ec2InstanceType values ("*" matches any) to
	// resources and placement.
	InstanceTypes map[string]InstanceType `json:"instanceTypes"`
}

// Image is the container image a streaming image runs as.
type Image struct {
	Ec2ImageID string `json:"ec2ImageId"`
	Image      string `json:"image"`
	// Port is the port the workstation's remote desktop (HTTP and
	// WebSocket) listens on; stream URLs are proxied there.
	Port int32 `json:"port"`
	// Client is the web client the remote desktop serves: "novnc" (the
	// default: noVNC and its WebSocket at /websockify, as websockify serves
	// them in the workstation image of deploy/workstation), whose vnc.html
	// the stream URL opens, connected; or "web" (any other web desktop),
	// whose own / the stream URL shows.
	Client          string            `json:"client,omitempty"`
	ImagePullPolicy corev1.PullPolicy `json:"imagePullPolicy,omitempty"`
}

// The web clients of Image.Client.
const (
	ClientNoVNC = "novnc"
	ClientWeb   = "web"
)

// InstanceType is what a workstation of one ec2InstanceType gets.
type InstanceType struct {
	Requests     corev1.ResourceList `json:"requests,omitempty"`
	Limits       corev1.ResourceList `json:"limits,omitempty"`
	NodeSelector map[string]string   `json:"nodeSelector,omitempty"`
	Tolerations  []corev1.Toleration `json:"tolerations,omitempty"`
}

// LoadConfig reads a configuration file; unknown keys are errors.
func LoadConfig(path string) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return ParseConfig(b)
}

// ParseConfig parses and checks a configuration.
func ParseConfig(b []byte) (*Config, error) {
	var c Config
	if err := yaml.UnmarshalStrict(b, &c); err != nil {
		return nil, fmt.Errorf("kubernetes driver configuration: %w", err)
	}
	if err := c.setDefaults(); err != nil {
		return nil, fmt.Errorf("kubernetes driver configuration: %w", err)
	}
	return &c, nil
}

func (c *Config) setDefaults() error {
	if c.NamespacePrefix == "" {
		c.NamespacePrefix = "nimble-"
	}
	if c.HomePath == "" {
		c.HomePath = "/home/artist"
	}
	if c.DefaultVolumeSizeGiB == 0 {
		c.DefaultVolumeSizeGiB = 500
	}
	var errs []error
	if c.Namespace != "" {
		for _, m := range validation.IsDNS1123Label(c.Namespace) {
			errs = append(errs, fmt.Errorf("namespace %q: %s", c.Namespace, m))
		}
	}
	if len(c.NamespacePrefix) > 30 || strings.Trim(c.NamespacePrefix, "abcdefghijklmnopqrstuvwxyz0123456789-") != "" || !isAlpha(c.NamespacePrefix[0]) {
		errs = append(errs, fmt.Errorf("namespacePrefix %q: want at most 30 lower-case letters, digits and '-', starting with a letter", c.NamespacePrefix))
	}
	if c.DefaultVolumeSizeGiB < 0 {
		errs = append(errs, errors.New("defaultVolumeSizeGiB must be positive"))
	}
	if !strings.HasPrefix(c.HomePath, "/") {
		errs = append(errs, fmt.Errorf("homePath %q: want an absolute path", c.HomePath))
	}
	if len(c.Images) == 0 {
		errs = append(errs, errors.New("images: map at least one ec2ImageId (or \"*\") to a container image"))
	}
	for i, im := range c.Images {
		if im.Ec2ImageID == "" || im.Image == "" {
			errs = append(errs, fmt.Errorf("images[%d]: ec2ImageId and image are required", i))
		}
		switch im.Client {
		case "":
			c.Images[i].Client = ClientNoVNC
		case ClientNoVNC, ClientWeb:
		default:
			errs = append(errs, fmt.Errorf("images[%d]: client %q: want %q or %q", i, im.Client, ClientNoVNC, ClientWeb))
		}
		if im.Port < 1 || im.Port > 65535 {
			errs = append(errs, fmt.Errorf("images[%d]: port %d: want the remote desktop's port, 1-65535", i, im.Port))
		}
	}
	if len(c.InstanceTypes) == 0 {
		errs = append(errs, errors.New("instanceTypes: map at least one ec2InstanceType (or \"*\") to resources"))
	}
	return errors.Join(errs...)
}

func isAlpha(b byte) bool { return b >= 'a' && b <= 'z' }

// image returns the container image of a streaming image.
func (c *Config) image(ec2ImageID string) (Image, bool) {
	var any *Image
	for i, im := range c.Images {
		if im.Ec2ImageID == ec2ImageID {
			return im, true
		}
		if im.Ec2ImageID == "*" && any == nil {
			any = &c.Images[i]
		}
	}
	if any != nil {
		return *any, true
	}
	return Image{}, false
}

// instanceType returns what a workstation of type t gets.
func (c *Config) instanceType(t string) (InstanceType, bool) {
	if it, ok := c.InstanceTypes[t]; ok {
		return it, true
	}
	it, ok := c.InstanceTypes["*"]
	return it, ok
}
