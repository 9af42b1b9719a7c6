package application

import (
	"context"
	"time"
)

// detachedContext is context.WithoutCancel(parent) held in a struct of
// the caller's (a prepared turn's, for what outlives its request: the
// renewals, the commit, the release): the context package's own boxes its
// parent in an allocation of its own. It answers as that one does: no
// deadline, never done, its parent's values, and no cause.
type detachedContext struct{ parent context.Context }

// Deadline implements context.Context.
func (c *detachedContext) Deadline() (time.Time, bool) { return time.Time{}, false }

// Done implements context.Context: nothing cancels c.
func (c *detachedContext) Done() <-chan struct{} { return nil }

// Err implements context.Context.
func (c *detachedContext) Err() error { return nil }

// Value implements context.Context: the parent's values. (context.Cause
// asks Err first, so it finds no cause of the parent's above c.)
func (c *detachedContext) Value(key any) any { return c.parent.Value(key) }
