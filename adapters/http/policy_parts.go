package httpapi

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"

	"github.com/gin-gonic/gin"

	"focal/application"
	"focal/domain"
)

// partRoutes serves one kind of policy part under /v1/agents/:agent_id.
type partRoutes[T any] struct {
	path   string // "rules", the collection's path segment
	parts  *application.PolicyParts[T]
	decode func(*gin.Context) (T, error)
	// linted parts (those with conditions, and tools, whose address is
	// checked) answer their writes with the part's lint warnings beside it.
	linted bool
}

func (r partRoutes[T]) register(agent *gin.RouterGroup, admin gin.HandlerFunc) {
	agent.GET("/"+r.path, r.list)
	agent.POST("/"+r.path, admin, requireJSON, r.create)
	agent.GET("/"+r.path+"/:id", r.get)
	agent.PUT("/"+r.path+"/:id", admin, requireJSON, r.replace)
	agent.DELETE("/"+r.path+"/:id", admin, r.delete)
}

func (r partRoutes[T]) list(c *gin.Context) {
	page, err := pageRequest(c)
	if err != nil {
		writeError(c, err)
		return
	}
	res, err := r.parts.List(c.Request.Context(), principal(c).TenantID, agentParam(c), page, viewer(c))
	if err != nil {
		writeError(c, err)
		return
	}
	setETag(c, res.Version)
	c.JSON(http.StatusOK, listPage(res.Value))
}

func (r partRoutes[T]) get(c *gin.Context) {
	res, err := r.parts.Get(c.Request.Context(), principal(c).TenantID, agentParam(c), c.Param("id"), viewer(c))
	if err != nil {
		writeError(c, err)
		return
	}
	setETag(c, res.Version)
	c.JSON(http.StatusOK, res.Value)
}

// input reads a write's If-Match version and body; a bad one has been
// answered when ok is false.
func (r partRoutes[T]) input(c *gin.Context) (version int64, body T, ok bool) {
	version, err := ifMatch(c)
	if err == nil {
		body, err = r.decode(c)
	}
	if err != nil {
		writeError(c, err)
		return 0, body, false
	}
	return version, body, true
}

func (r partRoutes[T]) create(c *gin.Context) {
	version, body, ok := r.input(c)
	if !ok {
		return
	}
	res, err := r.parts.Create(c.Request.Context(), principal(c).TenantID, agentParam(c), version, body)
	if err != nil {
		writeError(c, err)
		return
	}
	setETag(c, res.Version)
	c.Header("Location", "/v1/agents/"+agentParam(c)+"/"+r.path+"/"+url.PathEscape(r.parts.ID(res.Value)))
	r.written(c, http.StatusCreated, res.Value)
}

// written answers a write with the part, and for linted parts its
// warnings. The part is stored: a lint that cannot run in time leaves the
// warnings out rather than fail a write that happened.
func (r partRoutes[T]) written(c *gin.Context, status int, part T) {
	if !r.linted {
		c.JSON(status, part)
		return
	}
	warnings, err := r.parts.Warnings(c.Request.Context(), principal(c).TenantID, agentParam(c), r.parts.ID(part))
	if err != nil {
		c.JSON(status, part)
		return
	}
	body, err := withField(part, "warnings", warnings)
	if err != nil {
		writeError(c, domain.WrapError(domain.CodeInternal, err, "the answer cannot be encoded"))
		return
	}
	c.Data(status, "application/json; charset=utf-8", body)
}

// withField encodes v, a JSON object, with one more field at its end.
func withField(v any, name string, value any) ([]byte, error) {
	obj, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	extra, err := json.Marshal(map[string]any{name: value})
	if err != nil {
		return nil, err
	}
	if len(obj) < 2 || obj[len(obj)-1] != '}' {
		return nil, fmt.Errorf("%T does not encode as a JSON object", v)
	}
	if len(obj) == 2 {
		return extra, nil
	}
	return append(append(obj[:len(obj)-1], ','), extra[1:]...), nil
}

func (r partRoutes[T]) replace(c *gin.Context) {
	version, body, ok := r.input(c)
	if !ok {
		return
	}
	res, err := r.parts.Replace(c.Request.Context(), principal(c).TenantID, agentParam(c), c.Param("id"), version, body)
	if err != nil {
		writeError(c, err)
		return
	}
	setETag(c, res.Version)
	r.written(c, http.StatusOK, res.Value)
}

func (r partRoutes[T]) delete(c *gin.Context) {
	version, err := ifMatch(c)
	if err != nil {
		writeError(c, err)
		return
	}
	v, err := r.parts.Delete(c.Request.Context(), principal(c).TenantID, agentParam(c), c.Param("id"), version)
	if err != nil {
		writeError(c, err)
		return
	}
	setETag(c, v)
	c.Status(http.StatusNoContent)
}
