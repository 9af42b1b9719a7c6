package sqlkit

import (
	"context"
	"errors"
	"sync"
	"time"

	"focal/adapters/leasekit"
	"focal/domain"
)

// LeaseKey names a session in the waiter queue.
func LeaseKey(tenantID, sessionID string) string { return tenantID + "/" + sessionID }

// WaitLease waits in q for the lease of a session until until, calling try
// as Wait does, and says how a wait that failed ended: SESSION_BUSY when
// it ran out, STORE_UNAVAILABLE when the context ended first.
func (q *Queue) WaitLease(ctx context.Context, tenantID, sessionID string, until time.Time, try func(context.Context) (bool, error)) error {
	err := q.Wait(ctx, LeaseKey(tenantID, sessionID), until, try)
	switch {
	case errors.Is(err, ErrWaitOver):
		return Busy("session %s is busy with another turn", sessionID)
	case err != nil && ctx.Err() != nil:
		return domain.WrapError(domain.CodeStoreUnavailable, err, "the store did not answer in time")
	}
	return err
}

// Held is a session lease this process holds in a SQL store: its grant,
// and whether it was released. The store's lease embeds it and sends the
// statements.
type Held struct {
	leasekit.Grant
	TenantID string
	TTL      time.Duration

	mu       sync.Mutex
	released bool
}

// ReleaseWith releases the lease once: nothing to send when this process
// committed the lease's turn (spent: the commit freed it); otherwise send
// clears it in the store, and the session's first waiter here is woken.
func (h *Held) ReleaseWith(spent *Spent, waiters *Queue, send func() error) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.released {
		return nil
	}
	token := h.Token()
	if spent.Take(token.Fence) {
		h.released = true
		return nil
	}
	if err := send(); err != nil {
		return err
	}
	h.released = true
	waiters.Wake(LeaseKey(h.TenantID, token.SessionID))
	return nil
}

// RenewWith moves the lease's expiry with send, which reports whether the
// store still held this lease: SESSION_BUSY when it was released, taken
// over or used.
func (h *Held) RenewWith(send func() (bool, error)) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.released {
		return Busy("the lease of session %s was released", h.Token().SessionID)
	}
	held, err := send()
	if err != nil {
		return err
	}
	if !held {
		return Busy("the lease of session %s was taken over or used", h.Token().SessionID)
	}
	return nil
}
