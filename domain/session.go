package domain

import (
	"encoding/json"
	"maps"
	"slices"
	"strconv"
	"time"
)

// SessionStatus is whether a session accepts new turns.
type SessionStatus string

// Session statuses.
const (
	SessionActive SessionStatus = "active"
	SessionClosed SessionStatus = "closed"
)

// MaxVisitHistory caps the recorded scenario path of a session.
const MaxVisitHistory = 100

// ChannelKey identifies one user of one agent on one channel: the key that
// finds a session when the client sends no session id.
type ChannelKey struct {
	TenantID      string `json:"tenant_id"`
	AgentID       string `json:"agent_id"`
	Channel       string `json:"channel"`
	UserChannelID string `json:"user_channel_id"`
}

// Session is one conversation between a user and an agent. Its state after a
// turn is written with that turn's record (the turn's commit point), so
// Version always equals the number of committed changes.
type Session struct {
	ID            string        `json:"id"`
	TenantID      string        `json:"tenant_id"`
	AgentID       string        `json:"agent_id"`
	Channel       string        `json:"channel"`
	UserChannelID string        `json:"user_channel_id"`
	Status        SessionStatus `json:"status"`
	// TurnCount is the number of committed turns.
	TurnCount int `json:"turn_count"`
	// RuleFires counts, per rule id, how often and when it last matched.
	RuleFires RuleFires `json:"rule_fires,omitempty"`
	// Scenario is the active scenario position, nil when none is active.
	Scenario *ScenarioPosition `json:"scenario,omitempty"`
	// FlowStack holds the flows waiting under the active one, innermost
	// last: a flow started from inside another returns to it when it ends.
	// The active one and these are at most MaxFlowDepth together.
	FlowStack []ScenarioPosition `json:"flow_stack,omitempty"`
	// VisitHistory is the scenario path taken, newest last, at most MaxVisitHistory entries.
	VisitHistory []StepVisit `json:"visit_history,omitempty"`
	// Variables hold values from tools and the conversation, for templates and expressions.
	Variables map[string]any `json:"variables,omitempty"`
	// Version increases with every stored change: turns and status changes.
	Version        int64      `json:"version"`
	CreatedAt      time.Time  `json:"created_at"`
	UpdatedAt      time.Time  `json:"updated_at"`
	LastActivityAt time.Time  `json:"last_activity_at"`
	ClosedAt       *time.Time `json:"closed_at,omitempty"`

	// borrowed marks the maps and slices this value shares with another
	// copy (see Clone): a method copies such a part before it writes to it.
	borrowed sharedParts
}

// sharedParts is a set of a session's maps and slices.
type sharedParts uint8

const (
	sharedFires sharedParts = 1 << iota
	sharedVariables
	sharedVisits
	sharedPosition
	sharedAll = sharedFires | sharedVariables | sharedVisits | sharedPosition
)

// RuleFire is a rule's firing record within one session.
type RuleFire struct {
	Count    int `json:"count"`
	LastTurn int `json:"last_turn"`
}

// ScenarioPosition is where a session stands in a scenario.
type ScenarioPosition struct {
	ScenarioID  string `json:"scenario_id"`
	StepID      string `json:"step_id"`
	StartedTurn int    `json:"started_turn"`
	// StepVisits counts entries into each step since the scenario started.
	StepVisits map[string]int `json:"step_visits,omitempty"`
	// Given maps each variable the customer's messages (or the requests'
	// metadata) gave a value since the scenario started, and still holds,
	// to the turn that last gave it: a step entered later in this run is
	// passed on such a value, where one held from before the run (an
	// earlier run's, another flow's) is asked for again. A tool's output
	// that changes the value takes it out: the value is no longer the
	// customer's. A new run starts without it.
	Given map[string]int `json:"given,omitempty"`
}

// StepVisit is one entry into a scenario step.
type StepVisit struct {
	ScenarioID string `json:"scenario_id"`
	StepID     string `json:"step_id"`
	Turn       int    `json:"turn"`
}

// NewSession returns an active session for key, created at now.
func NewSession(id string, key ChannelKey, now time.Time) *Session {
	return &Session{
		ID:             id,
		TenantID:       key.TenantID,
		AgentID:        key.AgentID,
		Channel:        key.Channel,
		UserChannelID:  key.UserChannelID,
		Status:         SessionActive,
		Version:        1,
		CreatedAt:      now,
		UpdatedAt:      now,
		LastActivityAt: now,
	}
}

// Key returns the session's channel identity.
func (s *Session) Key() ChannelKey {
	return ChannelKey{TenantID: s.TenantID, AgentID: s.AgentID, Channel: s.Channel, UserChannelID: s.UserChannelID}
}

// Clone returns a copy that shares, copy-on-write, the maps and slices s
// itself shares (see Freeze) and copies the ones s owns. A frozen session,
// such as a store's snapshot, is cloned by one small allocation however
// much state it holds; each copy then copies only what it changes, through
// its methods, which copy a shared part before writing to it.
//
// The price is a rule for every holder of a Session: change it only
// through its methods (or by assigning whole fields), never by writing into
// its maps or slices, since another copy may be reading them. Clone only
// reads s, so concurrent Clones of one session are safe.
func (s *Session) Clone() *Session {
	if s == nil {
		return nil
	}
	c := *s
	c.copyParts(sharedAll &^ s.borrowed)
	if s.ClosedAt != nil {
		t := *s.ClosedAt
		c.ClosedAt = &t
	}
	return &c
}

// Freeze marks every map and slice of s as shared: no method of s writes
// into them again (each copies first), and Clone of s copies nothing deep.
// A store freezes a session it keeps before other goroutines can read it.
func (s *Session) Freeze() { s.borrowed = sharedAll }

// own gives s its own copy of the parts in p that it shares.
func (s *Session) own(p sharedParts) {
	s.copyParts(p & s.borrowed)
}

// copyParts replaces the parts in p by copies of them, which s owns.
func (s *Session) copyParts(p sharedParts) {
	if p == 0 {
		return
	}
	if p&sharedFires != 0 {
		s.RuleFires = slices.Clone(s.RuleFires)
	}
	if p&sharedVariables != 0 && s.Variables != nil {
		s.Variables = deepCopy(s.Variables).(map[string]any)
	}
	if p&sharedVisits != 0 {
		s.VisitHistory = slices.Clone(s.VisitHistory)
	}
	if p&sharedPosition != 0 && s.Scenario != nil {
		pos := s.Scenario.cloned()
		s.Scenario = &pos
	}
	s.borrowed &^= p
}

// IdleSince reports whether the session has been idle longer than ttl at now.
// A zero ttl never expires.
func (s *Session) IdleSince(now time.Time, ttl time.Duration) bool {
	return ttl > 0 && now.Sub(s.LastActivityAt) > ttl
}

// Close marks the session closed at now.
func (s *Session) Close(now time.Time) {
	if s.Status == SessionClosed {
		return
	}
	s.Status = SessionClosed
	s.ClosedAt = &now
	s.UpdatedAt = now
	s.Version++
}

// FireBlocked says why rule r may not fire in turn (the coming turn number),
// or "" when it may.
func (s *Session) FireBlocked(r *Rule, turn int) string {
	if !r.Enabled {
		return "disabled"
	}
	// Most rules have no limit: their fires are not looked up (a search of
	// the session's fires for each rule that scored, every turn).
	if r.MaxFiresPerSession <= 0 && r.CooldownTurns <= 0 {
		return ""
	}
	f := s.RuleFires.Get(r.ID)
	if r.MaxFiresPerSession > 0 && f.Count >= r.MaxFiresPerSession {
		return "max_fires_reached"
	}
	if r.CooldownTurns > 0 && f.Count > 0 && turn-f.LastTurn <= r.CooldownTurns {
		return "cooldown"
	}
	return ""
}

// RecordFire notes that rule id matched in turn.
func (s *Session) RecordFire(id string, turn int) {
	s.RuleFires = s.RuleFires.recorded(id, turn, s.borrowed&sharedFires == 0)
	s.borrowed &^= sharedFires
}

// EnterStep moves the session to step of scenario in turn, starting the
// scenario when it is not the active one, and records the visit.
func (s *Session) EnterStep(scenarioID, stepID string, turn int) {
	s.own(sharedVisits | sharedPosition)
	if s.Scenario == nil || s.Scenario.ScenarioID != scenarioID {
		s.Scenario = &ScenarioPosition{ScenarioID: scenarioID, StartedTurn: turn, StepVisits: map[string]int{}}
	}
	if s.Scenario.StepVisits == nil {
		s.Scenario.StepVisits = map[string]int{}
	}
	s.Scenario.StepID = stepID
	s.Scenario.StepVisits[stepID]++
	s.VisitHistory = append(s.VisitHistory, StepVisit{ScenarioID: scenarioID, StepID: stepID, Turn: turn})
	if over := len(s.VisitHistory) - MaxVisitHistory; over > 0 {
		s.VisitHistory = slices.Delete(s.VisitHistory, 0, over)
	}
}

// cloned is a copy of p that shares none of its maps.
func (p *ScenarioPosition) cloned() ScenarioPosition {
	c := *p
	c.StepVisits = maps.Clone(p.StepVisits)
	c.Given = maps.Clone(p.Given)
	return c
}

// NoteGiven records that the customer's message (or the request's
// metadata) gave name a value in turn, in the run of scenarioID's flow:
// the active one, or one waiting under it (a nested flow's start may give
// what the flow it suspends collects). A session with no such flow open
// notes nothing.
func (s *Session) NoteGiven(scenarioID, name string, turn int) {
	if p := s.openRun(scenarioID); p == nil || p.Given[name] == turn {
		return
	}
	p := s.ownRun(scenarioID)
	if p.Given == nil {
		p.Given = map[string]int{}
	}
	p.Given[name] = turn
}

// ForgetGiven drops name from what the run of scenarioID's open flow was
// given: the value given is gone (refused in favour of another, cleared).
func (s *Session) ForgetGiven(scenarioID, name string) {
	p := s.openRun(scenarioID)
	if p == nil {
		return
	}
	if _, ok := p.Given[name]; ok {
		delete(s.ownRun(scenarioID).Given, name)
	}
}

// openRun is the position of scenarioID's open flow, the active one or
// one waiting (a flow is open once at most), for reading; nil when it is
// not open.
func (s *Session) openRun(scenarioID string) *ScenarioPosition {
	if s.Scenario != nil && s.Scenario.ScenarioID == scenarioID {
		return s.Scenario
	}
	for i := range s.FlowStack {
		if s.FlowStack[i].ScenarioID == scenarioID {
			return &s.FlowStack[i]
		}
	}
	return nil
}

// ownRun is openRun for writing, s owning it: the stack of waiting flows
// is copied first, as every change to it is (clones share it).
func (s *Session) ownRun(scenarioID string) *ScenarioPosition {
	if s.Scenario != nil && s.Scenario.ScenarioID == scenarioID {
		s.own(sharedPosition)
		return s.Scenario
	}
	i := slices.IndexFunc(s.FlowStack, func(p ScenarioPosition) bool { return p.ScenarioID == scenarioID })
	s.FlowStack = slices.Clone(s.FlowStack)
	s.FlowStack[i] = s.FlowStack[i].cloned()
	return &s.FlowStack[i]
}

// ExitScenario leaves the active scenario.
func (s *Session) ExitScenario() { s.Scenario = nil }

// MaxSessionVariables bounds a session's variables: they are copied into
// every later turn, so a tool that names new ones each call must not grow
// a session without end.
const MaxSessionVariables = 64

// SetVariable stores a session variable. It reports false, storing
// nothing, for a new variable once the session has MaxSessionVariables.
func (s *Session) SetVariable(name string, value any) bool {
	if _, ok := s.Variables[name]; !ok && len(s.Variables) >= MaxSessionVariables {
		return false
	}
	s.own(sharedVariables)
	if s.Variables == nil {
		s.Variables = map[string]any{}
	}
	s.Variables[name] = value
	return true
}

// UnsetVariable removes a session variable.
func (s *Session) UnsetVariable(name string) {
	if _, ok := s.Variables[name]; !ok {
		return
	}
	s.own(sharedVariables)
	delete(s.Variables, name)
}

// AdvanceTurn records that turn number n was committed at now.
func (s *Session) AdvanceTurn(n int, now time.Time) {
	s.TurnCount = n
	s.Version++
	s.UpdatedAt = now
	s.LastActivityAt = now
}

// deepCopy copies JSON-shaped values (tool outputs are objects and lists),
// so a clone never shares a nested map or slice with its original.
func deepCopy(v any) any {
	switch x := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[k] = deepCopy(e)
		}
		return m
	case []any:
		l := make([]any, len(x))
		for i, e := range x {
			l[i] = deepCopy(e)
		}
		return l
	default:
		return v
	}
}

// AppendJSON appends to b what json.Marshal returns for s, byte for byte,
// without its reflection: a store encodes a session at every commit, and a
// returning user's session holds a few dozen fields, fires and visits.
// Variables, whose values are any JSON-shaped value, are left to
// json.Marshal. TestSessionAppendJSONIsMarshal holds it to json.Marshal.
func (s *Session) AppendJSON(b []byte) ([]byte, error) {
	b = appendJSONField(b, '{', "id", s.ID)
	b = appendJSONField(b, ',', "tenant_id", s.TenantID)
	b = appendJSONField(b, ',', "agent_id", s.AgentID)
	b = appendJSONField(b, ',', "channel", s.Channel)
	b = appendJSONField(b, ',', "user_channel_id", s.UserChannelID)
	b = appendJSONField(b, ',', "status", string(s.Status))
	b = strconv.AppendInt(append(b, `,"turn_count":`...), int64(s.TurnCount), 10)
	if len(s.RuleFires) > 0 {
		b = s.RuleFires.appendJSON(append(b, `,"rule_fires":`...))
	}
	if s.Scenario != nil {
		b = s.Scenario.appendJSON(append(b, `,"scenario":`...))
	}
	if len(s.FlowStack) > 0 {
		b = append(b, `,"flow_stack":`...)
		for i := range s.FlowStack {
			b = s.FlowStack[i].appendJSON(append(b, "[,"[min(i, 1)]))
		}
		b = append(b, ']')
	}
	if len(s.VisitHistory) > 0 {
		b = appendVisits(append(b, `,"visit_history":`...), s.VisitHistory)
	}
	return s.appendJSONTail(b)
}

// appendVisits appends what json.Marshal returns for visits, not empty.
// A visit to the step the one before visited (a user going round one
// step, turn after turn, the commonest history) copies that one's
// scenario and step members as encoded rather than encoding its strings
// again: a returning user's session holds dozens of visits.
func appendVisits(b []byte, visits []StepVisit) []byte {
	start, end := 0, 0 // the members last encoded, in b
	for i := range visits {
		v := &visits[i]
		b = append(b, "[,"[min(i, 1)])
		if i > 0 && v.StepID == visits[i-1].StepID && v.ScenarioID == visits[i-1].ScenarioID {
			b = append(b, b[start:end]...)
		} else {
			start = len(b)
			b = appendJSONField(b, '{', "scenario_id", v.ScenarioID)
			b = appendJSONField(b, ',', "step_id", v.StepID)
			end = len(b)
		}
		b = append(strconv.AppendInt(append(b, `,"turn":`...), int64(v.Turn), 10), '}')
	}
	return append(b, ']')
}

// appendJSONTail appends the fields of s from variables on, and the
// closing brace.
func (s *Session) appendJSONTail(b []byte) ([]byte, error) {
	if len(s.Variables) > 0 {
		vars, err := json.Marshal(s.Variables)
		if err != nil {
			return nil, err
		}
		b = append(append(b, `,"variables":`...), vars...)
	}
	b = strconv.AppendInt(append(b, `,"version":`...), s.Version, 10)
	times := [...]struct {
		name string
		at   *time.Time
	}{{"created_at", &s.CreatedAt}, {"updated_at", &s.UpdatedAt}, {"last_activity_at", &s.LastActivityAt}, {"closed_at", s.ClosedAt}}
	// A turn sets updated_at and last_activity_at to one time: the second
	// copies the first's text (what MarshalJSON writes depends on the
	// value alone) rather than formatting it again.
	var last *time.Time
	start, end := 0, 0 // last's text, in b
	for _, t := range times {
		if t.at == nil {
			continue
		}
		b = append(append(append(b, ',', '"'), t.name...), `":"`...)
		if last != nil && *t.at == *last {
			b = append(append(b, b[start:end]...), '"')
			continue
		}
		var err error
		start = len(b)
		// AppendText writes what MarshalJSON writes between the quotes,
		// and fails where it fails.
		if b, err = t.at.AppendText(b); err != nil {
			return nil, err
		}
		last, end = t.at, len(b)
		b = append(b, '"')
	}
	return append(b, '}'), nil
}

// appendJSON appends what json.Marshal returns for p.
func (p *ScenarioPosition) appendJSON(b []byte) []byte {
	b = appendJSONField(b, '{', "scenario_id", p.ScenarioID)
	b = appendJSONField(b, ',', "step_id", p.StepID)
	b = strconv.AppendInt(append(b, `,"started_turn":`...), int64(p.StartedTurn), 10)
	if len(p.StepVisits) > 0 {
		b = appendCounts(append(b, `,"step_visits":`...), p.StepVisits)
	}
	if len(p.Given) > 0 {
		b = appendCounts(append(b, `,"given":`...), p.Given)
	}
	return append(b, '}')
}

// appendCounts appends what json.Marshal returns for m, not empty.
func appendCounts(b []byte, m map[string]int) []byte {
	// The keys sorted as json.Marshal sorts them, in an array on the stack
	// while they are a few: every commit encodes the position.
	var few [8]string
	keys := few[:0]
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for i, k := range keys {
		b = AppendJSONString(append(b, "{,"[min(i, 1)]), k)
		b = strconv.AppendInt(append(b, ':'), int64(m[k]), 10)
	}
	return append(b, '}')
}

// appendJSONField appends sep, then name and value as a JSON object's
// member.
func appendJSONField(b []byte, sep byte, name, value string) []byte {
	b = append(append(append(b, sep, '"'), name...), '"', ':')
	return AppendJSONString(b, value)
}

// AppendJSONString appends s as json.Marshal writes it.
func AppendJSONString(b []byte, s string) []byte {
	if plainJSON(s) {
		return append(append(append(b, '"'), s...), '"')
	}
	q, _ := json.Marshal(s) // a string always encodes
	return append(b, q...)
}
