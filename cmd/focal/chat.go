package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"

	"github.com/google/uuid"
	"github.com/spf13/cobra"
	sse "github.com/tmaxmax/go-sse"
	"golang.org/x/term"
)

func chatCommand() *cobra.Command {
	var flags clientFlags
	var agent, user, channel string
	cmd := &cobra.Command{
		Use:   "chat --agent <id>",
		Short: "Chat with an agent in the terminal, streaming its replies",
		Long: "Each line you type is one message. Replies stream as the model writes them; after each, the matched " +
			"rules, the scenario step and the turn's latency are shown. /new starts a new session, /quit (or end of input) leaves.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := flags.client()
			if err != nil {
				return err
			}
			if user == "" {
				user = "cli-" + uuid.NewString()[:8]
			}
			s := &chatSession{c: c, agent: agent, user: user, channel: channel, out: cmd.OutOrStdout()}
			return s.loop(cmd.InOrStdin())
		},
	}
	flags.register(cmd)
	cmd.Flags().StringVar(&agent, "agent", "", "agent id (required)")
	cmd.Flags().StringVar(&user, "user", "", "user_channel_id (default: a new one per run)")
	cmd.Flags().StringVar(&channel, "channel", "cli", "channel name")
	_ = cmd.MarkFlagRequired("agent")
	return cmd
}

type chatSession struct {
	c                     *apiClient
	agent, user, channel  string
	session               string
	out                   io.Writer
	interactive, coloured bool
}

func (s *chatSession) loop(in io.Reader) error {
	if f, ok := in.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		s.interactive = true
	}
	if f, ok := s.out.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		s.coloured = true
	}
	lines := bufio.NewScanner(in)
	lines.Buffer(make([]byte, 64<<10), 1<<20)
	for {
		if s.interactive {
			fmt.Fprint(s.out, "you> ")
		}
		if !lines.Scan() {
			return lines.Err()
		}
		msg := strings.TrimSpace(lines.Text())
		switch msg {
		case "":
			continue
		case "/quit", "/exit":
			return nil
		case "/new":
			s.session = ""
			fmt.Fprintln(s.out, s.dim("(new session)"))
			continue
		}
		if err := s.turn(msg); err != nil {
			fmt.Fprintln(s.out, s.dim("error: "+err.Error()))
		}
	}
}

// turn sends one message on the stream route and prints tokens as they
// arrive, then what the engine decided.
func (s *chatSession) turn(msg string) error {
	body := map[string]string{"agent_id": s.agent, "channel": s.channel, "user_channel_id": s.user, "message": msg}
	if s.session != "" {
		body["session_id"] = s.session
	}
	raw, _ := json.Marshal(body)
	res, err := s.c.do(http.MethodPost, "/v1/chat/stream", "application/json", raw, map[string]string{"Accept": "text/event-stream"})
	if err != nil {
		return err
	}
	defer res.Body.Close()
	fmt.Fprint(s.out, "agent> ")
	for ev, err := range sse.Read(res.Body, &sse.ReadConfig{MaxEventSize: 4 << 20}) {
		if err != nil {
			fmt.Fprintln(s.out)
			return err
		}
		switch ev.Type {
		case "token":
			var t struct {
				Content string `json:"content"`
			}
			if json.Unmarshal([]byte(ev.Data), &t) == nil {
				fmt.Fprint(s.out, t.Content)
			}
		case "done":
			var d struct {
				SessionID    string            `json:"session_id"`
				Scenario     map[string]string `json:"scenario"`
				MatchedRules []string          `json:"matched_rules"`
				ToolsCalled  []string          `json:"tools_called"`
				TokensUsed   int               `json:"tokens_used"`
				LatencyMS    int64             `json:"latency_ms"`
			}
			if err := json.Unmarshal([]byte(ev.Data), &d); err != nil {
				return err
			}
			s.session = d.SessionID
			scenario := "none"
			if d.Scenario != nil {
				scenario = d.Scenario["id"] + "/" + d.Scenario["step"]
			}
			fmt.Fprintln(s.out)
			fmt.Fprintln(s.out, s.dim(fmt.Sprintf("[rules: %s · scenario: %s · tools: %s · %d tokens · %d ms]",
				listOrNone(d.MatchedRules), scenario, listOrNone(d.ToolsCalled), d.TokensUsed, d.LatencyMS)))
			return nil
		case "error":
			var e struct {
				Code, Message string
			}
			_ = json.Unmarshal([]byte(ev.Data), &e)
			fmt.Fprintln(s.out)
			return fmt.Errorf("%s: %s", e.Code, e.Message)
		}
	}
	fmt.Fprintln(s.out)
	return fmt.Errorf("the stream ended without a done event")
}

func listOrNone(xs []string) string {
	if len(xs) == 0 {
		return "none"
	}
	return strings.Join(xs, ", ")
}

func (s *chatSession) dim(text string) string {
	if !s.coloured {
		return text
	}
	return "\x1b[2m" + text + "\x1b[0m"
}
