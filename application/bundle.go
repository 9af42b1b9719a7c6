package application

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"

	"gopkg.in/yaml.v3"

	"focal/application/alignment"
	"focal/domain"
)

// ParseBundle is ParseBundleWithin the default limits.
func ParseBundle(data []byte) (*domain.Policy, error) {
	return ParseBundleWithin(data, domain.DefaultPolicyLimits())
}

// ParseBundleWithin reads an agent bundle in YAML or JSON (JSON is YAML)
// into a policy. Unknown fields are errors, at any depth and with their
// path, so a misspelt setting never passes silently. YAML anchors and
// aliases are refused: a small document can alias one large value
// thousands of times, and every later step would copy each alias out in
// full. So are lists longer and mappings larger than limits let any bundle
// hold (see checkTree). The policy is not validated; see
// ValidatePolicyWithin.
//
// A body that is JSON is read without yaml.v3 (parseJSONBundle), with the
// same results; a YAML body denser in possible nodes than
// yamlNodesAllowed is refused before yaml.v3 builds them.
func ParseBundleWithin(data []byte, limits domain.PolicyLimits) (*domain.Policy, error) {
	if p, err, ok := parseJSONBundle(data, limits); ok {
		return p, err
	}
	if err := checkYAMLNodes(data); err != nil {
		return nil, err
	}
	return parseYAMLBundle(data, limits)
}

// ParseLocalBundle is ParseBundle for a file on the reader's own machine
// (the CLI's): without the YAML node bound, which spares a server's memory
// and would only refuse the reader's own. asJSON reports that a server
// would refuse the body as YAML, so the policy should be sent as JSON.
func ParseLocalBundle(data []byte) (p *domain.Policy, asJSON bool, err error) {
	limits := domain.DefaultPolicyLimits()
	if p, err, ok := parseJSONBundle(data, limits); ok {
		return p, false, err
	}
	p, err = parseYAMLBundle(data, limits)
	return p, checkYAMLNodes(data) != nil, err
}

// parseYAMLBundle is ParseBundleWithin by way of yaml.v3's node tree.
func parseYAMLBundle(data []byte, limits domain.PolicyLimits) (*domain.Policy, error) {
	root, err := readYAMLTree(data, limits)
	if err != nil {
		return nil, err
	}
	w, ok := walkYAMLTree(root, len(data))
	if !ok {
		return decodeYAMLTree(root)
	}
	if w.count > 0 {
		return nil, unknownFieldsError(w.unknown, w.count)
	}
	p := sizedPolicy(root.Content[0])
	*root = yaml.Node{} // the tree is as large as the document several times over
	return decodePolicyInto(p, w.out.Bytes())
}

// readYAMLTree is a YAML bundle's node tree, checked (checkTree).
func readYAMLTree(data []byte, limits domain.PolicyLimits) (*yaml.Node, error) {
	var root yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&root); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, bundleError("bundle is empty")
		}
		return nil, bundleError("bundle is not valid YAML or JSON: " + err.Error())
	}
	if err := checkTree(&root, limits); err != nil {
		return nil, err
	}
	return &root, nil
}

// decodeYAMLTree is the rest of parseYAMLBundle by way of yaml.v3's own
// decoding, for a tree walkYAMLTree gave up on: one yaml.v3 refuses or
// that holds what only yaml.v3 reads exactly (a tag, a merge key).
func decodeYAMLTree(root *yaml.Node) (*domain.Policy, error) {
	var doc any
	if err := root.Decode(&doc); err != nil {
		return nil, bundleError("bundle is not valid YAML or JSON: " + err.Error())
	}
	if _, ok := doc.(map[string]any); !ok {
		return nil, bundleError("bundle must be a mapping with agent, rules, scenarios, templates and tools")
	}
	p := sizedPolicy(root.Content[0]) // a mapping decoded: the document's one node is one
	*root = yaml.Node{}
	asJSON, err := json.Marshal(doc)
	if err != nil {
		return nil, bundleError("bundle holds values JSON cannot represent: " + err.Error())
	}
	// The parts' own decoders fill in defaults and so cannot refuse unknown
	// fields; walk the document beside the types to find them.
	var unknown unknownFieldList
	unknown.in(doc, reflect.TypeFor[domain.Policy]())
	if unknown.count > 0 {
		return nil, unknownFieldsError(unknown.unknown, unknown.count)
	}
	doc = nil // only the JSON form is needed from here on
	return decodePolicyInto(p, asJSON)
}

// maxUnknownFields bounds the unknown fields an error lists: a 4 MiB body
// can hold half a million, and their list would cost far more than the
// body.
const maxUnknownFields = 100

// unknownFieldsError lists the first of all unknown fields, and how many
// more there are.
func unknownFieldsError(first []domain.FieldError, all int) error {
	if all > len(first) {
		first = append(first[:len(first):len(first)], domain.FieldError{Field: "bundle",
			Message: fmt.Sprintf("has %d more fields that are not known bundle fields, not listed", all-len(first))})
	}
	return domain.InvalidFields(first...)
}

// decodePolicy decodes a bundle's JSON form into the typed policy, the
// parts' defaults filled in.
func decodePolicy(asJSON []byte) (*domain.Policy, error) {
	return decodePolicyInto(&domain.Policy{}, asJSON)
}

// decodePolicyInto is decodePolicy into p, a zero policy but for the
// capacity of its lists (see sizedPolicy).
func decodePolicyInto(p *domain.Policy, asJSON []byte) (*domain.Policy, error) {
	jd := json.NewDecoder(bytes.NewReader(asJSON))
	jd.DisallowUnknownFields()
	if err := jd.Decode(p); err != nil {
		msg := err.Error()
		if name, ok := strings.CutPrefix(msg, "json: unknown field "); ok {
			return nil, domain.InvalidFields(domain.FieldError{Field: strings.Trim(name, `"`), Message: "is not a known bundle field"})
		}
		var typ *json.UnmarshalTypeError
		if errors.As(err, &typ) {
			return nil, domain.InvalidFields(domain.FieldError{Field: typ.Field, Message: WrongJSONType(typ)})
		}
		return nil, bundleError("bundle does not match the bundle format: " + msg)
	}
	return p, nil
}

// MaxBundleMappingKeys bounds the keys of any one mapping in a bundle.
// Every bundle mapping is one of the bundle's types (the most fields,
// agent.settings, has fewer than 25) or an amount's initial value (two
// keys): nothing is free-form. The cap is far above that, so a misspelt
// field is still reported by name, and low enough that yaml.v3's check
// for duplicate keys, which compares every key of a mapping with every
// later one, stays cheap: 100 keys are 4,950 comparisons, where one
// mapping filling a 4 MiB body took minutes.
const MaxBundleMappingKeys = 100

// bundleLists are the lists of a bundle's top level, each with its own
// policy limit.
var bundleLists = map[string]func(domain.PolicyLimits) int{
	"rules":     func(l domain.PolicyLimits) int { return l.Rules },
	"scenarios": func(l domain.PolicyLimits) int { return l.Scenarios },
	"templates": func(l domain.PolicyLimits) int { return l.Templates },
	"tools":     func(l domain.PolicyLimits) int { return l.Tools },
	"variables": func(l domain.PolicyLimits) int { return l.Variables },
}

// longestItemList is the most items any list below the top level may
// hold within limits: a condition's examples, an id list, a scenario's
// steps, a step's transitions, an enum's values or a value's synonyms, a
// rule's constraints (bounded by those of all rules together).
func longestItemList(l domain.PolicyLimits) int {
	return max(l.Examples, l.References, l.Steps, l.Transitions, l.VariableValues, l.Constraints)
}

// checkTree refuses, before anything is decoded from the tree, what no
// bundle within limits holds: an anchor or alias, a mapping of more than
// MaxBundleMappingKeys keys, a top-level list longer than its limit
// (rules, scenarios, …) and any other list longer than longestItemList.
// Decoding costs far more than the tree: an empty rule, two bytes of a
// list, became a whole typed Rule (1,120 times the body in all). The
// validator still applies the exact limits afterwards.
func checkTree(root *yaml.Node, limits domain.PolicyLimits) error {
	list := longestItemList(limits)
	if root.Kind != yaml.DocumentNode || len(root.Content) != 1 || root.Content[0].Kind != yaml.MappingNode {
		return checkBelow(root, list, list, "")
	}
	top := root.Content[0]
	if err := checkNode(top, list, ""); err != nil {
		return err
	}
	for i := 0; i+1 < len(top.Content); i += 2 {
		key, value := top.Content[i], top.Content[i+1]
		limit, named := list, ""
		if f, ok := bundleLists[key.Value]; ok && key.Kind == yaml.ScalarNode {
			limit, named = f(limits), key.Value
		}
		if err := checkBelow(key, list, list, ""); err != nil {
			return err
		}
		if err := checkBelow(value, list, limit, named); err != nil {
			return err
		}
	}
	return nil
}

// checkBelow checks n, a list of at most limit items (named: the
// top-level field it is, if any), and every node below it, where no list
// may have more than list items.
func checkBelow(n *yaml.Node, list, limit int, named string) error {
	if err := checkNode(n, limit, named); err != nil {
		return err
	}
	for _, c := range n.Content {
		if err := checkBelow(c, list, list, ""); err != nil {
			return err
		}
	}
	return nil
}

// checkNode checks n alone.
func checkNode(n *yaml.Node, limit int, named string) error {
	switch {
	case n.Anchor != "" || n.Kind == yaml.AliasNode:
		return bundleError(fmt.Sprintf("bundle uses a YAML anchor or alias at line %d: write each value out instead", n.Line))
	case n.Kind == yaml.MappingNode && len(n.Content)/2 > MaxBundleMappingKeys:
		return mappingTooLarge(len(n.Content)/2, n.Line)
	case n.Kind != yaml.SequenceNode || len(n.Content) <= limit:
		return nil
	default:
		return listTooLong(len(n.Content), n.Line, limit, named)
	}
}

// mappingTooLarge refuses a mapping of keys keys at line.
func mappingTooLarge(keys, line int) error {
	return bundleError(fmt.Sprintf("bundle has a mapping of %d keys at line %d; no bundle mapping has more than %d",
		keys, line, MaxBundleMappingKeys))
}

// listTooLong refuses a list of items items at line, over limit (named:
// the top-level field it is, if any).
func listTooLong(items, line, limit int, named string) error {
	if named != "" {
		// The validator's own refusal, with the line: clients read the field.
		return domain.InvalidFields(domain.FieldError{Field: named, Message: fmt.Sprintf(
			"must hold at most %d items, not %d (policy limit %s), at line %d", limit, items, named, line)})
	}
	return bundleError(fmt.Sprintf("bundle has a list of %d items at line %d; no list below the top level may have more than %d (the largest per-list policy limit)",
		items, line, limit))
}

func bundleError(msg string) error {
	return &domain.Error{Code: domain.CodeInvalidRequest, Message: msg, Details: []domain.FieldError{}}
}

// ValidatePolicy is ValidatePolicyWithin the default limits.
func ValidatePolicy(p *domain.Policy) error {
	return ValidatePolicyWithin(p, domain.DefaultPolicyLimits())
}

// ValidatePolicyWithin checks a policy before it is stored: the domain's
// consistency rules and per-agent limits, an agent id that is a UUID, and
// every expression constraint and transition guard compiling within the
// limits. INVALID_REQUEST lists every problem.
func ValidatePolicyWithin(p *domain.Policy, limits domain.PolicyLimits) error {
	errs := p.ValidateWithin(limits)
	if !IsUUID(p.Agent.ID) {
		errs = append(errs, domain.FieldError{Field: "agent.id", Message: "must be a UUID"})
	}
	for i, r := range p.Rules {
		for k, c := range r.Constraints {
			if c.Kind != domain.ConstraintExpression {
				continue
			}
			if len(c.Value) > limits.ExpressionBytes {
				continue // reported by the domain
			}
			if err := alignment.CompileExpression(c.Value, limits); err != nil {
				errs = append(errs, domain.FieldError{Field: fmt.Sprintf("rules[%d].constraints[%d].value", i, k), Message: err.Error()})
			}
		}
	}
	errs = append(errs, validateGuards(p, limits)...)
	if len(errs) > 0 {
		return domain.InvalidFields(errs...)
	}
	return nil
}

// validateGuards compiles every transition's when and refuses one that
// reads a variable nothing can set (vars.* must be declared, a tool's
// declared output or a built-in; meta.* keys vary per request).
func validateGuards(p *domain.Policy, limits domain.PolicyLimits) []domain.FieldError {
	var errs []domain.FieldError
	settable, open := p.Settable()
	for i, sc := range p.Scenarios {
		for j, st := range sc.Steps {
			for k, tr := range st.Transitions {
				if tr.When == "" || len(tr.When) > limits.ExpressionBytes {
					continue // nothing to compile, or reported by the domain
				}
				field := fmt.Sprintf("scenarios[%d].steps[%d].transitions[%d].when", i, j, k)
				if _, err := alignment.CompileWhen(tr.When, limits); err != nil {
					errs = append(errs, domain.FieldError{Field: field, Message: err.Error()})
					continue
				}
				for _, name := range alignment.WhenVariables(tr.When) {
					if !settable[name] && !open {
						errs = append(errs, domain.FieldError{Field: field, Message: fmt.Sprintf(
							"vars.%s is nothing that can have a value: declare a variable %s, or list it in a tool's outputs", name, name)})
					}
				}
			}
		}
	}
	return errs
}

// EncodeBundleYAML writes a bundle as YAML with the bundle format's field
// names (those of its JSON form), in the same order.
func EncodeBundleYAML(p *domain.Policy) ([]byte, error) { return EncodeYAML(p) }

// EncodeYAML writes v as YAML with the field names and order of its JSON
// form.
func EncodeYAML(v any) ([]byte, error) {
	raw, err := json.Marshal(v)
	if err != nil {
		return nil, domain.WrapError(domain.CodeInternal, err, "bundle cannot be encoded")
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		return nil, domain.WrapError(domain.CodeInternal, err, "bundle cannot be encoded")
	}
	plainStyle(&doc)
	var out bytes.Buffer
	enc := yaml.NewEncoder(&out)
	enc.SetIndent(2)
	if err := enc.Encode(&doc); err != nil {
		return nil, domain.WrapError(domain.CodeInternal, err, "bundle cannot be encoded")
	}
	return out.Bytes(), enc.Close()
}

// plainStyle drops the JSON look (flow mappings, quoted strings); the
// encoder still quotes what would otherwise read back as another type.
func plainStyle(n *yaml.Node) {
	n.Style = 0
	for _, c := range n.Content {
		plainStyle(c)
	}
}

// jsonFields maps the JSON names of a struct's fields to their types.
func jsonFields(t reflect.Type) map[string]reflect.Type {
	fields := make(map[string]reflect.Type, t.NumField())
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if !f.IsExported() || name == "-" {
			continue
		}
		fields[cmp.Or(name, f.Name)] = f.Type
	}
	return fields
}
