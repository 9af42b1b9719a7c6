package application

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"focal/domain"
	"focal/ports"
)

// AgentPrefix starts a model name that names an agent by its name
// ("agent:Returns assistant") instead of its id.
const AgentPrefix = "agent:"

// AgentDirectory finds a tenant's agents by what OpenAI-style clients call
// a model: the agent's id, or "agent:<name>".
type AgentDirectory struct {
	store ports.PolicyStore
}

// NewAgentDirectory returns the directory over store.
func NewAgentDirectory(store ports.PolicyStore) (*AgentDirectory, error) {
	if store == nil {
		return nil, errors.New("agent directory: a policy store is required")
	}
	return &AgentDirectory{store: store}, nil
}

// Resolve returns the id of the agent model names. An id is returned as
// it is (lower case; whether it exists is the chat's business). A name
// matches the tenant's enabled agents exactly; names are meant to be
// unique per tenant, and when they are not the caller must use the id.
//
// Errors: INVALID_REQUEST (empty model, or a name several enabled agents
// share), AGENT_NOT_FOUND (no such name, or a model that is neither an id
// nor agent:<name>), STORE_UNAVAILABLE.
func (d *AgentDirectory) Resolve(ctx context.Context, tenantID, model string) (string, error) {
	switch {
	case strings.TrimSpace(model) == "":
		return "", domain.InvalidFields(domain.FieldError{Field: "model", Message: "is required: an agent id or agent:<name>"})
	case IsUUID(model):
		return strings.ToLower(model), nil
	}
	name, ok := strings.CutPrefix(model, AgentPrefix)
	if !ok {
		return "", domain.Errorf(domain.CodeAgentNotFound,
			"model %q names no agent of this tenant: use an agent id or agent:<name>", model)
	}
	agents, err := d.Enabled(ctx, tenantID)
	if err != nil {
		return "", err
	}
	var ids []string
	for _, a := range agents {
		if a.Name == name {
			ids = append(ids, a.ID)
		}
	}
	switch len(ids) {
	case 0:
		return "", domain.Errorf(domain.CodeAgentNotFound, "no enabled agent is named %q", name)
	case 1:
		return ids[0], nil
	}
	return "", domain.InvalidFields(domain.FieldError{Field: "model",
		Message: fmt.Sprintf("%d enabled agents are named %q: name the agent by its id (%s)", len(ids), name, strings.Join(ids, ", "))})
}

// Enabled lists the tenant's enabled agents by id: the ones a chat can
// reach. STORE_UNAVAILABLE.
func (d *AgentDirectory) Enabled(ctx context.Context, tenantID string) ([]domain.Agent, error) {
	var out []domain.Agent
	page := ports.PageRequest{Limit: ports.MaxPageSize}
	for {
		p, err := d.store.ListAgents(ctx, tenantID, page)
		if err != nil {
			return nil, err
		}
		for _, a := range p.Items {
			if a.Enabled {
				out = append(out, a)
			}
		}
		if p.NextCursor == "" {
			return out, nil
		}
		page.Cursor = p.NextCursor
	}
}
