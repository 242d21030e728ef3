package migrate

import (
	"strings"
	"testing"
	"testing/fstest"
)

func TestLoadOrdersAndChecksNames(t *testing.T) {
	ms, err := Load(fstest.MapFS{
		"m/0010_later.sql": {Data: []byte("B")},
		"m/0002_first.sql": {Data: []byte("A")},
		"m/README":         {Data: []byte("not a migration")},
	}, "m/*.sql")
	if err != nil || len(ms) != 2 || ms[0].Version != 2 || ms[1].Name != "0010_later.sql" || ms[1].SQL != "B" {
		t.Fatalf("Load = %+v, %v", ms, err)
	}
	for name, fsys := range map[string]fstest.MapFS{
		"no number":      {"m/init.sql": {}},
		"zero":           {"m/0000_x.sql": {}},
		"shared version": {"m/01_a.sql": {}, "m/1_b.sql": {}},
	} {
		if _, err := Load(fsys, "m/*.sql"); err == nil {
			t.Errorf("%s: Load accepted %v", name, fsys)
		}
	}
}

func TestPending(t *testing.T) {
	all := []Migration{{Version: 1}, {Version: 2}, {Version: 3}}
	got, err := Pending(all, []int{1, 3})
	if err != nil || len(got) != 1 || got[0].Version != 2 {
		t.Fatalf("Pending = %+v, %v", got, err)
	}
	if got, err := Pending(all, nil); err != nil || len(got) != 3 {
		t.Fatalf("Pending on a new database = %+v, %v", got, err)
	}
	if _, err := Pending(all, []int{1, 2, 3, 4}); err == nil || !strings.Contains(err.Error(), "newer than this program knows") {
		t.Fatalf("a newer database: %v", err)
	}
}
