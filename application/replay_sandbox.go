package application

import (
	"context"
	"maps"
	"sync"

	"focal/domain"
	"focal/ports"
)

// replaySandbox is what a replayed turn sees of the world instead of the
// live stores and tools: the history the replay has produced so far, and
// the tool outputs the recorded turn got. It is a ports.TurnStore that only
// reads history (the engine reads nothing else) and a ports.ToolInvoker
// that never calls a tool, so a replay cannot write anything or set off a
// tool's side effects.
type replaySandbox struct {
	mu       sync.Mutex
	sessions map[string]*sandboxSession
}

// sandboxSession is one replayed session's state in the sandbox.
type sandboxSession struct {
	history []domain.HistoryEntry
	// tools are the recorded tool calls of the turn being replayed.
	tools []domain.ToolCall
}

var (
	_ ports.TurnStore   = (*replaySandbox)(nil)
	_ ports.ToolInvoker = (*replaySandbox)(nil)
)

func newReplaySandbox() *replaySandbox {
	return &replaySandbox{sessions: map[string]*sandboxSession{}}
}

func (s *replaySandbox) session(id string) *sandboxSession {
	ss, ok := s.sessions[id]
	if !ok {
		ss = &sandboxSession{}
		s.sessions[id] = ss
	}
	return ss
}

// begin makes rec's tool calls the ones the next replayed turn of the
// sandbox session gets.
func (s *replaySandbox) begin(sessionID string, rec *domain.Turn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.session(sessionID).tools = rec.Explanation.ToolCalls
}

// remember appends a turn's exchange to the sandbox session's history.
func (s *replaySandbox) remember(sessionID string, h domain.HistoryEntry) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ss := s.session(sessionID)
	ss.history = append(ss.history, h)
}

// RecentHistory implements ports.TurnStore from the replay's own history.
func (s *replaySandbox) RecentHistory(_ context.Context, _, sessionID string, n int) ([]domain.HistoryEntry, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	h := s.session(sessionID).history
	if n <= 0 {
		return []domain.HistoryEntry{}, nil
	}
	return append([]domain.HistoryEntry{}, h[max(0, len(h)-n):]...), nil
}

// InvokeTool implements ports.ToolInvoker with the recorded turn's output
// of the same tool; a tool the recorded turn did not call successfully
// fails, as an unreachable tool would.
func (s *replaySandbox) InvokeTool(_ context.Context, tool domain.Tool, in ports.ToolInput) (map[string]any, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.session(in.SessionID).tools {
		if c.ToolID == tool.ID && c.Error == "" {
			return maps.Clone(c.Output), nil
		}
	}
	return nil, domain.Errorf(domain.CodeInternal, "tool %s has no recorded output for this turn; a replay never calls tools", tool.ID)
}

// errSandbox answers the writes and audit reads no replayed turn makes.
var errSandbox = domain.Errorf(domain.CodeInternal, "a replay reads only its own history")

// CommitTurn implements ports.TurnStore; a replay never commits.
func (s *replaySandbox) CommitTurn(context.Context, ports.LeaseToken, *domain.Turn) error {
	return errSandbox
}

// GetTurn implements ports.TurnStore; a replay reads no turn records.
func (s *replaySandbox) GetTurn(context.Context, string, string) (*domain.Turn, error) {
	return nil, errSandbox
}

// ListTurns implements ports.TurnStore; a replay reads no turn records.
func (s *replaySandbox) ListTurns(context.Context, string, string, ports.TurnQuery) (ports.Page[domain.Turn], error) {
	return ports.Page[domain.Turn]{}, errSandbox
}
