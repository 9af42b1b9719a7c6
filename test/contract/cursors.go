package contract

import (
	"encoding/base64"
	"fmt"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"focal/domain"
	"focal/ports"
)

// Every listing reads only the cursors it issued: a base64url string that
// decodes to garbage, another listing's next cursor, the next cursor of
// the same listing of another parent or another tenant, or an issued
// cursor whose bytes were changed (a NUL, invalid UTF-8, a number no
// listing reaches) is INVALID_REQUEST, never a page from somewhere else
// and never an error of the backend that received it. Cursors this
// listing issued still page through all of it.
var cursorCases = []testCase{
	{"IssuedCursorsPage", testIssuedCursorsPage},
	{"ForeignAndMalformedCursorsAreInvalid", testForeignCursors},
	{"AnotherParentsCursorsAreInvalid", testAnotherParentsCursors},
	{"AnotherTenantsCursorsAreInvalid", testAnotherTenantsCursors},
}

// pages reads a listing's page after cursor, limit items long, as the keys
// of its items.
type pages func(cursor string, limit int) (keys []string, next string, err error)

// cursorListing is one listing of the stores under test, read a page at a
// time.
type cursorListing struct {
	name string
	list pages
	// global lists every tenant's records: a shared store adds others'.
	global bool
	// numbered pages by a number: a turn's (up to 2^31-1, PostgreSQL's
	// integer) or a version's (int64).
	numbered, turns bool
}

// cursorListings fills a fresh tenant with two items of every listing the
// stores serve and returns those listings.
func (f *fixture) cursorListings() []cursorListing {
	f.t.Helper()
	tenant, other, agent := newID(), newID(), newID()
	require.NoError(f.t, f.Policies.SavePolicy(f.ctx, tenant, samplePolicy(agent, 1, "first")))
	require.NoError(f.t, f.Policies.SavePolicy(f.ctx, tenant, samplePolicy(agent, 2, "second")))
	require.NoError(f.t, f.Policies.SavePolicy(f.ctx, tenant, samplePolicy(newID(), 1, "another")))
	s := f.newSession(tenant, agent)
	f.newSession(tenant, agent)
	f.turns(tenant, s.ID, 3)

	out := []cursorListing{{name: "agents", list: f.agentPages(tenant)}, {name: "sessions", list: f.sessionPages(tenant)}}
	for _, order := range turnOrders {
		out = append(out, cursorListing{name: "turns " + string(order), numbered: true, turns: true, list: f.turnPages(tenant, s.ID, order)})
	}
	if f.PolicyHistory != nil {
		require.NoError(f.t, f.Policies.SavePolicy(f.ctx, tenant, samplePolicy(agent, 3, "third")))
		out = append(out, cursorListing{name: "policy versions", numbered: true, list: f.versionPages(tenant, agent)})
	}
	if f.TenantKeys != nil {
		for _, provider := range []string{"anthropic", "openai"} {
			_, err := f.TenantKeys.PutTenantModelKey(f.ctx, sealedKey(tenant, provider, "aaaa"))
			require.NoError(f.t, err)
		}
		_, err := f.TenantKeys.PutTenantModelKey(f.ctx, sealedKey(other, "openai", "bbbb"))
		require.NoError(f.t, err)
		out = append(out, cursorListing{name: "tenant model keys", global: true, list: func(c string, limit int) ([]string, string, error) {
			p, err := f.TenantKeys.ListAllTenantModelKeys(f.ctx, ports.PageRequest{Limit: limit, Cursor: c})
			return keysOf(p, func(k ports.TenantModelKey) string { return k.TenantID + "/" + k.Provider }), p.NextCursor, err
		}})
	}
	if f.Tenants != nil && f.TenantKeys != nil {
		out = append(out, cursorListing{name: "tenants", global: true, list: func(c string, limit int) ([]string, string, error) {
			p, err := f.Tenants.ListTenants(f.ctx, ports.PageRequest{Limit: limit, Cursor: c})
			return keysOf(p, func(id string) string { return id }), p.NextCursor, err
		}})
	}
	return out
}

// turnOrders are the orders a session's turns are listed in.
var turnOrders = []ports.TurnOrder{ports.OrderAsc, ports.OrderDesc}

// agentPages lists tenant's agents by id.
func (f *fixture) agentPages(tenant string) pages {
	return func(c string, limit int) ([]string, string, error) {
		p, err := f.Policies.ListAgents(f.ctx, tenant, ports.PageRequest{Limit: limit, Cursor: c})
		return keysOf(p, func(a domain.Agent) string { return a.ID }), p.NextCursor, err
	}
}

// sessionPages lists tenant's sessions by id.
func (f *fixture) sessionPages(tenant string) pages {
	return func(c string, limit int) ([]string, string, error) {
		p, err := f.Sessions.ListSessions(f.ctx, tenant, ports.SessionQuery{Page: ports.PageRequest{Limit: limit, Cursor: c}})
		return keysOf(p, func(s domain.Session) string { return s.ID }), p.NextCursor, err
	}
}

// turnPages lists the turns of tenant's session in order by number.
func (f *fixture) turnPages(tenant, session string, order ports.TurnOrder) pages {
	return func(c string, limit int) ([]string, string, error) {
		p, err := f.Turns.ListTurns(f.ctx, tenant, session, ports.TurnQuery{Order: order, Page: ports.PageRequest{Limit: limit, Cursor: c}})
		return keysOf(p, func(t domain.Turn) string { return fmt.Sprint(t.TurnNumber) }), p.NextCursor, err
	}
}

// versionPages lists the versions of tenant's agent by number.
func (f *fixture) versionPages(tenant, agent string) pages {
	return func(c string, limit int) ([]string, string, error) {
		p, err := f.PolicyHistory.ListPolicyVersions(f.ctx, tenant, agent, ports.PageRequest{Limit: limit, Cursor: c})
		return keysOf(p, func(a domain.Agent) string { return fmt.Sprint(a.Version) }), p.NextCursor, err
	}
}

func keysOf[T any](p ports.Page[T], key func(T) string) []string {
	out := make([]string, len(p.Items))
	for i, x := range p.Items {
		out[i] = key(x)
	}
	return out
}

// issuedCursor is the listing's next cursor after its first item.
func (f *fixture) issuedCursor(l cursorListing) string {
	f.t.Helper()
	_, next, err := l.list("", 1)
	require.NoError(f.t, err, l.name)
	require.NotEmpty(f.t, next, "%s: a first page of one has a next cursor", l.name)
	return next
}

// Each listing, paged one item at a time through the cursors it issues,
// lists what one page lists, in the same order.
func testIssuedCursorsPage(t *testing.T, f *fixture) {
	for _, l := range f.cursorListings() {
		whole, more, err := l.list("", ports.MaxPageSize)
		require.NoError(t, err, l.name)
		var paged []string
		cursor := ""
		for range 100_000 {
			keys, next, err := l.list(cursor, 1)
			require.NoError(t, err, l.name)
			paged = append(paged, keys...)
			if cursor = next; cursor == "" {
				break
			}
		}
		if l.global {
			paged = of(paged, whole) // what a shared store's other cases added meanwhile, or past one page
		} else {
			require.Empty(t, more, "%s: everything fits in one page", l.name)
		}
		assert.Equal(t, whole, paged, "%s: paged one at a time", l.name)
		assert.GreaterOrEqual(t, len(whole), 2, "%s lists two items at least", l.name)
	}
}

// A cursor from another listing, base64url garbage, and an issued cursor
// with a NUL, an invalid UTF-8 byte or a number out of range in it are
// INVALID_REQUEST in every listing.
func testForeignCursors(t *testing.T, f *fixture) {
	listings := f.cursorListings()
	issued := map[string]string{}
	for _, l := range listings {
		issued[l.name] = f.issuedCursor(l)
	}
	garbage := []string{"zzz", "AAAA", "not-a-cursor", encodeRaw("not a cursor"), encodeRaw("17|"), encodeRaw("|x"),
		encodeRaw("\x00"), encodeRaw("\xff\xfe"), encodeRaw("a\x00b")}
	for _, l := range listings {
		bad := slices.Clone(garbage)
		for name, c := range issued {
			// Turns listed either way page by the same turn numbers.
			if name != l.name && !(l.turns && issuedByTurns(name)) {
				bad = append(bad, c)
			}
		}
		own := decodeRaw(t, issued[l.name])
		bad = append(bad, encodeRaw(own+"\x00"), encodeRaw(own+"\xff"), encodeRaw("\x00"+own), encodeRaw(own[:len(own)-1]+"\xc3"))
		if l.numbered {
			bad = append(bad, encodeRaw(own+"99999999999999999999"))
		}
		if l.turns {
			bad = append(bad, encodeRaw(own+"9999999999"))
		}
		for _, c := range bad {
			_, _, err := l.list(c, 1)
			assert.Truef(t, domain.IsCode(err, domain.CodeInvalidRequest), "%s with cursor %s (%q): want INVALID_REQUEST, got %v",
				l.name, c, decodeOrRaw(c), err)
		}
	}
}

// parentListing is a listing of one parent's items, for each of two
// parents whose items have the same numbers: two sessions' turns, two
// agents' versions.
type parentListing struct {
	name string
	// noun is what a parent is: "session", "agent".
	noun    string
	parents [2]string
	// list reads parent's items, each named by its number and its
	// parent's place in parents.
	list func(parent string) pages
}

// parentListings fills a fresh tenant with two agents of three versions,
// and two sessions of three turns, and returns their listings.
func (f *fixture) parentListings() []parentListing {
	f.t.Helper()
	tenant, agents := newID(), [2]string{newID(), newID()}
	for _, a := range agents {
		for v := int64(1); v <= 3; v++ {
			require.NoError(f.t, f.Policies.SavePolicy(f.ctx, tenant, samplePolicy(a, v, fmt.Sprint("version ", v))))
		}
	}
	sessions := [2]string{f.newSession(tenant, agents[0]).ID, f.newSession(tenant, agents[0]).ID}
	for _, s := range sessions {
		f.turns(tenant, s, 3)
	}
	var out []parentListing
	for _, order := range turnOrders {
		out = append(out, parentListing{name: "turns " + string(order), noun: "session", parents: sessions,
			list: func(s string) pages {
				return func(c string, limit int) ([]string, string, error) {
					p, err := f.Turns.ListTurns(f.ctx, tenant, s, ports.TurnQuery{Order: order, Page: ports.PageRequest{Limit: limit, Cursor: c}})
					return keysOf(p, func(t domain.Turn) string {
						return fmt.Sprintf("turn %d of %s", t.TurnNumber, placeIn(sessions, "session", t.SessionID))
					}), p.NextCursor, err
				}
			}})
	}
	if f.PolicyHistory != nil {
		out = append(out, parentListing{name: "policy versions", noun: "agent", parents: agents,
			list: func(a string) pages {
				return func(c string, limit int) ([]string, string, error) {
					p, err := f.PolicyHistory.ListPolicyVersions(f.ctx, tenant, a, ports.PageRequest{Limit: limit, Cursor: c})
					return keysOf(p, func(x domain.Agent) string {
						return fmt.Sprintf("version %d of %s", x.Version, placeIn(agents, "agent", x.ID))
					}), p.NextCursor, err
				}
			}})
	}
	return out
}

// placeIn names id by its place in parents: "session 1", "agent 2".
func placeIn(parents [2]string, noun, id string) string {
	return fmt.Sprintf("%s %d", noun, slices.Index(parents[:], id)+1)
}

// A listing of one parent's items reads only the cursors it issued for
// that parent: every next cursor of one session's turns (of one agent's
// versions) is INVALID_REQUEST in the other's listing, though the number
// it holds is one the other's items have too; each parent's own cursors
// page through exactly its items.
func testAnotherParentsCursors(t *testing.T, f *fixture) {
	for _, l := range f.parentListings() {
		for i, parent := range l.parents {
			other := l.parents[1-i]
			mine, theirs := fmt.Sprintf("%s of %s %d", l.name, l.noun, i+1), fmt.Sprintf("%s of %s %d", l.name, l.noun, 2-i)
			whole := requireOwnCursorsOnly(t, l.list(parent), l.list(other), mine, theirs)
			assert.Len(t, whole, 3, mine)
		}
	}
}

// requireOwnCursorsOnly pages through mine one item a page and requires
// every next cursor to be INVALID_REQUEST in theirs; it returns what one
// page of mine lists, which paging must list too.
func requireOwnCursorsOnly(t *testing.T, mine, theirs pages, mineName, theirsName string) []string {
	t.Helper()
	whole, more, err := mine("", ports.MaxPageSize)
	require.NoError(t, err, mineName)
	require.Empty(t, more, "%s: everything fits in one page", mineName)
	var paged []string
	cursor := ""
	for range len(whole) + 1 {
		keys, next, err := mine(cursor, 1)
		require.NoError(t, err, mineName)
		paged = append(paged, keys...)
		if cursor = next; cursor == "" {
			break
		}
		keys, _, err = theirs(cursor, 1)
		assert.Truef(t, domain.IsCode(err, domain.CodeInvalidRequest),
			"%s with a cursor of %s (%q): want INVALID_REQUEST, got %v, %v", theirsName, mineName, decodeOrRaw(cursor), keys, err)
	}
	assert.Equal(t, whole, paged, "%s: paged one at a time", mineName)
	return whole
}

// tenantListing is a listing of one tenant's items, and the same listing
// of another tenant whose items have the same keys: the same agent ids,
// the same versions of the same agent id, sessions and turns made alike.
// A session belongs to one tenant only, so the other tenant's listing of
// a session's turns is of the first tenant's session.
type tenantListing struct {
	name string
	// tenant is the place, 1 or 2, of the tenant whose listing is mine;
	// theirs is the other's.
	tenant       int
	mine, theirs pages
}

// tenantListings fills two fresh tenants alike, each with the same two
// agent ids (one of three versions) and two sessions, one of three
// turns, and returns each tenant's listings paired with the other's.
func (f *fixture) tenantListings() []tenantListing {
	f.t.Helper()
	tenants, agents := [2]string{newID(), newID()}, [2]string{newID(), newID()}
	var sessions [2]string
	for i, tenant := range tenants {
		for v := int64(1); v <= 3; v++ {
			require.NoError(f.t, f.Policies.SavePolicy(f.ctx, tenant, samplePolicy(agents[0], v, fmt.Sprint("version ", v))))
		}
		require.NoError(f.t, f.Policies.SavePolicy(f.ctx, tenant, samplePolicy(agents[1], 1, "another")))
		sessions[i] = f.newSession(tenant, agents[0]).ID
		f.newSession(tenant, agents[0])
		f.turns(tenant, sessions[i], 3)
	}
	var out []tenantListing
	for i, mine := range tenants {
		theirs := tenants[1-i]
		pair := func(name string, list func(tenant string) pages) tenantListing {
			return tenantListing{name: name, tenant: i + 1, mine: list(mine), theirs: list(theirs)}
		}
		out = append(out, pair("agents", f.agentPages), pair("sessions", f.sessionPages))
		for _, order := range turnOrders {
			out = append(out, pair("turns "+string(order), func(tenant string) pages { return f.turnPages(tenant, sessions[i], order) }))
		}
		if f.PolicyHistory != nil {
			out = append(out, pair("policy versions", func(tenant string) pages { return f.versionPages(tenant, agents[0]) }))
		}
	}
	return out
}

// A listing of one tenant's items reads only the cursors it issued to
// that tenant: every next cursor of one tenant's agents, sessions, turns
// of a session and versions of an agent is INVALID_REQUEST in the same
// listing of another tenant, though it names a key (an agent id, a
// version of the same agent id) that the other's items have too, and
// where a page starting after it would be no error; each tenant's own
// cursors page through exactly its items.
func testAnotherTenantsCursors(t *testing.T, f *fixture) {
	for _, l := range f.tenantListings() {
		mine, theirs := fmt.Sprintf("%s of tenant %d", l.name, l.tenant), fmt.Sprintf("%s of tenant %d", l.name, 3-l.tenant)
		whole := requireOwnCursorsOnly(t, l.mine, l.theirs, mine, theirs)
		assert.GreaterOrEqual(t, len(whole), 2, mine)
	}
}

// issuedByTurns is whether the listing named name lists a session's turns.
func issuedByTurns(name string) bool {
	return name == "turns "+string(ports.OrderAsc) || name == "turns "+string(ports.OrderDesc)
}

func encodeRaw(b string) string { return base64.RawURLEncoding.EncodeToString([]byte(b)) }

func decodeRaw(t *testing.T, c string) string {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(c)
	require.NoError(t, err, "an issued cursor is base64url")
	return string(b)
}

func decodeOrRaw(c string) string {
	if b, err := base64.RawURLEncoding.DecodeString(c); err == nil {
		return string(b)
	}
	return c
}
