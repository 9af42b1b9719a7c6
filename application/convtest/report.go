package convtest

import (
	"fmt"
	"io"
	"strings"
)

// Write prints a readable report: every turn with its outcome, failures
// indented under it, and a summary line.
func (r Report) Write(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%s\n", r.Suite)
	turns, failed := 0, 0
	for _, c := range r.Conversations {
		fmt.Fprintf(&b, "  %s\n", c.Name)
		for _, t := range c.Turns {
			turns++
			mark := "ok  "
			if len(t.Failures) > 0 {
				mark = "FAIL"
				failed++
			}
			fmt.Fprintf(&b, "    %s %d. %q\n", mark, t.Number, t.Message)
			if t.Result != nil && len(t.Failures) > 0 {
				scenario := "none"
				if t.Result.Scenario != nil {
					scenario = t.Result.Scenario.ID + "/" + t.Result.Scenario.Step
				}
				fmt.Fprintf(&b, "         reply: %q\n         scenario: %s, matched: %v, tools: %v\n",
					t.Result.Response, scenario, t.Result.MatchedRules, t.Result.ToolsCalled)
			}
			for _, f := range t.Failures {
				fmt.Fprintf(&b, "         ✗ %s\n", f)
			}
		}
	}
	fmt.Fprintf(&b, "  %d conversations, %d turns: %d passed, %d failed\n", len(r.Conversations), turns, turns-failed, failed)
	_, err := io.WriteString(w, b.String())
	return err
}
