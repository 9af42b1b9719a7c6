package llm

import (
	"fmt"
	"net/url"
	"regexp"
	"strings"

	"focal/domain"
)

// Providers a chain link may name.
const (
	ProviderOffline   = "offline"
	ProviderOpenAI    = "openai"
	ProviderAnthropic = "anthropic"
)

// ChainLink is one parsed element of FOCAL_LLM_FALLBACKS.
type ChainLink struct {
	Provider string
	Model    string
	// BaseURL is empty for the provider's own API.
	BaseURL string
}

// String renders the link in the syntax ParseChain reads.
func (l ChainLink) String() string {
	s := l.Provider
	if l.Model != "" {
		s += ":" + l.Model
	}
	if l.BaseURL != "" {
		s += "@" + l.BaseURL
	}
	return s
}

// ParseChain reads a fallback chain: links separated by commas, each
//
//	provider:model[@base-url]   openai or anthropic, e.g.
//	                            openai:gpt-4o-mini@https://gateway.example/v1
//	                            anthropic:claude-3-5-haiku-latest
//	offline                     no model: the engine answers from templates
//
// The model is everything between the first ':' and an '@' that starts
// the base URL, so Ollama-style names ("llama3.1:8b") need no escaping; a
// base URL must start with http:// or https://. offline may only be last.
// Blank input is an empty chain.
func ParseChain(s string) ([]ChainLink, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	parts := strings.Split(s, ",")
	links := make([]ChainLink, 0, len(parts))
	seen := map[ChainLink]bool{}
	for i, raw := range parts {
		l, err := parseLink(strings.TrimSpace(raw))
		if err != nil {
			return nil, fmt.Errorf("fallback %d (%q): %w", i+1, domain.RedactText(userinfo.ReplaceAllString(strings.TrimSpace(raw), "://[redacted]@")), err)
		}
		if l.Provider == ProviderOffline && i != len(parts)-1 {
			return nil, fmt.Errorf("fallback %d: offline must be the last link, since nothing after it would be tried", i+1)
		}
		if seen[l] {
			return nil, fmt.Errorf("fallback %d: %s appears twice", i+1, l)
		}
		seen[l] = true
		links = append(links, l)
	}
	return links, nil
}

func parseLink(s string) (ChainLink, error) {
	if s == "" {
		return ChainLink{}, fmt.Errorf("empty link (two commas in a row, or a trailing comma?)")
	}
	head, base := s, ""
	lower := strings.ToLower(s)
	if at := max(strings.LastIndex(lower, "@http://"), strings.LastIndex(lower, "@https://")); at >= 0 {
		head, base = s[:at], s[at+1:]
	} else if strings.Contains(s, "@") {
		return ChainLink{}, fmt.Errorf("the text after '@' must be a base URL starting with http:// or https://")
	}
	provider, model, hasModel := strings.Cut(head, ":")
	l := ChainLink{Provider: strings.ToLower(strings.TrimSpace(provider)), Model: strings.TrimSpace(model), BaseURL: base}
	switch l.Provider {
	case ProviderOffline:
		if hasModel || base != "" {
			return ChainLink{}, fmt.Errorf("offline takes no model or base URL")
		}
		return l, nil
	case ProviderOpenAI, ProviderAnthropic:
	case "":
		return ChainLink{}, fmt.Errorf("missing provider: write provider:model, e.g. openai:gpt-4o-mini")
	default:
		return ChainLink{}, fmt.Errorf("unknown provider %q: use openai, anthropic or offline", l.Provider)
	}
	if l.Model == "" {
		return ChainLink{}, fmt.Errorf("%s needs a model: write %s:<model>", l.Provider, l.Provider)
	}
	if base != "" {
		if err := checkBaseURL(base); err != nil {
			return ChainLink{}, err
		}
	}
	return l, nil
}

// checkBaseURL accepts an absolute http(s) URL with a host.
func checkBaseURL(s string) error {
	u, err := url.Parse(s)
	switch {
	case err != nil:
		return fmt.Errorf("base URL %q does not parse", domain.RedactURL(s))
	case u.Scheme != "http" && u.Scheme != "https":
		return fmt.Errorf("base URL %q must start with http:// or https://", domain.RedactURL(s))
	case u.Host == "":
		return fmt.Errorf("base URL %q has no host", domain.RedactURL(s))
	case u.User != nil:
		return fmt.Errorf("base URL %q must not carry credentials; use the API key settings", redactURL(u))
	}
	return nil
}

// userinfo matches credentials embedded in a URL, kept out of errors.
var userinfo = regexp.MustCompile(`://[^/@]*@`)

func redactURL(u *url.URL) string {
	c := *u
	c.User = nil
	return domain.RedactURL(c.String())
}
