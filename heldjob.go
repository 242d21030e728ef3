package opennimble

import "context"

// A HeldJob is the lifecycle job under which a reconcile runs. The
// reconcile may complete it inside its last transaction (Tx.CompleteJob),
// so that recording the last step and ending the job are one write; the
// worker then does not complete it again.
type HeldJob struct {
	Job       Job
	completed bool
}

type heldJobKey struct{}

// WithHeldJob returns ctx carrying h, for the reconcile of h.Job.
func WithHeldJob(ctx context.Context, h *HeldJob) context.Context {
	return context.WithValue(ctx, heldJobKey{}, h)
}

// HeldJobFor returns the job ctx carries if it is the one of kind/id, or nil.
func HeldJobFor(ctx context.Context, kind Kind, id string) *HeldJob {
	h, _ := ctx.Value(heldJobKey{}).(*HeldJob)
	if h == nil || h.Job.Kind != kind || h.Job.ResourceID != id {
		return nil
	}
	return h
}

// Completed reports whether a transaction that committed completed the job.
func (h *HeldJob) Completed() bool { return h.completed }

// MarkCompleted records that a committed transaction completed the job. Call
// it only after the commit: a transaction that is retried or rolled back
// completes nothing.
func (h *HeldJob) MarkCompleted() { h.completed = true }
