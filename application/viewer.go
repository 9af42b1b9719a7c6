package application

import (
	"strings"

	"focal/domain"
)

// Viewer is who reads a policy, which decides how much of a tool's URL it
// sees: webhook URLs often carry credentials (a user's password, an
// api_key in the query, a token in the path).
type Viewer int

// Viewers.
const (
	// ViewerMember sees only where a tool points: scheme and host.
	ViewerMember Viewer = iota
	// ViewerAdmin sees the whole URL with its credentials redacted.
	ViewerAdmin
)

// presentTool is tool as viewer may see it.
func presentTool(tool *domain.Tool, viewer Viewer) {
	if viewer == ViewerAdmin {
		tool.URL = domain.RedactURL(tool.URL)
		return
	}
	tool.URL = domain.URLOrigin(tool.URL)
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
// the redacted form of the same tool's URL in current: an admin who
// exports a bundle, edits it and imports it again keeps the credentials
// the export hid.
func keepSecrets(next, current *domain.Policy) {
	stored := make(map[string]string, len(current.Tools))
	for _, t := range current.Tools {
		stored[t.ID] = t.URL
	}
	for i := range next.Tools {
		t := &next.Tools[i]
		if old, ok := stored[t.ID]; ok && strings.Contains(t.URL, domain.Redacted) && domain.RedactURL(old) == t.URL {
			t.URL = old
		}
	}
}
