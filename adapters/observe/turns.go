package observe

import (
	"cmp"
	"context"
	"time"

	"focal/domain"
	"focal/ports"
)

// TurnStore wraps next so every call is timed and traced, and every
// committed turn is counted: outcome, latency, engine steps, tokens and
// model calls all come from the turn record, the one place that has them
// whichever way the turn ended.
func (m *Metrics) TurnStore(next ports.TurnStore) ports.TurnStore {
	return &turnStore{next: next, m: m}
}

type turnStore struct {
	next ports.TurnStore
	m    *Metrics
}

var _ ports.TurnStore = (*turnStore)(nil)

func (s *turnStore) CommitTurn(ctx context.Context, lease ports.LeaseToken, turn *domain.Turn) error {
	// The turn's latency ends where the commit's starts: one reading of
	// the clock for both.
	start := time.Now()
	latency := turnLatency(turn, start)
	err := s.m.storeCallFrom(ctx, "turn.commit", watchFrom(start), func(ctx context.Context) error {
		return s.next.CommitTurn(ctx, lease, turn)
	})
	if err == nil {
		s.m.recordTurn(turn, latency)
	}
	return err
}

// turnLatency is the turn's latency in seconds, now that it is now.
// LatencyMS is whole milliseconds, which would put every template-only
// turn at 0; when the record's CreatedAt is on this process's clock (the
// elapsed time agrees with LatencyMS) the finer measurement is used
// instead.
func turnLatency(t *domain.Turn, now time.Time) float64 {
	if t == nil {
		return 0
	}
	coarse := time.Duration(t.LatencyMS) * time.Millisecond
	if !t.CreatedAt.IsZero() {
		if fine := now.Sub(t.CreatedAt); fine >= coarse && fine < coarse+2*time.Millisecond {
			return fine.Seconds()
		}
	}
	return coarse.Seconds()
}

func (s *turnStore) GetTurn(ctx context.Context, tenantID, turnID string) (t *domain.Turn, err error) {
	err = s.m.storeCall(ctx, "turn.get", func(ctx context.Context) (err error) {
		t, err = s.next.GetTurn(ctx, tenantID, turnID)
		return err
	})
	return t, err
}

func (s *turnStore) ListTurns(ctx context.Context, tenantID, sessionID string, q ports.TurnQuery) (out ports.Page[domain.Turn], err error) {
	err = s.m.storeCall(ctx, "turn.list", func(ctx context.Context) (err error) {
		out, err = s.next.ListTurns(ctx, tenantID, sessionID, q)
		return err
	})
	return out, err
}

func (s *turnStore) RecentHistory(ctx context.Context, tenantID, sessionID string, n int) (out []domain.HistoryEntry, err error) {
	err = s.m.storeCall(ctx, "turn.recent", func(ctx context.Context) (err error) {
		out, err = s.next.RecentHistory(ctx, tenantID, sessionID, n)
		return err
	})
	return out, err
}

// Token kinds.
const (
	kindPrompt     = "prompt"
	kindCompletion = "completion"
)

// recordTurn counts one committed turn that took latency seconds.
func (m *Metrics) recordTurn(t *domain.Turn, latency float64) {
	if t == nil {
		return
	}
	outcome := string(t.Status)
	if outcome == "" {
		outcome = "unknown"
	}
	m.turnsOf.get(outcome, "", "").Inc()
	m.turnDurationOf.get(outcome, "", "").Observe(latency)
	for _, st := range t.Timings {
		m.stepDurationOf.get(st.Step, "", "").Observe(seconds(st.DurationMS))
	}
	m.turnModelCalls.Observe(float64(t.Explanation.Generation.ModelCalls))
	model := m.models.admit(cmp.Or(t.Model, "none"))
	if t.Usage.Prompt > 0 {
		m.turnTokensOf.get(model, kindPrompt, "").Add(float64(t.Usage.Prompt))
	}
	if t.Usage.Completion > 0 {
		m.turnTokensOf.get(model, kindCompletion, "").Add(float64(t.Usage.Completion))
	}
}
