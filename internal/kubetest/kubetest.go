// Package kubetest runs a real Kubernetes API server (etcd and
// kube-apiserver, through controller-runtime's envtest) for tests of code
// that talks to Kubernetes. There is no kubelet and no controller manager:
// pods never run and namespaces are never emptied, so tests patch status
// themselves.
//
// One server serves every test of a test binary. It is started by the first
// Start, stopped by Stop (call it from TestMain) and, if the binary exits
// without calling Stop, killed by a watchdog process that notices the exit.
// The API server enforces RBAC, and the VolumeSnapshot CRDs of
// github.com/kubernetes-csi/external-snapshotter/client/v8 are installed.
//
// The binaries come from $KUBEBUILDER_ASSETS, or else from
// scripts/kube-assets, which builds them once into a cache. Tests fail,
// never skip, when they cannot be had.
package kubetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr/funcr"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	crlog "sigs.k8s.io/controller-runtime/pkg/log"
)

// server is the one API server of this test binary.
type server struct {
	env     *envtest.Environment
	cfg     *rest.Config
	dir     string // etcd data and API server certificates; removed by Stop
	log     *tail  // envtest's log and the processes' output, for failures
	watch   *watchdog
	elapsed time.Duration // envtest's start: etcd, API server, CRDs
	warm    time.Duration // then warmUp
}

var (
	mu      sync.Mutex
	current *server
	failed  error // why the first Start failed; later ones fail the same way
)

// Start returns an admin (system:masters) configuration for this test
// binary's API server, starting the server on first use. Every call returns
// a fresh copy the caller may modify. It fails the test when the server
// cannot be started.
func Start(tb testing.TB) *rest.Config {
	tb.Helper()
	mu.Lock()
	defer mu.Unlock()
	if current == nil && failed == nil {
		s, err := start()
		if err != nil {
			failed = err
		} else {
			current = s
			tb.Logf("kubetest: API server %s started in %v, warmed up in %v",
				s.cfg.Host, s.elapsed.Round(time.Millisecond), s.warm.Round(time.Millisecond))
		}
	}
	if failed != nil {
		tb.Fatalf("kubetest: %v", failed)
	}
	return rest.CopyConfig(current.cfg)
}

// Stop stops the API server and etcd and removes their data. It does
// nothing if no server was started, and is safe to call more than once:
//
//	func TestMain(m *testing.M) {
//		code := m.Run()
//		kubetest.Stop()
//		os.Exit(code)
//	}
func Stop() error {
	mu.Lock()
	defer mu.Unlock()
	if current == nil {
		return nil
	}
	s := current
	current = nil
	failed = errors.New("the API server was stopped (Stop) before this Start")
	err := s.env.Stop()
	s.watch.release()
	if rerr := os.RemoveAll(s.dir); err == nil {
		err = rerr
	}
	return err
}

// start starts etcd and the API server and installs the CRDs.
func start() (*server, error) {
	assets, err := assetsDir()
	if err != nil {
		return nil, err
	}
	crds, err := snapshotCRDDir()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "kubetest-")
	if err != nil {
		return nil, err
	}
	for _, sub := range []string{"etcd", "certs"} {
		// 0700, as etcd wants its data folder.
		if err := os.Mkdir(filepath.Join(dir, sub), 0o700); err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
	}
	s := &server{dir: dir, log: newTail(64 << 10)}
	// envtest logs through controller-runtime's global logger, which
	// prints a stack trace to stderr if nobody sets it within 30s; keep
	// its lines for the failure message instead.
	crlog.SetLogger(funcr.New(func(prefix, args string) {
		fmt.Fprintf(s.log, "envtest: %s %s\n", prefix, args)
	}, funcr.Options{}))

	s.env = newEnvironment(assets, crds, dir, s.log)
	begin := time.Now()
	cfg, err := s.env.Start()
	s.elapsed = time.Since(begin)
	if err != nil {
		_ = s.env.Stop()
		os.RemoveAll(dir)
		return nil, fmt.Errorf("starting the API server (assets %s) failed after %v: %v\n--- control plane output (tail) ---\n%s",
			assets, s.elapsed.Round(time.Millisecond), err, s.log.String())
	}
	s.cfg = cfg
	s.watch, err = startWatchdog(dir, s.env.ControlPlane.APIServer.Path, s.env.ControlPlane.Etcd.Path)
	if err != nil {
		_ = s.env.Stop()
		os.RemoveAll(dir)
		return nil, err
	}
	begin = time.Now()
	if err := warmUp(cfg); err != nil {
		_ = s.env.Stop()
		s.watch.release()
		os.RemoveAll(dir)
		return nil, fmt.Errorf("the API server started but does not take VolumeSnapshots: %v\n--- control plane output (tail) ---\n%s", err, s.log.String())
	}
	s.warm = time.Since(begin)
	return s, nil
}

// warmUp creates a VolumeSnapshot (dry run). The API server holds every
// create of a custom resource for 2s while its CRD has been Established for
// less than 2s (customresource_handler.go, a guard for HA servers); taking
// that wait here keeps it out of the tests' own timings.
func warmUp(cfg *rest.Config) error {
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return err
	}
	snap := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "snapshot.storage.k8s.io/v1",
		"kind":       "VolumeSnapshot",
		"metadata":   map[string]any{"name": "kubetest-warm-up", "namespace": "default"},
		"spec":       map[string]any{"source": map[string]any{"persistentVolumeClaimName": "none"}},
	}}
	gvr := schema.GroupVersionResource{Group: "snapshot.storage.k8s.io", Version: "v1", Resource: "volumesnapshots"}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err = dyn.Resource(gvr).Namespace("default").Create(ctx, snap, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
	return err
}

// newEnvironment configures envtest: our binaries and folders, RBAC, and
// the snapshot CRDs.
func newEnvironment(assets, crds, dir string, out *tail) *envtest.Environment {
	useExisting := false
	env := &envtest.Environment{
		BinaryAssetsDirectory: assets,
		CRDDirectoryPaths:     []string{crds},
		ErrorIfCRDPathMissing: true,
		// Never a cluster from the environment (USE_EXISTING_CLUSTER):
		// these tests create and delete namespaces at will.
		UseExistingCluster: &useExisting,
		// A cold API server with a cold page cache needs more than
		// envtest's default 20s on a small machine.
		ControlPlaneStartTimeout: 90 * time.Second,
		ControlPlaneStopTimeout:  30 * time.Second,
	}
	etcd := &envtest.Etcd{DataDir: filepath.Join(dir, "etcd")}
	api := &envtest.APIServer{CertDir: filepath.Join(dir, "certs")}
	if os.Getenv("KUBEBUILDER_ATTACH_CONTROL_PLANE_OUTPUT") != "true" {
		etcd.Out, etcd.Err = out, out
		api.Out, api.Err = out, out
	}
	// envtest's default already, stated here because the tests of
	// Impersonate and of the deploy manifests depend on it.
	api.Configure().Set("authorization-mode", "RBAC")
	env.ControlPlane.Etcd = etcd
	env.ControlPlane.APIServer = api
	return env
}

// tail is an io.Writer that keeps the last max bytes written to it.
type tail struct {
	mu  sync.Mutex
	max int
	buf []byte
}

func newTail(max int) *tail { return &tail{max: max} }

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if over := len(t.buf) - t.max; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
	}
	return len(p), nil
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(bytes.Clone(t.buf))
}

// Main runs the tests of a package that uses Start and stops the API server
// afterwards; call it from TestMain:
//
//	func TestMain(m *testing.M) { kubetest.Main(m) }
func Main(m *testing.M) {
	code := m.Run()
	if err := Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "kubetest: stop:", err)
	}
	os.Exit(code)
}
