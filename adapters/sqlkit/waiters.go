package sqlkit

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"time"
)

// Lease waiters of one process queue per session: only the first in line
// asks the database, and a lease this process frees (a release, a commit)
// wakes that first waiter at once, so within one process the lease goes
// to waiters in the order they came. Waiters in other processes are not
// in this queue: the first in each line polls the database with a
// jittered backoff, and whoever asks first after a lease is freed gets it.
type Queue struct {
	mu    sync.Mutex
	lines map[string][]*waiter
}

type waiter struct {
	key  string
	wake chan struct{} // one pending signal at most
}

// Polling bounds of the first waiter in line.
const (
	MinPoll = 5 * time.Millisecond
	MaxPoll = 100 * time.Millisecond
)

// ErrWaitOver reports that Wait's deadline passed before try succeeded.
var ErrWaitOver = errors.New("the wait for the lease ran out")

// NewQueue returns an empty queue.
func NewQueue() *Queue { return &Queue{lines: map[string][]*waiter{}} }

func (w *waiter) signal() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

func (q *Queue) join(key string) *waiter {
	q.mu.Lock()
	defer q.mu.Unlock()
	w := &waiter{key: key, wake: make(chan struct{}, 1)}
	q.lines[key] = append(q.lines[key], w)
	return w
}

func (q *Queue) leave(w *waiter) {
	q.mu.Lock()
	defer q.mu.Unlock()
	line := q.lines[w.key]
	for i, x := range line {
		if x != w {
			continue
		}
		line = append(line[:i], line[i+1:]...)
		if len(line) == 0 {
			delete(q.lines, w.key)
			return
		}
		q.lines[w.key] = line
		if i == 0 {
			line[0].signal()
		}
		return
	}
}

func (q *Queue) first(w *waiter) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	line := q.lines[w.key]
	return len(line) > 0 && line[0] == w
}

// Wake tells the first waiter for key that this process freed its lease.
func (q *Queue) Wake(key string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if line := q.lines[key]; len(line) > 0 {
		line[0].signal()
	}
}

// Len is how many callers of this process are in line for key now.
func (q *Queue) Len(key string) int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.lines[key])
}

// Wait queues for key and calls try whenever this caller is first in line
// and may find the lease free: at once when it is first on arrival, on
// every wake-up, and on a backoff from MinPoll to MaxPoll. It returns when
// try reports done or fails, ErrWaitOver once until has passed, or the
// context's error.
func (q *Queue) Wait(ctx context.Context, key string, until time.Time, try func(context.Context) (bool, error)) error {
	w := q.join(key)
	defer q.leave(w)
	poll := MinPoll
	for {
		first := q.first(w)
		if first {
			done, err := try(ctx)
			if err != nil || done {
				return err
			}
		}
		left := time.Until(until)
		if left <= 0 {
			return ErrWaitOver
		}
		pause := left
		if first {
			pause = min(jitter(poll), left)
			poll = min(2*poll, MaxPoll)
		}
		t := time.NewTimer(pause)
		select {
		case <-w.wake:
			poll = MinPoll
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return context.Cause(ctx)
		}
		t.Stop()
	}
}

// jitter spreads pollers over ±25% of d so they do not move in lockstep.
func jitter(d time.Duration) time.Duration {
	return d*3/4 + rand.N(d/2+1)
}
