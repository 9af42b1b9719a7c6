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
	var imp clientFlags
	importCmd := &cobra.Command{
		Use:   "import <bundle.yaml|bundle.json>",
		Short: "Import a bundle as the next version of its agent (admin)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := imp.client()
			if err != nil {
				return err
			}
			data, err := os.ReadFile(args[0])
			if err != nil {
				return err
			}
			// Parse locally first: the agent id names the route, and a
			// broken file fails here with line-level YAML errors.
			p, err := application.ParseBundle(data)
			if err != nil {
				return fmt.Errorf("%s: %w", args[0], err)
			}
			ct := "application/yaml"
			if strings.EqualFold(filepath.Ext(args[0]), ".json") {
				ct = "application/json"
			}
			res, err := c.do(http.MethodPut, "/v1/agents/"+strings.ToLower(p.Agent.ID)+"/bundle", ct, data, nil)
			if err != nil {
				return err
			}
			defer res.Body.Close()
			var agent struct {
				ID      string `json:"id"`
				Version int64  `json:"version"`
			}
			var body struct {
				Agent *struct {
					ID      string `json:"id"`
					Version int64  `json:"version"`
				} `json:"agent"`
			}
			raw, _ := io.ReadAll(res.Body)
			if json.Unmarshal(raw, &body) == nil && body.Agent != nil {
				agent.ID, agent.Version = body.Agent.ID, body.Agent.Version
			} else {
				_ = json.Unmarshal(raw, &agent)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "imported agent %s as version %d\n", agent.ID, agent.Version)
			return nil
		},
	}
	imp.register(importCmd)

	var exp clientFlags
	var out string
	exportCmd := &cobra.Command{
		Use:   "export <agent_id>",
		Short: "Export an agent's current bundle (YAML when -o ends in .yaml)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := exp.client()
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
	exp.register(exportCmd)
	exportCmd.Flags().StringVarP(&out, "output", "o", "", "file to write (default stdout)")
	cmd.AddCommand(importCmd, exportCmd)
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
			var s struct {
				ID, AgentID, Channel, UserChannelID, Status string
				TurnCount                                   int `json:"turn_count"`
				Scenario                                    *struct {
					ScenarioID string `json:"scenario_id"`
					StepID     string `json:"step_id"`
				} `json:"scenario"`
				Variables map[string]any `json:"variables"`
			}
			if err := c.getJSON("/v1/sessions/"+id, &s); err != nil {
				return err
			}
			var page struct {
				Items []struct {
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
				} `json:"items"`
			}
			if err := c.getJSON(fmt.Sprintf("/v1/sessions/%s/turns?order=desc&limit=%d", id, turns), &page); err != nil {
				return err
			}
			w := cmd.OutOrStdout()
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
			for i := len(page.Items) - 1; i >= 0; i-- {
				t := page.Items[i]
				rules := make([]string, 0, len(t.Explanation.Matched))
				for _, m := range t.Explanation.Matched {
					rules = append(rules, m.RuleID)
				}
				fmt.Fprintf(w, "\n#%d user:  %s\n    agent: %s\n    [%s · %s · rules: %s · scenario: %s · %d violations · %d ms]\n",
					t.TurnNumber, t.Message, t.Response, t.Status, t.Explanation.Generation.Source, listOrNone(rules),
					t.Explanation.Scenario.Action, len(t.Explanation.Enforcement.Violations), t.LatencyMS)
			}
			return nil
		},
	}
	flags.register(show)
	show.Flags().IntVar(&turns, "turns", 10, "newest turns to show (1..100)")
	cmd.AddCommand(show)
	return cmd
}
