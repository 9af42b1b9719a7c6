package sqlkit

import (
	"context"
	"testing"
	"time"
)

// A first waiter that gives up hands its place to the next at once: the
// next asks for the lease then, not when its own wait would end.
func TestAWaiterThatGivesUpWakesTheNext(t *testing.T) {
	q := NewQueue()
	until := time.Now().Add(time.Hour)
	firstCtx, giveUp := context.WithCancel(t.Context())
	asked := make(chan struct{})
	firstDone := make(chan error, 1)
	go func() {
		firstDone <- q.Wait(firstCtx, "k", until, func(context.Context) (bool, error) {
			select {
			case asked <- struct{}{}:
			default:
			}
			return false, nil // the lease stays held
		})
	}()
	<-asked // the first is in line and has asked
	nextDone := make(chan error, 1)
	go func() {
		nextDone <- q.Wait(t.Context(), "k", until, func(context.Context) (bool, error) { return true, nil })
	}()
	for q.Len("k") < 2 {
		<-asked // the first keeps polling while the next joins
	}
	giveUp()
	if err := <-firstDone; err == nil {
		t.Fatal("a waiter whose context ended got the lease")
	}
	select {
	case err := <-nextDone:
		if err != nil {
			t.Fatalf("the next waiter: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the next waiter was not woken when the first gave up")
	}
	if n := q.Len("k"); n != 0 {
		t.Fatalf("%d waiters left in line", n)
	}
}
