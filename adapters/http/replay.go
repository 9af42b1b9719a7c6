package httpapi

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"focal/application"
	"focal/domain"
)

// replayRoute takes inline bundles, which outgrow a chat request.
const replayRoute = "/v1/agents/:agent_id/replay"

// ReplayRoutes serves an agent's version history and the replay of its
// recorded conversations against another version. Reads are open to any
// caller of the tenant; a replay needs the admin role, since it may spend
// model tokens.
type ReplayRoutes struct {
	versions *application.AgentVersions
	replay   *application.Replay
}

// NewReplayRoutes returns the version and replay endpoints.
func NewReplayRoutes(versions *application.AgentVersions, replay *application.Replay) *ReplayRoutes {
	return &ReplayRoutes{versions: versions, replay: replay}
}

// Register implements Routes.
func (h *ReplayRoutes) Register(_ *gin.RouterGroup, v1 *gin.RouterGroup) {
	agent := v1.Group("/agents/:agent_id", logAgent)
	agent.GET("/versions", h.listVersions)
	agent.GET("/versions/:version", h.getVersion)
	agent.POST("/replay", requireRole(RoleAdmin), requireJSON, h.postReplay)
}

func (h *ReplayRoutes) listVersions(c *gin.Context) {
	page, err := pageRequest(c)
	if err != nil {
		writeError(c, err)
		return
	}
	versions, err := h.versions.List(c.Request.Context(), principal(c).TenantID, agentParam(c), page)
	if err != nil {
		writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, listPage(versions))
}

func (h *ReplayRoutes) getVersion(c *gin.Context) {
	v, err := strconv.ParseInt(c.Param("version"), 10, 64)
	if err != nil || v < 1 {
		writeError(c, domain.InvalidFields(domain.FieldError{Field: "version", Message: "must be a version number from 1"}))
		return
	}
	p, err := h.versions.Get(c.Request.Context(), principal(c).TenantID, agentParam(c), v, viewer(c))
	if err != nil {
		writeError(c, err)
		return
	}
	writeBundle(c, http.StatusOK, p)
}

// replayRequest is the body of POST /v1/agents/{agent_id}/replay.
type replayRequest struct {
	// Version or Bundle is the candidate policy; a bundle is a JSON object,
	// or a string holding the bundle's YAML or JSON.
	Version  int64           `json:"version,omitempty"`
	Bundle   json.RawMessage `json:"bundle,omitempty"`
	Sessions struct {
		IDs  []string `json:"ids,omitempty"`
		Last int      `json:"last,omitempty"`
	} `json:"sessions"`
	Model string `json:"model,omitempty"`
}

// bundle returns the inline bundle's text, nil when there is none.
func (r replayRequest) bundle() ([]byte, error) {
	raw := bytes.TrimSpace(r.Bundle)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return nil, nil
	}
	if raw[0] == '"' {
		var text string
		if err := json.Unmarshal(raw, &text); err != nil {
			return nil, domain.InvalidFields(domain.FieldError{Field: "bundle", Message: "must be a bundle object, or a string holding one in YAML or JSON"})
		}
		return []byte(text), nil
	}
	if raw[0] != '{' {
		return nil, domain.InvalidFields(domain.FieldError{Field: "bundle", Message: "must be a bundle object, or a string holding one in YAML or JSON"})
	}
	return raw, nil
}

func (h *ReplayRoutes) postReplay(c *gin.Context) {
	raw, err := io.ReadAll(c.Request.Body)
	if err != nil {
		writeError(c, bodyReadError(err))
		return
	}
	var req replayRequest
	if err := decodeJSONBytes(raw, &req); err != nil {
		writeError(c, err)
		return
	}
	bundle, err := req.bundle()
	if err != nil {
		writeError(c, err)
		return
	}
	ids := make([]string, len(req.Sessions.IDs))
	for i, id := range req.Sessions.IDs {
		ids[i] = strings.ToLower(id)
	}
	report, err := h.replay.Run(c.Request.Context(), application.ReplayCommand{
		TenantID: principal(c).TenantID, AgentID: agentParam(c), Version: req.Version, Bundle: bundle,
		SessionIDs: ids, LastSessions: req.Sessions.Last, Model: req.Model, RequestID: requestID(c),
	})
	if err != nil {
		writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, report)
}
