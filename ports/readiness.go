package ports

import "context"

// ReadinessChecker is an adapter that can tell whether calls to it may
// succeed now: the readiness probe asks the stores and the chat model.
//
// Ready returns nil when calls may succeed, else an error saying why; a
// *domain.Error's message is what the probe shows. It must return once ctx
// ends, be cheap enough to call every few seconds, and be safe for
// concurrent use.
type ReadinessChecker interface {
	Ready(ctx context.Context) error
}

// ReadyFunc is a function serving as a ReadinessChecker, such as a
// database client's ping.
type ReadyFunc func(ctx context.Context) error

// Ready implements ReadinessChecker.
func (f ReadyFunc) Ready(ctx context.Context) error { return f(ctx) }
