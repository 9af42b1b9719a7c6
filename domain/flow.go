package domain

import (
	"fmt"
	"iter"
	"regexp"
	"slices"
	"time"
	"unicode/utf8"
)

// Built-in flow commands an agent may switch on (AgentSettings.Commands).
const (
	CommandCancel = "cancel" // leave the current flow
	CommandHuman  = "human"  // hand the conversation over to a person
)

// Commands lists the built-in flow commands.
var Commands = []string{CommandCancel, CommandHuman}

// MaxFlowDepth bounds nested flows: a flow started from inside another
// returns to it when it ends, and at most this many are open at once.
const MaxFlowDepth = 3

// commandPatterns recognise the built-in commands. They are anchored to the
// whole message (give or take politeness), so "cancel" inside a longer
// sentence ("can I cancel my order?") is a question for the rules, not a
// command.
var commandPatterns = map[string]*regexp.Regexp{
	CommandCancel: regexp.MustCompile(`(?i)^\s*(?:please\s+)?(?:cancel|stop|never\s*mind|forget\s+it|quit|abort)(?:\s+(?:it|this|that|please))?\s*[.!]*\s*$`),
	CommandHuman: regexp.MustCompile(`(?i)^\s*(?:(?:i\s+want|i'd\s+like|i\s+need|can\s+i|could\s+i|let\s+me)\s+(?:to\s+)?(?:talk|speak|chat)\s+(?:to|with)\s+)?` +
		`(?:a\s+|an\s+)?(?:human|agent|person|operator|representative|real\s+person)(?:\s+please)?\s*[.!?]*\s*$`),
}

// FlowCommand returns the built-in command msg gives among those enabled,
// or "".
func FlowCommand(msg string, enabled []string) string {
	// Most agents switch no command on: their messages are not read.
	if len(enabled) == 0 || !mayGiveCommand(msg) {
		return ""
	}
	for _, c := range Commands {
		if slices.Contains(enabled, c) && commandPatterns[c].MatchString(msg) {
			return c
		}
	}
	return ""
}

// mayGiveCommand is false for a message no command pattern matches, told
// without them: an ASCII message that has none of the words every match
// holds (a word being a run of letters, in any case). Most messages are
// no command, and the patterns cost thousands of instructions each. A
// message with other characters is left to the patterns, whose case
// folding reaches past ASCII (ſ is an s to them).
func mayGiveCommand(msg string) bool {
	var word [len("representative")]byte
	n := 0 // letters of the word being read; past len(word), too long to be one
	for i := 0; i <= len(msg); i++ {
		if i < len(msg) {
			c := msg[i]
			if c >= utf8.RuneSelf {
				return true
			}
			if c|0x20 >= 'a' && c|0x20 <= 'z' {
				if n < len(word) {
					word[n] = c | 0x20
				}
				n++
				continue
			}
		}
		if n > 0 && n <= len(word) && isCommandWord(string(word[:n])) {
			return true
		}
		n = 0
	}
	return false
}

// isCommandWord reports whether w (in lower case) is a word that every
// match of a command pattern holds one of.
func isCommandWord(w string) bool {
	switch w {
	case "cancel", "stop", "never", "nevermind", "forget", "quit", "abort", // cancel
		"human", "agent", "person", "operator", "representative": // human
		return true
	}
	return false
}

// LoadTimeZone returns the location of an IANA time zone name; "" is UTC.
func LoadTimeZone(name string) (*time.Location, error) {
	if name == "" {
		return time.UTC, nil
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, fmt.Errorf("time zone %q is not an IANA time zone name (like Europe/Paris)", name)
	}
	return loc, nil
}

// Missing returns the variables the step collects that vars does not hold,
// in the step's order.
func (st *Step) Missing(vars map[string]any) []string {
	return slices.Collect(st.EachMissing(vars))
}

// EachMissing yields what Missing returns, without a list: a turn asks
// about its step's variables several times.
func (st *Step) EachMissing(vars map[string]any) iter.Seq[string] {
	return func(yield func(string) bool) {
		for _, name := range st.Collects {
			if vars[name] == nil && !yield(name) {
				return
			}
		}
	}
}

// Lacks reports whether vars misses a variable the step collects.
func (st *Step) Lacks(vars map[string]any) bool {
	for range st.EachMissing(vars) {
		return true
	}
	return false
}

// flowRefs checks what steps and settings name for flows: variables a step
// collects, tools it calls, commands and the time zone.
func (v *validator) flowRefs(p *Policy) {
	vars := map[string]bool{}
	for _, x := range p.Variables {
		vars[x.Name] = true
	}
	tools := map[string]bool{}
	for _, t := range p.Tools {
		tools[t.ID] = true
	}
	for i, sc := range p.Scenarios {
		for j, st := range sc.Steps {
			sf := fmt.Sprintf("scenarios[%d].steps[%d]", i, j)
			v.count(sf+".collects", len(st.Collects), v.limits.References, "references")
			v.refs(sf+".collects", st.Collects, vars, "variable")
			v.count(sf+".tools_on_entry", len(st.ToolsOnEntry), v.limits.References, "references")
			v.refs(sf+".tools_on_entry", st.ToolsOnEntry, tools, "tool")
			v.count(sf+".tools_on_complete", len(st.ToolsOnComplete), v.limits.References, "references")
			v.refs(sf+".tools_on_complete", st.ToolsOnComplete, tools, "tool")
		}
	}
	s := p.Agent.Settings
	if _, err := LoadTimeZone(s.TimeZone); err != nil {
		v.add("agent.settings.time_zone", "must be an IANA time zone name (like Europe/Paris)")
	}
	for i, c := range s.Commands {
		switch {
		case !slices.Contains(Commands, c):
			v.add(fmt.Sprintf("agent.settings.commands[%d]", i), fmt.Sprintf("must be one of %v", Commands))
		case slices.Contains(s.Commands[:i], c):
			v.add(fmt.Sprintf("agent.settings.commands[%d]", i), "duplicate command "+c)
		}
	}
}

// SuspendScenario puts the active flow on the stack, under the one about
// to start. The stack is copied, never written in place: clones share it.
func (s *Session) SuspendScenario() {
	if s.Scenario == nil {
		return
	}
	s.FlowStack = append(slices.Clone(s.FlowStack), s.Scenario.cloned())
	s.Scenario = nil
}

// ResumeScenario makes the innermost waiting flow the active one again,
// returning it, or nil when none waits.
func (s *Session) ResumeScenario() *ScenarioPosition {
	n := len(s.FlowStack)
	if n == 0 {
		return nil
	}
	pos := s.FlowStack[n-1].cloned()
	s.Scenario = &pos
	s.FlowStack = slices.Clone(s.FlowStack[:n-1])
	if len(s.FlowStack) == 0 {
		s.FlowStack = nil
	}
	return &pos
}

// LeaveAllScenarios ends the active flow and every waiting one.
func (s *Session) LeaveAllScenarios() {
	s.Scenario, s.FlowStack = nil, nil
}
