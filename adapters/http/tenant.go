package httpapi

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"focal/application"
	"focal/ports"
)

// TenantRoutes serves a tenant's own settings: its model keys (admin; a
// key is never shown, only its last four characters), its monthly token
// budget (admin) and its usage.
type TenantRoutes struct {
	keys  *application.TenantKeys
	usage *application.TenantUsage
}

// NewTenantRoutes returns the tenant endpoints.
func NewTenantRoutes(keys *application.TenantKeys, usage *application.TenantUsage) *TenantRoutes {
	return &TenantRoutes{keys: keys, usage: usage}
}

// Register implements Routes.
func (h *TenantRoutes) Register(_ *gin.RouterGroup, v1 *gin.RouterGroup) {
	admin := requireRole(RoleAdmin)
	v1.GET("/tenant/models", admin, h.listKeys)
	v1.PUT("/tenant/models/:provider", admin, requireJSON, h.putKey)
	v1.DELETE("/tenant/models/:provider", admin, h.deleteKey)
	v1.PUT("/tenant/budget", admin, requireJSON, h.putBudget)
	v1.DELETE("/tenant/budget", admin, h.deleteBudget)
	v1.GET("/tenant/usage", h.getUsage)
}

// modelKeyRequest is the body of PUT /v1/tenant/models/{provider}.
type modelKeyRequest struct {
	Key     string   `json:"key"`
	BaseURL string   `json:"base_url,omitempty"`
	Models  []string `json:"models,omitempty"`
}

func (h *TenantRoutes) listKeys(c *gin.Context) {
	// The keys are one page, a key per provider at most, with no next
	// cursor: no cursor is one this listing issued.
	if c.Query("cursor") != "" {
		writeError(c, ports.BadCursor())
		return
	}
	keys, err := h.keys.List(c.Request.Context(), principal(c).TenantID)
	if err != nil {
		writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"items": keys, "next_cursor": nil})
}

func (h *TenantRoutes) putKey(c *gin.Context) {
	var req modelKeyRequest
	if _, err := decodeJSON(c.Request, &req); err != nil {
		writeError(c, err)
		return
	}
	view, err := h.keys.Put(c.Request.Context(), application.ModelKeyCommand{TenantID: principal(c).TenantID,
		Provider: c.Param("provider"), Key: req.Key, BaseURL: req.BaseURL, Models: req.Models})
	if err != nil {
		writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, view)
}

func (h *TenantRoutes) deleteKey(c *gin.Context) {
	if err := h.keys.Delete(c.Request.Context(), principal(c).TenantID, c.Param("provider")); err != nil {
		writeError(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

// budgetRequest is the body of PUT /v1/tenant/budget.
type budgetRequest struct {
	MonthlyTokens int64 `json:"monthly_tokens"`
}

func (h *TenantRoutes) putBudget(c *gin.Context) {
	var req budgetRequest
	if _, err := decodeJSON(c.Request, &req); err != nil {
		writeError(c, err)
		return
	}
	view, err := h.usage.SetBudget(c.Request.Context(), principal(c).TenantID, req.MonthlyTokens)
	if err != nil {
		writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, view)
}

func (h *TenantRoutes) deleteBudget(c *gin.Context) {
	if err := h.usage.DeleteBudget(c.Request.Context(), principal(c).TenantID); err != nil {
		writeError(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

func (h *TenantRoutes) getUsage(c *gin.Context) {
	view, err := h.usage.Usage(c.Request.Context(), principal(c).TenantID)
	if err != nil {
		writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, view)
}
