package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"focal/application"
)

func agentsCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "agents", Short: "Import and export agent bundles through the API"}
	cmd.AddCommand(agentsImportCommand(), agentsExportCommand())
	return cmd
}

func agentsImportCommand() *cobra.Command {
	var flags clientFlags
	cmd := &cobra.Command{
		Use:   "import <bundle.yaml|bundle.json>",
		Short: "Import a bundle as the next version of its agent (admin)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := flags.client()
			if err != nil {
				return err
			}
			id, version, err := importBundle(c, args[0])
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "imported agent %s as version %d\n", id, version)
			return nil
		},
	}
	flags.register(cmd)
	return cmd
}

// importBundle puts the bundle at path as its agent's next version and
// returns the agent's id and the version stored.
func importBundle(c *apiClient, path string) (id string, version int64, err error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", 0, err
	}
	// Parse locally first: the agent id names the route, and a broken file
	// fails here with line-level YAML errors.
	p, asJSON, err := application.ParseLocalBundle(data)
	if err != nil {
		return "", 0, fmt.Errorf("%s: %w", path, err)
	}
	ct := "application/yaml"
	if strings.EqualFold(filepath.Ext(path), ".json") {
		ct = "application/json"
	}
	if asJSON {
		// YAML too dense for the server to read within its memory bound:
		// the policy read here, as the JSON an export writes, is the same
		// bundle.
		if data, err = json.Marshal(p); err != nil {
			return "", 0, err
		}
		ct = "application/json"
	}
	res, err := c.do(http.MethodPut, "/v1/agents/"+strings.ToLower(p.Agent.ID)+"/bundle", ct, data, nil)
	if err != nil {
		return "", 0, err
	}
	defer res.Body.Close()
	type agent struct {
		ID      string `json:"id"`
		Version int64  `json:"version"`
	}
	var body struct {
		Agent *agent `json:"agent"`
	}
	raw, _ := io.ReadAll(res.Body)
	if json.Unmarshal(raw, &body) == nil && body.Agent != nil {
		return body.Agent.ID, body.Agent.Version, nil
	}
	var bare agent
	_ = json.Unmarshal(raw, &bare)
	return bare.ID, bare.Version, nil
}

func agentsExportCommand() *cobra.Command {
	var flags clientFlags
	var out string
	cmd := &cobra.Command{
		Use:   "export <agent_id>",
		Short: "Export an agent's current bundle (YAML when -o ends in .yaml)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := flags.client()
			if err != nil {
				return err
			}
			accept := "application/json"
			if strings.HasSuffix(out, ".yaml") || strings.HasSuffix(out, ".yml") {
				accept = "application/yaml"
			}
			res, err := c.do(http.MethodGet, "/v1/agents/"+strings.ToLower(args[0])+"/bundle", "", nil, map[string]string{"Accept": accept})
			if err != nil {
				return err
			}
			defer res.Body.Close()
			w := cmd.OutOrStdout()
			if out != "" {
				f, err := os.Create(out)
				if err != nil {
					return err
				}
				defer f.Close()
				w = f
			}
			_, err = io.Copy(w, res.Body)
			return err
		},
	}
	flags.register(cmd)
	cmd.Flags().StringVarP(&out, "output", "o", "", "file to write (default stdout)")
	return cmd
}

func sessionsCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "sessions", Short: "Inspect sessions through the API"}
	var flags clientFlags
	var turns int
	show := &cobra.Command{
		Use:   "show <session_id>",
		Short: "Show a session, its newest turns and why the agent said what it said",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := flags.client()
			if err != nil {
				return err
			}
			id := strings.ToLower(args[0])
			var s sessionView
			if err := c.getJSON("/v1/sessions/"+id, &s); err != nil {
				return err
			}
			var page struct {
				Items []turnView `json:"items"`
			}
			if err := c.getJSON(fmt.Sprintf("/v1/sessions/%s/turns?order=desc&limit=%d", id, turns), &page); err != nil {
				return err
			}
			writeSession(cmd.OutOrStdout(), id, s, page.Items)
			return nil
		},
	}
	flags.register(show)
	show.Flags().IntVar(&turns, "turns", 10, "newest turns to show (1..100)")
	cmd.AddCommand(show)
	return cmd
}

// sessionView is what `sessions show` reads of a session.
type sessionView struct {
	AgentID       string `json:"agent_id"`
	Channel       string `json:"channel"`
	UserChannelID string `json:"user_channel_id"`
	Status        string `json:"status"`
	TurnCount     int    `json:"turn_count"`
	Scenario      *struct {
		ScenarioID string `json:"scenario_id"`
		StepID     string `json:"step_id"`
	} `json:"scenario"`
	Variables map[string]any `json:"variables"`
}

// turnView is what `sessions show` reads of a turn and its explanation.
type turnView struct {
	TurnNumber  int    `json:"turn_number"`
	Message     string `json:"message"`
	Response    string `json:"response"`
	Status      string `json:"status"`
	LatencyMS   int64  `json:"latency_ms"`
	Explanation struct {
		Matched []struct {
			RuleID string `json:"rule_id"`
		} `json:"matched"`
		Scenario struct {
			Action string `json:"action"`
			Reason string `json:"reason"`
		} `json:"scenario"`
		Generation struct {
			Source string `json:"source"`
		} `json:"generation"`
		Enforcement struct {
			Violations []struct {
				RuleID string `json:"rule_id"`
			} `json:"violations"`
		} `json:"enforcement"`
	} `json:"explanation"`
}

// writeSession prints the session's summary, then its turns oldest first
// (newest holds them newest first).
func writeSession(w io.Writer, id string, s sessionView, newest []turnView) {
	scenario := "none"
	if s.Scenario != nil {
		scenario = s.Scenario.ScenarioID + "/" + s.Scenario.StepID
	}
	fmt.Fprintf(w, "session %s (%s) · agent %s · %s/%s · %d turns · scenario %s\n",
		id, s.Status, s.AgentID, s.Channel, s.UserChannelID, s.TurnCount, scenario)
	if len(s.Variables) > 0 {
		vars, _ := json.Marshal(s.Variables)
		fmt.Fprintf(w, "variables %s\n", vars)
	}
	for i := len(newest) - 1; i >= 0; i-- {
		t := newest[i]
		rules := make([]string, 0, len(t.Explanation.Matched))
		for _, m := range t.Explanation.Matched {
			rules = append(rules, m.RuleID)
		}
		fmt.Fprintf(w, "\n#%d user:  %s\n    agent: %s\n    [%s · %s · rules: %s · scenario: %s · %d violations · %d ms]\n",
			t.TurnNumber, t.Message, t.Response, t.Status, t.Explanation.Generation.Source, listOrNone(rules),
			t.Explanation.Scenario.Action, len(t.Explanation.Enforcement.Violations), t.LatencyMS)
	}
}
