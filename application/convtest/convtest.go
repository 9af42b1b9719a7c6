// Package convtest runs conversation tests: YAML files that script a
// conversation with an agent and state, per turn, what must happen — rules
// matched, scenario position, tools called, and the reply.
//
//	name: returns flow
//	tools:                          # stand-ins for the bundle's webhooks (optional)
//	  order_lookup:
//	    variables: {item_name: blue denim jacket}   # what the tool answers
//	conversations:
//	  - name: a jacket that did not fit
//	    channel: webchat            # optional, default "test"
//	    tools:                      # this conversation's stand-ins, over the file's
//	      order_lookup: {status: 503}               # the tool fails
//	    turns:
//	      - user: Hi! I want to return my jacket
//	        expect:
//	          scenario: returns/ask_order       # or "none"
//	          matched_rules: [greeting, returns_policy]   # exactly these, any order
//	          matched_rules_include: [greeting]           # at least these
//	          tools_called: []
//	          variables: {order_id: AC-123456}     # set this turn, these values
//	          reply:
//	            equals: "..."
//	            contains: ["order number"]
//	            not_contains: ["guaranteed refund"]
//	            regex: "AC-"
package convtest

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"gopkg.in/yaml.v3"

	"focal/application"
	"focal/domain"
)

// Suite is one conversation test file.
type Suite struct {
	Name string `yaml:"name"`
	// File is where the suite was read from, for reports; Parse leaves it
	// to its caller, which knows the path.
	File string `yaml:"-"`
	// Tools stand in for the bundle's webhooks while the file runs.
	Tools         map[string]ToolStub `yaml:"tools"`
	Conversations []Conversation      `yaml:"conversations"`
}

// Conversation is a scripted exchange in one session.
type Conversation struct {
	Name    string `yaml:"name"`
	Channel string `yaml:"channel"`
	// Tools replace the file's stand-ins of the same ids for this
	// conversation.
	Tools map[string]ToolStub `yaml:"tools"`
	Turns []Turn              `yaml:"turns"`
}

// ToolStub is what a stand-in for one tool answers: its variables, or a
// failure status (4xx or 5xx) instead.
type ToolStub struct {
	Variables map[string]any `yaml:"variables"`
	Status    int            `yaml:"status"`
}

// ToolStubs receives the stand-ins in force before each conversation
// starts; the runner of the file serves them.
type ToolStubs func(map[string]ToolStub)

// StubbedTools lists the ids of every tool the suite stands in for, in
// the file or in any conversation.
func (s *Suite) StubbedTools() []string {
	ids := slices.Collect(maps.Keys(s.Tools))
	for _, c := range s.Conversations {
		ids = append(ids, slices.Collect(maps.Keys(c.Tools))...)
	}
	slices.Sort(ids)
	return slices.Compact(ids)
}

// InForce is the stand-ins in force while conv plays: the file's, each
// replaced by the conversation's of the same id. Never nil.
func (s *Suite) InForce(conv Conversation) map[string]ToolStub {
	inForce := maps.Clone(s.Tools)
	if inForce == nil {
		inForce = map[string]ToolStub{}
	}
	maps.Copy(inForce, conv.Tools)
	return inForce
}

// WithStandIns lists the conversations sel selects (Selected) that play
// with a stand-in in force: every one of them when the file stands in for
// a tool. A run that cannot serve stand-ins (against a deployment) must
// refuse these rather than play them against the real tools.
func (s *Suite) WithStandIns(sel Selection) []Conversation {
	var with []Conversation
	for _, c := range s.Selected(sel) {
		if len(s.InForce(c)) > 0 {
			with = append(with, c)
		}
	}
	return with
}

// Selection picks conversations by name as go test's -run and -skip pick
// tests: a conversation is played when Run, if set, matches its name and
// Skip, if set, does not (both unanchored). The zero Selection picks all.
type Selection struct {
	Run, Skip *regexp.Regexp
}

// picks reports whether the conversation named name is played.
func (sel Selection) picks(name string) bool {
	return (sel.Run == nil || sel.Run.MatchString(name)) && (sel.Skip == nil || !sel.Skip.MatchString(name))
}

// Selected lists the conversations sel picks, in the file's order.
func (s *Suite) Selected(sel Selection) []Conversation {
	if sel == (Selection{}) {
		return s.Conversations
	}
	var picked []Conversation
	for _, c := range s.Conversations {
		if sel.picks(c.Name) {
			picked = append(picked, c)
		}
	}
	return picked
}

// Turn is one user message and what must follow.
type Turn struct {
	User   string `yaml:"user"`
	Expect Expect `yaml:"expect"`
}

// Expect lists the checks of a turn; unset checks are not made.
type Expect struct {
	MatchedRules        *[]string `yaml:"matched_rules"`
	MatchedRulesInclude []string  `yaml:"matched_rules_include"`
	Scenario            *string   `yaml:"scenario"`
	ToolsCalled         *[]string `yaml:"tools_called"`
	// Variables are values the turn must set (its record's variables).
	Variables map[string]any `yaml:"variables"`
	// Reask, when set, must be contained in why the step asked again.
	Reask string       `yaml:"reask"`
	Reply *ReplyExpect `yaml:"reply"`
}

// ReplyExpect checks the reply text.
type ReplyExpect struct {
	Equals      *string  `yaml:"equals"`
	Contains    []string `yaml:"contains"`
	NotContains []string `yaml:"not_contains"`
	Regex       string   `yaml:"regex"`
}

// Parse reads a suite strictly: unknown keys are errors, so a misspelt
// expectation cannot pass by being ignored.
func Parse(data []byte) (*Suite, error) {
	var s Suite
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&s); err != nil {
		return nil, fmt.Errorf("conversation test: %w", err)
	}
	if len(s.Conversations) == 0 {
		return nil, fmt.Errorf("conversation test %q has no conversations", s.Name)
	}
	if err := checkStubs("tools", s.Tools); err != nil {
		return nil, err
	}
	for i, c := range s.Conversations {
		if err := checkStubs(fmt.Sprintf("conversation %q: tools", c.Name), c.Tools); err != nil {
			return nil, err
		}
		if len(c.Turns) == 0 {
			return nil, fmt.Errorf("conversation %d (%q) has no turns", i+1, c.Name)
		}
		for j, t := range c.Turns {
			if strings.TrimSpace(t.User) == "" {
				return nil, fmt.Errorf("conversation %q turn %d has no user message", c.Name, j+1)
			}
			if t.Expect.Reply != nil && t.Expect.Reply.Regex != "" {
				if _, err := regexp.Compile(t.Expect.Reply.Regex); err != nil {
					return nil, fmt.Errorf("conversation %q turn %d: reply.regex: %w", c.Name, j+1, err)
				}
			}
		}
	}
	return &s, nil
}

// checkStubs refuses a stand-in that both fails and answers.
func checkStubs(where string, stubs map[string]ToolStub) error {
	for id, st := range stubs {
		switch {
		case st.Status != 0 && (st.Status < 400 || st.Status > 599):
			return fmt.Errorf("%s.%s.status: %d is not a failure status (400-599); leave it out to answer the variables", where, id, st.Status)
		case st.Status != 0 && len(st.Variables) > 0:
			return fmt.Errorf("%s.%s: a stand-in answers variables or fails with a status, not both", where, id)
		}
	}
	return nil
}

// Chatter runs one turn; *application.ProcessMessage is one.
type Chatter interface {
	Chat(ctx context.Context, cmd application.ChatCommand) (*application.ChatResult, error)
}

// TurnReader reads a turn's record, for what it shows of the decisions;
// *application.Conversations is one.
type TurnReader interface {
	Turn(ctx context.Context, tenantID, turnID string) (*domain.Turn, error)
}

// Report is the outcome of a suite.
type Report struct {
	Suite string
	// File is the suite's (Suite.File).
	File string
	// Conversations are those that ran, in the file's order.
	Conversations []ConversationReport
	// NotRun counts the conversations the run's selection (Runner.Select)
	// left out: neither passed nor failed.
	NotRun int
}

// ConversationReport is the outcome of one conversation.
type ConversationReport struct {
	Name  string
	Turns []TurnReport
	// Time is how long the conversation took, all its turns together.
	Time time.Duration
}

// TurnReport is one turn's outcome: what happened and every failed check.
type TurnReport struct {
	Number  int
	Message string
	Result  *application.ChatResult
	// Explanation is the turn record's, when it could be read: the
	// report shows the decisions beside their nearest misses.
	Explanation *domain.Explanation
	Failures    []string
}

// Passed reports whether every check of every turn held.
func (r Report) Passed() bool {
	for _, c := range r.Conversations {
		for _, t := range c.Turns {
			if len(t.Failures) > 0 {
				return false
			}
		}
	}
	return true
}

// Runner plays suites against one agent of one tenant.
type Runner struct {
	Chat Chatter
	// Turns, when not nil, reads each turn's record for the report.
	Turns             TurnReader
	TenantID, AgentID string
	// Stubs, when not nil, receives the stand-ins in force before each
	// conversation starts.
	Stubs ToolStubs
	// Select picks the conversations to play (Suite.Selected); the report
	// counts the others as not run.
	Select Selection
}

// Run plays the selected conversations of s, each in a session of its
// own and timed by the machine's monotonic clock. A conversation stops at
// a turn that errors.
func (r Runner) Run(ctx context.Context, s *Suite) Report {
	picked := s.Selected(r.Select)
	rep := Report{Suite: s.Name, File: s.File, NotRun: len(s.Conversations) - len(picked)}
	for _, conv := range picked {
		if r.Stubs != nil {
			r.Stubs(s.InForce(conv))
		}
		start := time.Now()
		cr := r.play(ctx, conv)
		cr.Time = time.Since(start)
		rep.Conversations = append(rep.Conversations, cr)
	}
	return rep
}

// play runs one conversation's turns in a session of its own.
func (r Runner) play(ctx context.Context, conv Conversation) ConversationReport {
	channel := conv.Channel
	if channel == "" {
		channel = "test"
	}
	user := "convtest-" + uuid.NewString()
	cr := ConversationReport{Name: conv.Name}
	for i, turn := range conv.Turns {
		tr := TurnReport{Number: i + 1, Message: turn.User}
		res, err := r.Chat.Chat(ctx, application.ChatCommand{
			TenantID: r.TenantID, AgentID: r.AgentID, Channel: channel, UserChannelID: user, Message: turn.User,
		})
		if err != nil {
			tr.Failures = []string{"the turn failed: " + err.Error()}
			cr.Turns = append(cr.Turns, tr)
			break
		}
		tr.Result = res
		var unread error
		if r.Turns != nil {
			rec, err := r.Turns.Turn(ctx, r.TenantID, res.TurnID)
			if err == nil {
				tr.Explanation = &rec.Explanation
			}
			unread = err
		}
		tr.Failures = append(check(turn.Expect, res), checkRecord(turn.Expect, tr.Explanation, unread)...)
		cr.Turns = append(cr.Turns, tr)
	}
	return cr
}

// check compares a turn's result with its expectations; each failure
// shows what was expected and what happened.
func check(e Expect, r *application.ChatResult) []string {
	var fails []string
	fail := func(format string, args ...any) { fails = append(fails, fmt.Sprintf(format, args...)) }
	if e.Scenario != nil {
		got := "none"
		if r.Scenario != nil {
			got = r.Scenario.ID + "/" + r.Scenario.Step
		}
		if want := *e.Scenario; want != got && !(want == "" && got == "none") {
			fail("scenario: expected %q, got %q", want, got)
		}
	}
	if e.MatchedRules != nil && !sameSet(*e.MatchedRules, r.MatchedRules) {
		fail("matched_rules: expected %v, got %v", *e.MatchedRules, r.MatchedRules)
	}
	for _, id := range e.MatchedRulesInclude {
		if !slices.Contains(r.MatchedRules, id) {
			fail("matched_rules_include: expected %q among the matches, got %v", id, r.MatchedRules)
		}
	}
	if e.ToolsCalled != nil && !sameSet(*e.ToolsCalled, r.ToolsCalled) {
		fail("tools_called: expected %v, got %v", *e.ToolsCalled, r.ToolsCalled)
	}
	if e.Reply != nil {
		fails = append(fails, checkReply(*e.Reply, r.Response)...)
	}
	return fails
}

func checkReply(e ReplyExpect, reply string) []string {
	var fails []string
	if e.Equals != nil && *e.Equals != reply {
		fails = append(fails, fmt.Sprintf("reply: expected to equal %q, got %q", *e.Equals, reply))
	}
	for _, s := range e.Contains {
		if !strings.Contains(reply, s) {
			fails = append(fails, fmt.Sprintf("reply: expected to contain %q, got %q", s, reply))
		}
	}
	for _, s := range e.NotContains {
		if strings.Contains(strings.ToLower(reply), strings.ToLower(s)) {
			fails = append(fails, fmt.Sprintf("reply: expected not to contain %q, got %q", s, reply))
		}
	}
	if e.Regex != "" && !regexp.MustCompile(e.Regex).MatchString(reply) {
		fails = append(fails, fmt.Sprintf("reply: expected to match /%s/, got %q", e.Regex, reply))
	}
	return fails
}

func sameSet(want, got []string) bool {
	a, b := slices.Clone(want), slices.Clone(got)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

// checkRecord compares what the turn record shows with the expectations:
// the variables set and why the step asked again. A record that could not
// be read fails them with why (unread), which over the API may be the
// caller's to fix (a token that may not read turns).
func checkRecord(e Expect, x *domain.Explanation, unread error) []string {
	if len(e.Variables) == 0 && e.Reask == "" {
		return nil
	}
	if x == nil {
		why := "variables: the turn record could not be read"
		if unread != nil {
			why += ": " + unread.Error()
		}
		return []string{why}
	}
	var fails []string
	set := map[string]string{}
	for _, v := range x.Variables {
		switch {
		case v.Source == domain.ClearedOnStart:
			delete(set, v.Variable)
		case v.Problem == "":
			set[v.Variable] = domain.FormatValue(v.Value)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(e.Variables)) {
		want := domain.FormatValue(e.Variables[name])
		if got, ok := set[name]; !ok || got != want {
			fails = append(fails, fmt.Sprintf("variables: expected %s = %q, got %s", name, want, describeSet(set)))
		}
	}
	if e.Reask != "" && !strings.Contains(x.Scenario.Reask, e.Reask) {
		fails = append(fails, fmt.Sprintf("reask: expected to contain %q, got %q", e.Reask, x.Scenario.Reask))
	}
	return fails
}

func describeSet(set map[string]string) string {
	if len(set) == 0 {
		return "none set"
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(set)) {
		parts = append(parts, k+" = "+strconv.Quote(set[k]))
	}
	return strings.Join(parts, ", ")
}
