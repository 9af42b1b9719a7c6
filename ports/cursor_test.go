package ports

import (
	"encoding/base64"
	"strings"
	"testing"

	"focal/domain"
)

// issued is a cursor of a listing and how that listing reads one back.
type issued struct {
	cursor string
	read   func(string) error
}

// The tenant of the listings of one tenant's items, and the parents of the
// listings of one parent's items, in these tests.
const (
	anAgent   = "6ba7b810-9dad-11d1-80b4-00c04fd430c8"
	aSession  = "0190a1b2-0000-7000-8000-000000000001"
	aTenant   = "550e8400-e29b-41d4-a716-446655440000"
	aSession2 = "0190a1b2-0000-7000-8000-000000000002"
)

// issuedCursors are a cursor of every listing, by the listing's name; the
// listings of one tenant's items are aTenant's, those of one parent's
// items anAgent's and aSession's.
func issuedCursors() map[string]issued {
	key := func(k KeyCursors, id string) issued {
		return issued{k.Cursor(id), func(c string) error { _, err := k.After(c); return err }}
	}
	tenants := func(k TenantKeyCursors, id string) issued {
		return issued{k.Cursor(aTenant, id), func(c string) error { _, err := k.After(c, aTenant); return err }}
	}
	part := func(k ChildKeyCursors, id string) issued {
		return issued{k.Cursor(aTenant, anAgent, id), func(c string) error { _, err := k.After(c, aTenant, anAgent); return err }}
	}
	number := func(k ChildNumberCursors, parent string, n int64) issued {
		return issued{k.Cursor(aTenant, parent, n), func(c string) error { _, _, err := k.After(c, aTenant, parent); return err }}
	}
	return map[string]issued{
		"agents":    tenants(AgentCursors, anAgent),
		"tenants":   key(TenantCursors, aTenant),
		"rules":     part(RuleCursors, "greet"),
		"scenarios": part(ScenarioCursors, "returns"),
		"templates": part(TemplateCursors, "hello"),
		"tools":     part(ToolCursors, "lookup"),
		"variables": part(VariableCursors, "order_id"),
		"turns":     number(TurnCursors, aSession, 3),
		"versions":  number(VersionCursors, anAgent, 3),
		"sessions": {SessionCursor(aTenant, 1_700_000_000_000_000_000, aSession),
			func(c string) error { _, _, _, err := SessionAfter(c, aTenant); return err }},
		"tenant model keys": {TenantModelKeyCursor(TenantModelKey{TenantID: aTenant, Provider: "openai"}),
			func(c string) error { _, _, err := TenantModelKeyAfter(c); return err }},
	}
}

// A listing reads its own cursors and no other listing's: the tags differ.
func TestACursorIsReadByTheListingThatIssuedIt(t *testing.T) {
	all := issuedCursors()
	for issuer, issued := range all {
		for reader, r := range all {
			err := r.read(issued.cursor)
			switch {
			case issuer == reader && err != nil:
				t.Errorf("%s cannot read its own cursor %s: %v", reader, issued.cursor, err)
			case issuer != reader && !domain.IsCode(err, domain.CodeInvalidRequest):
				t.Errorf("%s reads a cursor of %s: %v, want INVALID_REQUEST", reader, issuer, err)
			}
		}
	}
}

// Each cursor reads back into the key it was made of; "" is the first page.
func TestCursorsReadBackTheirKeys(t *testing.T) {
	if got, err := AgentCursors.After(AgentCursors.Cursor(aTenant, "a-x:1.b_c"), aTenant); err != nil || got != "a-x:1.b_c" {
		t.Errorf("an agent cursor read back as %q, %v", got, err)
	}
	if got, err := VariableCursors.After(VariableCursors.Cursor(aTenant, anAgent, "_order"), aTenant, anAgent); err != nil || got != "_order" {
		t.Errorf("a variable cursor read back as %q, %v", got, err)
	}
	if n, ok, err := TurnCursors.After(TurnCursors.Cursor(aTenant, aSession, 1<<31-1), aTenant, aSession); err != nil || !ok || n != 1<<31-1 {
		t.Errorf("a turn cursor read back as %d %v %v", n, ok, err)
	}
	if n, ok, err := VersionCursors.After(VersionCursors.Cursor(aTenant, anAgent, 1<<40), aTenant, anAgent); err != nil || !ok || n != 1<<40 {
		t.Errorf("a version cursor read back as %d %v %v", n, ok, err)
	}
	if got, err := ToolCursors.After(ToolCursors.Cursor(aTenant, anAgent, "a-x:1.b_c"), aTenant, anAgent); err != nil || got != "a-x:1.b_c" {
		t.Errorf("a tool cursor read back as %q, %v", got, err)
	}
	if ns, id, ok, err := SessionAfter(SessionCursor(aTenant, -5, "s1"), aTenant); err != nil || !ok || ns != -5 || id != "s1" {
		t.Errorf("a session cursor read back as %d %q %v %v", ns, id, ok, err)
	}
	if tenant, provider, err := TenantModelKeyAfter(TenantModelKeyCursor(TenantModelKey{TenantID: "acme.x", Provider: "openai"})); err != nil || tenant != "acme.x" || provider != "openai" {
		t.Errorf("a key cursor read back as %q %q %v", tenant, provider, err)
	}
	if after, err := AgentCursors.After("", aTenant); err != nil || after != "" {
		t.Errorf("the first page: %q, %v", after, err)
	}
	if n, ok, err := TurnCursors.After("", aTenant, aSession); err != nil || ok || n != 0 {
		t.Errorf("the first page: %d %v %v", n, ok, err)
	}
	if after, err := RuleCursors.After("", aTenant, anAgent); err != nil || after != "" {
		t.Errorf("the first page: %q, %v", after, err)
	}
	if _, _, ok, err := SessionAfter("", aTenant); err != nil || ok {
		t.Errorf("the first page: %v %v", ok, err)
	}
}

// A cursor whose tag is right but whose key has not the shape of the
// listing's keys is INVALID_REQUEST, as are garbage and the cursors of
// the earlier formats (the bare key; the key without its parent, in a
// listing of a parent's items; the key without its tenant, in a listing
// of a tenant's items). The listings here are tenant t1's, and the
// parents agent a1 and session s1.
func TestMalformedCursorsAreInvalid(t *testing.T) {
	raw := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	agent := func(c string) error { _, err := AgentCursors.After(c, "t1"); return err }
	variable := func(c string) error { _, err := VariableCursors.After(c, "t1", "a1"); return err }
	turn := func(c string) error { _, _, err := TurnCursors.After(c, "t1", "s1"); return err }
	version := func(c string) error { _, _, err := VersionCursors.After(c, "t1", "a1"); return err }
	session := func(c string) error { _, _, _, err := SessionAfter(c, "t1"); return err }
	key := func(c string) error { _, _, err := TenantModelKeyAfter(c); return err }
	for _, c := range []struct {
		read   func(string) error
		cursor string
	}{
		{agent, "%%%"}, {agent, "zzz"}, {agent, raw("greeting")}, {agent, raw("agent")}, {agent, raw("agent|t1|")},
		{agent, raw("agent|t1|a\x00b")}, {agent, raw("agent|t1|a\xffb")}, {agent, raw("agent|t1|é")}, {agent, raw("agent|t1|a b")},
		{agent, raw("agent|t1|-a")}, {agent, raw("agent|t1|a|b")}, {agent, raw("agent|t1|a/b")}, {agent, raw("Agent|t1|a")},
		{agent, raw("agent|t1|" + strings.Repeat("a", 129))}, {agent, raw("agent|t1|a") + "="},
		{agent, raw("agent|a")}, {agent, raw("agent|T1|a")}, {agent, raw("agent||a")}, {agent, raw("t1|agent|a")},
		{variable, raw("variable|t1|a1|1x")}, {variable, raw("variable|t1|a1|a-b")}, {variable, raw("variable|t1|order_id")},
		{variable, raw("variable|a1|order_id")}, {variable, raw("variable|order_id")},
		{turn, raw("3")}, {turn, raw("turn|t1|s1|0")}, {turn, raw("turn|t1|s1|-1")}, {turn, raw("turn|t1|s1|01")}, {turn, raw("turn|t1|s1|+1")},
		{turn, raw("turn|t1|s1| 1")}, {turn, raw("turn|t1|s1|2147483648")}, {turn, raw("turn|t1|s1|1e3")}, {turn, raw("turn|t1|s1|")},
		{turn, raw("turn|3")}, {turn, raw("turn|s1|3")}, {turn, raw("turn|t1|3")}, {turn, raw("turn|t1|s1")}, {turn, raw("turn|t1||3")},
		{turn, raw("turn||s1|3")}, {turn, raw("turn|t1|s1|3|3")}, {turn, raw("turn|s1|t1|3")}, {turn, raw("t1|s1|turn|3")},
		{version, raw("version|t1|a1|0")}, {version, raw("version|t1|a1|9223372036854775808")}, {version, raw("version|t1|a1|x")},
		{version, raw("version|2")}, {version, raw("version|a1|2")}, {version, raw("version|t1|A1|2")},
		{session, raw("123|s1")}, {session, raw("session|t1|123")}, {session, raw("session|t1|123|")}, {session, raw("session|t1||s1")},
		{session, raw("session|t1|0123|s1")}, {session, raw("session|t1|123|s1|x")}, {session, raw("session|t1|123|s\x001")},
		{session, raw("session|123|s1")}, {session, raw("session||123|s1")}, {session, raw("session|T1|123|s1")},
		{key, raw("t1/openai")}, {key, raw("modelkey|t1")}, {key, raw("modelkey|t1|")}, {key, raw("modelkey|t1|open\xffai")},
	} {
		if err := c.read(c.cursor); !domain.IsCode(err, domain.CodeInvalidRequest) {
			t.Errorf("cursor %s (%q): %v, want INVALID_REQUEST", c.cursor, decoded(c.cursor), err)
		}
	}
}

// A cursor of a listing of one tenant's items reads back in that tenant's
// listing only, and one of a listing of one parent's items in the listing
// of that tenant's parent only: another tenant's or parent's, one whose id
// extends or prefixes it (with the separator or not), the same ids parted
// elsewhere at a separator (tenant "a|" and parent "a" against tenant "a"
// and parent "|a"), and the listing read without its tenant or parent
// refuse it.
func TestACursorIsReadWithinItsTenantAndParentOnly(t *testing.T) {
	ids := []string{aSession, aSession2, "a", "a|3", "a|", "|a", "A", "a3", "", `a\`, `a\|`, `\|a`, `|\a`}
	type scope struct{ tenant, parent string }
	var scopes []scope
	for _, tenant := range []string{aTenant, "a", "a|", `a\`, ""} {
		for _, parent := range ids {
			scopes = append(scopes, scope{tenant, parent})
		}
	}
	for _, issuer := range scopes {
		for _, reader := range scopes {
			for name, kind := range map[string]ChildNumberCursors{"turn": TurnCursors, "version": VersionCursors} {
				n, ok, err := kind.After(kind.Cursor(issuer.tenant, issuer.parent, 3), reader.tenant, reader.parent)
				switch {
				case issuer == reader && (err != nil || !ok || n != 3):
					t.Errorf("a %s cursor of %q read back in %q as %d %v %v", name, issuer, reader, n, ok, err)
				case issuer != reader && !domain.IsCode(err, domain.CodeInvalidRequest):
					t.Errorf("a %s cursor of %q read in %q: %d %v %v, want INVALID_REQUEST", name, issuer, reader, n, ok, err)
				}
			}
			for name, kind := range map[string]ChildKeyCursors{"rule": RuleCursors, "variable": VariableCursors} {
				got, err := kind.After(kind.Cursor(issuer.tenant, issuer.parent, "k3"), reader.tenant, reader.parent)
				switch {
				case issuer == reader && (err != nil || got != "k3"):
					t.Errorf("a %s cursor of %q read back in %q as %q %v", name, issuer, reader, got, err)
				case issuer != reader && !domain.IsCode(err, domain.CodeInvalidRequest):
					t.Errorf("a %s cursor of %q read in %q: %q %v, want INVALID_REQUEST", name, issuer, reader, got, err)
				}
			}
		}
	}
	for _, issuer := range ids {
		for _, reader := range ids {
			got, err := AgentCursors.After(AgentCursors.Cursor(issuer, "k3"), reader)
			switch {
			case issuer == reader && (err != nil || got != "k3"):
				t.Errorf("an agent cursor of tenant %q read back as %q %v", issuer, got, err)
			case issuer != reader && !domain.IsCode(err, domain.CodeInvalidRequest):
				t.Errorf("an agent cursor of tenant %q read in %q: %q %v, want INVALID_REQUEST", issuer, reader, got, err)
			}
			ns, id, ok, err := SessionAfter(SessionCursor(issuer, 5, "s1"), reader)
			switch {
			case issuer == reader && (err != nil || !ok || ns != 5 || id != "s1"):
				t.Errorf("a session cursor of tenant %q read back as %d %q %v %v", issuer, ns, id, ok, err)
			case issuer != reader && !domain.IsCode(err, domain.CodeInvalidRequest):
				t.Errorf("a session cursor of tenant %q read in %q: %d %q %v, want INVALID_REQUEST", issuer, reader, ns, id, err)
			}
		}
	}
	raw := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	// The forms of the cursors before they named their parent, then their
	// tenant.
	for _, c := range []string{raw("turn|3"), raw("turn|" + aSession + "|3")} {
		if _, _, err := TurnCursors.After(c, aTenant, aSession); !domain.IsCode(err, domain.CodeInvalidRequest) {
			t.Errorf("a turn cursor %q: %v, want INVALID_REQUEST", decoded(c), err)
		}
	}
	for _, c := range []string{raw("rule|greet"), raw("rule|" + anAgent + "|greet")} {
		if _, err := RuleCursors.After(c, aTenant, anAgent); !domain.IsCode(err, domain.CodeInvalidRequest) {
			t.Errorf("a rule cursor %q: %v, want INVALID_REQUEST", decoded(c), err)
		}
	}
	if _, err := AgentCursors.After(raw("agent|"+anAgent), aTenant); !domain.IsCode(err, domain.CodeInvalidRequest) {
		t.Errorf("an agent cursor without its tenant: %v, want INVALID_REQUEST", err)
	}
	if _, _, _, err := SessionAfter(raw("session|5|s1"), aTenant); !domain.IsCode(err, domain.CodeInvalidRequest) {
		t.Errorf("a session cursor without its tenant: %v, want INVALID_REQUEST", err)
	}
}

func decoded(c string) string {
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return c
	}
	return string(b)
}
