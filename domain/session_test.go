package domain_test

import (
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"focal/domain"
)

var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

func newSession() *domain.Session {
	return domain.NewSession("s1", domain.ChannelKey{TenantID: "t", AgentID: "a", Channel: "web", UserChannelID: "u"}, t0)
}

func TestNewSession(t *testing.T) {
	s := newSession()
	require.Equal(t, domain.SessionActive, s.Status)
	require.Equal(t, int64(1), s.Version)
	require.Equal(t, 0, s.TurnCount)
	require.Equal(t, domain.ChannelKey{TenantID: "t", AgentID: "a", Channel: "web", UserChannelID: "u"}, s.Key())
	require.Equal(t, t0, s.LastActivityAt)
	require.Nil(t, s.ClosedAt)
}

func TestFireBlocked(t *testing.T) {
	tests := []struct {
		name  string
		rule  domain.Rule
		fires map[string]domain.RuleFire
		turn  int
		want  string
	}{
		{"enabled rule that never fired", domain.Rule{ID: "r", Enabled: true}, nil, 1, ""},
		{"disabled", domain.Rule{ID: "r"}, nil, 1, "disabled"},
		{"disabled wins over other reasons", domain.Rule{ID: "r", MaxFiresPerSession: 1}, map[string]domain.RuleFire{"r": {Count: 1, LastTurn: 1}}, 2, "disabled"},
		{"under max fires", domain.Rule{ID: "r", Enabled: true, MaxFiresPerSession: 2}, map[string]domain.RuleFire{"r": {Count: 1, LastTurn: 1}}, 5, ""},
		{"max fires reached", domain.Rule{ID: "r", Enabled: true, MaxFiresPerSession: 2}, map[string]domain.RuleFire{"r": {Count: 2, LastTurn: 1}}, 50, "max_fires_reached"},
		{"zero max fires is unlimited", domain.Rule{ID: "r", Enabled: true}, map[string]domain.RuleFire{"r": {Count: 99, LastTurn: 1}}, 50, ""},
		{"cooldown: next turn blocked", domain.Rule{ID: "r", Enabled: true, CooldownTurns: 2}, map[string]domain.RuleFire{"r": {Count: 1, LastTurn: 3}}, 4, "cooldown"},
		{"cooldown: last blocked turn", domain.Rule{ID: "r", Enabled: true, CooldownTurns: 2}, map[string]domain.RuleFire{"r": {Count: 1, LastTurn: 3}}, 5, "cooldown"},
		{"cooldown: first allowed turn", domain.Rule{ID: "r", Enabled: true, CooldownTurns: 2}, map[string]domain.RuleFire{"r": {Count: 1, LastTurn: 3}}, 6, ""},
		{"cooldown without a fire", domain.Rule{ID: "r", Enabled: true, CooldownTurns: 2}, nil, 1, ""},
		{"other rules' fires do not count", domain.Rule{ID: "r", Enabled: true, MaxFiresPerSession: 1, CooldownTurns: 5},
			map[string]domain.RuleFire{"other": {Count: 3, LastTurn: 4}}, 5, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSession()
			s.RuleFires = domain.RuleFiresOf(tt.fires)
			require.Equal(t, tt.want, s.FireBlocked(&tt.rule, tt.turn))
		})
	}
}

func TestRecordFireThenCooldown(t *testing.T) {
	s := newSession()
	r := &domain.Rule{ID: "r", Enabled: true, CooldownTurns: 2, MaxFiresPerSession: 2}
	s.RecordFire("r", 3)
	require.Equal(t, domain.RuleFire{Count: 1, LastTurn: 3}, s.RuleFires.Get("r"))
	require.Equal(t, "cooldown", s.FireBlocked(r, 4))
	require.Equal(t, "cooldown", s.FireBlocked(r, 5))
	require.Equal(t, "", s.FireBlocked(r, 6))
	s.RecordFire("r", 6)
	require.Equal(t, domain.RuleFire{Count: 2, LastTurn: 6}, s.RuleFires.Get("r"))
	require.Equal(t, "max_fires_reached", s.FireBlocked(r, 20))
}

func TestEnterStep(t *testing.T) {
	s := newSession()
	s.EnterStep("returns", "ask", 1)
	require.Equal(t, &domain.ScenarioPosition{ScenarioID: "returns", StepID: "ask", StartedTurn: 1, StepVisits: map[string]int{"ask": 1}}, s.Scenario)

	s.EnterStep("returns", "label", 2)
	s.EnterStep("returns", "ask", 3)
	require.Equal(t, "ask", s.Scenario.StepID)
	require.Equal(t, 1, s.Scenario.StartedTurn, "moving within a scenario keeps its start")
	require.Equal(t, map[string]int{"ask": 2, "label": 1}, s.Scenario.StepVisits)

	s.EnterStep("support", "triage", 4)
	require.Equal(t, &domain.ScenarioPosition{ScenarioID: "support", StepID: "triage", StartedTurn: 4, StepVisits: map[string]int{"triage": 1}}, s.Scenario,
		"entering another scenario starts it afresh")

	require.Equal(t, []domain.StepVisit{
		{ScenarioID: "returns", StepID: "ask", Turn: 1},
		{ScenarioID: "returns", StepID: "label", Turn: 2},
		{ScenarioID: "returns", StepID: "ask", Turn: 3},
		{ScenarioID: "support", StepID: "triage", Turn: 4},
	}, s.VisitHistory)
}

func TestEnterStepAfterExitRestartsVisits(t *testing.T) {
	s := newSession()
	s.EnterStep("returns", "ask", 1)
	s.EnterStep("returns", "ask", 2)
	s.ExitScenario()
	require.Nil(t, s.Scenario)
	require.Len(t, s.VisitHistory, 2, "exiting keeps the history")
	s.EnterStep("returns", "ask", 3)
	require.Equal(t, 1, s.Scenario.StepVisits["ask"])
	require.Equal(t, 3, s.Scenario.StartedTurn)
}

func TestEnterStepCapsHistoryKeepingTheNewest(t *testing.T) {
	s := newSession()
	const n = domain.MaxVisitHistory + 7
	for turn := 1; turn <= n; turn++ {
		s.EnterStep("loop", "again", turn)
	}
	require.Len(t, s.VisitHistory, domain.MaxVisitHistory)
	require.Equal(t, 8, s.VisitHistory[0].Turn)
	require.Equal(t, n, s.VisitHistory[len(s.VisitHistory)-1].Turn)
	require.Equal(t, n, s.Scenario.StepVisits["again"], "visit counts are not capped")
}

// docs/agent-bundle.md (Scenarios) keeps the path taken in the session,
// the last 100 steps: 100 entries are all kept, a 101st drops the oldest.
func TestVisitHistoryKeepsTheDocumentedLast100Steps(t *testing.T) {
	s := newSession()
	for turn := 1; turn <= 100; turn++ {
		s.EnterStep("loop", "again", turn)
	}
	require.Len(t, s.VisitHistory, 100, "100 steps are all kept")
	require.Equal(t, 1, s.VisitHistory[0].Turn)
	s.EnterStep("loop", "again", 101)
	require.Len(t, s.VisitHistory, 100, "the 101st step drops the oldest")
	require.Equal(t, 2, s.VisitHistory[0].Turn)
	require.Equal(t, 101, s.VisitHistory[99].Turn)
}

func TestCloneIsCopyOnWrite(t *testing.T) {
	s := newSession()
	s.RecordFire("r", 1)
	s.SetVariable("name", "Ana")
	s.EnterStep("returns", "ask", 1)
	closed := t0.Add(time.Hour)
	s.ClosedAt = &closed

	c := s.Clone()
	require.Equal(t, s, c)

	c.RecordFire("r", 2)
	c.RecordFire("new", 2)
	c.SetVariable("name", "Bob")
	c.SetVariable("extra", 1)
	c.EnterStep("returns", "label", 2)
	*c.ClosedAt = t0
	c.TurnCount = 9

	wantS := func() {
		t.Helper()
		require.Equal(t, domain.RuleFiresOf(map[string]domain.RuleFire{"r": {Count: 1, LastTurn: 1}}), s.RuleFires)
		require.Equal(t, map[string]any{"name": "Ana"}, s.Variables)
		require.Equal(t, &domain.ScenarioPosition{ScenarioID: "returns", StepID: "ask", StartedTurn: 1, StepVisits: map[string]int{"ask": 1}}, s.Scenario)
		require.Equal(t, []domain.StepVisit{{ScenarioID: "returns", StepID: "ask", Turn: 1}}, s.VisitHistory)
		require.Equal(t, closed, *s.ClosedAt)
		require.Equal(t, 0, s.TurnCount)
	}
	wantS()
	require.Equal(t, domain.RuleFiresOf(map[string]domain.RuleFire{"r": {Count: 2, LastTurn: 2}, "new": {Count: 1, LastTurn: 2}}), c.RuleFires)
	require.Equal(t, "label", c.Scenario.StepID)
	require.Len(t, c.VisitHistory, 2)

	// The original's own writes do not reach the clone either.
	c2 := s.Clone()
	s.RecordFire("r", 3)
	s.EnterStep("other", "x", 3)
	s.SetVariable("name", "Cy")
	require.Equal(t, domain.RuleFire{Count: 1, LastTurn: 1}, c2.RuleFires.Get("r"))
	require.Equal(t, "ask", c2.Scenario.StepID)
	require.Equal(t, "Ana", c2.Variables["name"])
	require.Len(t, c2.VisitHistory, 1)
}

// A full visit history is trimmed in the copy that appends, never in the
// snapshot it shares its history with.
func TestCloneKeepsTheSnapshotsVisitHistory(t *testing.T) {
	s := newSession()
	for turn := 1; turn <= domain.MaxVisitHistory; turn++ {
		s.EnterStep("loop", "again", turn)
	}
	snap := s.Clone()
	next := snap.Clone()
	next.EnterStep("loop", "again", domain.MaxVisitHistory+1)
	require.Equal(t, 1, snap.VisitHistory[0].Turn)
	require.Equal(t, domain.MaxVisitHistory, snap.VisitHistory[len(snap.VisitHistory)-1].Turn)
	require.Equal(t, 2, next.VisitHistory[0].Turn)
}

// Stores hand out clones of one frozen snapshot to many goroutines at
// once, each changing its own; callers clone a session they just read from
// several goroutines too (run with -race).
func TestConcurrentClones(t *testing.T) {
	s := newSession()
	s.RecordFire("r", 1)
	s.SetVariable("v", map[string]any{"k": "x"})
	s.EnterStep("returns", "ask", 1)
	stored := s.Clone()
	stored.Freeze()
	var wg sync.WaitGroup
	for i := range 8 {
		for _, from := range []*domain.Session{stored, s} {
			wg.Go(func() {
				c := from.Clone()
				c.RecordFire("r", 2+i)
				c.SetVariable("v", i)
				c.EnterStep("returns", "label", 2+i)
			})
		}
	}
	wg.Wait()
	for _, x := range []*domain.Session{stored, s} {
		require.Equal(t, domain.RuleFire{Count: 1, LastTurn: 1}, x.RuleFires.Get("r"))
		require.Equal(t, map[string]any{"k": "x"}, x.Variables["v"])
		require.Equal(t, "ask", x.Scenario.StepID)
	}
}

// A frozen session shares everything with its clones, and still copies
// before its own methods write.
func TestFrozenSessionCopiesOnWrite(t *testing.T) {
	s := newSession()
	s.RecordFire("r", 1)
	s.SetVariable("name", "Ana")
	s.Freeze()
	c := s.Clone()
	s.RecordFire("r", 2)
	c.RecordFire("other", 2)
	c.UnsetVariable("name")
	require.NotContains(t, c.Variables, "name")
	require.Equal(t, map[string]any{"name": "Ana"}, s.Variables, "a clone's removal does not reach the snapshot")
	require.Equal(t, domain.RuleFiresOf(map[string]domain.RuleFire{"r": {Count: 2, LastTurn: 2}}), s.RuleFires)
	require.Equal(t, domain.RuleFiresOf(map[string]domain.RuleFire{"r": {Count: 1, LastTurn: 1}, "other": {Count: 1, LastTurn: 2}}), c.RuleFires)
}

func TestCloneOfEmptyAndNilSessions(t *testing.T) {
	var nilSession *domain.Session
	require.Nil(t, nilSession.Clone())

	s := newSession()
	c := s.Clone()
	require.Equal(t, s, c)
	c.SetVariable("x", 1)
	c.RecordFire("r", 1)
	require.Nil(t, s.Variables)
	require.Nil(t, s.RuleFires)
}

func TestIdleSince(t *testing.T) {
	tests := []struct {
		name string
		now  time.Time
		ttl  time.Duration
		want bool
	}{
		{"zero ttl never expires", t0.Add(1000 * time.Hour), 0, false},
		{"within ttl", t0.Add(29 * time.Minute), 30 * time.Minute, false},
		{"exactly ttl is not yet idle", t0.Add(30 * time.Minute), 30 * time.Minute, false},
		{"past ttl", t0.Add(30*time.Minute + time.Nanosecond), 30 * time.Minute, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.want, newSession().IdleSince(tt.now, tt.ttl))
		})
	}
}

func TestCloseIsIdempotent(t *testing.T) {
	s := newSession()
	first := t0.Add(time.Minute)
	s.Close(first)
	require.Equal(t, domain.SessionClosed, s.Status)
	require.Equal(t, int64(2), s.Version)
	require.Equal(t, first, *s.ClosedAt)
	require.Equal(t, first, s.UpdatedAt)

	s.Close(t0.Add(time.Hour))
	require.Equal(t, int64(2), s.Version, "closing twice bumps the version once")
	require.Equal(t, first, *s.ClosedAt)
	require.Equal(t, first, s.UpdatedAt)
}

func TestAdvanceTurn(t *testing.T) {
	s := newSession()
	later := t0.Add(5 * time.Minute)
	s.AdvanceTurn(1, later)
	require.Equal(t, 1, s.TurnCount)
	require.Equal(t, int64(2), s.Version)
	require.Equal(t, later, s.UpdatedAt)
	require.Equal(t, later, s.LastActivityAt)
	require.False(t, s.IdleSince(later.Add(time.Minute), 2*time.Minute))

	s.AdvanceTurn(2, later.Add(time.Minute))
	require.Equal(t, 2, s.TurnCount)
	require.Equal(t, int64(3), s.Version)
	require.Equal(t, t0, s.CreatedAt)
}

// Nested flows: a flow left gives the floor back to the one it was started
// from, innermost first, each at the step it waited at.
func TestNestedFlowsResumeInnermostFirst(t *testing.T) {
	s := newSession()
	s.EnterStep("returns", "ask_order", 1)
	s.SuspendScenario()
	s.EnterStep("address", "street", 2)
	s.SuspendScenario()
	s.EnterStep("faq", "answer", 3)
	require.Len(t, s.FlowStack, 2)

	for _, want := range []string{"address/street", "returns/ask_order"} {
		s.ExitScenario()
		pos := s.ResumeScenario()
		require.NotNil(t, pos)
		require.Equal(t, want, domain.StepKey(pos.ScenarioID, pos.StepID))
		require.Equal(t, want, domain.StepKey(s.Scenario.ScenarioID, s.Scenario.StepID))
	}
	s.ExitScenario()
	require.Nil(t, s.ResumeScenario(), "no flow waits")
	require.Nil(t, s.Scenario)
	require.Nil(t, s.FlowStack)
}

// Two turns read from one stored session each start their own nested flow:
// neither sees the other's waiting flow, even when the stored list has
// room to append in place (as a store's decoder may leave it).
func TestSuspendedFlowsAreEachSessionsOwn(t *testing.T) {
	stored := newSession()
	stored.EnterStep("faq", "answer", 1)
	stored.FlowStack = make([]domain.ScenarioPosition, 1, 4)
	stored.FlowStack[0] = domain.ScenarioPosition{ScenarioID: "returns", StepID: "ask_order"}
	stored.Freeze()

	a, b := stored.Clone(), stored.Clone()
	a.EnterStep("address", "street", 2)
	a.SuspendScenario()
	b.EnterStep("payment", "card", 2)
	b.SuspendScenario()
	require.Equal(t, "address", a.FlowStack[1].ScenarioID)
	require.Equal(t, "payment", b.FlowStack[1].ScenarioID)
	require.Len(t, stored.FlowStack, 1)
}

// A run's given values (ScenarioPosition.Given) are its own: a clone, a
// frozen snapshot's clone and a flow suspended and resumed each keep
// theirs apart from the others' writes; a new run starts without them; a
// flow waiting under the active one is noted by its id, in a copy of the
// stack; a flow not open notes nothing; and they read back from JSON.
func TestRunGivenValuesAreTheRunsOwn(t *testing.T) {
	s := newSession()
	s.NoteGiven("returns", "reason", 1)
	require.Nil(t, s.Scenario, "no run, nothing noted")
	s.EnterStep("returns", "ask_order", 1)
	s.NoteGiven("returns", "reason", 1)
	s.NoteGiven("returns", "order_id", 2)
	s.NoteGiven("gift", "wrap", 2)
	require.Nil(t, s.FlowStack, "no gift flow open: nothing noted")
	require.Equal(t, map[string]int{"reason": 1, "order_id": 2}, s.Scenario.Given)

	c := s.Clone()
	c.NoteGiven("returns", "reason", 3)
	c.ForgetGiven("returns", "order_id")
	require.Equal(t, map[string]int{"reason": 1, "order_id": 2}, s.Scenario.Given, "a clone's writes stay in the clone")
	require.Equal(t, map[string]int{"reason": 3}, c.Scenario.Given)

	s.Freeze()
	f := s.Clone()
	f.NoteGiven("returns", "email", 4)
	require.Equal(t, map[string]int{"reason": 1, "order_id": 2}, s.Scenario.Given, "a frozen snapshot copies before writing")

	raw, err := json.Marshal(f)
	require.NoError(t, err)
	require.Contains(t, string(raw), `"given":{"email":4,"order_id":2,"reason":1}`)
	var back domain.Session
	require.NoError(t, json.Unmarshal(raw, &back))
	require.Equal(t, f.Scenario, back.Scenario)

	f.SuspendScenario()
	f.EnterStep("update_email", "ask_email", 5)
	require.Nil(t, f.Scenario.Given, "a new run starts given nothing")
	f.NoteGiven("update_email", "email", 5)
	require.Equal(t, map[string]int{"email": 5}, f.Scenario.Given)
	w := f.Clone()
	w.NoteGiven("returns", "reason", 5)
	require.Equal(t, 1, f.FlowStack[0].Given["reason"], "the clone wrote the waiting run's copy")
	require.Equal(t, 5, w.FlowStack[0].Given["reason"], "the waiting run is noted too")
	w.ForgetGiven("returns", "order_id")
	require.Equal(t, map[string]int{"reason": 5, "email": 4}, w.FlowStack[0].Given)
	require.Equal(t, map[string]int{"reason": 1, "order_id": 2, "email": 4}, f.FlowStack[0].Given)
	f.ExitScenario()
	resumed := f.ResumeScenario()
	require.Equal(t, map[string]int{"reason": 1, "order_id": 2, "email": 4}, resumed.Given, "the waiting run keeps its own")
	f.ExitScenario()
	f.EnterStep("returns", "ask_order", 6)
	require.Nil(t, f.Scenario.Given, "a run of the same flow again starts afresh")
}

// Forgetting a value given is a write like noting one: a clone whose first
// write to a run, active or waiting, is ForgetGiven copies that run first,
// so the session it was cloned from (a frozen snapshot the store holds)
// still lists the value as given.
func TestForgettingAGivenValueCopiesTheRunFirst(t *testing.T) {
	s := newSession()
	s.EnterStep("returns", "ask_order", 1)
	s.NoteGiven("returns", "reason", 1)
	s.Freeze()

	c := s.Clone()
	c.ForgetGiven("returns", "reason")
	require.Empty(t, c.Scenario.Given)
	require.Equal(t, map[string]int{"reason": 1}, s.Scenario.Given, "the active run of the snapshot")

	w := s.Clone()
	w.SuspendScenario()
	w.EnterStep("gift", "only", 2)
	w.Freeze()
	v := w.Clone()
	v.ForgetGiven("returns", "reason")
	require.Empty(t, v.FlowStack[0].Given)
	require.Equal(t, map[string]int{"reason": 1}, w.FlowStack[0].Given, "the waiting run of the snapshot")
}
