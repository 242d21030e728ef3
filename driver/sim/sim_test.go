package sim_test

import (
	"testing"
	"time"

	opennimble "github.com/opennimble/opennimble"
	"github.com/opennimble/opennimble/driver/sim"
	"github.com/opennimble/opennimble/drivertest"
)

func harness(d *sim.Driver, clock *opennimble.FakeClock) *drivertest.Harness {
	return &drivertest.Harness{
		Driver:  d,
		Advance: clock.Advance,
		Read: func(id string) (string, bool) {
			v, ok := d.Volume(id)
			return v.Data, ok
		},
		Write: func(id, data string) { d.Write(id, data) },
	}
}

func TestConformance(t *testing.T) {
	drivertest.Run(t, func(t *testing.T) *drivertest.Harness {
		clock := opennimble.NewFakeClock(time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC))
		return harness(sim.MustNew(sim.Options{Clock: clock}), clock)
	})
}

// The suite also holds when every step takes time.
func TestConformanceWithDurations(t *testing.T) {
	drivertest.Run(t, func(t *testing.T) *drivertest.Harness {
		clock := opennimble.NewFakeClock(time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC))
		durations := map[opennimble.Step]time.Duration{}
		for i, s := range opennimble.Steps {
			durations[s] = time.Duration(i+1) * time.Second
		}
		return harness(sim.MustNew(sim.Options{Clock: clock, Durations: durations}), clock)
	})
}
