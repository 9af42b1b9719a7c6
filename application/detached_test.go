package application

import (
	"context"
	"errors"
	"testing"
	"time"
)

type detachedKey struct{}

// TestDetachedContextAnswersAsWithoutCancel compares a detachedContext
// with context.WithoutCancel's over the same parent, before and after the
// parent ends with a cause, and a context derived from each.
func TestDetachedContextAnswersAsWithoutCancel(t *testing.T) {
	base := context.WithValue(context.Background(), detachedKey{}, "v")
	parent, cancel := context.WithCancelCause(base)
	defer cancel(nil)
	parent, stop := context.WithTimeout(parent, time.Hour)
	defer stop()
	own := &detachedContext{parent: parent}
	ref := context.WithoutCancel(parent)
	for round := range 2 {
		if round == 1 {
			cancel(errors.New("the client left"))
		}
		ownDeadline, ownOK := own.Deadline()
		refDeadline, refOK := ref.Deadline()
		if ownDeadline != refDeadline || ownOK != refOK {
			t.Errorf("round %d: deadline %v %v, WithoutCancel's %v %v", round, ownDeadline, ownOK, refDeadline, refOK)
		}
		if own.Done() != nil || ref.Done() != nil || own.Err() != ref.Err() {
			t.Errorf("round %d: done %v err %v, WithoutCancel's done %v err %v", round, own.Done(), own.Err(), ref.Done(), ref.Err())
		}
		if got, want := own.Value(detachedKey{}), ref.Value(detachedKey{}); got != want {
			t.Errorf("round %d: value %v, WithoutCancel's %v", round, got, want)
		}
		if got, want := context.Cause(own), context.Cause(ref); got != want {
			t.Errorf("round %d: cause %v, WithoutCancel's %v", round, got, want)
		}
		ownChild, ownCancel := context.WithCancel(own)
		refChild, refCancel := context.WithCancel(ref)
		if ownChild.Err() != refChild.Err() || context.Cause(ownChild) != context.Cause(refChild) {
			t.Errorf("round %d: child err %v cause %v, WithoutCancel's %v %v", round, ownChild.Err(), context.Cause(ownChild), refChild.Err(), context.Cause(refChild))
		}
		ownCancel()
		refCancel()
		if !errors.Is(context.Cause(ownChild), context.Canceled) || context.Cause(ownChild) != context.Cause(refChild) {
			t.Errorf("round %d: cancelled child's cause %v, WithoutCancel's %v", round, context.Cause(ownChild), context.Cause(refChild))
		}
	}
}
