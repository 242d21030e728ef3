package kubernetes

import (
	"os"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/yaml"
)

func TestParseConfig(t *testing.T) {
	c, err := ParseConfig([]byte(testConfig))
	if err != nil {
		t.Fatal(err)
	}
	if c.NamespacePrefix != "nimble-" || c.HomePath != "/home/artist" || c.DefaultVolumeSizeGiB != 20 {
		t.Fatalf("parsed %+v", c)
	}
	it, ok := c.instanceType("g4dn.xlarge")
	if !ok || it.Limits.Name("nvidia.com/gpu", "").String() != "1" || it.Tolerations[0].Key != "nvidia.com/gpu" {
		t.Fatalf("instance type %+v", it)
	}
	if _, ok := c.instanceType("g5.xlarge"); ok {
		t.Fatal("an unmapped instance type without a \"*\" entry was found")
	}
	if im, ok := c.image("ami-anything"); !ok || im.Image != "registry.example/workstation:1" || im.Client != ClientNoVNC {
		t.Fatalf("the \"*\" image did not match: %+v", im)
	}
}

func TestParseConfigErrors(t *testing.T) {
	for name, tc := range map[string]struct{ yaml, want string }{
		"unknown key":      {"images: []\nbogus: 1\n", `unknown field "bogus"`},
		"no images":        {"instanceTypes: {a: {}}\n", "images: map at least one"},
		"no port":          {"images: [{ec2ImageId: '*', image: x}]\ninstanceTypes: {a: {}}\n", "images[0]: port 0"},
		"no instance type": {"images: [{ec2ImageId: '*', image: x, port: 1}]\n", "instanceTypes: map at least one"},
		"bad namespace":    {"namespace: Studio_A\nimages: [{ec2ImageId: '*', image: x, port: 1}]\ninstanceTypes: {a: {}}\n", `namespace "Studio_A"`},
		"bad quantity":     {"images: [{ec2ImageId: '*', image: x, port: 1}]\ninstanceTypes: {a: {requests: {cpu: lots}}}\n", "quantities must match"},
		"relative home":    {"homePath: home\nimages: [{ec2ImageId: '*', image: x, port: 1}]\ninstanceTypes: {a: {}}\n", `homePath "home"`},
		"bad client":       {"images: [{ec2ImageId: '*', image: x, port: 1, client: rdp}]\ninstanceTypes: {a: {}}\n", `images[0]: client "rdp": want "novnc" or "web"`},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := ParseConfig([]byte(tc.yaml))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestKeys(t *testing.T) {
	seen := map[string]string{}
	for _, id := range []string{"ses-abc", "ses-ABC", "ses-aBc", "stu-1", "bak_1", strings.Repeat("x", 80), "", "-x-"} {
		k := key(id)
		if errs := validation.IsDNS1123Label(k); len(errs) > 0 || len(k) > 40 {
			t.Fatalf("key(%q) = %q: %v", id, k, errs)
		}
		if other, dup := seen[k]; dup {
			t.Fatalf("key(%q) = key(%q) = %q", id, other, k)
		}
		seen[k] = id
	}
	if key("ses-abc") != "ses-abc" {
		t.Fatal("an id that is a DNS label already must stay readable")
	}
	for _, v := range []string{"alice", "arn:aws:iam::123:user/alice", strings.Repeat("y", 100), "-a-"} {
		if errs := validation.IsValidLabelValue(labelValue(v)); len(errs) > 0 {
			t.Fatalf("labelValue(%q) = %q: %v", v, labelValue(v), errs)
		}
	}
}

func TestPodProgress(t *testing.T) {
	unschedulable := func(ago time.Duration) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "p"}, Status: corev1.PodStatus{Phase: corev1.PodPending,
			Conditions: []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: corev1.PodReasonUnschedulable,
				Message: "0/2 nodes are available: 2 Insufficient memory.", LastTransitionTime: metav1.NewTime(time.Now().Add(-ago))}}}}
	}
	d := &Driver{cfg: &Config{UnschedulableTimeout: metav1.Duration{Duration: time.Hour}}}
	if ready, de := d.podProgress(unschedulable(time.Minute)); ready || de != nil {
		t.Fatalf("an unschedulable pod within unschedulableTimeout: %v %v", ready, de)
	}
	d.cfg.UnschedulableTimeout.Duration = 0
	if _, de := d.podProgress(unschedulable(0)); de == nil || de.StatusCode != codeCapacity || !strings.Contains(de.Message, "Insufficient memory") {
		t.Fatalf("an unschedulable pod past unschedulableTimeout: %v", de)
	}
	crash := &corev1.Pod{Status: corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{{Name: "workstation",
		State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff", Message: "back-off 5m0s"}}}}}}
	if _, de := d.podProgress(crash); de == nil || de.StatusCode != codeInternal || !strings.Contains(de.Message, "CrashLoopBackOff") {
		t.Fatalf("a crash-looping workstation: %v", de)
	}
	evicted := &corev1.Pod{Status: corev1.PodStatus{Phase: corev1.PodFailed, Reason: "Evicted", Message: "The node was low on resource: memory."}}
	if de := podFailure(evicted); de == nil || !strings.Contains(de.Message, "Evicted") {
		t.Fatalf("an evicted pod: %v", de)
	}
}

// TestDeployedConfigParses keeps the deployment's example configuration
// (deploy/kubernetes/configmap.yaml) valid for this driver.
func TestDeployedConfigParses(t *testing.T) {
	b, err := os.ReadFile("../../deploy/kubernetes/configmap.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var cm corev1.ConfigMap
	if err := yaml.UnmarshalStrict(b, &cm); err != nil {
		t.Fatal(err)
	}
	c, err := ParseConfig([]byte(cm.Data["kubernetes.yaml"]))
	if err != nil {
		t.Fatalf("deploy/kubernetes/configmap.yaml: %v", err)
	}
	if len(c.Images) == 0 || len(c.InstanceTypes) < 2 {
		t.Fatalf("the deployed configuration maps too little: %+v", c)
	}
}
