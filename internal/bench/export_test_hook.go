package bench

import (
	"context"
	"time"

	"github.com/aws/aws-sdk-go/service/nimblestudio"
)

// CycleForTest runs the cycle loop of the benchmark against a client, for
// profiling in-process.
func CycleForTest(ctx context.Context, c *nimblestudio.NimbleStudio, studio string, ids []*string, d time.Duration) float64 {
	n, _ := runCycles(ctx, []*nimblestudio.NimbleStudio{c}, studio, ids, d)
	return n
}
