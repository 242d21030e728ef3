package service

import (
	"testing"

	opennimble "github.com/opennimble/opennimble"
	"github.com/opennimble/opennimble/storetest"
)

// The in-memory store of the session tests keeps the contract the SQLite and
// PostgreSQL stores keep, so what the tests show of the service holds on
// them.
func TestMemStoreConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) opennimble.Store { return newMemStore() })
}
