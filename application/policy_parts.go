package application

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"focal/domain"
	"focal/ports"
)

// partKind describes one kind of policy part to the generic operations.
type partKind[T any] struct {
	noun  string // "rule", for messages
	field string // "rules", the policy's field and the bundle's key
	parts func(*domain.Policy) *[]T
	id    func(*T) *string
	// idField is the part's field that identifies it: "id", or "name".
	idField string
	// present, when set, makes a copy of a part fit for a viewer.
	present func(*T, Viewer)
	// cursors page an agent's parts of this kind.
	cursors ports.ChildKeyCursors
}

var (
	ruleKind = partKind[domain.Rule]{"rule", "rules",
		func(p *domain.Policy) *[]domain.Rule { return &p.Rules }, func(r *domain.Rule) *string { return &r.ID }, "id", nil, ports.RuleCursors}
	scenarioKind = partKind[domain.Scenario]{"scenario", "scenarios",
		func(p *domain.Policy) *[]domain.Scenario { return &p.Scenarios }, func(s *domain.Scenario) *string { return &s.ID }, "id", nil, ports.ScenarioCursors}
	templateKind = partKind[domain.Template]{"template", "templates",
		func(p *domain.Policy) *[]domain.Template { return &p.Templates }, func(t *domain.Template) *string { return &t.ID }, "id", nil, ports.TemplateCursors}
	toolKind = partKind[domain.Tool]{"tool", "tools",
		func(p *domain.Policy) *[]domain.Tool { return &p.Tools }, func(t *domain.Tool) *string { return &t.ID }, "id", presentTool, ports.ToolCursors}
	variableKind = partKind[domain.Variable]{"variable", "variables",
		func(p *domain.Policy) *[]domain.Variable { return &p.Variables }, func(v *domain.Variable) *string { return &v.Name }, "name", nil, ports.VariableCursors}
)

// PolicyParts manages one kind of part (rules, scenarios, templates,
// tools or variables) of an agent's policy. Each write is an Edit: a new agent version.
type PolicyParts[T any] struct {
	admin *PolicyAdmin
	kind  partKind[T]
}

// Rules manages agents' rules.
func (a *PolicyAdmin) Rules() *PolicyParts[domain.Rule] {
	return &PolicyParts[domain.Rule]{a, ruleKind}
}

// Scenarios manages agents' scenarios, each with its steps and transitions.
func (a *PolicyAdmin) Scenarios() *PolicyParts[domain.Scenario] {
	return &PolicyParts[domain.Scenario]{a, scenarioKind}
}

// Templates manages agents' templates.
func (a *PolicyAdmin) Templates() *PolicyParts[domain.Template] {
	return &PolicyParts[domain.Template]{a, templateKind}
}

// Tools manages agents' tools.
func (a *PolicyAdmin) Tools() *PolicyParts[domain.Tool] {
	return &PolicyParts[domain.Tool]{a, toolKind}
}

// Variables manages agents' declared variables, identified by name.
func (a *PolicyAdmin) Variables() *PolicyParts[domain.Variable] {
	return &PolicyParts[domain.Variable]{a, variableKind}
}

// List pages through the agent's parts by id, as viewer may see them.
// AGENT_NOT_FOUND, INVALID_REQUEST for a cursor this listing did not issue.
func (s *PolicyParts[T]) List(ctx context.Context, tenantID, agentID string, page ports.PageRequest, viewer Viewer) (Versioned[ports.Page[T]], error) {
	p, err := s.admin.load(ctx, tenantID, agentID)
	if err != nil {
		return Versioned[ports.Page[T]]{}, err
	}
	after, err := s.kind.cursors.After(page.Cursor, tenantID, agentID)
	if err != nil {
		return Versioned[ports.Page[T]]{}, err
	}
	var items []T
	for _, part := range *s.kind.parts(p) {
		if *s.kind.id(&part) > after {
			s.present(&part, viewer)
			items = append(items, part)
		}
	}
	slices.SortFunc(items, func(a, b T) int { return strings.Compare(*s.kind.id(&a), *s.kind.id(&b)) })
	out := ports.Page[T]{Items: orEmpty(items)}
	if n := ports.PageLimit(page.Limit); len(items) > n {
		out.Items = items[:n]
		out.NextCursor = s.kind.cursors.Cursor(tenantID, agentID, *s.kind.id(&items[n-1]))
	}
	return Versioned[ports.Page[T]]{Value: out, Version: p.Agent.Version}, nil
}

// Get returns one part, as viewer may see it. AGENT_NOT_FOUND, NOT_FOUND.
func (s *PolicyParts[T]) Get(ctx context.Context, tenantID, agentID, id string, viewer Viewer) (Versioned[T], error) {
	p, err := s.admin.load(ctx, tenantID, agentID)
	if err != nil {
		return Versioned[T]{}, err
	}
	return s.found(p, id, viewer)
}

// present makes part (a copy) fit for viewer.
func (s *PolicyParts[T]) present(part *T, viewer Viewer) {
	if s.kind.present != nil {
		s.kind.present(part, viewer)
	}
}

// Create adds a part; its id is required and must be new to the agent.
// Field errors inside the part name its own fields. The part is returned
// as an admin sees it.
func (s *PolicyParts[T]) Create(ctx context.Context, tenantID, agentID string, ifVersion int64, part T) (Versioned[T], error) {
	id := *s.kind.id(&part)
	if id == "" {
		return Versioned[T]{}, domain.InvalidFields(domain.FieldError{Field: s.kind.idField, Message: "is required"})
	}
	var focus string
	p, err := s.admin.Edit(ctx, tenantID, agentID, ifVersion, func(p *domain.Policy) error {
		if s.index(p, id) >= 0 {
			return domain.InvalidFields(domain.FieldError{Field: s.kind.idField, Message: fmt.Sprintf("%s %s already exists", s.kind.noun, id)})
		}
		parts := s.kind.parts(p)
		*parts = append(*parts, part)
		focus = fmt.Sprintf("%s[%d]", s.kind.field, len(*parts)-1)
		return nil
	})
	if err != nil {
		return Versioned[T]{}, focusOn(err, focus)
	}
	return s.found(p, id, ViewerAdmin)
}

// Replace puts part in the place of the part with id (its own id, or
// name, is ignored), and returns it as an admin sees it. A tool URL that is the
// redacted form of the stored one keeps the stored one. NOT_FOUND when
// there is none.
func (s *PolicyParts[T]) Replace(ctx context.Context, tenantID, agentID, id string, ifVersion int64, part T) (Versioned[T], error) {
	*s.kind.id(&part) = id
	var focus string
	p, err := s.admin.Edit(ctx, tenantID, agentID, ifVersion, func(p *domain.Policy) error {
		i := s.index(p, id)
		if i < 0 {
			return s.notFound(id)
		}
		(*s.kind.parts(p))[i] = part
		focus = fmt.Sprintf("%s[%d]", s.kind.field, i)
		return nil
	})
	if err != nil {
		return Versioned[T]{}, focusOn(err, focus)
	}
	return s.found(p, id, ViewerAdmin)
}

// Delete removes a part and returns the new agent version. A part still
// referenced elsewhere in the policy cannot go: INVALID_REQUEST lists the
// references. NOT_FOUND.
func (s *PolicyParts[T]) Delete(ctx context.Context, tenantID, agentID, id string, ifVersion int64) (int64, error) {
	p, err := s.admin.Edit(ctx, tenantID, agentID, ifVersion, func(p *domain.Policy) error {
		i := s.index(p, id)
		if i < 0 {
			return s.notFound(id)
		}
		parts := s.kind.parts(p)
		*parts = slices.Delete(*parts, i, i+1)
		return nil
	})
	var de *domain.Error
	if errors.As(err, &de) && de.Code == domain.CodeInvalidRequest {
		out := *de
		out.Message = fmt.Sprintf("%s %s is still in use: remove the references listed in details first", s.kind.noun, id)
		return 0, &out
	}
	if err != nil {
		return 0, err
	}
	return p.Agent.Version, nil
}

func (s *PolicyParts[T]) index(p *domain.Policy, id string) int {
	return slices.IndexFunc(*s.kind.parts(p), func(part T) bool { return *s.kind.id(&part) == id })
}

func (s *PolicyParts[T]) found(p *domain.Policy, id string, viewer Viewer) (Versioned[T], error) {
	i := s.index(p, id)
	if i < 0 {
		return Versioned[T]{}, s.notFound(id)
	}
	part := (*s.kind.parts(p))[i]
	s.present(&part, viewer)
	return Versioned[T]{Value: part, Version: p.Agent.Version}, nil
}

func (s *PolicyParts[T]) notFound(id string) error {
	return domain.Errorf(domain.CodeNotFound, "%s %s not found", s.kind.noun, id)
}

// ID returns a part's id.
func (s *PolicyParts[T]) ID(part T) string { return *s.kind.id(&part) }
