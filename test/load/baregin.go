package main

import (
	"flag"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"

	"focal/bootstrap"
)

// bareRequest and bareResponse have the shape of the chat route's JSON, so
// the bare handler does the same decoding and encoding work and nothing
// else: the throughput ceiling Focal is compared with.
type bareRequest struct {
	TenantID      string         `json:"tenant_id,omitempty"`
	AgentID       string         `json:"agent_id"`
	Channel       string         `json:"channel"`
	UserChannelID string         `json:"user_channel_id"`
	Message       string         `json:"message"`
	SessionID     string         `json:"session_id,omitempty"`
	Metadata      map[string]any `json:"metadata,omitempty"`
}

type bareResponse struct {
	Response     string             `json:"response"`
	SessionID    string             `json:"session_id"`
	TurnID       string             `json:"turn_id"`
	Scenario     *map[string]string `json:"scenario"`
	MatchedRules []string           `json:"matched_rules"`
	ToolsCalled  []string           `json:"tools_called"`
	TokensUsed   int                `json:"tokens_used"`
	LatencyMS    int64              `json:"latency_ms"`
}

func runBareGin(args []string) error {
	fs := flag.NewFlagSet("baregin", flag.ExitOnError)
	addr := fs.String("addr", "127.0.0.1:8099", "listen address")
	_ = fs.Parse(args)
	// The ceiling collects garbage as focal serve does, from the same
	// settings in the same environment.
	rc, err := bootstrap.RuntimeFromEnv()
	if err != nil {
		return err
	}
	if _, err := bootstrap.ApplyRuntime(rc, zap.NewNop()); err != nil {
		return err
	}
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	r.POST("/v1/chat", func(c *gin.Context) {
		var req bareRequest
		if err := c.ShouldBindJSON(&req); err != nil {
			c.JSON(http.StatusBadRequest, gin.H{"error": err.Error()})
			return
		}
		c.JSON(http.StatusOK, bareResponse{
			Response:     "Our stores are open Monday to Saturday from 9am to 8pm, and Sunday from 10am to 6pm.",
			SessionID:    "01a2148a-44a6-7119-bae0-b6d470ce28c6",
			TurnID:       "01a2148a-44a6-7137-8d4c-39340af859e2",
			MatchedRules: []string{"store_hours"},
			ToolsCalled:  []string{},
		})
	})
	// The collector's percent, for the report (go_gc_gogc_percent); off
	// the measured route.
	r.GET("/metrics", gin.WrapH(promhttp.Handler()))
	srv := &http.Server{Addr: *addr, Handler: r, ReadHeaderTimeout: 10 * time.Second}
	return srv.ListenAndServe()
}
