package convtest

import (
	"fmt"
	"io"
	"strconv"
	"strings"

	"focal/domain"
)

// Write prints a readable report: every turn with its outcome, failures
// indented under it, and a summary line that counts only what ran.
func (r Report) Write(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%s\n", r.Suite)
	turns, failed := 0, 0
	for _, c := range r.Conversations {
		fmt.Fprintf(&b, "  %s\n", c.Name)
		for _, t := range c.Turns {
			turns++
			if len(t.Failures) > 0 {
				failed++
			}
			writeTurn(&b, t)
		}
	}
	fmt.Fprintf(&b, "  %s, %s: %d passed, %d failed", counted(len(r.Conversations), "conversation"), counted(turns, "turn"), turns-failed, failed)
	if r.NotRun > 0 {
		// Only focal test's --run and --skip leave conversations out
		// (Runner.Select).
		fmt.Fprintf(&b, " (%d not run: --run/--skip)", r.NotRun)
	}
	b.WriteString("\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// counted is "1 turn", "2 turns".
func counted(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// writeTurn writes one turn: its mark, what the record shows of it, and,
// when a check failed, what happened beside each failure.
func writeTurn(b *strings.Builder, t TurnReport) {
	mark := "ok  "
	if len(t.Failures) > 0 {
		mark = "FAIL"
	}
	fmt.Fprintf(b, "    %s %d. %q\n", mark, t.Number, t.Message)
	if t.Explanation != nil {
		for _, line := range []string{decisions(t.Explanation), variablesLine(t.Explanation), toolsLine(t.Explanation)} {
			if line != "" {
				fmt.Fprintf(b, "         %s\n", line)
			}
		}
	}
	if t.Result != nil && len(t.Failures) > 0 {
		scenario := "none"
		if t.Result.Scenario != nil {
			scenario = t.Result.Scenario.ID + "/" + t.Result.Scenario.Step
		}
		fmt.Fprintf(b, "         reply: %q\n         scenario: %s, matched: %v, tools: %v\n",
			t.Result.Response, scenario, t.Result.MatchedRules, t.Result.ToolsCalled)
	}
	for _, f := range t.Failures {
		fmt.Fprintf(b, "         ✗ %s\n", f)
	}
}

// decisions sums up a turn's decisions beside their nearest misses: the
// rules matched and the best one that did not match, the scenario move and
// the best move not taken, each with its score.
func decisions(e *domain.Explanation) string {
	var matched []string
	next := "none"
	for _, c := range e.Candidates {
		switch {
		case c.Matched:
			matched = append(matched, fmt.Sprintf("%s %.2f", c.RuleID, c.Score))
		case next == "none":
			next = fmt.Sprintf("%s %.2f", c.RuleID, c.Score)
		}
	}
	rules := "none"
	if len(matched) > 0 {
		rules = strings.Join(matched, ", ")
	}
	line := fmt.Sprintf("rules: %s (next: %s)", rules, next)
	d := e.Scenario
	move := d.Action
	if d.After != nil {
		move += " " + d.After.ID + "/" + d.After.Step
	}
	if d.Score > 0 {
		move += fmt.Sprintf(" %.2f", d.Score)
	}
	line += " · scenario: " + move
	if alt, ok := missedOption(d); ok {
		line += fmt.Sprintf(" (next: %s %.2f)", strings.TrimSpace(alt.Move+" "+alt.Target), alt.Score)
	}
	for _, note := range []struct{ name, value string }{{"passed", strings.Join(d.Passed, ", ")}, {"digression", d.Digression}, {"command", d.Command}, {"reask", d.Reask}} {
		if note.value != "" {
			line += fmt.Sprintf(" · %s: %s", note.name, note.value)
		}
	}
	return line
}

// missedOption is the best option navigation weighed and did not take.
func missedOption(d domain.ScenarioDecision) (domain.ScenarioOption, bool) {
	for _, o := range d.Options {
		taken := false
		switch d.Action {
		case domain.ScenarioStart:
			taken = o.Move == domain.MoveStart && d.After != nil && o.Target == d.After.ID
		case domain.ScenarioAdvance, domain.ScenarioLoopExit:
			taken = o.Move == domain.MoveAdvance && d.Transition != nil && o.Target == d.Transition.To
		case domain.ScenarioExit:
			taken = o.Move == domain.MoveExit
		case domain.ScenarioStay:
			taken = o.Move == domain.MoveStay
		}
		if !taken {
			return o, true
		}
	}
	return domain.ScenarioOption{}, false
}

// variablesLine lists the variables the turn set, each with who set it
// and from what text, those it refused with why, and those a flow's start
// cleared.
func variablesLine(e *domain.Explanation) string {
	var parts []string
	for _, v := range e.Variables {
		if v.Source == domain.ClearedOnStart {
			parts = append(parts, v.Variable+" cleared (on_start)")
			continue
		}
		from := string(v.Source)
		if v.Text != "" {
			from += " " + strconv.Quote(v.Text)
		}
		if v.Problem != "" {
			parts = append(parts, fmt.Sprintf("%s refused (%s: %s)", v.Variable, from, v.Reason))
			continue
		}
		parts = append(parts, fmt.Sprintf("%s = %s (%s)", v.Variable, domain.FormatValue(v.Value), from))
	}
	if len(parts) == 0 {
		return ""
	}
	return "variables: " + strings.Join(parts, "; ")
}

// toolsLine lists the tools the turn called, each failed call with the
// error its turn record holds: a tool that is down, or whose answer was
// refused, is otherwise seen only in what the reply lacks.
func toolsLine(e *domain.Explanation) string {
	var parts []string
	for _, c := range e.ToolCalls {
		if c.Error != "" {
			parts = append(parts, fmt.Sprintf("%s (%s)", c.ToolID, c.Error))
			continue
		}
		parts = append(parts, c.ToolID+" ok")
	}
	if len(parts) == 0 {
		return ""
	}
	return "tools: " + strings.Join(parts, "; ")
}
