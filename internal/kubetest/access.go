package kubetest

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"path/filepath"
)

// Namespace creates a namespace with a fresh name derived from the test's
// and deletes it when the test ends. There is no namespace controller, so
// the deleted namespace stays Terminating with its objects in it; its name
// is never reused.
func Namespace(tb testing.TB, cfg *rest.Config) string {
	tb.Helper()
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		tb.Fatalf("kubetest: %v", err)
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
		GenerateName: namePrefix(tb.Name()),
		Labels:       map[string]string{"kubetest": "true"},
	}}
	ns, err = cs.CoreV1().Namespaces().Create(context.Background(), ns, metav1.CreateOptions{})
	if err != nil {
		tb.Fatalf("kubetest: creating a namespace: %v", err)
	}
	tb.Cleanup(func() {
		_ = cs.CoreV1().Namespaces().Delete(context.Background(), ns.Name, metav1.DeleteOptions{})
	})
	return ns.Name
}

// namePrefix turns a test name into the start of a DNS label: lower case
// letters, digits and dashes, short enough to leave room for the random
// suffix, ending with a dash.
func namePrefix(test string) string {
	var b strings.Builder
	dash := true // no leading dash, no runs of dashes
	for _, r := range strings.ToLower(test) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
			dash = false
		case !dash:
			b.WriteByte('-')
			dash = true
		}
		if b.Len() >= 40 {
			break
		}
	}
	s := strings.TrimSuffix(b.String(), "-")
	if s == "" || s[0] < 'a' {
		s = "t" + s
	}
	return s + "-"
}

// Impersonate returns a copy of cfg that acts as the service account
// namespace/name, with the groups the API server gives service accounts,
// so that what the copy may do is exactly what RBAC grants that account.
// cfg must be allowed to impersonate (Start's admin configuration is).
func Impersonate(cfg *rest.Config, namespace, serviceAccount string) *rest.Config {
	c := rest.CopyConfig(cfg)
	c.Impersonate = rest.ImpersonationConfig{
		UserName: "system:serviceaccount:" + namespace + ":" + serviceAccount,
		Groups:   []string{"system:serviceaccounts", "system:serviceaccounts:" + namespace, "system:authenticated"},
	}
	return c
}

// Kubeconfig writes cfg (its server, credentials and impersonation) as a
// kubeconfig file in a temporary folder of the test and returns its path,
// for programs that take --kubeconfig.
func Kubeconfig(tb testing.TB, cfg *rest.Config) string {
	tb.Helper()
	kc := clientcmdapi.NewConfig()
	kc.Clusters["kubetest"] = &clientcmdapi.Cluster{Server: cfg.Host, CertificateAuthorityData: cfg.CAData}
	kc.AuthInfos["kubetest"] = &clientcmdapi.AuthInfo{ClientCertificateData: cfg.CertData, ClientKeyData: cfg.KeyData, Token: cfg.BearerToken,
		Impersonate: cfg.Impersonate.UserName, ImpersonateGroups: cfg.Impersonate.Groups}
	kc.Contexts["kubetest"] = &clientcmdapi.Context{Cluster: "kubetest", AuthInfo: "kubetest"}
	kc.CurrentContext = "kubetest"
	path := filepath.Join(tb.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*kc, path); err != nil {
		tb.Fatalf("kubetest: %v", err)
	}
	return path
}
