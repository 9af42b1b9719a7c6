package memory

import (
	"context"
	"encoding/json"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"focal/adapters/clock"
	"focal/domain"
	"focal/ports"
)

// randomScore draws a score of every kind a record may hold: a ratio as
// matching makes them, whole thousandths, any bits (but NaN and the
// infinities), zero of either sign, tiny and huge ones.
func randomScore(rng *rand.Rand) float64 {
	switch rng.IntN(6) {
	case 0:
		return rng.Float64()
	case 1:
		return float64(rng.Int64N(2_000_000)-1_000_000) / 1000
	case 2:
		for {
			if f := math.Float64frombits(rng.Uint64()); !math.IsNaN(f) && !math.IsInf(f, 0) {
				return f
			}
		}
	case 3:
		return math.Copysign(0, float64(rng.IntN(2)*2-1))
	case 4:
		return math.Pow(10, float64(rng.IntN(60)-30)) * (rng.Float64() - 0.5)
	}
	return 1 / float64(1+rng.IntN(1000))
}

// tokenText draws a string from pieces JSON escapes or not, token bytes
// among them.
func tokenText(rng *rand.Rand) string {
	pieces := []string{"r00051_reverted_card_payment", "a", " ", "\x01", "\x02", "\x0f", "\x1f", "\n", `"`, `\`, "<", ">", "&", "é",
		"\u2028", "\xff", `{"rule_id":`, `,"score":`}
	var s []byte
	for range rng.IntN(6) {
		s = append(s, pieces[rng.IntN(len(pieces))]...)
	}
	return string(s)
}

// randomTokenTurn is a turn whose every tokened part (candidates, scenario
// options, matches, step timings) is drawn at random, lists nil, empty or
// full.
func randomTokenTurn(rng *rand.Rand) *domain.Turn {
	turn := &domain.Turn{ID: tokenText(rng), TenantID: tokenText(rng), AgentID: tokenText(rng), AgentVersion: rng.Int64N(5),
		SessionID: tokenText(rng), TurnNumber: rng.IntN(30), RequestID: tokenText(rng), Message: tokenText(rng), Response: tokenText(rng),
		Status: domain.TurnStatus(tokenText(rng)), Usage: domain.TokenUsage{Prompt: rng.IntN(500), Completion: rng.IntN(50)},
		LatencyMS: rng.Int64N(1000), CreatedAt: randomTime(rng), Explanation: domain.NewExplanation()}
	x := &turn.Explanation
	if rng.IntN(4) > 0 {
		x.Candidates = make([]domain.RuleCandidate, rng.IntN(25))
	}
	for i := range x.Candidates {
		c := &x.Candidates[i]
		c.RuleID, c.Score, c.Priority, c.Matched = tokenText(rng), randomScore(rng), int32(rng.IntN(21)-10), rng.IntN(3) == 0
		c.Lexical = c.Score
		if rng.IntN(3) == 0 {
			c.Lexical = randomScore(rng)
		}
		if rng.IntN(3) == 0 {
			c.Semantic = randomScore(rng)
		}
		if rng.IntN(2) == 0 {
			c.Example = tokenText(rng)
		}
		if n := rng.IntN(4); n > 0 {
			c.Terms = make([]string, n)
			for k := range c.Terms {
				c.Terms[k] = tokenText(rng)
			}
		}
	}
	for range rng.IntN(4) {
		x.Scenario.Options = append(x.Scenario.Options, domain.ScenarioOption{Move: tokenText(rng), Target: tokenText(rng),
			Score: randomScore(rng), Lexical: randomScore(rng), Semantic: randomScore(rng), Example: tokenText(rng)})
	}
	if rng.IntN(4) > 0 {
		x.Matched = make([]domain.RuleMatch, rng.IntN(4))
	}
	for i := range x.Matched {
		x.Matched[i] = domain.RuleMatch{RuleID: tokenText(rng), Score: randomScore(rng), Reason: tokenText(rng)}
	}
	if rng.IntN(4) > 0 {
		turn.Timings = make([]domain.StepTiming, rng.IntN(10))
	}
	for i := range turn.Timings {
		turn.Timings[i] = domain.StepTiming{Step: tokenText(rng), DurationMS: randomScore(rng)}
		if rng.IntN(2) == 0 {
			turn.Timings[i].Step = pipelineSteps[rng.IntN(len(pipelineSteps))]
		}
	}
	randomScenario(rng, &x.Scenario)
	return turn
}

// stepNumber numbers each pipeline step as pipelineSteps does, and no
// other name.
func TestStepNumbers(t *testing.T) {
	for i, name := range pipelineSteps {
		require.Equal(t, i, stepNumber(name), name)
		require.Equal(t, -1, stepNumber(name+"x"), name)
	}
	require.Equal(t, -1, stepNumber(""))
}

// randomTime draws a time a record may hold: in UTC or in another zone,
// of zone offset 0 by another name, with a monotonic reading, the zero
// time, the first and last instants json.Marshal writes in UTC.
func randomTime(rng *rand.Rand) time.Time {
	t := time.Unix(rng.Int64N(1<<35)-1<<34, rng.Int64N(1e9))
	switch rng.IntN(7) {
	case 0:
		return t.In(time.FixedZone("CET", 3600))
	case 1:
		return t.In(time.FixedZone("GMT", 0))
	case 2:
		return time.Now()
	case 3:
		return time.Time{}
	case 4:
		return time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC)
	case 5:
		return time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC)
	}
	return t.UTC()
}

// randomScenario draws what a scenario decision holds but its options:
// its action, reason and score, the steps before and after it, each nil
// or not, and the steps passed, none or some.
func randomScenario(rng *rand.Rand, d *domain.ScenarioDecision) {
	d.Action, d.Reason = tokenText(rng), tokenText(rng)
	if rng.IntN(2) == 0 {
		d.Score = randomScore(rng)
	}
	for _, ref := range []**domain.ScenarioRef{&d.Before, &d.After, &d.Resumed} {
		if rng.IntN(2) == 0 {
			*ref = &domain.ScenarioRef{ID: tokenText(rng), Step: tokenText(rng)}
		}
	}
	for range rng.IntN(3) {
		d.Passed = append(d.Passed, tokenText(rng))
	}
}

// What a record without tokens holds (as encoding/json wrote it, when
// appendTurn could not) expands to itself; a token cut short or unknown
// fails the read.
func TestExpandAuditWithoutTokens(t *testing.T) {
	turn := recordedTurn(t, 2)
	raw, err := json.Marshal(turn)
	require.NoError(t, err)
	got, err := expandAudit(nil, raw, keptOf(turn))
	require.NoError(t, err)
	require.Equal(t, string(raw), string(got))
	for _, bad := range []string{"{\x02\x01\x02}", "{\x00}", "{\x04"} {
		_, err := expandAudit(nil, []byte(bad), keptOf(turn))
		require.ErrorIs(t, err, errBadAudit, "%q", bad)
	}
}

// Turns drawn at random, committed to a store, read back by GetTurn and
// ListTurns as the store read them back before their records had tokens:
// the record copied through its JSON form, equal values and
// byte-identical JSON; and each one's history entry is the turn's. Half
// are of their session's agent, whose record leaves it out (see
// keptStrings), half of another; and they read back alike once their
// session went cold, its strings read from its record.
func TestTokenedTurnsReadBackAsBefore(t *testing.T) {
	ctx := context.Background()
	s := New(clock.System{})
	sess := committedSession(t, s, 1)
	rng := rand.New(rand.NewPCG(23, 24))
	var turns []*domain.Turn
	for range 99 { // a page of turns, the first committed session's with them
		l, err := s.LockSession(ctx, ports.LockRequest{TenantID: sess.TenantID, SessionID: sess.ID, Wait: time.Second, TTL: time.Minute})
		require.NoError(t, err)
		tok := l.Token()
		turn := randomTokenTurn(rng)
		after := l.Session()
		after.AdvanceTurn(tok.TurnNumber, time.Now())
		turn.ID, turn.TenantID, turn.SessionID, turn.TurnNumber, turn.SessionAfter = footprintID(), sess.TenantID, sess.ID, tok.TurnNumber, after
		if rng.IntN(2) == 0 {
			turn.AgentID = strings.Clone(sess.AgentID)
		}
		require.NoError(t, s.CommitTurn(ctx, tok, turn))
		require.NoError(t, l.Release(ctx))
		turns = append(turns, turn)
	}
	requireTurnsReadAsBefore(t, s, sess, turns)
	s.Sweep(time.Now().Add(packAfter + time.Second))
	require.NotContains(t, s.sessions, sess.ID, "gone cold")
	requireTurnsReadAsBefore(t, s, sess, turns)
}
