package sqlite_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/opennimble/opennimble/sqlite"
	"github.com/opennimble/opennimble/storetest"
)

func TestResetKeepsCredentialsAndMeta(t *testing.T) {
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "db"), sqlite.Options{Sync: "normal"})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	storetest.RunReset(t, st)
}
