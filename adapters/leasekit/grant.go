// Package leasekit holds what a granted session lease is in every store
// that keeps leases itself (adapters/postgres, adapters/sqlite,
// adapters/mongo): what the grant carries and how the lease hands it out.
// Taking, renewing and releasing a lease stay with each store.
package leasekit

import (
	"slices"

	"focal/domain"
	"focal/ports"
)

// Grant is what a granted lease carries: its token, the session and the
// history read under it, and whether the grant created the session.
// Embedded in a store's lease, it answers the read side of
// ports.SessionLease; callers get copies, so the lease stays as granted.
type Grant struct {
	token   ports.LeaseToken
	session *domain.Session
	history []domain.HistoryEntry
	created bool
}

// NewGrant is the grant of token with the session and history read under
// it; created when the grant created the session.
func NewGrant(token ports.LeaseToken, session *domain.Session, history []domain.HistoryEntry, created bool) Grant {
	return Grant{token: token, session: session, history: history, created: created}
}

// Token implements ports.SessionLease.
func (g *Grant) Token() ports.LeaseToken { return g.token }

// Session implements ports.SessionLease.
func (g *Grant) Session() *domain.Session { return g.session.Clone() }

// History implements ports.SessionLease.
func (g *Grant) History() []domain.HistoryEntry { return slices.Clone(g.history) }

// Created implements ports.SessionLease.
func (g *Grant) Created() bool { return g.created }
