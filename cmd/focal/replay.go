package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"focal/application"
	"focal/domain"
)

// exitExpectationsBroken is focal replay's exit status when a turn marked
// with an expectation changed (1 is any other failure).
const exitExpectationsBroken = 3

// exitError ends the process with its status; main reports its message.
type exitError struct {
	status int
	msg    string
}

func (e *exitError) Error() string { return e.msg }

// ExitCode is the status the process exits with.
func (e *exitError) ExitCode() int { return e.status }

// replayOptions are the flags of focal replay.
type replayOptions struct {
	flags                          clientFlags
	agent, bundle, sessions, model string
	version                        int64
	asJSON                         bool
}

func replayCommand() *cobra.Command {
	var o replayOptions
	cmd := &cobra.Command{
		Use:   "replay",
		Short: "Replay recorded conversations against another version of an agent and show what changes (admin)",
		Long: "Re-runs the recorded user messages of some sessions through the engine with a candidate policy (a bundle\n" +
			"file, or a stored version) and prints what changed per turn: matched rules, scenario step, template,\n" +
			"enforcement and reply. Nothing live is written. Exits with status 3 when a turn marked with an\n" +
			"expectation (metadata \"expect\": true, or a list of kinds) changed.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return o.run(cmd.OutOrStdout()) },
	}
	o.flags.register(cmd)
	cmd.Flags().StringVar(&o.agent, "agent", "", "agent id (required)")
	cmd.Flags().StringVar(&o.bundle, "bundle", "", "candidate bundle file (YAML or JSON)")
	cmd.Flags().Int64Var(&o.version, "version", 0, "candidate: a stored version of the agent")
	cmd.Flags().StringVar(&o.sessions, "sessions", "last:50", "last:N (the agent's newest N sessions, N ≤ 100) or session ids separated by commas")
	cmd.Flags().StringVar(&o.model, "model", application.ReplayModelOffline, "offline (templates only) or configured (the service's model)")
	cmd.Flags().BoolVar(&o.asJSON, "json", false, "print the report as JSON")
	_ = cmd.MarkFlagRequired("agent")
	return cmd
}

// run asks the service for the replay and prints its report to out; an
// exitError when an expectation broke.
func (o *replayOptions) run(out io.Writer) error {
	body, candidate, err := replayBody(o.bundle, o.version, o.sessions, o.model)
	if err != nil {
		return err
	}
	data, err := o.post(body)
	if err != nil {
		return err
	}
	var report application.ReplayReport
	if err := json.Unmarshal(data, &report); err != nil {
		return fmt.Errorf("the replay answer is not a report: %w", err)
	}
	if o.asJSON {
		_, err = out.Write(append(data, '\n'))
	} else {
		err = printReplay(out, &report, candidate)
	}
	if err != nil {
		return err
	}
	if n := report.Summary.ExpectationsBroken; n > 0 {
		return &exitError{status: exitExpectationsBroken, msg: fmt.Sprintf("%d %s broken", n, plural(n, "expectation", "expectations"))}
	}
	return nil
}

// post sends the replay request and returns the answer's body.
func (o *replayOptions) post(body any) ([]byte, error) {
	c, err := o.flags.client()
	if err != nil {
		return nil, err
	}
	raw, err := json.Marshal(body)
	if err != nil {
		return nil, err
	}
	res, err := c.do(http.MethodPost, "/v1/agents/"+strings.ToLower(o.agent)+"/replay", "application/json", raw, nil)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	return io.ReadAll(res.Body)
}

// replayBody builds the request body from the flags and names the
// candidate for the printout.
func replayBody(bundle string, version int64, sessions, model string) (map[string]any, string, error) {
	body := map[string]any{"model": model}
	var candidate string
	switch {
	case bundle != "" && version != 0:
		return nil, "", fmt.Errorf("give --bundle or --version, not both")
	case bundle != "":
		data, err := os.ReadFile(bundle)
		if err != nil {
			return nil, "", err
		}
		body["bundle"], candidate = string(data), "bundle "+bundle
	case version > 0:
		body["version"], candidate = version, "version "+strconv.FormatInt(version, 10)
	default:
		return nil, "", fmt.Errorf("a candidate is required: --bundle <file> or --version <n>")
	}
	if n, ok := strings.CutPrefix(sessions, "last:"); ok {
		last, err := strconv.Atoi(n)
		if err != nil || last < 1 {
			return nil, "", fmt.Errorf("--sessions last:N needs a number from 1, not %q", n)
		}
		body["sessions"] = map[string]any{"last": last}
	} else {
		var ids []string
		for _, id := range strings.Split(sessions, ",") {
			if id = strings.TrimSpace(id); id != "" {
				ids = append(ids, id)
			}
		}
		if len(ids) == 0 {
			return nil, "", fmt.Errorf("--sessions needs last:N or session ids")
		}
		body["sessions"] = map[string]any{"ids": ids}
	}
	return body, candidate, nil
}

// printReplay writes the report as a readable diff: each changed turn with
// its before and after, unchanged turns counted.
func printReplay(w io.Writer, r *application.ReplayReport, candidate string) error {
	p := &printer{w: w}
	p.f("Replayed %d %s, %d %s of agent %s against %s (model %s)\n", r.Summary.Sessions, plural(r.Summary.Sessions, "session", "sessions"),
		r.Summary.Turns, plural(r.Summary.Turns, "turn", "turns"), r.AgentID, candidate, r.Model)
	for _, s := range r.Sessions {
		p.f("\nsession %s\n", s.SessionID)
		unchanged := 0
		for _, t := range s.Turns {
			if len(t.Changed) == 0 {
				unchanged++
				continue
			}
			mark := ""
			switch {
			case t.ExpectationBroken:
				mark = "  [expectation broken]"
			case len(t.Expect) > 0:
				mark = "  [expected: " + strings.Join(t.Expect, ", ") + "]"
			}
			p.f("  turn %d  %q%s\n", t.TurnNumber, t.Message, mark)
			printChanges(p, t)
		}
		if unchanged > 0 {
			p.f("  (%d %s unchanged)\n", unchanged, plural(unchanged, "turn", "turns"))
		}
	}
	s := r.Summary
	p.f("\n%d %s, %d changed", s.Turns, plural(s.Turns, "turn", "turns"), s.TurnsChanged)
	if len(s.ByKind) > 0 {
		var kinds []string
		for _, k := range append(slices.Clone(application.ReplayKinds), application.ChangeError) {
			if n := s.ByKind[k]; n > 0 {
				kinds = append(kinds, fmt.Sprintf("%s %d", k, n))
			}
		}
		p.f(" (%s)", strings.Join(kinds, ", "))
	}
	p.f("; %d expected, %d %s broken\n", s.Expected, s.ExpectationsBroken, plural(s.ExpectationsBroken, "expectation", "expectations"))
	if s.Truncated {
		p.f("(cut short at %d turns: the later turns were not replayed)\n", application.MaxReplayTurns)
	}
	return p.err
}

func printChanges(p *printer, t application.ReplayedTurn) {
	if t.Error != "" {
		p.f("    error        %s\n", t.Error)
		return
	}
	b, a := t.Before, t.After
	for _, kind := range t.Changed {
		switch kind {
		case application.ChangeRules:
			p.f("    rules        %s → %s\n", listOrNone(b.MatchedRules), listOrNone(a.MatchedRules))
		case application.ChangeScenario:
			p.f("    scenario     %s → %s\n", step(b.Scenario), step(a.Scenario))
		case application.ChangeTemplate:
			p.f("    template     %s → %s\n", orNone(b.Template), orNone(a.Template))
		case application.ChangeEnforcement:
			p.f("    enforcement  %s → %s\n", b.Enforcement, a.Enforcement)
		case application.ChangeReply:
			p.f("    reply      - %s\n               + %s\n", b.Reply, a.Reply)
		}
	}
}

func step(s *domain.ScenarioRef) string {
	if s == nil {
		return "none"
	}
	return s.ID + "/" + s.Step
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// printer writes formatted lines and keeps the first error.
type printer struct {
	w   io.Writer
	err error
}

func (p *printer) f(format string, args ...any) {
	if p.err == nil {
		_, p.err = fmt.Fprintf(p.w, format, args...)
	}
}
