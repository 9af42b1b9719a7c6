package mongo

import (
	"context"
	"slices"
	"sync"

	"focal/domain"
	"focal/ports"
)

// lease is a held lease.
type lease struct {
	db      *DB
	id      string
	token   ports.LeaseToken
	session *domain.Session
	history []domain.HistoryEntry
	created bool

	mu       sync.Mutex
	released bool
}

// Token implements ports.SessionLease.
func (l *lease) Token() ports.LeaseToken { return l.token }

// Session implements ports.SessionLease.
func (l *lease) Session() *domain.Session { return l.session.Clone() }

// History implements ports.SessionLease.
func (l *lease) History() []domain.HistoryEntry { return slices.Clone(l.history) }

// Created implements ports.SessionLease.
func (l *lease) Created() bool { return l.created }

// Release implements ports.SessionLease. A lease whose turn this process
// committed is spent: releasing it sends nothing. Otherwise one delete
// filtered by the fence, so releasing after a takeover, or twice, removes
// nothing (near its expiry, on servers without atomic updates, the delete
// needs the takeover marker). A release that failed may be retried; the
// lease expires regardless.
func (l *lease) Release(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.released {
		return nil
	}
	if g, ok := l.db.memo.grantOf(l.id, l.token.Fence); ok && g.committed {
		l.db.memo.dropGrant(l.id, l.token.Fence)
		l.released = true
		return nil
	}
	if err := l.db.giveBack(ctx, l.id, l.token.Fence); err != nil {
		return err
	}
	l.released = true
	return nil
}
