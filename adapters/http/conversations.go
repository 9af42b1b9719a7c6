package httpapi

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"focal/application"
	"focal/domain"
	"focal/ports"
)

// ConversationRoutes serves sessions and turns for reading.
type ConversationRoutes struct {
	q *application.Conversations
}

// NewConversationRoutes returns the session and turn read endpoints.
func NewConversationRoutes(q *application.Conversations) *ConversationRoutes {
	return &ConversationRoutes{q: q}
}

// Register implements Routes.
func (h *ConversationRoutes) Register(_ *gin.RouterGroup, v1 *gin.RouterGroup) {
	v1.GET("/sessions", h.listSessions)
	v1.GET("/sessions/:session_id", h.getSession)
	v1.GET("/sessions/:session_id/turns", h.listTurns)
	v1.GET("/turns/:turn_id", h.getTurn)
	v1.POST("/sessions/:session_id/close", h.closeSession)
	v1.DELETE("/sessions/:session_id", requireRole(RoleAdmin), h.deleteSession)
}

func (h *ConversationRoutes) closeSession(c *gin.Context) {
	s, err := h.q.CloseSession(c.Request.Context(), principal(c).TenantID, strings.ToLower(c.Param("session_id")))
	if err != nil {
		writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, s)
}

func (h *ConversationRoutes) deleteSession(c *gin.Context) {
	if err := h.q.DeleteSession(c.Request.Context(), principal(c).TenantID, strings.ToLower(c.Param("session_id"))); err != nil {
		writeError(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

// ListPage is the body of every listing.
type ListPage[T any] struct {
	Items      []T     `json:"items"`
	NextCursor *string `json:"next_cursor"`
}

func listPage[T any](p ports.Page[T]) ListPage[T] {
	out := ListPage[T]{Items: p.Items}
	if out.Items == nil {
		out.Items = []T{}
	}
	if p.NextCursor != "" {
		out.NextCursor = &p.NextCursor
	}
	return out
}

func (h *ConversationRoutes) listSessions(c *gin.Context) {
	page, err := pageRequest(c)
	if err != nil {
		writeError(c, err)
		return
	}
	q := ports.SessionQuery{AgentID: strings.ToLower(c.Query("agent_id")), Status: domain.SessionStatus(c.Query("status")), Page: page}
	sessions, err := h.q.Sessions(c.Request.Context(), principal(c).TenantID, q)
	if err != nil {
		writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, listPage(sessions))
}

func (h *ConversationRoutes) getSession(c *gin.Context) {
	s, err := h.q.Session(c.Request.Context(), principal(c).TenantID, strings.ToLower(c.Param("session_id")))
	if err != nil {
		writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, s)
}

func (h *ConversationRoutes) listTurns(c *gin.Context) {
	page, err := pageRequest(c)
	if err != nil {
		writeError(c, err)
		return
	}
	q := ports.TurnQuery{Order: ports.TurnOrder(c.Query("order")), Page: page}
	turns, err := h.q.Turns(c.Request.Context(), principal(c).TenantID, strings.ToLower(c.Param("session_id")), q)
	if err != nil {
		writeError(c, err)
		return
	}
	for i := range turns.Items {
		turns.Items[i] = turnView(turns.Items[i])
	}
	c.JSON(http.StatusOK, listPage(turns))
}

func (h *ConversationRoutes) getTurn(c *gin.Context) {
	t, err := h.q.Turn(c.Request.Context(), principal(c).TenantID, strings.ToLower(c.Param("turn_id")))
	if err != nil {
		writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, turnView(*t))
}

// turnView is the audit record as clients see it: the streamed pieces are
// an internal detail kept for reconnecting streams.
func turnView(t domain.Turn) domain.Turn {
	t.Deltas = nil
	return t
}

// pageRequest reads limit and cursor query parameters.
func pageRequest(c *gin.Context) (ports.PageRequest, error) {
	p := ports.PageRequest{Cursor: c.Query("cursor")}
	if s := c.Query("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > ports.MaxPageSize {
			return p, domain.InvalidFields(domain.FieldError{Field: "limit", Message: "must be an integer 1..100"})
		}
		p.Limit = n
	}
	return p, nil
}
