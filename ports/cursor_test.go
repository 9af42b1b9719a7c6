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

// The parents of the listings of one parent's items in these tests.
const (
	anAgent   = "6ba7b810-9dad-11d1-80b4-00c04fd430c8"
	aSession  = "0190a1b2-0000-7000-8000-000000000001"
	aTenant   = "550e8400-e29b-41d4-a716-446655440000"
	aSession2 = "0190a1b2-0000-7000-8000-000000000002"
)

// issuedCursors are a cursor of every listing, by the listing's name; the
// listings of one parent's items are those of anAgent and aSession.
func issuedCursors() map[string]issued {
	key := func(k KeyCursors, id string) issued {
		return issued{k.Cursor(id), func(c string) error { _, err := k.After(c); return err }}
	}
	part := func(k ChildKeyCursors, id string) issued {
		return issued{k.Cursor(anAgent, id), func(c string) error { _, err := k.After(c, anAgent); return err }}
	}
	number := func(k ChildNumberCursors, parent string, n int64) issued {
		return issued{k.Cursor(parent, n), func(c string) error { _, _, err := k.After(c, parent); return err }}
	}
	return map[string]issued{
		"agents":    key(AgentCursors, anAgent),
		"tenants":   key(TenantCursors, aTenant),
		"rules":     part(RuleCursors, "greet"),
		"scenarios": part(ScenarioCursors, "returns"),
		"templates": part(TemplateCursors, "hello"),
		"tools":     part(ToolCursors, "lookup"),
		"variables": part(VariableCursors, "order_id"),
		"turns":     number(TurnCursors, aSession, 3),
		"versions":  number(VersionCursors, anAgent, 3),
		"sessions": {SessionCursor(1_700_000_000_000_000_000, aSession),
			func(c string) error { _, _, _, err := SessionAfter(c); return err }},
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
	if got, err := AgentCursors.After(AgentCursors.Cursor("a-x:1.b_c")); err != nil || got != "a-x:1.b_c" {
		t.Errorf("an agent cursor read back as %q, %v", got, err)
	}
	if got, err := VariableCursors.After(VariableCursors.Cursor(anAgent, "_order"), anAgent); err != nil || got != "_order" {
		t.Errorf("a variable cursor read back as %q, %v", got, err)
	}
	if n, ok, err := TurnCursors.After(TurnCursors.Cursor(aSession, 1<<31-1), aSession); err != nil || !ok || n != 1<<31-1 {
		t.Errorf("a turn cursor read back as %d %v %v", n, ok, err)
	}
	if n, ok, err := VersionCursors.After(VersionCursors.Cursor(anAgent, 1<<40), anAgent); err != nil || !ok || n != 1<<40 {
		t.Errorf("a version cursor read back as %d %v %v", n, ok, err)
	}
	if got, err := ToolCursors.After(ToolCursors.Cursor(anAgent, "a-x:1.b_c"), anAgent); err != nil || got != "a-x:1.b_c" {
		t.Errorf("a tool cursor read back as %q, %v", got, err)
	}
	if ns, id, ok, err := SessionAfter(SessionCursor(-5, "s1")); err != nil || !ok || ns != -5 || id != "s1" {
		t.Errorf("a session cursor read back as %d %q %v %v", ns, id, ok, err)
	}
	if tenant, provider, err := TenantModelKeyAfter(TenantModelKeyCursor(TenantModelKey{TenantID: "acme.x", Provider: "openai"})); err != nil || tenant != "acme.x" || provider != "openai" {
		t.Errorf("a key cursor read back as %q %q %v", tenant, provider, err)
	}
	if after, err := AgentCursors.After(""); err != nil || after != "" {
		t.Errorf("the first page: %q, %v", after, err)
	}
	if n, ok, err := TurnCursors.After("", aSession); err != nil || ok || n != 0 {
		t.Errorf("the first page: %d %v %v", n, ok, err)
	}
	if after, err := RuleCursors.After("", anAgent); err != nil || after != "" {
		t.Errorf("the first page: %q, %v", after, err)
	}
	if _, _, ok, err := SessionAfter(""); err != nil || ok {
		t.Errorf("the first page: %v %v", ok, err)
	}
}

// A cursor whose tag is right but whose key has not the shape of the
// listing's keys is INVALID_REQUEST, as are garbage and the cursors of
// the earlier formats (the bare key; the key without its parent, in a
// listing of a parent's items).
func TestMalformedCursorsAreInvalid(t *testing.T) {
	raw := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	agent := func(c string) error { _, err := AgentCursors.After(c); return err }
	variable := func(c string) error { _, err := VariableCursors.After(c, "a1"); return err }
	turn := func(c string) error { _, _, err := TurnCursors.After(c, "s1"); return err }
	version := func(c string) error { _, _, err := VersionCursors.After(c, "a1"); return err }
	session := func(c string) error { _, _, _, err := SessionAfter(c); return err }
	key := func(c string) error { _, _, err := TenantModelKeyAfter(c); return err }
	for _, c := range []struct {
		read   func(string) error
		cursor string
	}{
		{agent, "%%%"}, {agent, "zzz"}, {agent, raw("greeting")}, {agent, raw("agent")}, {agent, raw("agent|")},
		{agent, raw("agent|a\x00b")}, {agent, raw("agent|a\xffb")}, {agent, raw("agent|é")}, {agent, raw("agent|a b")},
		{agent, raw("agent|-a")}, {agent, raw("agent|a|b")}, {agent, raw("agent|a/b")}, {agent, raw("Agent|a")},
		{agent, raw("agent|" + strings.Repeat("a", 129))}, {agent, raw("agent|a") + "="},
		{variable, raw("variable|a1|1x")}, {variable, raw("variable|a1|a-b")}, {variable, raw("variable|order_id")},
		{turn, raw("3")}, {turn, raw("turn|s1|0")}, {turn, raw("turn|s1|-1")}, {turn, raw("turn|s1|01")}, {turn, raw("turn|s1|+1")},
		{turn, raw("turn|s1| 1")}, {turn, raw("turn|s1|2147483648")}, {turn, raw("turn|s1|1e3")}, {turn, raw("turn|s1|")},
		{turn, raw("turn|3")}, {turn, raw("turn|s1")}, {turn, raw("turn||3")}, {turn, raw("turn|s1|3|3")}, {turn, raw("s1|turn|3")},
		{version, raw("version|a1|0")}, {version, raw("version|a1|9223372036854775808")}, {version, raw("version|a1|x")},
		{version, raw("version|2")}, {version, raw("version|A1|2")},
		{session, raw("123|s1")}, {session, raw("session|123")}, {session, raw("session|123|")}, {session, raw("session||s1")},
		{session, raw("session|0123|s1")}, {session, raw("session|123|s1|x")}, {session, raw("session|123|s\x001")},
		{key, raw("t1/openai")}, {key, raw("modelkey|t1")}, {key, raw("modelkey|t1|")}, {key, raw("modelkey|t1|open\xffai")},
	} {
		if err := c.read(c.cursor); !domain.IsCode(err, domain.CodeInvalidRequest) {
			t.Errorf("cursor %s (%q): %v, want INVALID_REQUEST", c.cursor, decoded(c.cursor), err)
		}
	}
}

// A cursor of a listing of one parent's items reads back in that parent's
// listing only: another parent's, one whose id extends or prefixes it (with
// the separator or not), and the listing read without its parent refuse it.
func TestAChildCursorIsReadWithinItsParentOnly(t *testing.T) {
	parents := []string{aSession, aSession2, "a", "a|3", "a|", "|a", "A", "a3", ""}
	for _, issuer := range parents {
		for _, reader := range parents {
			for name, kind := range map[string]ChildNumberCursors{"turn": TurnCursors, "version": VersionCursors} {
				n, ok, err := kind.After(kind.Cursor(issuer, 3), reader)
				switch {
				case issuer == reader && (err != nil || !ok || n != 3):
					t.Errorf("a %s cursor of %q read back in %q as %d %v %v", name, issuer, reader, n, ok, err)
				case issuer != reader && !domain.IsCode(err, domain.CodeInvalidRequest):
					t.Errorf("a %s cursor of %q read in %q: %d %v %v, want INVALID_REQUEST", name, issuer, reader, n, ok, err)
				}
			}
			for name, kind := range map[string]ChildKeyCursors{"rule": RuleCursors, "variable": VariableCursors} {
				got, err := kind.After(kind.Cursor(issuer, "k3"), reader)
				switch {
				case issuer == reader && (err != nil || got != "k3"):
					t.Errorf("a %s cursor of %q read back in %q as %q %v", name, issuer, reader, got, err)
				case issuer != reader && !domain.IsCode(err, domain.CodeInvalidRequest):
					t.Errorf("a %s cursor of %q read in %q: %q %v, want INVALID_REQUEST", name, issuer, reader, got, err)
				}
			}
		}
	}
	raw := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	// The form of the cursors before they named their parent.
	if _, _, err := TurnCursors.After(raw("turn|3"), aSession); !domain.IsCode(err, domain.CodeInvalidRequest) {
		t.Errorf("a turn cursor without its session: %v, want INVALID_REQUEST", err)
	}
	if _, err := RuleCursors.After(raw("rule|greet"), anAgent); !domain.IsCode(err, domain.CodeInvalidRequest) {
		t.Errorf("a rule cursor without its agent: %v, want INVALID_REQUEST", err)
	}
}

func decoded(c string) string {
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return c
	}
	return string(b)
}
