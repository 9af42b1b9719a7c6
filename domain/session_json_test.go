package domain_test

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"focal/domain"
)

// TestSessionAppendJSONIsMarshal holds Session.AppendJSON, which the
// memory store keeps sessions by, to json.Marshal byte for byte: every
// field set and unset, strings that JSON escapes, times in other zones,
// and sessions built at random by the methods the engine calls.
func TestSessionAppendJSONIsMarshal(t *testing.T) {
	odd := []string{"", "plain", "<b>&amp;</b>", `quote " back \ slash`, "tab\tnew\nline\x01", "é ü 日本", "bad \xff utf8", "line\u2028sep\u2029"}
	closed := time.Date(2025, 3, 1, 13, 0, 0, 123456789, time.FixedZone("x", 5*3600+30*60))
	full := &domain.Session{ID: odd[2], TenantID: odd[3], AgentID: odd[4], Channel: odd[5], UserChannelID: odd[6], Status: domain.SessionClosed,
		TurnCount: 7, RuleFires: domain.RuleFiresOf(map[string]domain.RuleFire{"r1": {Count: 2, LastTurn: 7}, odd[7]: {Count: 1, LastTurn: 1}}),
		Scenario: &domain.ScenarioPosition{ScenarioID: "s<", StepID: odd[5], StartedTurn: 2, StepVisits: map[string]int{"b": 2, "a": 1, odd[2]: 3},
			Given: map[string]int{odd[3]: 2, "order_id": 1}},
		FlowStack:    []domain.ScenarioPosition{{ScenarioID: "outer", StepID: "x"}, {ScenarioID: "o2", StepVisits: map[string]int{}, Given: map[string]int{"x": 1}}},
		VisitHistory: []domain.StepVisit{{ScenarioID: "s", StepID: "a", Turn: 1}, {ScenarioID: odd[4], StepID: odd[6], Turn: 2}},
		Variables:    map[string]any{"n": 1.5, "s": odd[2], "list": []any{1, "x", nil, true}, "obj": map[string]any{"k": odd[7]}, "i": 12345678901234},
		Version:      -3, CreatedAt: t0, UpdatedAt: t0.Add(time.Nanosecond), LastActivityAt: t0.In(time.FixedZone("y", -7*3600)), ClosedAt: &closed}
	cases := map[string]*domain.Session{
		"zero": {},
		"new":  newSession(),
		"full": full,
		// Visits to the step before copy its members (see appendVisits).
		"repeated-visits": {VisitHistory: []domain.StepVisit{{ScenarioID: "s", StepID: "a", Turn: 1}, {ScenarioID: "s", StepID: "a", Turn: 2},
			{ScenarioID: odd[2], StepID: "a", Turn: 3}, {ScenarioID: odd[2], StepID: "a", Turn: 4}, {ScenarioID: odd[2], StepID: odd[6], Turn: 5},
			{ScenarioID: odd[2], StepID: odd[6], Turn: 6}, {ScenarioID: "s", StepID: odd[6], Turn: 7}, {ScenarioID: "s", StepID: odd[6], Turn: 8}}},
		// One time copies the text of the one before (see appendJSONTail),
		// but in another zone.
		"same-times": {CreatedAt: t0, UpdatedAt: t0, LastActivityAt: t0.In(time.FixedZone("y", -7*3600)), ClosedAt: &t0},
		"empty":      {RuleFires: domain.RuleFires{}, FlowStack: []domain.ScenarioPosition{}, VisitHistory: []domain.StepVisit{}, Variables: map[string]any{}, Scenario: &domain.ScenarioPosition{StepVisits: map[string]int{}, Given: map[string]int{}}},
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 200 {
		s := newSession()
		for turn := 1; turn <= rng.IntN(40); turn++ {
			for range rng.IntN(3) {
				s.RecordFire(fmt.Sprintf("r%03d_%s", rng.IntN(100), odd[rng.IntN(len(odd))]), turn)
			}
			if rng.IntN(3) == 0 {
				s.EnterStep(odd[rng.IntN(len(odd))], fmt.Sprint("step", rng.IntN(5)), turn)
			}
			if rng.IntN(5) == 0 {
				s.SetVariable(odd[rng.IntN(len(odd))], rng.Float64()*1e6)
			}
			if rng.IntN(4) == 0 && s.Scenario != nil {
				s.NoteGiven(s.Scenario.ScenarioID, odd[rng.IntN(len(odd))], turn)
			}
			s.AdvanceTurn(turn, t0.Add(time.Duration(rng.Int64N(1e15))))
		}
		cases[fmt.Sprint("random-", i)] = s
	}
	for name, s := range cases {
		want, err := json.Marshal(s)
		require.NoError(t, err, name)
		got, err := s.AppendJSON([]byte("prefix"))
		require.NoError(t, err, name)
		require.Equal(t, "prefix"+string(want), string(got), name)
	}
}

// TestSessionAppendJSONFailsWhereMarshalFails: a session json.Marshal
// cannot encode (a year past 9999, a variable with no JSON form) is not
// encoded by AppendJSON either.
func TestSessionAppendJSONFailsWhereMarshalFails(t *testing.T) {
	late := newSession()
	late.UpdatedAt = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)
	fn := newSession()
	fn.Variables = map[string]any{"f": func() {}}
	for _, s := range []*domain.Session{late, fn} {
		_, err := json.Marshal(s)
		require.Error(t, err)
		_, err = s.AppendJSON(nil)
		require.Error(t, err)
	}
}
