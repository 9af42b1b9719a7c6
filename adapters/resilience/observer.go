package resilience

import (
	"time"

	"go.uber.org/zap"
)

// Observer hears what the Guard does, so metrics and logs can plug in
// without this package knowing them. Methods must be fast and must not
// call back into the Guard: StateChange runs under the breaker's lock.
type Observer interface {
	// StateChange reports breaker name moving between "closed", "open"
	// and "half-open".
	StateChange(name, from, to string)
	// Retry reports that attempt number attempt (1 = the first retry) of
	// name starts after wait because of err.
	Retry(name string, attempt int, wait time.Duration, err error)
}

// NopObserver ignores everything.
type NopObserver struct{}

// StateChange implements Observer.
func (NopObserver) StateChange(string, string, string) {}

// Retry implements Observer.
func (NopObserver) Retry(string, int, time.Duration, error) {}

// LogObserver logs breaker changes at warn (info when closing) and retries
// at info.
type LogObserver struct{ Log *zap.Logger }

// StateChange implements Observer.
func (o LogObserver) StateChange(name, from, to string) {
	log := o.Log.Warn
	if to == "closed" {
		log = o.Log.Info
	}
	log("circuit breaker changed state", zap.String("breaker", name), zap.String("from", from), zap.String("to", to))
}

// Retry implements Observer.
func (o LogObserver) Retry(name string, attempt int, wait time.Duration, err error) {
	o.Log.Info("retrying call", zap.String("breaker", name), zap.Int("attempt", attempt),
		zap.Duration("wait", wait), zap.Error(err))
}

// Observers fans events out to several observers.
type Observers []Observer

// StateChange implements Observer.
func (os Observers) StateChange(name, from, to string) {
	for _, o := range os {
		o.StateChange(name, from, to)
	}
}

// Retry implements Observer.
func (os Observers) Retry(name string, attempt int, wait time.Duration, err error) {
	for _, o := range os {
		o.Retry(name, attempt, wait, err)
	}
}
