package httpapi

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/url"
	"regexp"
	"slices"
	"strings"

	"github.com/gin-gonic/gin"

	"focal/domain"
)

// The service's own routes take only the query parameters openapi.json
// declares for them, each at most once, as their bodies take only known
// fields: a misspelt filter (`?agent=…` for `?agent_id=…`) or a second
// `limit` would otherwise be ignored, and a listing that a client believes
// filtered, or a clean-up loop that deletes what it lists, would reach
// every item of the tenant. The parameters are read from the document
// itself, so what the router takes and what the contract says cannot
// drift apart. The OpenAI-compatible routes ignore what they do not know,
// in the query as in the body, as OpenAI's API does.

// queryParams maps each operation (operationKey) to the names of the query parameters the document declares for it.
var queryParams = mustQueryParams(openAPIDocument)

// strictQuery answers INVALID_REQUEST, naming each offending parameter,
// for a query that is not URL encoding, a parameter the route does not
// declare, or a parameter given more than once.
func strictQuery(c *gin.Context) {
	raw := c.Request.URL.RawQuery
	if raw == "" {
		return
	}
	values, err := url.ParseQuery(raw)
	if err != nil {
		writeError(c, domain.InvalidFields(domain.FieldError{Field: "query", Message: "is not valid URL query encoding: " + err.Error()}))
		return
	}
	known := queryParams[operationKey(c.Request.Method, c.FullPath())]
	var bad []domain.FieldError
	for _, name := range slices.Sorted(maps.Keys(values)) {
		switch {
		case !slices.Contains(known, name):
			bad = append(bad, domain.FieldError{Field: name, Message: unknownQueryMessage(known)})
		case len(values[name]) > 1:
			bad = append(bad, domain.FieldError{Field: name, Message: "is given more than once"})
		}
	}
	if len(bad) > 0 {
		writeError(c, domain.InvalidFields(bad...))
	}
}

func unknownQueryMessage(known []string) string {
	if len(known) == 0 {
		return "is not a query parameter of this operation, which takes none"
	}
	return "is not a query parameter of this operation, which takes " + strings.Join(known, ", ")
}

// docPathParam is a path parameter as the document writes it, "{rule_id}".
var docPathParam = regexp.MustCompile(`\{[^/}]+\}`)

// operationKey is "METHOD /v1/agents/{}/rules/{}": a route's method and
// path with its parameters unnamed, so that gin's form of a route
// (":rule_id") and the document's ("{rule_id}") meet.
func operationKey(method, route string) string {
	var b strings.Builder
	b.WriteString(method)
	b.WriteByte(' ')
	for i, seg := range strings.Split(route, "/") {
		if i > 0 {
			b.WriteByte('/')
		}
		if strings.HasPrefix(seg, ":") || strings.HasPrefix(seg, "*") || docPathParam.MatchString(seg) {
			seg = "{}"
		}
		b.WriteString(seg)
	}
	return b.String()
}

// openAPIParameter is a parameter of the document, or a reference to one
// of its components.
type openAPIParameter struct {
	Ref  string `json:"$ref"`
	Name string `json:"name"`
	In   string `json:"in"`
}

// mustQueryParams reads, for every operation of doc, the names of its
// query parameters (the path item's and the operation's, references
// resolved), in the document's order.
func mustQueryParams(doc []byte) map[string][]string {
	var d struct {
		Paths      map[string]map[string]json.RawMessage `json:"paths"`
		Components struct {
			Parameters map[string]openAPIParameter `json:"parameters"`
		} `json:"components"`
	}
	must := func(err error, where string) {
		if err != nil {
			panic(fmt.Sprintf("openapi.json %s: %v", where, err))
		}
	}
	must(json.Unmarshal(doc, &d), "")
	params := map[string][]string{}
	for path, item := range d.Paths {
		var shared []string
		if raw, ok := item["parameters"]; ok {
			shared = queryNames(raw, d.Components.Parameters)
		}
		for method, raw := range item {
			if method == "parameters" {
				continue
			}
			var op struct {
				Parameters json.RawMessage `json:"parameters"`
			}
			must(json.Unmarshal(raw, &op), method+" "+path)
			own := shared
			if op.Parameters != nil {
				own = append(slices.Clone(shared), queryNames(op.Parameters, d.Components.Parameters)...)
			}
			params[operationKey(strings.ToUpper(method), path)] = own
		}
	}
	return params
}

// queryNames are the names of the query parameters in raw, a list of
// parameters, references resolved in components.
func queryNames(raw json.RawMessage, components map[string]openAPIParameter) []string {
	var ps []openAPIParameter
	if err := json.Unmarshal(raw, &ps); err != nil {
		panic(fmt.Sprintf("openapi.json parameters: %v", err))
	}
	var out []string
	for _, p := range ps {
		if p.Ref != "" {
			ref, ok := components[strings.TrimPrefix(p.Ref, "#/components/parameters/")]
			if !ok {
				panic("openapi.json: no parameter " + p.Ref)
			}
			p = ref
		}
		if p.In == "query" {
			out = append(out, p.Name)
		}
	}
	return out
}
