package sqlkit

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
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
	for q.Len("k") < 2 { // the first keeps polling while the next joins
		select {
		case <-asked:
		case err := <-nextDone:
			t.Fatalf("the next waiter was answered (%v) while the first was in line", err)
		}
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

// Waiters of one process get a freed lease in the order they came, and
// only the first in line asks the store meanwhile.
func TestWaitersAskInTheOrderTheyCame(t *testing.T) {
	q := NewQueue()
	until := time.Now().Add(time.Hour)
	var mu sync.Mutex
	free := false
	var asked []string
	try := func(name string) func(context.Context) (bool, error) {
		return func(context.Context) (bool, error) {
			mu.Lock()
			defer mu.Unlock()
			asked = append(asked, name)
			return free, nil
		}
	}
	done := make(chan error, 3)
	for i, name := range []string{"a", "b", "c"} {
		go func() { done <- q.Wait(t.Context(), "k", until, try(name)) }()
		// The next comes once this one is in line.
		require.Eventually(t, func() bool { return q.Len("k") >= i+1 }, 30*time.Second, time.Millisecond, "waiter %s in line", name)
	}
	mu.Lock()
	free = true // the holder releases; every waiter's turn then ends at once
	mu.Unlock()
	for range 3 {
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("a waiter never got the lease")
		}
	}
	mu.Lock()
	defer mu.Unlock()
	order := strings.Join(slices.Compact(asked), "")
	if order != "abc" {
		t.Fatalf("the store was asked by %q (in runs): want a while it was held, then b, then c", order)
	}
}
