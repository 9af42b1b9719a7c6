package memory

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"focal/adapters/clock"
	"focal/domain"
	"focal/ports"
)

// richTurn is a recorded bench turn with every part a turn record can
// have filled in: metadata, deltas, tool calls, extracted variables, the
// rule judge, filtered rules, violations.
func richTurn(t *testing.T, n int) *domain.Turn {
	turn := recordedTurn(t, n+2)
	x := &turn.Explanation
	x.Retrieval.Judge = &domain.JudgeDecision{Asked: []string{"r1", "r2"}, Applicable: []string{"r2"}, Used: true, Reason: "r2 fits <best> & \"only\""}
	x.Filtered = []domain.FilteredRule{{RuleID: "r9", Reason: "cooldown"}}
	x.Matched = []domain.RuleMatch{{RuleID: x.Candidates[0].RuleID, Score: 0.1 / 3, Reason: "lexical match"}}
	x.ToolCalls = []domain.ToolCall{{ToolID: "lookup", RuleID: "r2", Step: "card_delivery/track", On: "entry",
		Input: map[string]any{"card": "1234", "n": 2.5}, Output: map[string]any{"eta": "2 days", "ok": true, "list": []any{1.0, "x", nil}}, LatencyMS: 12.25}}
	x.Variables = []domain.Extraction{{Variable: "order", Source: domain.SetByExtractor, Value: "AC-123456", Text: "my order is AC-123456"}}
	x.Enforcement.Violations = []domain.Violation{{RuleID: "no_promises", Kind: "forbid_phrase", Value: "guaranteed refund", Stage: domain.StageReply, Detail: "said it"}}
	turn.Metadata = map[string]any{"order": "A-17", "n": 1e21, "nested": map[string]any{"é": []any{"ü", 0.000001}}, "empty": map[string]any{}}
	turn.Deltas = []string{"Let me ", "find <someone>", " who can help \u2028."}
	turn.Model, turn.Usage, turn.LatencyMS = "fake-model", domain.TokenUsage{Prompt: 120, Completion: 31}, 42
	turn.ErrorCode = domain.CodeLLMUnavailable
	turn.KeyedRequest = fmt.Sprint("req-key-", n)
	return turn
}

// oldDecode is what GetTurn returned before turns were kept encoded: the
// record copied through its JSON form, and a clone of the session after it.
func oldDecode(t *testing.T, turn *domain.Turn) domain.Turn {
	rec := *turn
	rec.SessionAfter = nil
	out, err := cloneJSON(rec)
	require.NoError(t, err)
	out.SessionAfter = turn.SessionAfter.Clone()
	return out
}

// commitRich commits the next rich turn of the session sess names, whose
// session after it changes every part of the state.
func commitRich(t *testing.T, s *Store, sess *domain.Session) *domain.Turn {
	ctx := context.Background()
	l, err := s.LockSession(ctx, ports.LockRequest{TenantID: sess.TenantID, SessionID: sess.ID, Wait: time.Second, TTL: time.Minute})
	require.NoError(t, err)
	tok := l.Token()
	turn := richTurn(t, tok.TurnNumber)
	after := l.Session()
	after.RecordFire(turn.Explanation.Matched[0].RuleID, tok.TurnNumber)
	after.EnterStep("outer", "wait", tok.TurnNumber)
	after.SuspendScenario() // a flow waiting under the active one
	after.EnterStep("card_delivery", "track", tok.TurnNumber)
	after.SetVariable("order", "AC-123456")
	after.SetVariable("budget", map[string]any{"value": 50.0, "currency": "EUR"})
	after.SetVariable("count", float64(tok.TurnNumber))
	after.AdvanceTurn(tok.TurnNumber, time.Now())
	turn.ID, turn.TenantID, turn.SessionID, turn.TurnNumber, turn.SessionAfter = footprintID(), sess.TenantID, sess.ID, tok.TurnNumber, after
	require.NoError(t, s.CommitTurn(ctx, tok, turn))
	require.NoError(t, l.Release(ctx))
	return turn
}

// requireTurnsReadAsBefore checks that turns, the last committed to sess
// after its first, read back by GetTurn and ListTurns as oldDecode reads
// them (equal values, byte-identical JSON), and that RecentHistory gives
// each one's history entry.
func requireTurnsReadAsBefore(t *testing.T, s *Store, sess *domain.Session, turns []*domain.Turn) {
	t.Helper()
	ctx := context.Background()
	page, err := s.ListTurns(ctx, sess.TenantID, sess.ID, ports.TurnQuery{Page: ports.PageRequest{Limit: 100}})
	require.NoError(t, err)
	require.Len(t, page.Items, 1+len(turns))
	listed := page.Items[1:]
	history, err := s.RecentHistory(ctx, sess.TenantID, sess.ID, len(turns))
	require.NoError(t, err)
	for i, turn := range turns {
		want := oldDecode(t, turn)
		wantJSON, err := json.Marshal(want)
		require.NoError(t, err)
		want.SessionAfter = nil
		got, err := s.GetTurn(ctx, sess.TenantID, turn.ID)
		require.NoError(t, err)
		for _, got := range []domain.Turn{*got, listed[i]} {
			gotJSON, err := json.Marshal(got)
			require.NoError(t, err)
			require.Equal(t, string(wantJSON), string(gotJSON), "turn %d", turn.TurnNumber)
			got.SessionAfter = nil
			require.Equal(t, want, got, "turn %d", turn.TurnNumber)
		}
		require.Equal(t, turn.History(), history[i])
	}
}

// A kept turn reads back as it did when the store kept the application's
// record: the record exactly (equal values, byte-identical JSON), the
// session after it byte-identical in JSON, the newest turn's and older
// ones' alike, by GetTurn and ListTurns; and its history entry is the
// turn's.
func TestKeptTurnReadsBackAsBefore(t *testing.T) {
	s := New(clock.System{})
	sess := committedSession(t, s, 1)
	var turns []*domain.Turn
	for range 3 {
		turns = append(turns, commitRich(t, s, sess))
	}
	requireTurnsReadAsBefore(t, s, sess, turns)
	// Both forms were read: the newest turn's session live and only live
	// (not encoded too while the session is in use), the older ones'
	// encoded only.
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, turn := range turns {
		kept := s.turnByID[turn.ID]
		newest := i == len(turns)-1
		require.Equal(t, newest, kept.liveAfter != nil, "turn %d", turn.TurnNumber)
		require.Equal(t, !newest, kept.hasAfter(), "turn %d", turn.TurnNumber)
	}
}

// A turn with no JSON form (a NaN in its metadata) is committed and feeds
// the prompt's history as before; reading it fails as it did before.
func TestTurnWithoutJSONFormIsCommitted(t *testing.T) {
	ctx := context.Background()
	s := New(clock.System{})
	sess := committedSession(t, s, 1)
	l, err := s.LockSession(ctx, ports.LockRequest{TenantID: sess.TenantID, SessionID: sess.ID, Wait: time.Second, TTL: time.Minute})
	require.NoError(t, err)
	after := l.Session()
	after.AdvanceTurn(2, time.Now())
	turn := &domain.Turn{ID: footprintID(), TenantID: sess.TenantID, SessionID: sess.ID, TurnNumber: 2, Message: "hi", Response: "hello",
		Status: domain.TurnCompleted, Explanation: domain.NewExplanation(), Metadata: map[string]any{"bad": math.NaN()}, SessionAfter: after}
	require.NoError(t, s.CommitTurn(ctx, l.Token(), turn))
	require.NoError(t, l.Release(ctx))
	_, err = s.GetTurn(ctx, sess.TenantID, turn.ID)
	requireCode(t, err, domain.CodeInternal)
	history, err := s.RecentHistory(ctx, sess.TenantID, sess.ID, 1)
	require.NoError(t, err)
	require.Equal(t, []domain.HistoryEntry{turn.History()}, history)
}

func requireCode(t *testing.T, err error, code domain.ErrorCode) {
	t.Helper()
	var de *domain.Error
	require.ErrorAs(t, err, &de)
	require.Equal(t, code, de.Code)
}

// What a store keeps of a turn costs the collector little: a few hundred
// bytes to scan and a handful of objects, whatever the size of its
// explanation. Kept as the application built them, the recorded turns
// cost 5.2 KB to scan and 54 objects each.
func TestKeptTurnsCostTheCollectorLittle(t *testing.T) {
	f := keptPerTurn(t, 100, 20, false)
	t.Logf("per kept turn: %.0f B live, %.0f B to scan, %.1f objects", f.live, f.scan, f.objects)
	require.Less(t, f.scan, 1024.0, "scannable bytes per kept turn")
	require.Less(t, f.objects, 12.0, "objects per kept turn")
}

// BenchmarkKeepTurn measures what a commit spends encoding what the store
// keeps of a recorded 100-rule turn, the audit record most of it, outside
// the store's lock.
func BenchmarkKeepTurn(b *testing.B) {
	var recorded [5]*domain.Turn
	for i := range recorded {
		recorded[i] = recordedTurn(b, i)
	}
	benchKeep(b, recorded[:])
}

// BenchmarkKeepDeferredTurn is BenchmarkKeepTurn for the records the same
// turns leave now that the engine defers a words-only turn's examples and
// terms to the record's reader (domain.Retrieval.Deferred): without them,
// and with what the agent last asked (the bench agent's step instructions
// and the previous reply) on a short reply at a step.
func BenchmarkKeepDeferredTurn(b *testing.B) {
	var recorded [5]*domain.Turn
	for i := range recorded {
		t := recordedTurn(b, i)
		x := &t.Explanation
		x.Retrieval.Deferred = true
		if x.Scenario.Before != nil && len(strings.Fields(t.Message)) < 6 && i > 0 {
			x.Retrieval.Context = "Find out when the card was ordered and where it was sent.\n" + recorded[i-1].Response
		}
		for k := range x.Candidates {
			x.Candidates[k].Example, x.Candidates[k].Terms = "", nil
		}
		for k := range x.Matched {
			r := &x.Matched[k].Reason
			*r, _, _ = strings.Cut(*r, "; most like the example ")
		}
		for k := range x.Scenario.Options {
			x.Scenario.Options[k].Example = ""
		}
		recorded[i] = t
	}
	benchKeep(b, recorded[:])
}

// benchKeep keeps the recorded turns in turn, and reports the bytes kept
// a turn.
func benchKeep(b *testing.B, recorded []*domain.Turn) {
	enc := encoders.Get().(*encoder)
	defer encoders.Put(enc)
	size := 0
	for i := 0; b.Loop(); i++ {
		size += len(keepTurn(enc, recorded[i%len(recorded)], true).text)
	}
	b.ReportMetric(float64(size)/float64(b.N), "kept-B/op")
}
