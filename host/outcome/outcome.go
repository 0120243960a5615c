package outcome

import "fmt"

// Status is the outcome of one handler run.
type Status int

// Statuses, with the numbers of the plugin ABI (a guest's handle returns
// them).
const (
	// Done: the event is handled; its emits are published, then it is
	// acknowledged.
	Done Status = 0
	// Retry: the attempt failed; redeliver it later with backoff, up to
	// the subscription's max attempts, then dead-letter it.
	Retry Status = 1
	// Reject: the event can never be handled; dead-letter it now.
	Reject Status = 2
)

// String returns "done", "retry" or "reject" (the words of run records and
// metrics), or "status(N)" for a number outside the ABI.
func (s Status) String() string {
	switch s {
	case Done:
		return "done"
	case Retry:
		return "retry"
	case Reject:
		return "reject"
	}
	return fmt.Sprintf("status(%d)", int(s))
}
