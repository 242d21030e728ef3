// Package migrate is what the SQLite and PostgreSQL stores share of their
// schema migrations: numbered SQL files embedded in the binary, and which
// of them a database still needs. Each store applies them in its own
// transaction, with its own dialect.
package migrate

import (
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"
)

// Migration is one numbered schema change.
type Migration struct {
	Version int
	Name    string // the file name, e.g. 0001_init.sql
	SQL     string
}

// Load returns the migrations matching pattern in fsys (for example
// "migrations/*.sql") in version order. File names start with their
// version number and '_': 0001_init.sql.
func Load(fsys fs.FS, pattern string) ([]Migration, error) {
	names, err := fs.Glob(fsys, pattern)
	if err != nil {
		return nil, err
	}
	var ms []Migration
	seen := map[int]string{}
	for _, name := range names {
		base := path.Base(name)
		num, _, ok := strings.Cut(base, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("migration %s: name must start with a positive number and '_'", base)
		}
		if other, dup := seen[v]; dup {
			return nil, fmt.Errorf("migrations %s and %s share version %d", other, base, v)
		}
		seen[v] = base
		b, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, err
		}
		ms = append(ms, Migration{Version: v, Name: base, SQL: string(b)})
	}
	slices.SortFunc(ms, func(a, b Migration) int { return a.Version - b.Version })
	return ms, nil
}

// Pending returns the migrations of all (in version order) that are not
// among the applied versions, and fails when the database has a version
// newer than any this program knows: it was migrated by a newer release.
func Pending(all []Migration, applied []int) ([]Migration, error) {
	done := map[int]bool{}
	latest := 0
	for _, v := range applied {
		done[v] = true
		latest = max(latest, v)
	}
	if n := len(all); n > 0 && latest > all[n-1].Version {
		return nil, fmt.Errorf("database schema version %d is newer than this program knows (%d)", latest, all[n-1].Version)
	}
	var out []Migration
	for _, m := range all {
		if !done[m.Version] {
			out = append(out, m)
		}
	}
	return out, nil
}
