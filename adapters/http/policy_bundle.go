package httpapi

import (
	"encoding/json"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/gin-gonic/gin"

	"focal/application"
	"focal/domain"
)

// yamlTypes are the media types a YAML bundle may be sent and asked for as.
var yamlTypes = map[string]bool{
	"application/yaml": true, "application/x-yaml": true, "text/yaml": true, "text/x-yaml": true,
}

// bundleType reports whether mt names JSON or YAML.
func bundleType(mt string) (isJSON, isYAML bool) {
	return mt == "application/json" || isJSONSuffix(mt), yamlTypes[mt] || strings.HasPrefix(mt, "application/") && strings.HasSuffix(mt, "+yaml")
}

// requireBundleType rejects bundle bodies declared as neither JSON nor
// YAML (requireJSON would refuse YAML).
func requireBundleType(c *gin.Context) {
	mt, _, err := mime.ParseMediaType(c.GetHeader("Content-Type"))
	if isJSON, isYAML := bundleType(mt); err != nil || !isJSON && !isYAML {
		writeError(c, domain.Errorf(CodeUnsupportedMediaType, "Content-Type must be application/json or application/yaml"))
		return
	}
	c.Next()
}

func (h *PolicyRoutes) importBundle(c *gin.Context) {
	version, err := ifMatch(c)
	if err != nil {
		writeError(c, err)
		return
	}
	raw, err := io.ReadAll(c.Request.Body)
	if err != nil {
		writeError(c, bodyReadError(err))
		return
	}
	// The bundle parser reads YAML, of which JSON is a subset: a body
	// declared as JSON must be JSON.
	mt, _, _ := mime.ParseMediaType(c.GetHeader("Content-Type"))
	if isJSON, _ := bundleType(mt); isJSON && len(raw) > 0 && (!utf8.Valid(raw) || !json.Valid(raw)) {
		writeError(c, invalidBody("request body is not valid JSON"))
		return
	}
	res, err := h.admin.ImportBundle(c.Request.Context(), application.BundleImport{
		TenantID: principal(c).TenantID, AgentID: agentParam(c), IfVersion: version, Bundle: raw})
	if err != nil {
		writeError(c, err)
		return
	}
	status := http.StatusOK
	if res.Created {
		status = http.StatusCreated
		c.Header("Location", "/v1/agents/"+res.Policy.Agent.ID)
	}
	// The bundle is stored; a lint that cannot run in time leaves the
	// warnings out rather than fail a write that happened.
	warnings, err := h.admin.Lint(c.Request.Context(), res.Policy)
	if err != nil {
		writeBundle(c, status, res.Policy)
		return
	}
	setETag(c, res.Policy.Agent.Version)
	imported := importedBundle{Policy: res.Policy, Warnings: warnings}
	if !prefersYAML(c.GetHeader("Accept")) {
		c.JSON(status, imported)
		return
	}
	out, err := application.EncodeYAML(imported)
	if err != nil {
		writeError(c, err)
		return
	}
	c.Data(status, "application/yaml; charset=utf-8", out)
}

// importedBundle is an import's answer: the stored bundle and the
// warnings about it.
type importedBundle struct {
	*domain.Policy
	Warnings []domain.LintWarning `json:"warnings"`
}

func (h *PolicyRoutes) exportBundle(c *gin.Context) {
	p, err := h.admin.ExportBundle(c.Request.Context(), principal(c).TenantID, agentParam(c), viewer(c))
	if err != nil {
		writeError(c, err)
		return
	}
	writeBundle(c, http.StatusOK, p)
}

// writeBundle answers with the bundle as JSON, or as YAML when the client
// prefers it.
func writeBundle(c *gin.Context, status int, p *domain.Policy) {
	setETag(c, p.Agent.Version)
	if !prefersYAML(c.GetHeader("Accept")) {
		c.JSON(status, p)
		return
	}
	out, err := application.EncodeBundleYAML(p)
	if err != nil {
		writeError(c, err)
		return
	}
	c.Data(status, "application/yaml; charset=utf-8", out)
}

// prefersYAML reports whether the Accept header's most preferred type
// (highest q, first on ties) is a YAML type.
func prefersYAML(accept string) bool {
	best, bestQ := "", -1.0
	for _, item := range strings.Split(accept, ",") {
		mt, params, err := mime.ParseMediaType(strings.TrimSpace(item))
		if err != nil {
			continue
		}
		q := 1.0
		if s, ok := params["q"]; ok {
			if q, err = strconv.ParseFloat(s, 64); err != nil {
				continue
			}
		}
		if q > bestQ {
			best, bestQ = mt, q
		}
	}
	_, isYAML := bundleType(best)
	return isYAML && bestQ > 0
}
