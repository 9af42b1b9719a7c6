package application

import (
	"strings"

	"focal/domain"
)

// Viewer is who reads a policy, which decides how much of a tool's URL it
// sees: webhook URLs often carry credentials (a user's password, an
// api_key in the query, a token in the path). No viewer ever reads a
// tool's signing secret.
type Viewer int

// Viewers.
const (
	// ViewerMember sees only where a tool points: scheme and host.
	ViewerMember Viewer = iota
	// ViewerAdmin sees the whole URL with its credentials redacted.
	ViewerAdmin
)

// presentTool is tool as viewer may see it. An admin sees that a tool has
// a secret (as domain.Redacted), so an edited export keeps it; a member
// does not see that much.
func presentTool(tool *domain.Tool, viewer Viewer) {
	if viewer == ViewerAdmin {
		tool.URL = domain.RedactURL(tool.URL)
		if tool.Secret != "" {
			tool.Secret = domain.Redacted
		}
		return
	}
	tool.URL = domain.URLOrigin(tool.URL)
	tool.Secret = ""
}

// presentPolicy is p as viewer may see it; p itself is not changed.
func presentPolicy(p *domain.Policy, viewer Viewer) *domain.Policy {
	out := *p
	out.Tools = make([]domain.Tool, len(p.Tools))
	for i, t := range p.Tools {
		presentTool(&t, viewer)
		out.Tools[i] = t
	}
	return &out
}

// keepSecrets puts back the stored URL of every tool of next whose URL is
// the redacted form of the same tool's URL in current, and the stored
// secret of every tool of next whose secret is domain.Redacted: an admin
// who exports a bundle, edits it and imports it again keeps the
// credentials the export hid. A Redacted secret with none stored stays, and
// validation refuses it.
func keepSecrets(next, current *domain.Policy) {
	stored := make(map[string]domain.Tool, len(current.Tools))
	for _, t := range current.Tools {
		stored[t.ID] = t
	}
	for i := range next.Tools {
		t := &next.Tools[i]
		old, ok := stored[t.ID]
		if !ok {
			continue
		}
		if strings.Contains(t.URL, domain.Redacted) && domain.RedactURL(old.URL) == t.URL {
			t.URL = old.URL
		}
		if t.Secret == domain.Redacted && old.Secret != "" {
			t.Secret = old.Secret
		}
	}
}
