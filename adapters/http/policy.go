package httpapi

import (
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"
	"go.uber.org/zap"

	"focal/adapters/logctx"
	"focal/application"
	"focal/domain"
)

// PolicyRoutes serves the policy management API: agents, their rules,
// scenarios, templates, tools and variables, and whole bundles. Reads are open to any
// caller of the tenant, writes need the admin role. Every response about
// one agent or part carries the agent's version as its ETag, and writes
// honour If-Match.
type PolicyRoutes struct {
	admin *application.PolicyAdmin
}

// NewPolicyRoutes returns the policy management endpoints.
func NewPolicyRoutes(admin *application.PolicyAdmin) *PolicyRoutes {
	return &PolicyRoutes{admin: admin}
}

// Register implements Routes.
func (h *PolicyRoutes) Register(_ *gin.RouterGroup, v1 *gin.RouterGroup) {
	admin := requireRole(RoleAdmin)
	v1.GET("/agents", h.listAgents)
	v1.POST("/agents", admin, requireJSON, h.createAgent)

	agent := v1.Group("/agents/:agent_id", logAgent)
	agent.GET("", h.getAgent)
	agent.PUT("", admin, requireJSON, h.updateAgent)
	agent.DELETE("", admin, h.deleteAgent)
	agent.GET("/bundle", h.exportBundle)
	agent.PUT("/bundle", admin, requireBundleType, h.importBundle)

	partRoutes[domain.Rule]{"rules", h.admin.Rules(), decodeStrict[domain.Rule, ruleShape], true}.register(agent, admin)
	partRoutes[domain.Scenario]{"scenarios", h.admin.Scenarios(), decodeStrict[domain.Scenario, scenarioShape], true}.register(agent, admin)
	partRoutes[domain.Template]{"templates", h.admin.Templates(), decodeStrict[domain.Template, domain.Template], false}.register(agent, admin)
	partRoutes[domain.Tool]{"tools", h.admin.Tools(), decodeStrict[domain.Tool, domain.Tool], true}.register(agent, admin)
	partRoutes[domain.Variable]{"variables", h.admin.Variables(), decodeStrict[domain.Variable, variableShape], false}.register(agent, admin)
}

// Shapes of the request bodies whose domain types fill in defaults while
// decoding (which makes encoding/json accept unknown fields in them): the
// same fields without the custom decoder, decoded first to refuse unknown
// fields and wrong types.
type (
	agentShape    domain.Agent
	ruleShape     domain.Rule
	scenarioShape domain.Scenario
	variableShape domain.Variable
)

// decodeStrict reads the body into a T, refusing what a strict decoder of
// S refuses.
func decodeStrict[T, S any](c *gin.Context) (T, error) {
	var v T
	raw, err := io.ReadAll(c.Request.Body)
	if err != nil {
		return v, bodyReadError(err)
	}
	var shape S
	if err := decodeJSONBytes(raw, &shape); err != nil {
		return v, err
	}
	return v, decodeJSONBytes(raw, &v)
}

// logAgent adds the path's agent id to the request's log lines.
func logAgent(c *gin.Context) {
	logctx.Add(c.Request.Context(), zap.String("agent_id", agentParam(c)))
	c.Next()
}

// agentParam is the path's agent id; agent ids are UUIDs, compared in
// lower case.
func agentParam(c *gin.Context) string { return strings.ToLower(c.Param("agent_id")) }

// setETag tags the response with the agent version it reflects.
func setETag(c *gin.Context, version int64) {
	c.Header("ETag", `"`+strconv.FormatInt(version, 10)+`"`)
}

// ifMatch reads If-Match: the agent version the client last saw, or 0 when
// it sent none (or "*"), which makes the write unconditional.
func ifMatch(c *gin.Context) (int64, error) {
	h := strings.TrimSpace(c.GetHeader("If-Match"))
	if h == "" || h == "*" {
		return 0, nil
	}
	if unquoted, ok := strings.CutPrefix(h, `"`); ok {
		h, ok = strings.CutSuffix(unquoted, `"`)
		if !ok {
			h = ""
		}
	}
	v, err := strconv.ParseInt(h, 10, 64)
	if err != nil || v < 1 {
		return 0, domain.InvalidFields(domain.FieldError{Field: "If-Match",
			Message: `must be the ETag of the agent, its version in quotes like "3"`})
	}
	return v, nil
}

func (h *PolicyRoutes) listAgents(c *gin.Context) {
	page, err := pageRequest(c)
	if err != nil {
		writeError(c, err)
		return
	}
	agents, err := h.admin.ListAgents(c.Request.Context(), principal(c).TenantID, page)
	if err != nil {
		writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, listPage(agents))
}

func (h *PolicyRoutes) getAgent(c *gin.Context) {
	a, err := h.admin.GetAgent(c.Request.Context(), principal(c).TenantID, agentParam(c))
	if err != nil {
		writeError(c, err)
		return
	}
	setETag(c, a.Version)
	c.JSON(http.StatusOK, a)
}

func (h *PolicyRoutes) createAgent(c *gin.Context) {
	body, err := decodeStrict[domain.Agent, agentShape](c)
	if err != nil {
		writeError(c, err)
		return
	}
	a, err := h.admin.CreateAgent(c.Request.Context(), principal(c).TenantID, body)
	if err != nil {
		writeError(c, err)
		return
	}
	setETag(c, a.Version)
	c.Header("Location", "/v1/agents/"+a.ID)
	c.JSON(http.StatusCreated, a)
}

func (h *PolicyRoutes) updateAgent(c *gin.Context) {
	version, err := ifMatch(c)
	if err != nil {
		writeError(c, err)
		return
	}
	body, err := decodeStrict[domain.Agent, agentShape](c)
	if err != nil {
		writeError(c, err)
		return
	}
	a, err := h.admin.UpdateAgent(c.Request.Context(), principal(c).TenantID, agentParam(c), version, body)
	if err != nil {
		writeError(c, err)
		return
	}
	setETag(c, a.Version)
	c.JSON(http.StatusOK, a)
}

func (h *PolicyRoutes) deleteAgent(c *gin.Context) {
	version, err := ifMatch(c)
	if err != nil {
		writeError(c, err)
		return
	}
	if err := h.admin.DeleteAgent(c.Request.Context(), principal(c).TenantID, agentParam(c), version); err != nil {
		writeError(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}
