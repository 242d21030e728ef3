package deploy

import (
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"testing"
)

// TestGrafanaDashboardUsesServedMetrics: the dashboard is valid JSON and
// every opennimble_ metric its queries name is one the server defines.
func TestGrafanaDashboardUsesServedMetrics(t *testing.T) {
	b, err := os.ReadFile("grafana/opennimble.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Title   string
			Targets []struct{ Expr string }
		}
	}
	if err := json.Unmarshal(b, &dash); err != nil {
		t.Fatal(err)
	}
	var defined strings.Builder
	for _, f := range []string{"../metrics/metrics.go", "../app/observability.go"} {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		defined.Write(src)
	}
	name := regexp.MustCompile(`opennimble_([a-z_]+?)(_bucket|_count|_sum)?\b`)
	used := 0
	for _, p := range dash.Panels {
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			for _, m := range name.FindAllStringSubmatch(tg.Expr, -1) {
				used++
				if !strings.Contains(defined.String(), `"`+m[1]+`"`) {
					t.Errorf("panel %q uses opennimble_%s, which the server does not define", p.Title, m[1])
				}
			}
		}
	}
	if used < 10 {
		t.Errorf("the dashboard names only %d metrics", used)
	}
}
