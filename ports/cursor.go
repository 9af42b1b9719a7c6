package ports

import (
	"encoding/base64"
	"math"
	"strconv"
	"strings"

	"focal/domain"
)

// A cursor is the key of a page's last item, which the next page starts
// after, behind a tag naming the listing that issued it, in base64url:
// opaque to clients, who hand back what they were given. Every listing,
// in every store, reads its cursors here: the tag must be its own and each
// field of the key must have the shape that listing's keys have. So a
// cursor of another listing, base64url garbage, and bytes a backend would
// refuse (a NUL, invalid UTF-8, a number beyond its column) are all
// INVALID_REQUEST on the cursor field, instead of a page that starts
// somewhere else or a store error. A listing of one tenant's items (its
// agents, its sessions) is a listing of its own for each tenant, and a
// listing of one parent's items within it (a session's turns, an agent's
// versions and policy parts) one of its own for each parent: the
// tenant's id, then the parent's, follow the tag (see in), and another
// tenant's or another parent's listing refuses the cursor the same way,
// rather than start its page after a key that was never its own. Only
// the listings of every tenant's records (the tenants, every tenant's
// model keys), which operators page and no tenant's request reaches, name
// no tenant. Cursors of an earlier form, without their tenant, are
// refused too: they are page tokens for one walk through a listing, not
// bookmarks. Cursors are not signed: a well-formed key a client makes up
// starts the page after that key, in its own tenant's listing, where
// paging would have reached anyway.

// cursorSeparator parts a cursor's tag and the fields of its key; no
// field's shape admits it.
const cursorSeparator = "|"

// cursorKind is one listing's cursors: its tag, which no other listing
// uses, and the shape of each field of its key.
type cursorKind struct {
	tag    string
	fields []func(string) bool
}

func (k cursorKind) encode(key ...string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(k.tag + cursorSeparator + strings.Join(key, cursorSeparator)))
}

// decode reads c back into its key: nil for "" (the first page),
// BadCursor for anything k does not issue.
func (k cursorKind) decode(c string) ([]string, error) {
	if c == "" {
		return nil, nil
	}
	raw, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return nil, BadCursor()
	}
	// The tag is cut off whole, not split: the ids of its scope (see in)
	// are matched byte for byte, whatever they hold.
	rest, tagged := strings.CutPrefix(string(raw), k.tag+cursorSeparator)
	key := strings.Split(rest, cursorSeparator)
	if !tagged || len(key) != len(k.fields) {
		return nil, BadCursor()
	}
	for i, shaped := range k.fields {
		if !shaped(key[i]) {
			return nil, BadCursor()
		}
	}
	return key, nil
}

// in is k within one scope of its listing: a tenant's items, then one
// parent's among them. Each scope's id joins the tag with a backslash
// before each separator and backslash it holds, so that a tag names one
// run of ids only, whatever bytes they hold: a cursor of tenant "a|b"'s
// parent "c" is not one of tenant "a"'s parent "b|c". No key field holds the separator and a key
// has as many fields as k says, so a cursor issued within one scope never
// reads back within another.
func (k cursorKind) in(scope ...string) cursorKind {
	tag := k.tag
	for _, id := range scope {
		tag += cursorSeparator + scopeEscaper.Replace(id)
	}
	return cursorKind{tag: tag, fields: k.fields}
}

// scopeEscaper writes a scope's id into a tag (see in).
var scopeEscaper = strings.NewReplacer(`\`, `\\`, cursorSeparator, `\`+cursorSeparator)

// BadCursor is INVALID_REQUEST on the cursor field: a cursor no listing of
// this kind issued, whichever store reads it.
func BadCursor() error {
	return domain.InvalidFields(domain.FieldError{Field: "cursor", Message: "is not a cursor this listing issued"})
}

// KeyCursors are the cursors of a listing ordered by one id.
type KeyCursors struct{ kind cursorKind }

// Cursor is the cursor after the item whose id is key.
func (c KeyCursors) Cursor(key string) string { return c.kind.encode(key) }

// After reads a cursor back into the id the page starts after: "" for
// the first page; INVALID_REQUEST for a cursor this listing did not issue.
func (c KeyCursors) After(cursor string) (string, error) {
	key, err := c.kind.decode(cursor)
	if err != nil || key == nil {
		return "", err
	}
	return key[0], nil
}

// NumberCursors are the cursors of a listing ordered by a number from 1.
type NumberCursors struct{ kind cursorKind }

// Cursor is the cursor after the item numbered n.
func (c NumberCursors) Cursor(n int64) string { return c.kind.encode(strconv.FormatInt(n, 10)) }

// After reads a cursor back into the number the page starts after; ok is
// false for the first page. INVALID_REQUEST for a cursor this listing did
// not issue.
func (c NumberCursors) After(cursor string) (n int64, ok bool, err error) {
	key, err := c.kind.decode(cursor)
	if err != nil || key == nil {
		return 0, false, err
	}
	n, err = strconv.ParseInt(key[0], 10, 64)
	return n, err == nil, err
}

// TenantKeyCursors are the cursors of a listing of one tenant's items
// ordered by one id: its agents.
type TenantKeyCursors struct{ kind cursorKind }

// Cursor is the cursor after the item whose id is key in tenant's listing.
func (c TenantKeyCursors) Cursor(tenant, key string) string {
	return KeyCursors{c.kind.in(tenant)}.Cursor(key)
}

// After reads a cursor of tenant's listing back into the id the page
// starts after: "" for the first page; INVALID_REQUEST for a cursor this
// listing did not issue, another tenant's included.
func (c TenantKeyCursors) After(cursor, tenant string) (string, error) {
	return KeyCursors{c.kind.in(tenant)}.After(cursor)
}

// ChildKeyCursors are the cursors of a listing of one parent's items,
// within its tenant's, ordered by one id: an agent's policy parts of one
// kind.
type ChildKeyCursors struct{ kind cursorKind }

// Cursor is the cursor after the item whose id is key in the listing of
// tenant's parent.
func (c ChildKeyCursors) Cursor(tenant, parent, key string) string {
	return KeyCursors{c.kind.in(tenant, parent)}.Cursor(key)
}

// After reads a cursor of the listing of tenant's parent back into the id
// the page starts after: "" for the first page; INVALID_REQUEST for a
// cursor this listing did not issue, another tenant's or another
// parent's included.
func (c ChildKeyCursors) After(cursor, tenant, parent string) (string, error) {
	return KeyCursors{c.kind.in(tenant, parent)}.After(cursor)
}

// ChildNumberCursors are the cursors of a listing of one parent's items,
// within its tenant's, ordered by a number from 1: a session's turns, an
// agent's versions.
type ChildNumberCursors struct{ kind cursorKind }

// Cursor is the cursor after the item numbered n in the listing of
// tenant's parent.
func (c ChildNumberCursors) Cursor(tenant, parent string, n int64) string {
	return NumberCursors{c.kind.in(tenant, parent)}.Cursor(n)
}

// After reads a cursor of the listing of tenant's parent back into the
// number the page starts after; ok is false for the first page.
// INVALID_REQUEST for a cursor this listing did not issue, another
// tenant's or another parent's included.
func (c ChildNumberCursors) After(cursor, tenant, parent string) (n int64, ok bool, err error) {
	return NumberCursors{c.kind.in(tenant, parent)}.After(cursor)
}

// The listings' cursors. Ids have the syntax of agent and policy part ids
// (domain.IsID), which the UUIDs of sessions and tenants and the names of
// model providers have too; variables are listed by name.
var (
	// AgentCursors page PolicyStore.ListAgents within the tenant listed.
	AgentCursors = TenantKeyCursors{cursorKind{"agent", []func(string) bool{domain.IsID}}}
	// TenantCursors page TenantLister.ListTenants: every tenant, so they
	// name none.
	TenantCursors = KeyCursors{cursorKind{"tenant", []func(string) bool{domain.IsID}}}
	// TurnCursors page TurnStore.ListTurns within the tenant's session
	// listed, in either order: turn numbers fit PostgreSQL's integer
	// column.
	TurnCursors = ChildNumberCursors{cursorKind{"turn", []func(string) bool{countingTo(math.MaxInt32)}}}
	// VersionCursors page PolicyHistory.ListPolicyVersions within the
	// tenant's agent listed.
	VersionCursors = ChildNumberCursors{cursorKind{"version", []func(string) bool{countingTo(math.MaxInt64)}}}
	// RuleCursors, ScenarioCursors, TemplateCursors, ToolCursors and
	// VariableCursors page the parts of the policy of the tenant's agent
	// listed.
	RuleCursors     = ChildKeyCursors{cursorKind{"rule", []func(string) bool{domain.IsID}}}
	ScenarioCursors = ChildKeyCursors{cursorKind{"scenario", []func(string) bool{domain.IsID}}}
	TemplateCursors = ChildKeyCursors{cursorKind{"template", []func(string) bool{domain.IsID}}}
	ToolCursors     = ChildKeyCursors{cursorKind{"tool", []func(string) bool{domain.IsID}}}
	VariableCursors = ChildKeyCursors{cursorKind{"variable", []func(string) bool{domain.IsVariableName}}}

	// sessionCursors page SessionStore.ListSessions within the tenant
	// listed: a creation time in Unix nanoseconds, then a session id.
	// They name no filter: the key is a place in the tenant's sessions
	// newest first, the order every filter (agent, status) lists in, so a
	// cursor given with another filter than its page's starts that
	// filter's listing at the same place, as a client narrowing a listing
	// part way means. A status filter could not bind the cursor to a set
	// of sessions anyway: a session closes while a client pages, and
	// leaves the active ones.
	sessionCursors = cursorKind{"session", []func(string) bool{isInstant, domain.IsID}}
	// tenantModelKeyCursors page TenantModelKeyStore.ListAllTenantModelKeys,
	// every tenant's keys, so they name no tenant: a tenant id, then a
	// provider.
	tenantModelKeyCursors = cursorKind{"modelkey", []func(string) bool{domain.IsID, domain.IsID}}
)

// countingTo is the shape of a number from 1 to most, in decimal, written
// as strconv writes it (no sign, no leading zeros).
func countingTo(most int64) func(string) bool {
	return func(s string) bool {
		n, err := strconv.ParseInt(s, 10, 64)
		return err == nil && n >= 1 && n <= most && strconv.FormatInt(n, 10) == s
	}
}

// isInstant is the shape of a time in Unix nanoseconds, as strconv writes
// an int64.
func isInstant(s string) bool {
	n, err := strconv.ParseInt(s, 10, 64)
	return err == nil && strconv.FormatInt(n, 10) == s
}

// SessionCursor is the cursor after a session in tenant's listing newest
// first: its creation time in Unix nanoseconds, then its id.
func SessionCursor(tenant string, createdNS int64, id string) string {
	return sessionCursors.in(tenant).encode(strconv.FormatInt(createdNS, 10), id)
}

// SessionAfter reads a SessionCursor of tenant's listing back; ok is false
// for the first page. INVALID_REQUEST for a cursor this listing did not
// issue, another tenant's included.
func SessionAfter(cursor, tenant string) (createdNS int64, id string, ok bool, err error) {
	key, err := sessionCursors.in(tenant).decode(cursor)
	if err != nil || key == nil {
		return 0, "", false, err
	}
	createdNS, err = strconv.ParseInt(key[0], 10, 64)
	return createdNS, key[1], err == nil, err
}
