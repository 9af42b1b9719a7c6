package application

import (
	"context"
	"errors"

	"focal/domain"
	"focal/ports"
)

// Conversations answers questions about sessions and turns: the audit view
// of what happened and why.
type Conversations struct {
	sessions  ports.SessionStore
	turns     ports.TurnStore
	clock     ports.Clock
	explainer TurnExplainer
}

// TurnExplainer completes a turn record whose explanation was left to its
// reader (domain.Retrieval.Deferred), and leaves any other as it is.
type TurnExplainer interface {
	CompleteTurn(ctx context.Context, t *domain.Turn) error
}

// NewConversations returns the session and turn queries. Every turn they
// return goes through explainer: the engine that deferred a record's
// explanation is what completes it.
func NewConversations(sessions ports.SessionStore, turns ports.TurnStore, clock ports.Clock, explainer TurnExplainer) (*Conversations, error) {
	if sessions == nil || turns == nil || clock == nil || explainer == nil {
		return nil, errors.New("conversations: stores, clock and turn explainer are required")
	}
	return &Conversations{sessions: sessions, turns: turns, clock: clock, explainer: explainer}, nil
}

// CloseSession closes a session; its history stays readable and the next
// message from its channel identity opens a new session. SESSION_NOT_FOUND.
func (q *Conversations) CloseSession(ctx context.Context, tenantID, sessionID string) (*domain.Session, error) {
	if !IsUUID(sessionID) {
		return nil, domain.Errorf(domain.CodeSessionNotFound, "session %s not found", sessionID)
	}
	return q.sessions.CloseSession(ctx, tenantID, sessionID, q.clock.Now())
}

// DeleteSession removes a session and all its turns for good.
// SESSION_NOT_FOUND.
func (q *Conversations) DeleteSession(ctx context.Context, tenantID, sessionID string) error {
	if !IsUUID(sessionID) {
		return domain.Errorf(domain.CodeSessionNotFound, "session %s not found", sessionID)
	}
	return q.sessions.DeleteSession(ctx, tenantID, sessionID)
}

// Sessions lists the tenant's sessions, newest first. INVALID_REQUEST for
// a bad filter or cursor.
func (q *Conversations) Sessions(ctx context.Context, tenantID string, query ports.SessionQuery) (ports.Page[domain.Session], error) {
	var bad []domain.FieldError
	if query.AgentID != "" && !IsUUID(query.AgentID) {
		bad = append(bad, domain.FieldError{Field: "agent_id", Message: "must be a UUID"})
	}
	switch query.Status {
	case "", domain.SessionActive, domain.SessionClosed:
	default:
		bad = append(bad, domain.FieldError{Field: "status", Message: "must be active or closed"})
	}
	if len(bad) > 0 {
		return ports.Page[domain.Session]{}, domain.InvalidFields(bad...)
	}
	return q.sessions.ListSessions(ctx, tenantID, query)
}

// Session returns one session of the tenant. SESSION_NOT_FOUND.
func (q *Conversations) Session(ctx context.Context, tenantID, sessionID string) (*domain.Session, error) {
	if !IsUUID(sessionID) {
		return nil, domain.Errorf(domain.CodeSessionNotFound, "session %s not found", sessionID)
	}
	return q.sessions.GetSession(ctx, tenantID, sessionID)
}

// Turns pages through a session's turns. SESSION_NOT_FOUND,
// INVALID_REQUEST for a bad order or cursor.
func (q *Conversations) Turns(ctx context.Context, tenantID, sessionID string, query ports.TurnQuery) (ports.Page[domain.Turn], error) {
	switch query.Order {
	case "":
		query.Order = ports.OrderAsc
	case ports.OrderAsc, ports.OrderDesc:
	default:
		return ports.Page[domain.Turn]{}, domain.InvalidFields(domain.FieldError{Field: "order", Message: "must be asc or desc"})
	}
	if !IsUUID(sessionID) {
		return ports.Page[domain.Turn]{}, domain.Errorf(domain.CodeSessionNotFound, "session %s not found", sessionID)
	}
	page, err := q.turns.ListTurns(ctx, tenantID, sessionID, query)
	if err != nil {
		return page, err
	}
	for i := range page.Items {
		if err := q.explainer.CompleteTurn(ctx, &page.Items[i]); err != nil {
			return ports.Page[domain.Turn]{}, err
		}
	}
	return page, nil
}

// IsTheMessagesTurn checks that a turn a stream's reconnect names (read
// with Turn) is the reconnecting message's: the command is validated as a
// message is, and the turn must be of its agent, in a session of its
// channel identity (and the session it names, if it names one). Another
// conversation's turn is TURN_NOT_FOUND, as another identity's session is
// SESSION_NOT_FOUND to a message: replayed, it would answer one customer
// with another's reply.
func (q *Conversations) IsTheMessagesTurn(ctx context.Context, cmd ChatCommand, t *domain.Turn) error {
	if err := cmd.Validate(); err != nil {
		return err
	}
	notOurs := domain.Errorf(domain.CodeTurnNotFound, "turn %s not found for this agent, channel and user_channel_id", t.ID)
	if t.AgentID != cmd.AgentID || cmd.SessionID != "" && t.SessionID != cmd.SessionID {
		return notOurs
	}
	s, err := q.sessions.GetSession(ctx, cmd.TenantID, t.SessionID)
	if domain.IsCode(err, domain.CodeSessionNotFound) {
		return notOurs
	}
	if err != nil {
		return err
	}
	if s.Channel != cmd.Channel || s.UserChannelID != cmd.UserChannelID {
		return notOurs
	}
	return nil
}

// Turn returns one turn's full record. TURN_NOT_FOUND.
func (q *Conversations) Turn(ctx context.Context, tenantID, turnID string) (*domain.Turn, error) {
	if !IsUUID(turnID) {
		return nil, domain.Errorf(domain.CodeTurnNotFound, "turn %s not found", turnID)
	}
	t, err := q.turns.GetTurn(ctx, tenantID, turnID)
	if err != nil {
		return nil, err
	}
	if err := q.explainer.CompleteTurn(ctx, t); err != nil {
		return nil, err
	}
	return t, nil
}
