package application

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"gopkg.in/yaml.v3"

	"focal/application/alignment"
	"focal/domain"
	"focal/ports"
)

// ParseBundle reads an agent bundle in YAML or JSON (JSON is YAML) into a
// policy. Unknown fields are errors, so a misspelt setting never passes
// silently. The policy is not validated; see ValidatePolicy.
func ParseBundle(data []byte) (*domain.Policy, error) {
	var doc any
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, bundleError("bundle is empty")
		}
		return nil, bundleError("bundle is not valid YAML or JSON: " + err.Error())
	}
	if _, ok := doc.(map[string]any); !ok {
		return nil, bundleError("bundle must be a mapping with agent, rules, scenarios, templates and tools")
	}
	asJSON, err := json.Marshal(doc)
	if err != nil {
		return nil, bundleError("bundle holds values JSON cannot represent: " + err.Error())
	}
	var p domain.Policy
	jd := json.NewDecoder(bytes.NewReader(asJSON))
	jd.DisallowUnknownFields()
	if err := jd.Decode(&p); err != nil {
		msg := err.Error()
		if name, ok := strings.CutPrefix(msg, "json: unknown field "); ok {
			return nil, domain.InvalidFields(domain.FieldError{Field: strings.Trim(name, `"`), Message: "is not a known bundle field"})
		}
		var typ *json.UnmarshalTypeError
		if errors.As(err, &typ) {
			return nil, domain.InvalidFields(domain.FieldError{Field: typ.Field, Message: "has the wrong type: " + typ.Value + " given"})
		}
		return nil, bundleError("bundle does not match the bundle format: " + msg)
	}
	return &p, nil
}

func bundleError(msg string) error {
	return &domain.Error{Code: domain.CodeInvalidRequest, Message: msg, Details: []domain.FieldError{}}
}

// ValidatePolicy checks a policy before it is stored: the domain's
// consistency rules, an agent id that is a UUID, and every expression
// constraint compiling. INVALID_REQUEST lists every problem.
func ValidatePolicy(p *domain.Policy) error {
	errs := p.Validate()
	if !IsUUID(p.Agent.ID) {
		errs = append(errs, domain.FieldError{Field: "agent.id", Message: "must be a UUID"})
	}
	for i, r := range p.Rules {
		for k, c := range r.Constraints {
			if c.Kind != domain.ConstraintExpression {
				continue
			}
			if err := alignment.CompileExpression(c.Value); err != nil {
				errs = append(errs, domain.FieldError{Field: fmt.Sprintf("rules[%d].constraints[%d].value", i, k), Message: err.Error()})
			}
		}
	}
	if len(errs) > 0 {
		return domain.InvalidFields(errs...)
	}
	return nil
}

// ImportBundle stores p as the tenant's agent, creating it or replacing its
// whole policy in one step as the next version.
func ImportBundle(ctx context.Context, store ports.PolicyStore, tenantID string, p *domain.Policy) (*domain.Policy, error) {
	p.Agent.ID = strings.ToLower(p.Agent.ID)
	if err := ValidatePolicy(p); err != nil {
		return nil, err
	}
	current, err := store.AgentVersion(ctx, tenantID, p.Agent.ID)
	if err != nil && !domain.IsCode(err, domain.CodeAgentNotFound) {
		return nil, err
	}
	p.Agent.TenantID = tenantID
	p.Agent.Version = current + 1
	if err := store.SavePolicy(ctx, tenantID, p); err != nil {
		return nil, err
	}
	return p, nil
}
